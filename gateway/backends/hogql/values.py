"""PostHog's JSON result values as the ClickHouse text values that `types.pg_type` encodes.

PostHog runs HogQL on ClickHouse and reports each column's ClickHouse type, but sends values as
JSON: numbers, strings, booleans, lists, and date-times as ISO 8601 strings in the project's
time zone ("2024-03-01T12:34:56.789000-08:00"). The ClickHouse source's encoders read
ClickHouse's TabSeparated text instead, so each value is turned into the text ClickHouse would
have printed for it: date-times in the type's own time zone without offset, Bool as true/false,
compound values (Array, Tuple, Map) in ClickHouse's quoted form. Then one set of encoders serves
both sources, and a PostHog column has exactly the PostgreSQL type a ClickHouse one would.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from gateway.backends.clickhouse.types import ChType, TypeSyntaxError, parse_type

Convert = Callable[[Any], str | None]
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


def converter(clickhouse_type: str) -> Convert:
    """How to turn one JSON value of a column of this ClickHouse type into its text."""
    try:
        ch = _unwrap(parse_type(clickhouse_type))
    except TypeSyntaxError:
        return _scalar
    if ch.name in ("Array", "Tuple", "Map"):

        def compound(value: Any) -> str | None:
            return None if value is None else _quoted(value, ch)

        return compound
    if ch.name in ("DateTime", "DateTime64"):
        return _datetime(ch)
    if ch.name in ("Date", "Date32"):
        return lambda value: None if value is None else str(value)[:10]
    return _scalar


def _unwrap(ch: ChType) -> ChType:
    while ch.name in _WRAPPERS and ch.args and isinstance(ch.args[-1], ChType):
        ch = ch.args[-1]
    return ch


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # Bool columns print true/false; UInt8 ones (comparisons) 1/0: both encoders read both.
        return "true" if value else "false"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, int):
        return str(value)
    # A JSON object or list in a String column: its JSON text.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _zone(ch: ChType) -> dt.tzinfo:
    names = [arg for arg in ch.args if isinstance(arg, str)]
    if names:
        try:
            return ZoneInfo(names[0].strip("'"))
        except (KeyError, ValueError):
            pass
    return dt.UTC


def _datetime(ch: ChType) -> Convert:
    zone = _zone(ch)
    digits = next((arg for arg in ch.args if isinstance(arg, int)), 0) if ch.args else 0
    if ch.name == "DateTime":
        digits = 0

    def convert(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return str(value)
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        local = moment.astimezone(zone)
        text = local.strftime("%Y-%m-%d %H:%M:%S")
        if digits:
            # ISO text carries at most microseconds; ClickHouse prints exactly `digits`.
            text += "." + f"{local.microsecond:06d}".ljust(digits, "0")[:digits]
        return text

    return convert


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    for raw, escape in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r"), ("\0", "\\0")):
        escaped = escaped.replace(raw, escape)
    return "'" + escaped + "'"


def _quoted(value: Any, ch: ChType) -> str:
    """A value inside (or as) a compound, in ClickHouse's quoted form."""
    if value is None:
        return "NULL"
    ch = _unwrap(ch)
    types = [arg for arg in ch.args if isinstance(arg, ChType)]
    if ch.name == "Array" and types and isinstance(value, list):
        return "[" + ",".join(_quoted(item, types[0]) for item in value) + "]"
    if ch.name == "Tuple" and types and isinstance(value, list | tuple):
        parts = (_quoted(item, types[min(i, len(types) - 1)]) for i, item in enumerate(value))
        return "(" + ",".join(parts) + ")"
    if ch.name == "Map" and len(types) == 2 and isinstance(value, dict):
        pairs = (f"{_quoted(k, types[0])}:{_quoted(v, types[1])}" for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    if ch.name in ("DateTime", "DateTime64"):
        return _quote(_datetime(ch)(value) or "")
    if ch.name in ("Date", "Date32"):
        return _quote(str(value)[:10])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _scalar(value) or "NULL"
    if isinstance(value, str):
        return _quote(value)
    return _quote(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
