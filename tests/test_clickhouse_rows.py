"""RowEncoder against PostgreSQL itself: the same rows computed by ClickHouse (chDB, parsed as
the executor parses them) and by a real PostgreSQL 15 must give byte-identical DataRow
messages, in text format, in binary format and in a mix of both. PostgreSQL's messages are
read off the wire with the tests' own protocol client, in simple query (text) and extended
query with per-column result format codes."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from gateway.backends.clickhouse.executor import FORMAT, parse_tsv
from gateway.backends.clickhouse.rows import RowEncoder, is_identity
from gateway.backends.clickhouse.types import pg_type
from tests.conftest import READER_PASSWORD
from tests.pgwire import WireClient

chdb = pytest.importorskip("chdb")

# (ClickHouse expression, PostgreSQL expression) per column, over rows n = 0, 1, 2.
COLUMNS = [
    ("toInt64(number) - 1", "g::int8 - 1"),
    ("concat(toString(number), '\\tü\\\\')", "g::text || E'\\tü\\\\'"),
    ("if(number = 1, NULL, number * 1.5)", "CASE WHEN g = 1 THEN NULL ELSE g * 1.5::float8 END"),
    ("toDate('2024-03-01') + number", "DATE '2024-03-01' + g::int"),
    ("[number, NULL]", "ARRAY[g::numeric, NULL]"),
    (
        "toUUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    ),
    (
        "toDateTime('2024-03-01 12:00:00', 'UTC') + number",
        "TIMESTAMPTZ '2024-03-01 12:00:00+00' + g * interval '1 second'",
    ),
    ("number", "g::numeric"),
    ("toInt16(number)", "g::int2"),
    ("(number, 'x\\ty')", "jsonb_build_array(g, E'x\\ty')"),
    ("if(number = 2, NULL, 'n')", "CASE WHEN g = 2 THEN NULL ELSE 'n' END"),
    ("repeat('x', 4094 + number)", "repeat('x', 4094 + g::int)"),  # across the length table
]


def clickhouse_rows(expressions: list[str], rows: int = 3) -> tuple[list[str], list[list]]:
    select = ", ".join(f"{e} AS c{i}" for i, e in enumerate(expressions))
    output = chdb.query(f"SELECT {select} FROM numbers({rows})", FORMAT).bytes()
    result = parse_tsv(output.decode("utf-8", "surrogateescape").removesuffix("\n").split("\n"))
    return result.types, result.rows


@pytest.fixture(scope="module")
def wire(pg) -> Iterator[WireClient]:
    client = WireClient(pg.port)
    responses = client.startup(
        "reader", READER_PASSWORD, "testdb", TimeZone="UTC", extra_float_digits="1"
    )
    assert responses[-1][0] == b"Z", responses
    yield client
    client.close()


def _message(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def postgres_data_rows(client: WireClient, sql: str, formats: list[int]) -> bytes:
    """PostgreSQL's own DataRow messages for `sql`, as sent, in the given result formats."""
    client.send(
        _message(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0)),
        _message(
            b"B",
            b"\0\0"
            + struct.pack("!hh", 0, 0)
            + struct.pack(f"!h{len(formats)}h", len(formats), *formats),
        ),
        _message(b"E", b"\0" + struct.pack("!i", 0)),
        _message(b"S", b""),
    )
    responses = client.read_until(b"Z")
    assert not [p for t, p in responses if t == b"E"], responses
    return b"".join(_message(t, p) for t, p in responses if t == b"D")


def postgres(client: WireClient, expressions: list[str], formats: list[int], rows: int = 3):
    select = ", ".join(expressions)
    return postgres_data_rows(
        client, f"SELECT {select} FROM generate_series(0, {rows - 1}) AS s(g) ORDER BY s.g", formats
    )


@pytest.mark.parametrize(
    "formats",
    [
        pytest.param([0] * len(COLUMNS), id="text"),
        pytest.param([1] * len(COLUMNS), id="binary"),
        pytest.param([i % 2 for i in range(len(COLUMNS))], id="mixed"),
    ],
)
def test_data_rows_match_postgres(wire, formats: list[int]) -> None:
    types, rows = clickhouse_rows([c for c, _ in COLUMNS])
    encoder = RowEncoder([pg_type(t) for t in types], formats)
    expected = postgres(wire, [p for _, p in COLUMNS], formats)
    assert encoder.data_rows(rows) == expected
    # One row at a time gives the same bytes, and no rows none.
    assert b"".join(encoder.data_rows([row]) for row in rows) == expected
    assert encoder.data_rows([]) == b""


