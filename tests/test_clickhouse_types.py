"""ClickHouse types as PostgreSQL types, checked against the real thing on both sides.

Each case is a ClickHouse expression and the PostgreSQL expression for the same value. The
ClickHouse side runs in chDB (stateless `chdb.query`, no failing queries) and gives the type
string and the TabSeparated value, parsed as the executor parses them; the PostgreSQL side runs
on the real cluster of the `pg` fixture, in text and in binary format, and gives the OID, the
typmod and the raw bytes. The encoders must produce exactly those bytes."""

from __future__ import annotations

import psycopg
import pytest

from gateway.backends.clickhouse.executor import FORMAT, parse_tsv
from gateway.backends.clickhouse.types import (
    TIMESTAMP_OVERRIDE,
    ChType,
    parse_type,
    pg_type,
    split_array,
)

chdb = pytest.importorskip("chdb")

CASES = [
    # bool and integers
    ("true", "true"),
    ("false", "false"),
    ("toInt8(-128)", "(-128)::int2"),
    ("toInt16(32767)", "32767::int2"),
    ("toUInt8(255)", "255::int2"),
    ("toInt32(-2147483648)", "(-2147483648)::int4"),
    ("toUInt16(65535)", "65535::int4"),
    ("toInt64(-9223372036854775808)", "(-9223372036854775808)::int8"),
    ("toUInt32(4294967295)", "4294967295::int8"),
    ("toUInt64(18446744073709551615)", "18446744073709551615::numeric"),
    ("toUInt64(0)", "0::numeric"),
    (
        "toInt128('-170141183460469231731687303715884105728')",
        "(-170141183460469231731687303715884105728)::numeric",
    ),
    ("toUInt256(10000)", "10000::numeric"),
    ("toInt256(-100000000)", "(-100000000)::numeric"),
    # floats
    ("toFloat64(0.1)", "0.1::float8"),
    ("toFloat64(1e15)", "1e15::float8"),
    ("toFloat64(123456789012345)", "123456789012345::float8"),
    ("toFloat64(1.5e-5)", "1.5e-5::float8"),
    ("toFloat64(0.0001)", "0.0001::float8"),
    ("toFloat64(-2.5e300)", "(-2.5e300)::float8"),
    ("toFloat64(1/3)", "(1::float8/3)"),
    ("toFloat64(-0.)", "'-0'::float8"),
    ("toFloat64(5e-324)", "5e-324::float8"),
    ("toFloat64(100)", "100::float8"),
    ("nan", "'NaN'::float8"),
    ("inf", "'Infinity'::float8"),
    ("-inf", "'-Infinity'::float8"),
    ("toFloat64(1.7976931348623157e308)", "1.7976931348623157e308::float8"),
    ("toFloat64(2.2250738585072014e-308)", "2.2250738585072014e-308::float8"),
    ("toFloat64(123.456)", "123.456::float8"),
    ("toFloat64(999999999999999.9)", "999999999999999.9::float8"),
    ("toFloat64(0.00009999)", "0.00009999::float8"),
    ("toFloat64(0.000123)", "0.000123::float8"),
    ("toFloat32(1e-45)", "1e-45::float4"),
    ("toFloat32(999999)", "999999::float4"),
    ("toFloat32(-0.)", "'-0'::float4"),
    ("toFloat32(0.1)", "0.1::float4"),
    ("toFloat32(1/3)", "(1::float4/3::float4)"),
    ("toFloat32(123456)", "123456::float4"),
    ("toFloat32(1234567)", "1234567::float4"),
    ("toFloat32(1e-5)", "1e-5::float4"),
    ("toFloat32(3.4028235e38)", "3.4028235e38::float4"),
    ("toFloat32(nan)", "'NaN'::float4"),
    ("toFloat32(-inf)", "'-Infinity'::float4"),
    # decimals
    ("toDecimal64(1.5, 4)", "1.5::numeric(18,4)"),
    ("toDecimal64(10000, 4)", "10000::numeric(18,4)"),
    ("toDecimal128(-1, 0)", "(-1)::numeric(38,0)"),
    ("CAST('0.5' AS Decimal(3, 3))", "0.5::numeric(3,3)"),
    ("toDecimal64(-12345.6789, 4)", "(-12345.6789)::numeric(18,4)"),
    ("toDecimal32(0, 2)", "0::numeric(9,2)"),
    ("CAST('0.0001' AS Decimal(10, 4))", "0.0001::numeric(10,4)"),
    ("CAST('100000000' AS Decimal(20, 0))", "100000000::numeric(20,0)"),
    ("CAST('-0.00000001' AS Decimal(38, 10))", "(-0.00000001)::numeric(38,10)"),
    (
        "CAST('12345678901234567890.123456789' AS Decimal(76, 9))",
        "12345678901234567890.123456789::numeric(76,9)",
    ),
    # strings and friends
    ("'hello'", "'hello'::text"),
    ("''", "''::text"),
    ("'tab\\there ünï \\'q\\''", "E'tab\\there ünï ''q'''::text"),
    ("CAST('b' AS Enum8('a' = 1, 'b' = 2))", "'b'::text"),
    ("CAST('x' AS LowCardinality(Nullable(String)))", "'x'::text"),
    ("toFixedString('ab', 4)", "'\\x61620000'::bytea"),
    (
        "toUUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    ),
    ("toIPv4('192.168.0.1')", "'192.168.0.1'::inet"),
    ("toIPv6('2001:db8::1')", "'2001:db8::1'::inet"),
    ("toIPv6('::ffff:1.2.3.4')", "'::ffff:1.2.3.4'::inet"),
    ("toIPv6('::1')", "'::1'::inet"),
    ("toIPv6('::1.2.3.4')", "'::1.2.3.4'::inet"),
    ("toIPv6('::')", "'::'::inet"),
    ("toIPv6('1:0:0:2:0:0:0:3')", "'1:0:0:2:0:0:0:3'::inet"),
    # dates and times
    ("toDateTime('2024-03-01 12:34:56')", "'2024-03-01 12:34:56+00'::timestamptz"),
    (
        "toDateTime64('2024-03-01 12:34:56.100', 3, 'Etc/UTC')",
        "'2024-03-01 12:34:56.1+00'::timestamptz",
    ),
    ("toDateTime64('2024-03-01 12:34:56.000', 3, 'UTC')", "'2024-03-01 12:34:56+00'::timestamptz"),
    (
        "toDateTime64('2024-03-01 12:34:56.123457500', 9, 'UTC')",
        "'2024-03-01 12:34:56.1234575+00'::timestamptz",
    ),
    (
        "toDateTime64('2024-03-01 12:34:56.999999999', 9, 'UTC')",
        "'2024-03-01 12:34:56.999999999+00'::timestamptz",
    ),
    ("toDate('2024-03-01')", "'2024-03-01'::date"),
    ("toDate('1970-01-01')", "'1970-01-01'::date"),
    ("toDate32('1900-01-01')", "'1900-01-01'::date"),
    ("toDate32('2299-12-31')", "'2299-12-31'::date"),
    ("toDateTime('2024-03-01 12:34:56', 'UTC')", "'2024-03-01 12:34:56+00'::timestamptz"),
    (
        "toDateTime('1999-12-31 23:59:59', 'Asia/Kolkata')",
        "'1999-12-31 23:59:59+05:30'::timestamptz",
    ),
    (
        "toDateTime('2024-07-01 00:00:00', 'America/New_York')",
        "'2024-07-01 04:00:00+00'::timestamptz",
    ),
    (
        "toDateTime64('2024-03-01 12:34:56.789', 3, 'Asia/Kolkata')",
        "'2024-03-01 12:34:56.789+05:30'::timestamptz",
    ),
    ("toDateTime64('1960-01-01 00:00:00.5', 6, 'UTC')", "'1960-01-01 00:00:00.5+00'::timestamptz"),
    (
        "toDateTime64('2024-03-01 12:34:56.1234565', 7, 'UTC')",
        "'2024-03-01 12:34:56.1234565+00'::timestamptz",
    ),
    # arrays
    ("[1, 2, 3]::Array(UInt8)", "'{1,2,3}'::int2[]"),
    ("[]::Array(Int32)", "'{}'::int4[]"),
    ("[1, NULL]::Array(Nullable(Int64))", "'{1,NULL}'::int8[]"),
    (
        "['a b', 'x\\'y', '', 'NULL', 'q\"\\\\', 'ü']",
        "ARRAY['a b', 'x''y', '', 'NULL', E'q\"\\\\', 'ü']",
    ),
    ("[nan, -inf, 0.1]::Array(Float64)", "ARRAY['NaN', '-Infinity', 0.1]::float8[]"),
    ("[toDecimal64(1.5, 4), NULL]", "ARRAY[1.5, NULL]::numeric(18,4)[]"),
    ("[true, false]", "'{t,f}'::bool[]"),
    ("[toDate('2024-03-01')]", "'{2024-03-01}'::date[]"),
    (
        "[toDateTime('2024-03-01 12:34:56', 'UTC')]",
        "ARRAY['2024-03-01 12:34:56+00'::timestamptz]",
    ),
    (
        "[toUUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')]",
        "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid[]",
    ),
    ("[toIPv4('10.0.0.1')]", "'{10.0.0.1}'::inet[]"),
    ("['a']::Array(LowCardinality(String))", "'{a}'::text[]"),
    # tuples and maps as jsonb
    (
        "(1, 'a\\tb\\'\"', NULL, [1.5, nan], true)"
        "::Tuple(UInt8, String, Nullable(Int8), Array(Float64), Bool)",
        """'[1, "a\\tb''\\"", null, [1.5, "NaN"], true]'::jsonb""",
    ),
    ("CAST((1, 'x') AS Tuple(a UInt8, b String))", """'[1, "x"]'::jsonb"""),
    ("map('k', 1, 'jj', 2, 'a', 3, 'k', 4)", """'{"k": 1, "jj": 2, "a": 3, "k": 4}'::jsonb"""),
    (
        "map(1, (toDate('2024-01-01'), 1e-7, toDecimal32(1.5, 2)))",
        """'{"1": ["2024-01-01", 0.0000001, 1.50]}'::jsonb""",
    ),
    ("map('ü', [map('x', 'y')], '', [])", """'{"ü": [{"x": "y"}], "": []}'::jsonb"""),
    ("map()::Map(String, String)", "'{}'::jsonb"),
    ("[map('a', 1), map()]", """ARRAY['{"a": 1}', '{}']::jsonb[]"""),
    # JSON documents as jsonb (ClickHouse drops JSON nulls and normalizes numbers itself)
    (
        """CAST('{"bb": 1.5, "a": "x y", "ccc": [1, 2, {"ü": true}], "k": {"z": 0}}' AS JSON)""",
        """'{"a": "x y", "bb": 1.5, "ccc": [1, 2, {"ü": true}], "k": {"z": 0}}'::jsonb""",
    ),
]


def clickhouse_value(expression: str) -> tuple[str, str | None]:
    """The ClickHouse type string and TabSeparated value of one expression, via chDB."""
    output = chdb.query(f"SELECT {expression} AS v", FORMAT).bytes().decode()
    lines = output.removesuffix("\n").split("\n")
    result = parse_tsv(lines)
    assert len(result.rows) == 1, output
    if any(name in result.types[0] for name in ("Array(", "Tuple(", "Map(")):
        # Compound values are taken raw, before TSV unescaping: see split_array.
        return result.types[0], lines[2]
    return result.types[0], result.rows[0][0]


@pytest.fixture(scope="module")
def pg_conn(pg):
    dsn = (
        f"host=127.0.0.1 port={pg.port} dbname=testdb user=reader password=reader-pw "
        "sslmode=require options='-c TimeZone=UTC -c extra_float_digits=1'"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def postgres_value(conn, expression: str, binary: bool) -> tuple[int, int, bytes]:
    with conn.cursor(binary=binary) as cursor:
        cursor.execute(f"SELECT {expression}")
        result = cursor.pgresult
        assert result is not None and result.ntuples == 1
        value = result.get_value(0, 0)
        assert value is not None
        return result.ftype(0), result.fmod(0), bytes(value)


@pytest.mark.parametrize(("clickhouse", "postgres"), CASES)
def test_encoders_match_postgres(pg_conn, clickhouse: str, postgres: str) -> None:
    ch_type, value = clickhouse_value(clickhouse)
    assert value is not None
    mapped = pg_type(ch_type)
    oid, typmod, text = postgres_value(pg_conn, postgres, binary=False)
    _, _, binary = postgres_value(pg_conn, postgres, binary=True)
    assert (mapped.oid, mapped.typmod) == (oid, typmod), ch_type
    assert mapped.text(value) == text, (ch_type, value)
    assert mapped.binary(value) == binary, (ch_type, value)


def test_type_sizes_match_postgres(pg_conn) -> None:
    sizes = {
        row[0]: row[1]
        for row in pg_conn.execute(
            "SELECT oid::int, typlen::int FROM pg_type WHERE oid = ANY(%s)",
            [[16, 17, 20, 21, 23, 25, 700, 701, 869, 1082, 1184, 1700, 2950, 1007, 1009]],
        )
    }
    for ch_type in (
        "Bool FixedString(3) Int64 Int8 Int32 String Float32 Float64 IPv4 Date DateTime "
        "Decimal(9, 2) UUID Array(Int32) Array(String)"
    ).split(" "):
        mapped = pg_type(ch_type)
        assert mapped.size == sizes[mapped.oid], ch_type


def test_parse_nested_types() -> None:
    assert parse_type("LowCardinality(Nullable(String))") == ChType(
        "LowCardinality", (ChType("Nullable", (ChType("String"),)),)
    )
    assert parse_type("DateTime64(3, 'UTC')") == ChType("DateTime64", (3, "UTC"))
    assert parse_type("Decimal(18, 4)") == ChType("Decimal", (18, 4))
    assert parse_type("Enum8('a' = 1, 'b\\'c' = -2)") == ChType("Enum8", ("'a' = 1", '"b\'c" = -2'))
    assert parse_type("Map(String, Array(Tuple(a UInt8, b Nullable(String))))") == ChType(
        "Map",
        (
            ChType("String"),
            ChType(
                "Array",
                (ChType("Tuple", (ChType("UInt8"), ChType("Nullable", (ChType("String"),)))),),
            ),
        ),
    )
    assert parse_type("FixedString(16)") == ChType("FixedString", (16,))


def test_unmapped_types_are_clickhouse_text() -> None:
    for expression in ("toIntervalDay(3)", "[[1, 2], [3]]"):
        ch_type, value = clickhouse_value(expression)
        assert value is not None
        mapped = pg_type(ch_type)
        assert mapped.oid == 25, ch_type
        assert mapped.text(value) == mapped.binary(value) == value.encode()


def test_non_utf8_string_is_replaced() -> None:
    # chDB gives the bytes; a surrogateescape decoder keeps them as lone surrogates.
    output = chdb.query("SELECT unhex('61ff62') AS v", FORMAT).bytes()
    value = output.decode("utf-8", "surrogateescape").split("\n")[2]
    mapped = pg_type("String")
    assert mapped.text(value) == mapped.binary(value) == "a\ufffdb".encode()
    # FixedString is bytea and keeps the raw bytes.
    fixed = pg_type("FixedString(3)")
    assert fixed.binary(value) == b"a\xffb"
    assert fixed.text(value) == b"\\x61ff62"


def test_split_array() -> None:
    assert split_array("[]") == []
    assert split_array("[1,NULL,-3]") == ["1", None, "-3"]
    assert split_array("['a,b','c\\'d','NULL','\\\\']") == ["a,b", "c'd", "NULL", "\\"]


@pytest.mark.parametrize(
    ("clickhouse_type", "pg_name", "bits"), [("Float64", "float8", 64), ("Float32", "float4", 32)]
)
def test_random_floats_match_postgres(pg_conn, clickhouse_type, pg_name, bits) -> None:
    import random
    import struct

    rng = random.Random(4)
    patterns = [rng.getrandbits(bits) for _ in range(300)]
    patterns += [rng.getrandbits(12) << (bits - 12) for _ in range(100)]  # round numbers
    mantissa_bits = 52 if bits == 64 else 23
    patterns += [e << mantissa_bits for e in range(1, 2 ** (bits - mantissa_bits - 1) - 1)]
    sql = f"SELECT reinterpretAsFloat64(toUInt64(n)) FROM (SELECT arrayJoin({patterns}) AS n)"
    if bits == 32:
        sql = sql.replace("Float64(toUInt64", "Float32(toUInt32")
    output = chdb.query(sql, FORMAT).bytes().decode()
    result = parse_tsv(output.removesuffix("\n").split("\n"))
    assert result.types[0] == clickhouse_type
    mapped = pg_type(clickhouse_type)
    fmt = "!d" if bits == 64 else "!f"
    literals = [repr(struct.unpack(fmt, n.to_bytes(bits // 8, "big"))[0]) for n in patterns]
    # Quoted, so that float8in/float4in read them (-0.0 unquoted would be numeric, which has no
    # negative zero).
    special = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
    literals = [f"'{special.get(literal, literal)}'" for literal in literals]
    query = f"SELECT unnest(ARRAY[{', '.join(literals)}]::{pg_name}[])"
    with pg_conn.cursor() as text_cursor, pg_conn.cursor(binary=True) as binary_cursor:
        text_cursor.execute(query)
        binary_cursor.execute(query)
        for row, (value,) in enumerate(result.rows):
            assert value is not None
            assert mapped.text(value) == bytes(text_cursor.pgresult.get_value(row, 0)), value
            assert mapped.binary(value) == bytes(binary_cursor.pgresult.get_value(row, 0)), value


@pytest.mark.parametrize(
    "value, postgres",
    [
        ("2024-03-01 12:34:56", "'2024-03-01 12:34:56'::timestamp"),
        ("2024-03-01 12:34:56.500000", "'2024-03-01 12:34:56.5'::timestamp"),
        ("1999-12-31 23:59:59.123456", "'1999-12-31 23:59:59.123456'::timestamp"),
    ],
)
def test_timestamp_without_time_zone_matches_postgres(pg_conn, value: str, postgres: str) -> None:
    """The translation's override for timestamp outputs (AT TIME ZONE, date + interval)."""
    pg = pg_type(TIMESTAMP_OVERRIDE)
    for binary, encode in ((False, pg.text), (True, pg.binary)):
        oid, typmod, expected = postgres_value(pg_conn, postgres, binary)
        assert (pg.oid, pg.typmod, encode(value)) == (oid, typmod, expected)
