"""ClickHouse sources for the tests: the same small dataset in embedded chDB and in a real
clickhouse-server (Debian's 18.16, over HTTP), each behind a real gateway process. The
fixtures are registered for every test module by `pytest_plugins` in conftest.py."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gateway.embedded.clickhouse import LocalClickHouse, find_server
from tests.conftest import GatewayProcess, build_chdb, clickhouse_source

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
EVENT_NAMES = ["$pageview", "$autocapture", "signup"]


def _events() -> list[tuple[str, str, str, dt.datetime, str]]:
    rows = []
    for n in range(300):
        rows.append(
            (
                f"00000000-0000-4000-8000-{n:012d}",
                EVENT_NAMES[n % 3],
                f"user{n % 10}",
                NOW - dt.timedelta(hours=n),  # 300 hours: 12.5 days back
                f'{{"$browser": "{["Chrome", "Firefox"][n % 2]}", "price": {n % 7}}}',
            )
        )
    return rows


EVENTS = _events()


def _sql_values(rows) -> str:
    def value(item: object) -> str:
        if isinstance(item, dt.datetime):
            return f"'{item:%Y-%m-%d %H:%M:%S}'"
        if isinstance(item, str):
            return "'" + item.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return str(item)

    return ", ".join("(" + ", ".join(value(item) for item in row) + ")" for row in rows)


def clickhouse_setup(modern: bool) -> list[str]:
    timestamp = "DateTime64(6, 'UTC')" if modern else "DateTime('UTC')"
    return [
        "CREATE TABLE events (uuid UUID, event String, distinct_id String,"
        f" timestamp {timestamp}, properties String) ENGINE = MergeTree ORDER BY timestamp",
        f"INSERT INTO events VALUES {_sql_values(EVENTS)}",
        "CREATE TABLE persons (id UInt32, distinct_id String, email Nullable(String),"
        " score Nullable(Float64), amount Decimal(10, 2), tags Array(String))"
        " ENGINE = MergeTree ORDER BY id",
        "INSERT INTO persons VALUES (1, 'user1', 'a@example.com', 1.5, 10.25, ['x', 'y']),"
        " (2, 'user2', NULL, NULL, 0.10, []), (3, 'user3', 'c@example.com', -2, 99999.99, ['z'])",
        "CREATE TABLE big (x UInt64) ENGINE = MergeTree ORDER BY x",
        "INSERT INTO big SELECT number FROM system.numbers LIMIT 100000",
    ]


@pytest.fixture(scope="session")
def chdb_gateway(gateway_factory, catalog_dsn) -> GatewayProcess:
    pytest.importorskip("chdb")
    path = Path(tempfile.mkdtemp(prefix="metahog-chdb-"))
    build_chdb(path, clickhouse_setup(modern=True))
    sources = clickhouse_source("events", path=path, catalog=catalog_dsn)
    sources += clickhouse_source(
        "events_capped", path=path, extra='max_rows = 5\nstatement_timeout = "1s"'
    )
    return gateway_factory(sources_extra=sources)


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[LocalClickHouse]:
    if find_server() is None:
        pytest.skip("clickhouse-server is not installed")
    server = LocalClickHouse().start()
    try:
        for sql in clickhouse_setup(modern=False):
            server.query(sql)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_gateway(gateway_factory, clickhouse_server) -> GatewayProcess:
    # No [catalog]: the gateway runs a private PostgreSQL cluster for the shadow catalog.
    url = clickhouse_server.url + "?database=default"
    return gateway_factory(sources_extra=clickhouse_source("events", url=url))


@pytest.fixture(params=["chdb", "http"])
def any_gateway(request) -> GatewayProcess:
    return request.getfixturevalue(f"{request.param}_gateway")


def connect(gateway: GatewayProcess, database: str = "events", **kwargs) -> psycopg.Connection:
    return psycopg.connect(gateway.dsn(database), autocommit=True, **kwargs)


def psql(gateway: GatewayProcess, *args: str, database: str = "events") -> str:
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", gateway.url(database), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "10", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