def test_single_format_code_applies_to_all_columns(wire) -> None:
    types, rows = clickhouse_rows([c for c, _ in COLUMNS[:4]])
    encoder = RowEncoder([pg_type(t) for t in types], [1])
    assert encoder.data_rows(rows) == postgres(wire, [p for _, p in COLUMNS[:4]], [1] * 4)


@pytest.mark.parametrize("fmt", [0, 1])
def test_non_utf8_string_in_a_batch(wire, fmt: int) -> None:
    # The fast path's str.encode fails on the row with the byte 0xff; the whole batch is then
    # encoded by the columns' own encoders, which send U+FFFD as PostgreSQL text must be UTF-8.
    columns = [
        (
            "if(number = 1, unhex('61ff62'), 'ab')",
            "CASE WHEN g = 1 THEN E'a\\uFFFDb' ELSE 'ab' END",
        ),
        ("toInt32(number)", "g::int4"),
    ]
    types, rows = clickhouse_rows([c for c, _ in columns])
    assert rows[1][0] == "a\udcffb"
    encoder = RowEncoder([pg_type(t) for t in types], [fmt])
    assert encoder.data_rows(rows) == postgres(wire, [p for _, p in columns], [fmt, fmt])
    # The next batch, valid UTF-8, takes the fast path again and is still right.
    assert encoder.data_rows(rows[:1]) == postgres(wire, [p for _, p in columns], [fmt] * 2, 1)


def test_identity_encoders_are_detected() -> None:
    # The fast path depends on recognising types.py's plain encoders; if they were renamed the
    # output would stay right but slow, which only this test notices.
    for ch_type in ("String", "Int32", "UInt64", "Date", "UUID", "LowCardinality(String)"):
        assert is_identity(pg_type(ch_type).text), ch_type
    for ch_type in ("Float64", "Bool", "DateTime", "Decimal(9, 2)", "Array(String)"):
        assert not is_identity(pg_type(ch_type).text), ch_type


def test_wrong_width_and_format_codes_are_refused() -> None:
    encoder = RowEncoder([pg_type("Int32"), pg_type("String")], [0, 0])
    with pytest.raises(ValueError):
        encoder.data_rows([["1"]])
    with pytest.raises(ValueError):
        RowEncoder([pg_type("Int32"), pg_type("String")], [0, 1, 0])
    with pytest.raises(ValueError):
        RowEncoder([pg_type("Int32")], [2])
    assert RowEncoder([], []).data_rows([[], []]) == b"D\0\0\0\x06\0\0" * 2


def test_float8_shortcut_agrees_with_the_encoder() -> None:
    # RowEncoder skips the Float64 text encoder where ClickHouse's text is visibly PostgreSQL's
    # (the encoder itself is checked against PostgreSQL in test_clickhouse_types). Random
    # doubles of every magnitude, as ClickHouse prints them, must come out as the encoder says.
    output = chdb.query(
        "SELECT v FROM ("
        " SELECT reinterpretAsFloat64(reinterpretAsString(rand64(number))) AS v"
        " FROM numbers(20000)"
        " UNION ALL SELECT (randCanonical() - 0.5) * exp10(toInt32(number % 27) - 8)"
        " FROM numbers(40000)"
        " UNION ALL SELECT toFloat64(intDiv(rand64(number), 100 + number)) FROM numbers(20000)"
        " UNION ALL SELECT arrayJoin([0., -0., 1e-4, 9.999999999999999e-5, 1e15, 1e14,"
        " 999999999999999.9, 123456789012345.67, 0.1 + 0.2, 5e-324, nan, -inf]))",
        "TabSeparated",
    ).bytes()
    values = output.decode().split("\n")[:-1]
    encode = pg_type("Float64").text
    expected = b"".join(
        b"D" + struct.pack("!ihi", 10 + len(data), 1, len(data)) + data
        for data in map(encode, values)
    )
    assert RowEncoder([pg_type("Float64")], [0]).data_rows([[v] for v in values]) == expected
    # Both sides of the shortcut were exercised: exponent forms, tiny and huge values go to the
    # encoder; plain ones such as 0.123 or -4567.5 do not.
    assert sum("e" in v for v in values) > 1000
    assert sum(v.startswith(("0.", "-0.")) and "e" not in v for v in values) > 1000
