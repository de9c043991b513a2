"""Bind parameters ($1, $2, ...) of statements that the gateway runs itself (not relayed).

Parameter types are inferred as PostgreSQL would for the common cases: from an explicit cast,
from the column a parameter is compared with, from LIMIT/OFFSET; otherwise text. Values are
then validated for their type and put into the syntax tree as literal nodes, so the SQL
generator quotes them: a value is never spliced into text.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from sqlglot import exp

from gateway.backends.clickhouse.schema import TableSchema
from gateway.backends.clickhouse.types import pg_type
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, PROTOCOL_VIOLATION, PgError
from gateway.routing.router import identifier_name

INVALID_TEXT_REPRESENTATION = "22P02"
INVALID_BINARY_REPRESENTATION = "22P03"

BOOL, BYTEA, INT8, INT2, INT4, TEXT, JSON = 16, 17, 20, 21, 23, 25, 114
FLOAT4, FLOAT8, UNKNOWN, VARCHAR, BPCHAR = 700, 701, 705, 1043, 1042
DATE, TIMESTAMP, TIMESTAMPTZ, NUMERIC, UUID, JSONB = 1082, 1114, 1184, 1700, 2950, 3802

_CAST_OIDS = {
    exp.DataType.Type.BOOLEAN: BOOL,
    exp.DataType.Type.SMALLINT: INT2,
    exp.DataType.Type.INT: INT4,
    exp.DataType.Type.BIGINT: INT8,
    exp.DataType.Type.FLOAT: FLOAT4,
    exp.DataType.Type.DOUBLE: FLOAT8,
    exp.DataType.Type.DECIMAL: NUMERIC,
    exp.DataType.Type.TEXT: TEXT,
    exp.DataType.Type.VARCHAR: VARCHAR,
    exp.DataType.Type.CHAR: BPCHAR,
    exp.DataType.Type.DATE: DATE,
    exp.DataType.Type.TIMESTAMP: TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ: TIMESTAMPTZ,
    exp.DataType.Type.UUID: UUID,
    exp.DataType.Type.JSON: JSON,
    exp.DataType.Type.JSONB: JSONB,
}
_INTEGERS = {INT2: "smallint", INT4: "integer", INT8: "bigint"}
_EPOCH_2000 = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_DATE_2000 = dt.date(2000, 1, 1)


def parameter_nodes(tree: exp.Expression) -> list[exp.Parameter]:
    return [
        node
        for node in tree.find_all(exp.Parameter)
        if isinstance(node.this, exp.Literal) and not node.this.is_string
    ]


def parameter_count(tree: exp.Expression) -> int:
    return max((int(node.this.this) for node in parameter_nodes(tree)), default=0)


def infer_types(
    tree: exp.Expression, declared: Sequence[int], tables: Sequence[TableSchema]
) -> list[int]:
    """The type OID of each parameter: the client's declared type where it gave one."""
    count = max(parameter_count(tree), len(declared))
    types = [declared[i] if i < len(declared) else 0 for i in range(count)]
    for node in parameter_nodes(tree):
        index = int(node.this.this) - 1
        if types[index] in (0, UNKNOWN):
            types[index] = _context_type(node, tables) or 0
    return [oid or TEXT for oid in types]


def _context_type(node: exp.Parameter, tables: Sequence[TableSchema]) -> int | None:
    parent = node.parent
    if isinstance(parent, exp.Cast) and isinstance(parent.to, exp.DataType):
        return _CAST_OIDS.get(parent.to.this)
    if isinstance(parent, exp.Limit | exp.Offset | exp.Fetch):
        return INT8
    if isinstance(parent, exp.Binary | exp.In | exp.Between):
        for operand in parent.iter_expressions():
            if operand is not node and isinstance(operand, exp.Column):
                return _column_type(operand, tables)
    return None


def _column_type(column: exp.Column, tables: Sequence[TableSchema]) -> int | None:
    name = identifier_name(column.this if isinstance(column.this, exp.Identifier) else None)
    for table in tables:
        found = table.column(name)
        if found is not None:
            return pg_type(found.clickhouse_type).oid
    return None


def bind(
    tree: exp.Expression,
    types: Sequence[int],
    formats: Sequence[int],
    values: Sequence[bytes | None],
) -> exp.Expression:
    """A copy of `tree` with each parameter replaced by its value as a literal node."""
    if len(values) != len(types):
        raise PgError(
            PROTOCOL_VIOLATION,
            f"bind message supplies {len(values)} parameters, but prepared statement "
            f'"" requires {len(types)}',
        )
    if len(formats) not in (0, 1, len(values)):
        raise PgError(PROTOCOL_VIOLATION, "bind message has a wrong number of parameter formats")
    literals = [
        literal(oid, _format(formats, i), value)
        for i, (oid, value) in enumerate(zip(types, values, strict=True))
    ]

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal):
            if not node.this.is_string:
                return literals[int(node.this.this) - 1].copy()
        return node

    return tree.copy().transform(replace, copy=False)


