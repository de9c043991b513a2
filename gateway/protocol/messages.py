"""PostgreSQL protocol v3 messages, each declared once.

A message is a one-byte tag (none for the start-up family) and a big-endian Int32 length that
counts itself, then a body. Bodies are declared with construct and serve both directions: the
gateway builds ParameterStatus for its clients and parses the same layout from its backends.

construct costs tens of microseconds per message, so nothing here runs per row: the relay moves
DataRow bytes without decoding them (see relay.py), and only start-up, authentication, errors and
the statement texts that the guard reads go through these declarations.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from construct import (
    Byte,
    Bytes,
    Construct,
    ConstructError,
    Container,
    GreedyBytes,
    If,
    Int16sb,
    Int16ub,
    Int32sb,
    Int32ub,
    NullTerminated,
    PrefixedArray,
    RepeatUntil,
    Struct,
    this,
)

_HEADER = struct.Struct("!cI")
_LENGTH = struct.Struct("!I")
_LENGTH_SIGNED = struct.Struct("!i")
_INT16 = struct.Struct("!h")

CString = NullTerminated(GreedyBytes)


class MalformedMessage(ValueError):
    """A message body does not match its declared layout."""


class Message:
    """One protocol message: its tag and the layout of its body."""

    def __init__(self, name: str, tag: bytes | None, body: Construct | None = None) -> None:
        self.name = name
        self.tag = tag
        self.body = body

    def build(self, **fields: Any) -> bytes:
        payload = self.body.build(fields) if self.body is not None else b""
        if self.tag is None:
            return _LENGTH.pack(len(payload) + 4) + payload
        return _HEADER.pack(self.tag, len(payload) + 4) + payload

    def parse(self, payload: bytes) -> Container:
        if self.body is None:
            if payload:
                raise MalformedMessage(f"{self.name} carries no body")
            return Container()
        try:
            return self.body.parse(payload)
        except ConstructError as exc:
            raise MalformedMessage(f"malformed {self.name} message") from exc

    def __repr__(self) -> str:
        return f"<Message {self.name}>"


_Parameter = Struct("name" / CString, "value" / If(this.name != b"", CString))
_Parameters = RepeatUntil(lambda item, items, ctx: item["name"] == b"", _Parameter)
_Field = Struct("code" / Byte, "value" / If(this.code != 0, CString))
_Fields = RepeatUntil(lambda item, items, ctx: item["code"] == 0, _Field)

# --- start-up family: no tag -------------------------------------------------------------
PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102

StartupMessage = Message(
    "StartupMessage", None, Struct("protocol" / Int32ub, "params" / _Parameters)
)
SSLRequest = Message("SSLRequest", None, Struct("code" / Int32ub))
CancelRequest = Message(
    "CancelRequest", None, Struct("code" / Int32ub, "pid" / Int32ub, "secret" / Int32ub)
)

# --- frontend (client to server) ---------------------------------------------------------
Query = Message("Query", b"Q", Struct("query" / CString))
Parse = Message(
    "Parse",
    b"P",
    Struct(
        "statement" / CString, "query" / CString, "param_types" / PrefixedArray(Int16ub, Int32ub)
    ),
)
Bind = Message(
    "Bind",
    b"B",
    Struct(
        "portal" / CString,
        "statement" / CString,
        "param_formats" / PrefixedArray(Int16ub, Int16ub),
        "params"
        / PrefixedArray(
            Int16ub, Struct("length" / Int32sb, "data" / If(this.length >= 0, Bytes(this.length)))
        ),
        "result_formats" / PrefixedArray(Int16ub, Int16ub),
    ),
)
Execute = Message("Execute", b"E", Struct("portal" / CString, "max_rows" / Int32ub))
Describe = Message("Describe", b"D", Struct("kind" / Byte, "name" / CString))
Sync = Message("Sync", b"S")
Flush = Message("Flush", b"H")
Terminate = Message("Terminate", b"X")
CopyFail = Message("CopyFail", b"f", Struct("message" / CString))
PasswordMessage = Message("PasswordMessage", b"p", Struct("password" / CString))
SASLInitialResponse = Message(
    "SASLInitialResponse",
    b"p",
    Struct(
        "mechanism" / CString, "length" / Int32sb, "data" / If(this.length >= 0, Bytes(this.length))
    ),
)
SASLResponse = Message("SASLResponse", b"p", Struct("data" / GreedyBytes))

# --- backend (server to client) ----------------------------------------------------------
AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12

Authentication = Message("Authentication", b"R", Struct("code" / Int32ub, "data" / GreedyBytes))
ParameterStatus = Message("ParameterStatus", b"S", Struct("name" / CString, "value" / CString))
BackendKeyData = Message("BackendKeyData", b"K", Struct("pid" / Int32ub, "secret" / Int32ub))
ReadyForQuery = Message("ReadyForQuery", b"Z", Struct("status" / Byte))
ErrorResponse = Message("ErrorResponse", b"E", Struct("fields" / _Fields))
NoticeResponse = Message("NoticeResponse", b"N", Struct("fields" / _Fields))
ParseComplete = Message("ParseComplete", b"1")
BindComplete = Message("BindComplete", b"2")
CloseComplete = Message("CloseComplete", b"3")
NoData = Message("NoData", b"n")
PortalSuspended = Message("PortalSuspended", b"s")
EmptyQueryResponse = Message("EmptyQueryResponse", b"I")
CommandComplete = Message("CommandComplete", b"C", Struct("tag" / CString))
ParameterDescription = Message(
    "ParameterDescription", b"t", Struct("types" / PrefixedArray(Int16ub, Int32ub))
)
RowDescription = Message(
    "RowDescription",
    b"T",
    Struct(
        "fields"
        / PrefixedArray(
            Int16ub,
            Struct(
                "name" / CString,
                "table_oid" / Int32ub,
                "column" / Int16ub,
                "type_oid" / Int32ub,
                "type_size" / Int16sb,
                "type_modifier" / Int32sb,
                "format" / Int16ub,
            ),
        )
    ),
)
# DataRow is not declared with construct: rows are the hot path (see
# backends/clickhouse/rows.py for encoding, parse_data_row below for decoding).
NegotiateProtocolVersion = Message(
    "NegotiateProtocolVersion",
    b"v",
    Struct("newest_minor" / Int32ub, "unrecognized" / PrefixedArray(Int32ub, CString)),
)


def authentication(code: int, data: bytes = b"") -> bytes:
    return Authentication.build(code=code, data=data)


def sasl_mechanisms(names: list[str]) -> bytes:
    return authentication(AUTH_SASL, b"".join(n.encode() + b"\0" for n in names) + b"\0")


def startup_message(params: Mapping[str, str]) -> bytes:
    items = [{"name": k.encode(), "value": v.encode()} for k, v in params.items()]
    return StartupMessage.build(
        protocol=PROTOCOL_3_0, params=[*items, {"name": b"", "value": None}]
    )


def startup_parameters(parsed: Container) -> dict[str, bytes]:
    return {p.name.decode("latin-1"): p.value for p in parsed.params if p.name}


def notice_fields(fields: Mapping[str, str]) -> list[dict[str, Any]]:
    items = [{"code": ord(code), "value": value.encode()} for code, value in fields.items()]
    return [*items, {"code": 0, "value": None}]


def parse_fields(parsed: Container) -> dict[str, str]:
    """Error and notice fields by their one-letter code. Values are decoded leniently because a
    backend speaks the client's encoding, which need not be UTF-8."""
    return {chr(f.code): f.value.decode("utf-8", "replace") for f in parsed.fields if f.code}


def parse_data_row(payload: bytes) -> list[bytes | None]:
    """The column values of a DataRow body (None for NULL), without construct: it runs per row."""
    try:
        (count,) = _INT16.unpack_from(payload, 0)
        values: list[bytes | None] = []
        offset = 2
        for _ in range(count):
            (length,) = _LENGTH_SIGNED.unpack_from(payload, offset)
            offset += 4
            if length < 0:
                values.append(None)
                continue
            if offset + length > len(payload):
                raise MalformedMessage("malformed DataRow message")
            values.append(payload[offset : offset + length])
            offset += length
    except struct.error:
        raise MalformedMessage("malformed DataRow message") from None
    if offset != len(payload):
        raise MalformedMessage("malformed DataRow message")
    return values


def simple_message(tag: bytes, payload: bytes = b"") -> bytes:
    """Frame a payload that is already encoded: used where the body is relayed untouched."""
    return _HEADER.pack(tag, len(payload) + 4) + payload
