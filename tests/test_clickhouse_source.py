"""ClickHouse sources end to end: real clients (psql, psycopg, asyncpg) through a real gateway
process to real ClickHouse, embedded (chDB, in the gateway's process) and a real server over
HTTP (Debian's clickhouse-server 18.16). Catalog statements go to the shadow catalog, a real
PostgreSQL database; the first gateway uses the test cluster for it, the second a private
cluster of its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import threading
import time
from decimal import Decimal

import asyncpg
import psycopg
import pytest

from tests.clickhouse_fixtures import EVENT_NAMES, EVENTS, NOW, connect, psql
from tests.conftest import clickhouse_source


def expected_counts(days: int) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for _, event, _, timestamp, _ in EVENTS:
        if timestamp > NOW - dt.timedelta(days=days):
            counts[event] = counts.get(event, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# --- the issue's own example -------------------------------------------------------------
def test_issue_example_through_psql(any_gateway):
    out = psql(
        any_gateway,
        "-At",
        "-c",
        "select event, count(*) from events where timestamp > now() - interval '7 days' "
        "group by 1 order by 2 desc, 1",
    )
    rows = [tuple(line.split("|")) for line in out.splitlines()]
    assert rows == [(event, str(count)) for event, count in expected_counts(7)]


def test_result_types_are_postgres_types(any_gateway):
    with connect(any_gateway) as conn:
        cur = conn.execute("select uuid, event, timestamp from events order by timestamp limit 1")
        assert [c.type_code for c in cur.description] == [2950, 25, 1184]
        row = cur.fetchone()
        assert row[1] in EVENT_NAMES and isinstance(row[2], dt.datetime)
        assert row[2].tzinfo is not None
        cur = conn.execute("select count(*), avg(score), sum(amount) from persons")
        assert cur.description[0].type_code == 20
        assert cur.fetchone()[0] == 3


# --- extended protocol -------------------------------------------------------------------
def test_parameters_are_bound_not_spliced(any_gateway):
    with connect(any_gateway) as conn:
        count = conn.execute(
            "select count(*) from events where event = %s", ("$pageview",)
        ).fetchone()[0]
        assert count == sum(1 for e in EVENTS if e[1] == "$pageview")
        # A value that would break out of a spliced string literal is just a value.
        hostile = "x' OR '1'='1"
        assert conn.execute(
            "select count(*) from events where event = %s", (hostile,)
        ).fetchone() == (0,)


def test_prepared_statement_binary_results(any_gateway):
    with connect(any_gateway, prepare_threshold=0) as conn:
        for _ in range(3):
            cur = conn.cursor(binary=True)
            cur.execute(
                "select id, email, amount, tags from persons where id >= %s order by id", (2,)
            )
            assert cur.fetchall() == [
                (2, None, Decimal("0.10"), []),
                (3, "c@example.com", Decimal("99999.99"), ["z"]),
            ]


def test_asyncpg_types_parameters_from_context(any_gateway):
    async def main() -> list:
        conn = await asyncpg.connect(any_gateway.url("events"), ssl="require", timeout=10)
        try:
            statement = await conn.prepare(
                "select id, distinct_id, score from persons where id > $1 and distinct_id <> $2"
                " order by id"
            )
            assert [t.name for t in statement.get_parameters()] == ["int8", "text"]
            assert [a.type.name for a in statement.get_attributes()] == ["int8", "text", "float8"]
            return await statement.fetch(1, "user2")
        finally:
            await conn.close()

    rows = asyncio.run(main())
    assert [tuple(r) for r in rows] == [(3, "user3", -2.0)]


# --- the catalog -------------------------------------------------------------------------
def test_psql_lists_and_describes_tables(any_gateway):
    listing = psql(any_gateway, "-c", r"\dt")
    for table in ("events", "persons", "big"):
        assert f" {table} " in listing
    described = psql(any_gateway, "-c", r"\d persons")
    assert "amount" in described and "numeric(10,2)" in described
    assert "tags" in described and "text[]" in described
    assert "email" in described


def test_catalog_functions_answered_by_postgres(any_gateway):
    with connect(any_gateway) as conn:
        row = conn.execute(
            "select current_database(), current_schema(), 'persons'::regclass::oid > 0,"
            " format_type('numeric'::regtype, 655366), has_table_privilege('persons', 'select')"
        ).fetchone()
        assert row == ("events", "public", True, "numeric(10,2)", True)
        assert conn.execute("show transaction_read_only").fetchone() == ("on",)


# --- read-only and refusals ----------------------------------------------------------------
@pytest.mark.parametrize(
    "sql, sqlstate",
    [
        ("insert into events (event) values ('x')", "25006"),
        ("drop table events", "25006"),
        ("select * from events, pg_class", "0A000"),
        ("select * from events join nowhere on true", "42P01"),
        ("declare c cursor for select * from events", "0A000"),
        ("select pg_read_file('/etc/passwd') from events", "42501"),
    ],
)
def test_refusals(any_gateway, sql, sqlstate):
    with connect(any_gateway) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
        assert info.value.sqlstate == sqlstate, info.value
        # The session stays usable.
        assert conn.execute("select count(*) from persons").fetchone() == (3,)


def test_failed_data_statement_fails_the_transaction(any_gateway):
    with psycopg.connect(any_gateway.dsn("events")) as conn:  # not autocommit: BEGIN first
        assert conn.execute("select count(*) from persons").fetchone() == (3,)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select * from events join nowhere on true")
        assert info.value.sqlstate == "42P01"
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from persons")
        assert info.value.sqlstate == "25P02"
        conn.rollback()
        assert conn.execute("select count(*) from persons").fetchone() == (3,)


# --- limits and cancellation ---------------------------------------------------------------
def test_max_rows_cuts_with_a_warning(chdb_gateway):
    with connect(chdb_gateway, "events_capped") as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        cur = conn.execute("select x from big order by x")
        assert [r[0] for r in cur.fetchall()] == [0, 1, 2, 3, 4]
        assert cur.statusmessage == "SELECT 5"
        assert any("max_rows" in n for n in notices)


def test_statement_timeout_stops_the_query(chdb_gateway):
    with connect(chdb_gateway, "events_capped") as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select sum(a.x * b.x) from big a, big b")
        assert info.value.sqlstate == "57014"
        assert time.monotonic() - started < 10
        assert conn.execute("select count(*) from persons").fetchone() == (3,)


def test_cancel_request_stops_the_query(any_gateway):
    with connect(any_gateway) as conn:
        threading.Timer(1.0, conn.cancel).start()
        started = time.monotonic()
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select sum(a.x * b.x) from big a, big b")
        assert info.value.sqlstate == "57014", str(info.value)
        assert time.monotonic() - started < 15
        assert conn.execute("select count(*) from persons").fetchone() == (3,)


def test_users_without_access_are_refused(chdb_gateway):
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(chdb_gateway.dsn("events", user="other_only", password="other-pw"))


def test_unreachable_source_and_catalog_stop_start_up_with_a_clear_message(tmp_path):
    config = tmp_path / "metahog.toml"
    config.write_text(
        f'[server]\nport = 0\nstate_dir = "{tmp_path}/state"\n\n'
        '[[users]]\nname = "a"\npassword = "b"\n\n'
        '[sources.x]\nkind = "clickhouse"\nurl = "http://u:hidden-pw@127.0.0.1:1/"\n\n'
        '[catalog]\ndsn = "postgresql://nobody:catalog-pw@127.0.0.1:1/postgres"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "metahog: cannot start: source x: its shadow catalog is unreachable" in result.stderr
    assert "hidden-pw" not in result.stderr and "catalog-pw" not in result.stderr


def test_source_down_at_start_keeps_its_mirror_and_fails_queries(
    gateway_factory, catalog_dsn, clickhouse_server
):
    # A first gateway mirrors the server's tables into the catalog database "down".
    url = clickhouse_server.url + "?database=default"
    first = gateway_factory(sources_extra=clickhouse_source("down", url=url, catalog=catalog_dsn))
    with connect(first, "down") as conn:
        assert conn.execute("select count(*) from persons").fetchone() == (3,)
    first.stop()
    # A second gateway finds the source unreachable: it starts on the last mirror, and a query
    # over a mirrored table fails at the source instead of reading the empty mirror.
    dead = "http://u:p@127.0.0.1:1/"
    second = gateway_factory(sources_extra=clickhouse_source("down", url=dead, catalog=catalog_dsn))
    with connect(second, "down") as conn:
        assert " persons " in psql(second, "-c", r"\dt", database="down")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from persons")
        assert info.value.sqlstate == "08006", str(info.value)
        assert conn.execute("select 1").fetchone() == (1,)


def test_client_leaving_mid_query_stops_it_on_the_server(http_gateway, clickhouse_server):
    def running() -> int:
        return int(
            clickhouse_server.query(
                "SELECT count() FROM system.processes"
                " WHERE query LIKE '%big%' AND query NOT LIKE '%system.processes%'"
            ).strip()
        )

    conn = connect(http_gateway)
    thread = threading.Thread(
        target=lambda: _swallow(conn, "select sum(a.x * b.x) from big a, big b"), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while running() == 0:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.1)
    conn.pgconn.finish()  # the client goes away without a word
    deadline = time.monotonic() + 10
    while running():
        assert time.monotonic() < deadline, "the query still runs after the client left"
        time.sleep(0.2)


def _swallow(conn: psycopg.Connection, sql: str) -> None:
    try:
        conn.execute(sql)
    except psycopg.Error:
        pass
