"""Result values as JSON: PostgreSQL's text format decoded by type OID, and type names.

Numbers JSON carries exactly become numbers; numeric stays a string (JSON numbers lose its
precision in most parsers), as do float specials that JSON cannot spell (NaN, Infinity).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_INTEGERS = frozenset({20, 21, 23})  # int8, int2, int4
_FLOATS = frozenset({700, 701})  # float4, float8
_BOOL, _JSON, _JSONB = 16, 114, 3802

# format_type() names of the built-in types results commonly have; any other OID is looked up
# in pg_type through the same session (see direct_query.py).
TYPE_NAMES: dict[int, str] = {
    16: "boolean",
    17: "bytea",
    18: '"char"',
    19: "name",
    20: "bigint",
    21: "smallint",
    23: "integer",
    25: "text",
    26: "oid",
    114: "json",
    142: "xml",
    700: "real",
    701: "double precision",
    869: "inet",
    1000: "boolean[]",
    1005: "smallint[]",
    1007: "integer[]",
    1009: "text[]",
    1015: "character varying[]",
    1016: "bigint[]",
    1021: "real[]",
    1022: "double precision[]",
    1042: "character",
    1043: "character varying",
    1082: "date",
    1083: "time without time zone",
    1114: "timestamp without time zone",
    1184: "timestamp with time zone",
    1186: "interval",
    1231: "numeric[]",
    1266: "time with time zone",
    1700: "numeric",
    2950: "uuid",
    3802: "jsonb",
}


def _float(text: str) -> float | str:
    value = float(text)
    return value if value == value and value not in (float("inf"), float("-inf")) else text


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def decoder(type_oid: int) -> Callable[[bytes], Any]:
    """How to turn one text-format value of this type into JSON."""
    if type_oid in _INTEGERS:
        return lambda raw: int(raw)
    if type_oid in _FLOATS:
        return lambda raw: _float(_text(raw))
    if type_oid == _BOOL:
        return lambda raw: raw == b"t"
    if type_oid in (_JSON, _JSONB):
        return lambda raw: json.loads(raw)
    return _text


def json_rows(type_oids: list[int], rows: list[list[bytes | None]]) -> list[list[Any]]:
    decoders = [decoder(oid) for oid in type_oids]
    return [
        [None if raw is None else decode(raw) for decode, raw in zip(decoders, row, strict=True)]
        for row in rows
    ]
