"""Fixtures: a real PostgreSQL cluster and real `metahog serve` processes in front of it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.embedded.postgres import LocalPostgres, free_port
from gateway.protocol.scram import make_verifier

pytest_plugins = ["tests.clickhouse_fixtures", "tests.source_fixtures"]

# Credentials of the fixtures; none of them is a real secret.
READER_PASSWORD = "reader-pw"
ANALYST_PASSWORD = "secret"
SCRAM_PASSWORD = "scram-pw"

FIXTURE_SQL = """
CREATE TABLE film (
    film_id integer PRIMARY KEY,
    title text NOT NULL,
    rating text,
    length smallint,
    rental_rate numeric(4,2),
    last_update timestamptz NOT NULL DEFAULT '2020-02-15 09:34:33+00'
);
COMMENT ON TABLE film IS 'films for rent';
INSERT INTO film (film_id, title, rating, length, rental_rate)
SELECT g, 'Film ' || g, (ARRAY['G','PG','PG-13','R','NC-17'])[1 + g % 5], 60 + g % 120,
       round((0.99 + (g % 5))::numeric, 2)
FROM generate_series(1, 1000) g;

CREATE TABLE actor (actor_id integer PRIMARY KEY, first_name text, last_name text);
INSERT INTO actor SELECT g, 'First' || g, 'Last' || g FROM generate_series(1, 200) g;
CREATE TABLE film_actor (actor_id integer REFERENCES actor, film_id integer REFERENCES film,
                         PRIMARY KEY (actor_id, film_id));
INSERT INTO film_actor SELECT 1 + g % 200, g FROM generate_series(1, 1000) g;

CREATE TABLE typed (
    id integer PRIMARY KEY,
    n numeric,
    ts timestamptz,
    d date,
    u uuid,
    j jsonb,
    arr integer[],
    tarr text[],
    iv interval,
    b bytea,
    f8 double precision,
    bool boolean
);
INSERT INTO typed VALUES
 (1, 12345.6789, '2024-03-01 12:34:56.789+00', '2024-03-01',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{1,2,3}',
  '{"x","y z",NULL}',
  '1 year 2 mons 3 days 04:05:06.5', '\\xdeadbeef', 'NaN', true),
 (2, -0.000001, '1999-12-31 23:59:59+05', '1970-01-01',
  '00000000-0000-0000-0000-000000000000', '[]', '{}', '{}', '-00:00:01', '\\x', '-Infinity', false),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader, md5_user, pw_user, tls_user;
"""


@pytest.fixture(scope="session")
def pg() -> Iterator[LocalPostgres]:
    cluster = LocalPostgres(
        ssl=True,
        hba=[
            "host all md5_user 127.0.0.1/32 md5",
            "host all pw_user 127.0.0.1/32 password",
            "hostnossl all tls_user 127.0.0.1/32 reject",
        ],
    ).start()
    try:
        cluster.psql(
            f"""
            CREATE ROLE reader LOGIN PASSWORD '{READER_PASSWORD}';
            SET password_encryption = 'md5';
            CREATE ROLE md5_user LOGIN PASSWORD 'md5-pw';
            RESET password_encryption;
            CREATE ROLE pw_user LOGIN PASSWORD 'pw-pw';
            CREATE ROLE tls_user LOGIN PASSWORD 'tls-pw';
            CREATE DATABASE testdb;
            CREATE DATABASE otherdb;
            """
        )
        cluster.psql(FIXTURE_SQL, "testdb")
        cluster.psql(
            "CREATE TABLE note (id int, body text); INSERT INTO note VALUES (1, 'other source');"
            "GRANT SELECT ON note TO reader;",
            "otherdb",
        )
        yield cluster
    finally:
        cluster.stop()


@dataclass
class GatewayProcess:
    port: int
    config_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    state_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def dsn(
        self,
        database: str = "pagila",
        user: str = "analyst",
        password: str = ANALYST_PASSWORD,
        **params: str,
    ) -> str:
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "dbname": database,
            "user": user,
            "password": password,
            "sslmode": "require",
            "connect_timeout": "10",
        }
        parts.update(params)
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def url(
        self, database: str = "pagila", user: str = "analyst", password: str = ANALYST_PASSWORD
    ) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_config(
    pg: LocalPostgres,
    directory: Path,
    port: int,
    server: dict | None = None,
    sources_extra: str = "",
    users_extra: str = "",
) -> Path:
    scram_verifier = make_verifier(SCRAM_PASSWORD).encode()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "auto",
        "state_dir": str(directory / "state"),
        "auth_timeout": 3,
        "max_message_size": 1048576,
        **(server or {}),
    }
    server_lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    config = f"""
