"""Each layer on its own: with the guard switched off, the backend session and the relay still
keep writes out. The gateway runs in-process here so that its guard can be replaced."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.config import load_config
from gateway.embedded.postgres import free_port
from gateway.server import Gateway
from tests.conftest import write_config
from tests.test_backends import checksum


class NoGuard:
    """Lets every statement through: only the other layers remain."""

    def check(self, text: str) -> None:
        return None


@pytest.fixture(scope="module")
def unguarded(pg) -> Iterator[int]:
    pg.psql(
        "CREATE ROLE sloppy LOGIN PASSWORD 'sloppy-pw';"
        "ALTER ROLE sloppy SET standard_conforming_strings = off;"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO sloppy;",
        "testdb",
    )
    directory = Path(tempfile.mkdtemp(prefix="metahog-unguarded-"))
    port = free_port()
    sources = f"""
[sources.sloppy]
kind = "postgres"
dsn = "{pg.dsn("sloppy", "sloppy-pw", "testdb", sslmode="disable")}"
"""
    config = load_config(write_config(pg, directory, port, sources_extra=sources))
    loop = asyncio.new_event_loop()
    gateway = Gateway(config)
    gateway.guard = NoGuard()  # type: ignore[assignment]
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(gateway.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield port
    asyncio.run_coroutine_threadsafe(gateway.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def dsn(port: int, database: str = "pagila") -> str:
    return (
        f"host=127.0.0.1 port={port} dbname={database} user=analyst password=secret sslmode=disable"
    )


def test_backend_session_refuses_writes_without_the_guard(unguarded, pg):
    before = checksum(pg)
    with psycopg.connect(dsn(unguarded), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as info:
            conn.execute("insert into actor values (900, 'a', 'b')")
        assert "read-only transaction" in str(info.value)  # PostgreSQL's own words
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table evil (a int)")
    assert checksum(pg) == before


def test_role_privileges_stop_a_read_write_transaction_without_the_guard(unguarded, pg):
    before = checksum(pg)
    with psycopg.connect(dsn(unguarded), autocommit=True) as conn:
        conn.execute("begin read write")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into actor values (900, 'a', 'b')")
        conn.execute("rollback")
    assert checksum(pg) == before


@pytest.mark.parametrize(
    "statement",
    ["set default_transaction_read_only = off", "set standard_conforming_strings = off"],
)
def test_relay_closes_the_session_when_a_safety_setting_changes(unguarded, statement):
    with psycopg.connect(dsn(unguarded), autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError) as info:
            conn.execute(statement)
        assert "MetaHog does not allow" in str(info.value)
        assert conn.closed
    with psycopg.connect(dsn(unguarded), autocommit=True) as conn:
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)


def test_a_source_whose_session_starts_unsafe_is_refused(unguarded):
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(dsn(unguarded, "sloppy")).close()
    assert "standard_conforming_strings=off" in str(info.value)
