"""Connection start-up: TLS and GSSAPI negotiation, the StartupMessage, and authentication.

Nothing here knows about sources: it ends with an authenticated user name and the client's
start-up parameters, or an error for the client.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config import Config
from gateway.protocol import messages, scram
from gateway.protocol.errors import (
    FEATURE_NOT_SUPPORTED,
    INVALID_AUTHORIZATION,
    INVALID_PASSWORD,
    PROTOCOL_VIOLATION,
    PgError,
    ProtocolViolation,
)
from gateway.protocol.framing import read_message, read_startup_packet
from gateway.protocol.tls import server_end_point_hash

# Authentication messages are small; a client sending more is misbehaving.
_MAX_AUTH_MESSAGE = 64 * 1024


@dataclass
class CancelTarget:
    pid: int
    secret: int


@dataclass
class StartupRequest:
    user: str
    database: str
    params: dict[str, str] = field(default_factory=dict)
    tls: bool = False


class TlsSettings:
    """The server's certificate, loaded once, and its channel-binding hash."""

    def __init__(self, cert_path: Path, key_path: Path, context: ssl.SSLContext) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.context = context
        self.end_point_hash = server_end_point_hash(cert_path)


async def negotiate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    tls: TlsSettings | None,
    require_tls: bool,
) -> StartupRequest | CancelTarget:
    """Read start-up packets until a StartupMessage or CancelRequest arrives."""
    tls_active = False
    gss_refused = False
    while True:
        body = await read_startup_packet(reader)
        code = int.from_bytes(body[:4], "big")
        if code == messages.SSL_REQUEST_CODE and len(body) == 4:
            if tls_active:
                raise ProtocolViolation("SSLRequest received twice")
            if tls is None:
                writer.write(b"N")
                continue
            # Bytes pipelined behind the SSLRequest would be taken as sent under TLS
            # (CVE-2021-23214): refuse them.
            if reader._buffer:  # type: ignore[attr-defined]
                raise ProtocolViolation("received unencrypted data after SSL request")
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(tls.context)
            tls_active = True
            continue
        if code == messages.GSSENC_REQUEST_CODE and len(body) == 4:
            if gss_refused or tls_active:
                raise ProtocolViolation("unexpected GSSENCRequest")
            gss_refused = True
            writer.write(b"N")
            continue
        if code == messages.CANCEL_REQUEST_CODE and len(body) == 12:
            request = messages.CancelRequest.parse(body)
            return CancelTarget(request.pid, request.secret)
        if code >> 16 == 3:
            startup = _startup_request(body, writer)
            startup.tls = tls_active
            if require_tls and not tls_active:
                raise PgError(
                    INVALID_AUTHORIZATION,
                    "this server requires TLS connections (sslmode=require)",
                    severity="FATAL",
                )
            return startup
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
            "server supports 3.0 to 3.0",
            severity="FATAL",
        )


def _startup_request(body: bytes, writer: asyncio.StreamWriter) -> StartupRequest:
    try:
        parsed = messages.StartupMessage.parse(body)
        raw = messages.startup_parameters(parsed)
        params = {name: value.decode("utf-8") for name, value in raw.items()}
    except (messages.MalformedMessage, UnicodeDecodeError):
        raise ProtocolViolation("invalid startup packet layout") from None
    minor = parsed.protocol & 0xFFFF
    protocol_options = sorted(name for name in params if name.startswith("_pq_."))
    if minor > 0 or protocol_options:
        # Newer clients offer 3.x extensions; tell them we speak plain 3.0.
        writer.write(
            messages.NegotiateProtocolVersion.build(
                newest_minor=0, unrecognized=[name.encode() for name in protocol_options]
            )
        )
        for name in protocol_options:
            del params[name]
    user = params.pop("user", "")
    if not user:
        raise PgError(
            INVALID_AUTHORIZATION,
            "no PostgreSQL user name specified in startup packet",
            severity="FATAL",
        )
    if "replication" in params and params["replication"].lower() not in ("false", "off", "no", "0"):
        raise PgError(
            INVALID_AUTHORIZATION, "replication connections are not allowed", severity="FATAL"
        )
    params.pop("replication", None)
    database = params.pop("database", "") or user
    return StartupRequest(user=user, database=database, params=params)


def auth_failed(user: str) -> PgError:
    # One message for a wrong password and an unknown user, as PostgreSQL does, so the answer
    # does not reveal which user names exist.
    return PgError(
        INVALID_PASSWORD, f'password authentication failed for user "{user}"', severity="FATAL"
    )


async def authenticate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    config: Config,
    startup: StartupRequest,
    tls: TlsSettings | None,
) -> None:
    """Authenticate the start-up user, or raise the error to send them."""
    user = config.user(startup.user)
    verifier = (
        scram.verifier_for(user.password.reveal()) if user else scram.mock_verifier(startup.user)
    )
    if config.server.auth == "password":
        password = await read_cleartext_password(reader, writer, startup)
        if not (verifier.matches(password) and user is not None):
            raise auth_failed(startup.user)
    else:
        await _scram(reader, writer, startup, verifier, tls if startup.tls else None)
        if user is None:
            raise auth_failed(startup.user)


async def _read_password_message(reader: asyncio.StreamReader) -> bytes:
    tag, payload = await read_message(reader, _MAX_AUTH_MESSAGE)
    if tag != b"p":
        raise ProtocolViolation(f"expected password response, got message type {tag[0]}")
    return payload


async def read_cleartext_password(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, startup: StartupRequest
) -> str:
    """Ask the client for its password in cleartext, which only TLS may carry: for
    `auth = "password"`, and for sources whose users' passwords are their API keys."""
    if not startup.tls:
        raise PgError(
            INVALID_AUTHORIZATION,
            "cleartext password authentication is only allowed over TLS",
            severity="FATAL",
        )
    writer.write(messages.authentication(messages.AUTH_CLEARTEXT))
    await writer.drain()
    payload = await _read_password_message(reader)
    try:
        return messages.PasswordMessage.parse(payload).password.decode("utf-8")
    except (messages.MalformedMessage, UnicodeDecodeError):
        raise ProtocolViolation("invalid password packet") from None


async def _scram(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    startup: StartupRequest,
    verifier: scram.ScramVerifier,
    tls: TlsSettings | None,
) -> None:
    mechanisms = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"] if tls else ["SCRAM-SHA-256"]
    writer.write(messages.sasl_mechanisms(mechanisms))
    await writer.drain()
    try:
        initial = messages.SASLInitialResponse.parse(await _read_password_message(reader))
        mechanism = initial.mechanism.decode()
        if mechanism not in mechanisms or initial.data is None:
            raise ProtocolViolation("client selected an invalid SASL authentication mechanism")
        exchange = scram.ScramServerExchange(
            mechanism, verifier, tls.end_point_hash if tls else None
        )
        server_first = exchange.server_first(initial.data.decode("utf-8"))
        writer.write(messages.authentication(messages.AUTH_SASL_CONTINUE, server_first.encode()))
        await writer.drain()
        final = messages.SASLResponse.parse(await _read_password_message(reader))
        server_final = exchange.server_final(final.data.decode("utf-8"))
        writer.write(messages.authentication(messages.AUTH_SASL_FINAL, server_final.encode()))
    except (messages.MalformedMessage, UnicodeDecodeError):
        raise ProtocolViolation("malformed SASL message") from None
    except scram.ScramFailure as exc:
        if exc.bad_proof:
            raise auth_failed(startup.user) from None
        raise PgError(PROTOCOL_VIOLATION, str(exc), severity="FATAL") from None
