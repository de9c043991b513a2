"""Limits from the config: rows, statement timeout, concurrent queries, prepared statements."""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg
import pytest

from gateway.protocol import messages
from tests.conftest import READER_PASSWORD
from tests.pgwire import WireClient, errors


@pytest.fixture(scope="module")
def limited(gateway_factory, pg):
    sources = f"""
[sources.limited]
kind = "postgres"
dsn = "{pg.dsn("reader", READER_PASSWORD, "testdb", sslmode="disable")}"
max_rows = 50
max_prepared_statements = 3
max_portals = 2
"""
    users = """
[[users]]
name = "slow_user"
password = "slow-pw"
statement_timeout = "1s"

[[users]]
name = "solo_user"
password = "solo-pw"
max_concurrent_queries = 1
"""
    return gateway_factory(sources_extra=sources, users_extra=users)


def test_max_rows_cuts_the_result_with_a_notice(limited):
    notices: list[str] = []
    with psycopg.connect(limited.dsn(database="limited"), autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        cur = conn.execute("select film_id from film order by film_id")
        rows = cur.fetchall()
        assert [r[0] for r in rows] == list(range(1, 51))
        assert cur.rowcount == 50
        assert notices == ["result cut to 50 rows: max_rows limit of the gateway"]
        # A result under the limit is untouched, and the session goes on.
        assert len(conn.execute("select * from actor limit 10").fetchall()) == 10
        assert len(notices) == 1
    with psycopg.connect(limited.dsn(database="pagila"), autocommit=True) as conn:
        assert len(conn.execute("select film_id from film").fetchall()) == 1000


def test_max_rows_applies_to_copy_and_binary(limited):
    result = subprocess.run(
        ["psql", "-X", limited.dsn(database="limited"), "-c", "copy film to stdout"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 50
    assert "cut to 50 rows" in result.stderr
    with psycopg.connect(limited.dsn(database="limited")) as conn:
        rows = conn.cursor(binary=True).execute("select film_id from film").fetchall()
        assert len(rows) == 50


def test_user_statement_timeout_cancels_with_57014(limited):
    dsn = limited.dsn(database="pagila", user="slow_user", password="slow-pw")
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            conn.execute("select pg_sleep(10)")
        assert "statement timeout" in str(info.value)
        assert time.monotonic() - started < 5
        assert conn.execute("select 1").fetchone() == (1,)
        # Quick statements are not affected.
        assert conn.execute("select 2 from pg_sleep(0.2)").fetchone() == (2,)


def test_max_concurrent_queries_per_user(limited):
    dsn = limited.dsn(database="pagila", user="solo_user", password="solo-pw")
    first = psycopg.connect(dsn, autocommit=True)
    second = psycopg.connect(dsn, autocommit=True)
    try:
        busy = threading.Thread(target=lambda: first.execute("select pg_sleep(1.5)"))
        busy.start()
        time.sleep(0.4)
        with pytest.raises(psycopg.OperationalError) as info:
            second.execute("select 1")
        assert info.value.sqlstate == "53300"
        assert "too many concurrent queries" in str(info.value)
        busy.join()
        assert second.execute("select 2").fetchone() == (2,)
        # Another user is not limited by this one.
        with psycopg.connect(limited.dsn(database="pagila"), autocommit=True) as other:
            assert other.execute("select 3").fetchone() == (3,)
    finally:
        first.close()
        second.close()


def test_max_prepared_statements_per_session(limited):
    client = WireClient(limited.port)
    try:
        client.startup("analyst", "secret", "limited")

        def parse(name: bytes) -> list[tuple[bytes, bytes]]:
            client.send(
                messages.Parse.build(statement=name, query=b"select 1", param_types=[]),
                messages.Sync.build(),
            )
            return client.read_until(b"Z")

        for name in (b"s1", b"s2", b"s3"):
            assert errors(parse(name)) == []
        [error] = errors(parse(b"s4"))
        assert error["C"] == "53400"
        client.send(b"C" + (4 + 1 + 3).to_bytes(4, "big") + b"Ss1\0", messages.Sync.build())
        assert errors(client.read_until(b"Z")) == []
        assert errors(parse(b"s4")) == []
        assert errors(client.query("select 1")) == []
    finally:
        client.close()


def test_max_portals_per_session(limited):
    client = WireClient(limited.port)
    try:
        client.startup("analyst", "secret", "limited")
        assert errors(client.query("begin")) == []

        def bind(name: bytes) -> list[tuple[bytes, bytes]]:
            client.send(
                messages.Parse.build(statement=b"", query=b"select 1", param_types=[]),
                messages.Bind.build(
                    portal=name, statement=b"", param_formats=[], params=[], result_formats=[]
                ),
                messages.Sync.build(),
            )
            return client.read_until(b"Z")

        assert errors(bind(b"p1")) == [] and errors(bind(b"p2")) == []
        [error] = errors(bind(b"p3"))
        assert error["C"] == "53400"
        assert "portals" in error["M"]
        assert errors(client.query("rollback")) == []
        # Portals end with their transaction, and so does their count.
        assert errors(client.query("begin")) == []
        assert errors(bind(b"p1")) == [] and errors(bind(b"p2")) == []
        client.send(b"C" + (4 + 1 + 3).to_bytes(4, "big") + b"Pp1\0", messages.Sync.build())
        assert errors(client.read_until(b"Z")) == []
        assert errors(bind(b"p3")) == []
    finally:
        client.close()
