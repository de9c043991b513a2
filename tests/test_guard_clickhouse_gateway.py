"""The read-only guard in front of a ClickHouse source, end to end: every adversarial statement
of the ClickHouse corpus, and PostgreSQL-dialect statements that try to reach ClickHouse's
files, network, settings or system tables, are sent by a real client (psycopg) through a real
gateway to chDB. Each is refused with an error, the session stays usable, and afterwards the
source is unchanged: same tables, same rows, no file written."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.clickhouse_fixtures import EVENTS, connect
from tests.test_guard_clickhouse import REFUSED as CLICKHOUSE_REFUSED

# What a refusal may be: the guard's 25006/42501/42601/0A000, or the shadow catalog's own
# answer for a name that exists only in ClickHouse (42P01 relation, 42883 function, 42704
# setting).
REFUSALS = {"25006", "42501", "42601", "0A000", "42P01", "42883", "42703", "42704", "54000"}
OUTFILE = Path("/tmp/metahog-guard-outfile.csv")

POSTGRES_DIALECT_TRICKS = [
    # ClickHouse table functions written as PostgreSQL set-returning functions.
    ("select * from url('http://127.0.0.1:9/x', 'CSV', 'a String')", REFUSALS),
    ("select * from file('/etc/passwd', 'LineAsString')", REFUSALS),
    ("select * from events, file('/etc/passwd') f", REFUSALS),
    ("select (select count(*) from url('http://127.0.0.1:9/x')) from events", REFUSALS),
    ("select * from remote('127.0.0.1', system.one)", REFUSALS),
    ("select * from s3('http://127.0.0.1:9/b/x.csv')", REFUSALS),
    ("select * from executable('id', 'TSV', 'x String')", REFUSALS),
    ("select count(*) from events where event in (select * from url('http://x/'))", REFUSALS),
    # ClickHouse system tables are not the source's tables.
    ("select * from system.tables", REFUSALS),
    ("select name from system.users", REFUSALS),
    ("select * from events join system.processes p on true", REFUSALS),
    # Settings and output clauses.
    ("select * from events settings readonly = 0", REFUSALS),
    ("select * from events format JSON", REFUSALS),
    (f"select * from events into outfile '{OUTFILE}'", REFUSALS),
    ("set readonly = 0", REFUSALS),
    ("set max_result_rows = 0", REFUSALS),
    ("set statement_timeout = 0", REFUSALS),
    # Writes in PostgreSQL's dialect, against the source's tables.
    ("insert into events (event) values ('x')", REFUSALS),
    ("insert into events select * from events", REFUSALS),
    ("with d as (delete from events returning *) select * from d", REFUSALS),
    ("update persons set email = null", REFUSALS),
    ("delete from big", REFUSALS),
    ("truncate big", REFUSALS),
    ("drop table big", REFUSALS),
    ("alter table persons add column x int", REFUSALS),
    ("create table t as select * from events", REFUSALS),
    ("select * into copied from events", REFUSALS),
    ("select 1 from events; drop table big", REFUSALS),
    ("copy events from stdin", REFUSALS),
    ("copy (select * from events) to '/tmp/metahog-guard-copy.csv'", REFUSALS),
    # Writing functions, through ClickHouse or the catalog.
    ("select pg_read_file('/etc/passwd') from events", REFUSALS),
    ("select set_config('default_transaction_read_only', 'off', false)", REFUSALS),
    ("select nextval('s')", REFUSALS),
]


def _counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        conn.execute(f"select count(*) from {table}").fetchone()[0]
        for table in ("events", "persons", "big")
    )


@pytest.fixture(scope="module")
def session(chdb_gateway):
    with connect(chdb_gateway) as conn:
        before = _counts(conn)
        assert before == (len(EVENTS), 3, 100_000)
        yield conn
        assert _counts(conn) == before
        listing = {
            row[0]
            for row in conn.execute(
                "select tablename from pg_tables where schemaname = 'public'"
            ).fetchall()
        }
        assert listing == {"events", "persons", "big"}
    assert not OUTFILE.exists()


@pytest.mark.parametrize(
    "sql, allowed",
    POSTGRES_DIALECT_TRICKS + [(sql, REFUSALS) for sql, _ in CLICKHOUSE_REFUSED],
)
def test_refused_through_the_gateway(session, sql, allowed):
    with pytest.raises(psycopg.Error) as info:
        session.execute(sql)
    assert info.value.sqlstate in allowed, (sql, info.value.sqlstate, str(info.value))
    # The session is still usable, and still reads the source.
    assert session.execute("select count(*) from persons").fetchone() == (3,)


def test_corpus_size():
    assert len(POSTGRES_DIALECT_TRICKS) + len(CLICKHOUSE_REFUSED) >= 150