def probe_values(types: Sequence[int]) -> list[bytes]:
    """Harmless text values of each type, to learn a statement's result columns."""
    samples = {BOOL: b"f", DATE: b"2000-01-01", TIMESTAMP: b"2000-01-01 00:00:00"}
    samples[TIMESTAMPTZ] = samples[TIMESTAMP]
    samples[UUID] = b"00000000-0000-0000-0000-000000000000"
    numeric = {INT2, INT4, INT8, FLOAT4, FLOAT8, NUMERIC}
    return [samples.get(oid, b"0" if oid in numeric else b"") for oid in types]


def _format(formats: Sequence[int], index: int) -> int:
    if not formats:
        return 0
    return formats[0] if len(formats) == 1 else formats[index]


def literal(oid: int, fmt: int, value: bytes | None) -> exp.Expression:
    if value is None:
        return exp.Null()
    if fmt == 1:
        return _binary_literal(oid, value)
    try:
        text = value.decode()
    except UnicodeDecodeError:
        raise PgError(
            INVALID_TEXT_REPRESENTATION, "invalid byte sequence for encoding UTF8"
        ) from None
    return _text_literal(oid, text)


def _invalid(type_name: str, text: str) -> PgError:
    return PgError(
        INVALID_TEXT_REPRESENTATION, f'invalid input syntax for type {type_name}: "{text}"'
    )


def _text_literal(oid: int, text: str) -> exp.Expression:
    if oid in _INTEGERS:
        try:
            return exp.Literal.number(int(text.strip()))
        except ValueError:
            raise _invalid(_INTEGERS[oid], text) from None
    if oid in (FLOAT4, FLOAT8, NUMERIC):
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise _invalid("numeric" if oid == NUMERIC else "double precision", text) from None
        if not number.is_finite():
            raise PgError(FEATURE_NOT_SUPPORTED, "NaN and infinite parameters are not supported")
        return exp.Literal.number(str(number))
    if oid == BOOL:
        word = text.strip().lower()
        if word in ("t", "true", "y", "yes", "on", "1"):
            return exp.true()
        if word in ("f", "false", "n", "no", "off", "0"):
            return exp.false()
        raise _invalid("boolean", text)
    if oid == DATE:
        try:
            dt.date.fromisoformat(text.strip())
        except ValueError:
            raise _invalid("date", text) from None
        return exp.cast(exp.Literal.string(text.strip()), exp.DataType.Type.DATE)
    if oid in (TIMESTAMP, TIMESTAMPTZ):
        try:
            dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise _invalid("timestamp", text) from None
        return exp.cast(exp.Literal.string(text.strip()), exp.DataType.Type.TIMESTAMP)
    if oid == UUID:
        try:
            return exp.Literal.string(str(uuid.UUID(text.strip())))
        except ValueError:
            raise _invalid("uuid", text) from None
    return exp.Literal.string(text)


_BINARY = {
    INT2: struct.Struct("!h"),
    INT4: struct.Struct("!i"),
    INT8: struct.Struct("!q"),
    FLOAT4: struct.Struct("!f"),
    FLOAT8: struct.Struct("!d"),
}


def _binary_literal(oid: int, value: bytes) -> exp.Expression:
    try:
        if oid in _BINARY:
            (number,) = _BINARY[oid].unpack(value)
            return _text_literal(oid, repr(number) if isinstance(number, float) else str(number))
        if oid == BOOL and len(value) == 1:
            return exp.true() if value[0] else exp.false()
        if oid == NUMERIC:
            return _text_literal(NUMERIC, str(decode_numeric(value)))
        if oid == UUID and len(value) == 16:
            return exp.Literal.string(str(uuid.UUID(bytes=value)))
        if oid == DATE:
            (days,) = struct.unpack("!i", value)
            return _text_literal(DATE, (_DATE_2000 + dt.timedelta(days=days)).isoformat())
        if oid in (TIMESTAMP, TIMESTAMPTZ):
            (micros,) = struct.unpack("!q", value)
            moment = _EPOCH_2000 + dt.timedelta(microseconds=micros)
            return _text_literal(oid, moment.replace(tzinfo=None).isoformat(sep=" "))
        if oid in (TEXT, VARCHAR, BPCHAR, UNKNOWN, JSON, 0):
            return exp.Literal.string(value.decode())
        if oid == JSONB and value[:1] == b"\x01":
            return exp.Literal.string(value[1:].decode())
    except (struct.error, UnicodeDecodeError, ValueError):
        raise PgError(
            INVALID_BINARY_REPRESENTATION,
            f"incorrect binary data format in parameter of type {oid}",
        ) from None
    raise PgError(FEATURE_NOT_SUPPORTED, f"binary parameters of type OID {oid} are not supported")


def decode_numeric(value: bytes) -> Decimal:
    """PostgreSQL's binary numeric: digit count, weight, sign, scale, then base-10000 digits."""
    ndigits, weight, sign, scale = struct.unpack_from("!hhHH", value)
    if sign == 0xC000:
        return Decimal("NaN")
    digits = struct.unpack_from(f"!{ndigits}H", value, 8)
    number = Decimal(0)
    for position, digit in enumerate(digits):
        number += Decimal(digit).scaleb(4 * (weight - position))
    number = -number if sign == 0x4000 else number
    return number.quantize(Decimal(1).scaleb(-scale)) if scale else number
