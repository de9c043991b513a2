"""The differential suite end to end: every query of tests/differential/queries.py runs directly
on PostgreSQL and through a real gateway process on a ClickHouse source (embedded chDB) holding
the same generated dataset. Both sides are read by the same client (psycopg) as the raw bytes of
each value, so the comparison is exact: same rows, same order, same text, same type OIDs.

tests/test_translate.py runs the same corpus against the translator alone; this module proves
the whole path (guard, routing, translation, execution, type mapping, encoding) agrees.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import READER_PASSWORD, build_chdb, clickhouse_source
from tests.differential import dataset
from tests.differential.queries import QUERIES
from tests.test_translate import XFAIL, XFAIL_TYPES

DATABASE = "differential_pg"  # not the source's name: the shadow catalog owns that one
UTC = "-c TimeZone=UTC"


@pytest.fixture(scope="module")
def direct(pg) -> psycopg.Connection:
    # Collation C: string order is bytewise, as in ClickHouse.
    pg.psql(f"CREATE DATABASE {DATABASE} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    pg.psql(dataset.postgres_sql(), DATABASE)
    pg.psql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", DATABASE)
    dsn = pg.dsn("reader", READER_PASSWORD, DATABASE, sslmode="disable")
    with psycopg.connect(dsn, autocommit=True, options=UTC) as conn:
        yield conn


@pytest.fixture(scope="module")
def through_gateway(gateway_factory, catalog_dsn) -> psycopg.Connection:
    pytest.importorskip("chdb")
    path = Path(tempfile.mkdtemp(prefix="metahog-diff-chdb-"))
    build_chdb(path, dataset.clickhouse_statements())
    gateway = gateway_factory(sources_extra=clickhouse_source("analytics", path=path))
    with psycopg.connect(gateway.dsn("analytics"), autocommit=True, options=UTC) as conn:
        yield conn


def raw(conn: psycopg.Connection, sql: str) -> tuple[list[int], list[tuple[bytes | None, ...]]]:
    """The result's type OIDs and its values as the bytes on the wire (text format)."""
    cur = conn.execute(sql)
    result = cur.pgresult
    assert result is not None and cur.description is not None
    types = [column.type_code for column in cur.description]
    rows = [
        tuple(result.get_value(row, col) for col in range(result.nfields))
        for row in range(result.ntuples)
    ]
    return types, rows


def _cases(expected_failures: dict[str, str]) -> list:
    return [
        pytest.param(
            query,
            id=query.id,
            marks=[pytest.mark.xfail(strict=True, reason=expected_failures[query.id])]
            if query.id in expected_failures
            else [],
        )
        for query in QUERIES
    ]


@pytest.mark.parametrize("query", _cases(XFAIL))
def test_same_rows_through_the_gateway(direct, through_gateway, query):
    _, expected = raw(direct, query.sql)
    _, actual = raw(through_gateway, query.sql)
    assert actual == expected


# VALUES without a table reads none of the source's tables: PostgreSQL itself answers it
# through the gateway, so its types match here though the translation's would not.
GATEWAY_XFAIL_TYPES = {key: why for key, why in XFAIL_TYPES.items() if key != "values_list"}


@pytest.mark.parametrize("query", _cases(GATEWAY_XFAIL_TYPES))
def test_same_types_through_the_gateway(direct, through_gateway, query):
    expected, _ = raw(direct, query.sql)
    actual, _ = raw(through_gateway, query.sql)
    assert actual == expected


def test_corpus_size():
    assert len(QUERIES) >= 80


ZONE_QUERIES = [
    "select id, date_trunc('day', created_at), date_trunc('week', created_at),"
    " date_trunc('month', created_at), date_trunc('hour', created_at) from persons order by id",
    "select id, extract(hour from created_at), extract(dow from created_at),"
    " extract(day from created_at), created_at::date from persons order by id",
    "select date_trunc('day', timestamp) as day, count(*) from events group by 1 order by 1",
    "select timestamp::date, count(*) from events group by 1 order by 1",
]


@pytest.mark.parametrize("sql", ZONE_QUERIES)
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/St_Johns", "Asia/Kolkata"])
def test_calendar_follows_the_session_time_zone(pg, direct, through_gateway, sql, zone):
    """date_trunc, extract and ::date of a timestamptz work in the session's TimeZone, as in
    PostgreSQL; the timestamps print in it too."""
    for conn in (direct, through_gateway):
        conn.execute("select set_config('TimeZone', %s, false)", (zone,))
    try:
        assert raw(through_gateway, sql) == raw(direct, sql)
    finally:
        for conn in (direct, through_gateway):
            conn.execute("select set_config('TimeZone', 'UTC', false)")