[server]
{server_lines}

[[users]]
name = "analyst"
password = "{ANALYST_PASSWORD}"

[[users]]
name = "scram_user"
password = "{scram_verifier}"
sources = ["pagila"]

[[users]]
name = "other_only"
password = "other-pw"
sources = ["other"]
{users_extra}

[sources.pagila]
kind = "postgres"
dsn = "{pg.dsn("reader", READER_PASSWORD, "testdb", sslmode="require")}"
statement_timeout = "30s"
pool_size = 8

[sources.other]
kind = "postgres"
dsn = "{pg.dsn("reader", READER_PASSWORD, "otherdb", sslmode="disable")}"
{sources_extra}
"""
    path = directory / "metahog.toml"
    path.write_text(config)
    return path


def start_gateway(
    config_path: Path, port: int, directory: Path, log_level: str | None = "debug"
) -> GatewayProcess:
    """Start `metahog serve`; `log_level` None leaves the level to the config's [logging]."""
    log_path = directory / "gateway.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(config_path),
            *(["--log-level", log_level] if log_level else []),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"gateway did not start: {log_path.read_text()}")
    return GatewayProcess(port, config_path, process, log_path, directory / "state")


@pytest.fixture(scope="session")
def gateway_factory(pg: LocalPostgres) -> Iterator:
    started: list[GatewayProcess] = []

    def make(
        server: dict | None = None,
        sources_extra: str = "",
        users_extra: str = "",
        log_level: str | None = "debug",
    ) -> GatewayProcess:
        directory = Path(tempfile.mkdtemp(prefix="metahog-gw-"))
        # A private catalog cluster runs as the unprivileged `postgres` user, under state_dir.
        directory.chmod(0o711)
        port = free_port()
        config = write_config(pg, directory, port, server, sources_extra, users_extra)
        gateway = start_gateway(config, port, directory, log_level)
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="session")
def gateway(gateway_factory) -> GatewayProcess:
    return gateway_factory()


@pytest.fixture
def direct_dsn(pg: LocalPostgres) -> str:
    return (
        f"host=127.0.0.1 port={pg.port} dbname=testdb user=reader "
        f"password={READER_PASSWORD} sslmode=require"
    )


# --- ClickHouse sources -------------------------------------------------------------------
CATALOG_ADMIN_PASSWORD = "catalog-admin-pw"


@pytest.fixture(scope="session")
def catalog_dsn(pg: LocalPostgres) -> str:
    """A role that may create the shadow catalogs' databases, as an operator would configure."""
    pg.psql(
        f"CREATE ROLE catalog_admin LOGIN CREATEDB CREATEROLE PASSWORD '{CATALOG_ADMIN_PASSWORD}'"
    )
    return pg.dsn("catalog_admin", CATALOG_ADMIN_PASSWORD, "postgres", sslmode="disable")


def build_chdb(path: Path, statements: list[str]) -> None:
    """Fill a chDB data directory in a subprocess: a directory can be open in one process at a
    time, and the gateway under test opens it next."""
    script = (
        "import json, sys, chdb.session\n"
        "session = chdb.session.Session(sys.argv[1])\n"
        "for sql in json.load(sys.stdin):\n"
        "    session.query(sql)\n"
        "session.close()\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(path)],
        input=json.dumps(statements),
        text=True,
        check=True,
        timeout=600,
    )


def clickhouse_source(
    name: str,
    *,
    url: str | None = None,
    path: Path | None = None,
    catalog: str | None = None,
    extra: str = "",
) -> str:
    """Config lines of one ClickHouse source (and the catalog server, when given)."""
    target = f'url = "{url}"' if url is not None else f'path = "{path}"'
    lines = f'\n[sources.{name}]\nkind = "clickhouse"\n{target}\n{extra}\n'
    if catalog is not None:
        lines += f'\n[catalog]\ndsn = "{catalog}"\n'
    return lines
