"""The shadow catalog against real parts: ClickHouse tables in a real `clickhouse-server` (over
HTTP) and in chDB are read with `read_schema`, mirrored into the session's PostgreSQL cluster by
`ShadowCatalog.sync`, and checked with real clients: psql's \\d, \\dt and \\d+,
information_schema, asyncpg and the gateway's own backend connection.

The HTTP server is Debian's clickhouse-server 18.16, which lacks DateTime64, Map, IPv4, Bool and
table comments, and allows LowCardinality only with an experimental setting: the tables that
need them are made only where the server has them (always on chDB)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import pytest

from gateway.backends.clickhouse.executor import ChdbExecutor, HttpExecutor
from gateway.backends.clickhouse.schema import ColumnSchema, TableSchema, read_schema
from gateway.backends.postgres.connection import BackendConnection, read_only_options
from gateway.catalog import CatalogError, PrivateCatalogServer, ShadowCatalog, reader_role
from gateway.config import BackendAddress
from gateway.embedded.clickhouse import LocalClickHouse, find_server
from gateway.embedded.postgres import LocalPostgres

ADMIN = "shadow_test_admin"  # not conftest's catalog_admin: both may run in one session
ADMIN_PASSWORD = "shadow-admin-pw"  # fixture credentials, not real secrets
OWNER_PASSWORD = "catalog-owner-pw"
SEP = "\x1f"  # psql field separator: no ClickHouse name below contains it

EVENTS = 'Events "2024"'
EVENTS_DDL = """
CREATE TABLE `Events "2024"` (
    id UInt32 COMMENT 'event id',
    `Weird "Col" ü` Nullable(String),
    amount Decimal(10, 2),
    maybe_amount Nullable(Decimal(10, 2)),
    created DateTime('UTC'),
    tags Array(String),
    kind Enum8('a' = 1, 'b' = 2) COMMENT 'it\\'s a "kind"',
    uid UUID,
    code FixedString(4),
    day Date,
    score Float64,
    small Int8,
    big UInt64,
    pair Tuple(UInt8, String),
    nested Array(Array(Int8))
) ENGINE = MergeTree() ORDER BY id
"""
SELECT_DDL = (
    "CREATE TABLE `select` (`from` String, `1st` Nullable(Int32)) ENGINE = MergeTree()"
    " ORDER BY tuple()"
)
LOW_CARD_DDL = (
    "CREATE TABLE low_card (lc LowCardinality(String), lcn LowCardinality(Nullable(String)))"
    " ENGINE = MergeTree() ORDER BY tuple()"
)
VIEW_DDL = 'CREATE VIEW amounts AS SELECT id, amount FROM `Events "2024"`'
MV_DDL = (
    "CREATE MATERIALIZED VIEW kinds ENGINE = MergeTree() ORDER BY id"
    ' AS SELECT id, kind FROM `Events "2024"`'
)
MODERN_DDL = (
    "CREATE TABLE modern (ts DateTime64(3, 'UTC'), m Map(String, UInt8), ip IPv4, flag Bool,"
    " narr Array(Nullable(Int32))) ENGINE = MergeTree() ORDER BY tuple()"
    " COMMENT 'table comment: it\\'s modern'"
)


def ch_type_comment(ch_type: str) -> str:
    return f"ClickHouse type: {ch_type}"


# table -> [(column, PostgreSQL type as psql prints it, NOT NULL, comment as \d+ shows it)]
EXPECTED: dict[str, list[tuple[str, str, bool, str]]] = {
    EVENTS: [
        ("id", "bigint", True, "event id"),
        ('Weird "Col" ü', "text", False, ch_type_comment("Nullable(String)")),
        ("amount", "numeric(10,2)", True, ch_type_comment("Decimal(10, 2)")),
        ("maybe_amount", "numeric(10,2)", False, ch_type_comment("Nullable(Decimal(10, 2))")),
        ("created", "timestamp with time zone", True, ch_type_comment("DateTime('UTC')")),
        ("tags", "text[]", True, ch_type_comment("Array(String)")),
        ("kind", "text", True, 'it\'s a "kind"'),
        ("uid", "uuid", True, ch_type_comment("UUID")),
        ("code", "bytea", True, ch_type_comment("FixedString(4)")),
        ("day", "date", True, ch_type_comment("Date")),
        ("score", "double precision", True, ch_type_comment("Float64")),
        ("small", "smallint", True, ch_type_comment("Int8")),
        ("big", "numeric", True, ch_type_comment("UInt64")),
        ("pair", "jsonb", True, ch_type_comment("Tuple(UInt8, String)")),
        ("nested", "text", True, ch_type_comment("Array(Array(Int8))")),
    ],
    "select": [
        ("from", "text", True, ch_type_comment("String")),
        ("1st", "integer", False, ch_type_comment("Nullable(Int32)")),
    ],
    "low_card": [
        ("lc", "text", True, ch_type_comment("LowCardinality(String)")),
        ("lcn", "text", False, ch_type_comment("LowCardinality(Nullable(String))")),
    ],
    "amounts": [
        ("id", "bigint", True, ch_type_comment("UInt32")),
        ("amount", "numeric(10,2)", True, ch_type_comment("Decimal(10, 2)")),
    ],
    "kinds": [
        ("id", "bigint", True, ch_type_comment("UInt32")),
        ("kind", "text", True, ch_type_comment("Enum8('a' = 1, 'b' = 2)")),
    ],
}
EXPECTED_MODERN = [
    ("ts", "timestamp with time zone", True, ch_type_comment("DateTime64(3, 'UTC')")),
    ("m", "jsonb", True, ch_type_comment("Map(String, UInt8)")),
    ("ip", "inet", True, ch_type_comment("IPv4")),
    ("flag", "boolean", True, ch_type_comment("Bool")),
    ("narr", "integer[]", True, ch_type_comment("Array(Nullable(Int32))")),
]


def run(coroutine):
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------------- PostgreSQL side


@pytest.fixture(scope="module")
def admin(pg: LocalPostgres) -> BackendAddress:
    """A non-superuser admin that may create databases and roles, over TCP with TLS."""
    pg.psql(f"CREATE ROLE {ADMIN} LOGIN CREATEDB CREATEROLE PASSWORD '{ADMIN_PASSWORD}'")
    dsn = pg.dsn(ADMIN, ADMIN_PASSWORD, "postgres", sslmode="require")
    return BackendAddress.from_dsn(dsn, "test")


def psql(pg: LocalPostgres, address: BackendAddress, command: str) -> list[list[str]]:
    """Run a psql command as `address` over TCP, unaligned rows split into fields."""
    conninfo = (
        f"host={address.host} port={address.port} dbname={address.database}"
        f" user={address.user} sslmode={address.sslmode}"
    )
    result = subprocess.run(
        [str(pg.bindir / "psql"), "-X", "-At", "-F", SEP, "-v", "ON_ERROR_STOP=1", conninfo],
        input=command,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPASSWORD": address.password.reveal()},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line.split(SEP) for line in result.stdout.splitlines()]


def pattern(name: str) -> str:
    """A psql pattern that matches exactly this name."""
    return '"' + name.replace('"', '""') + '"'


def oids(pg: LocalPostgres, database: str) -> dict[str, int]:
    rows = pg.psql(
        "SELECT relname, oid FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind = 'r'",
        database,
    )
    return {name: int(oid) for name, oid in (line.split("|") for line in rows.splitlines())}


# ---------------------------------------------------------------------------- ClickHouse side


@dataclass
class Source:
    kind: str
    executor: HttpExecutor | ChdbExecutor
    ddl: Callable[..., None]  # runs DDL with full rights; keyword arguments are settings
    modern: bool  # DateTime64, Map, IPv4, Bool and table comments exist

    @property
    def expected(self) -> dict[str, list[tuple[str, str, bool, str]]]:
        return EXPECTED | ({"modern": EXPECTED_MODERN} if self.modern else {})


def create_fixture_tables(ddl: Callable[..., None]) -> bool:
    """The tables every server has, then the modern one; whether the modern one was made."""
    for statement in (EVENTS_DDL, SELECT_DDL, VIEW_DDL, MV_DDL):
        ddl(statement)
    ddl(LOW_CARD_DDL, allow_experimental_low_cardinality_type="1")
    try:
        ddl(MODERN_DDL)
    except urllib.error.HTTPError:
        return False  # the caller checks that the server is old enough to lack them
    return True


def http_ddl(ch: LocalClickHouse) -> Callable[..., None]:
    token = base64.b64encode(f"{ch.user}:{ch.password}".encode()).decode()

    def ddl(sql: str, **settings: str) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{ch.http_port}/?{urlencode(settings)}",
            data=sql.encode(),
            headers={"Authorization": f"Basic {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    return ddl


@pytest.fixture(scope="module")
def http_source() -> Iterator[Source]:
    if find_server() is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    ch = LocalClickHouse().start()
    try:
        ddl = http_ddl(ch)
        modern = create_fixture_tables(ddl)
        if not modern:  # only an old server may lack them, not a mistake in MODERN_DDL
            assert int(ch.query("SELECT version()").split(".")[0]) < 21
        yield Source("http", HttpExecutor(ch.url + "?database=default"), ddl, modern)
    finally:
        ch.stop()


@pytest.fixture(scope="module")
def chdb_source(tmp_path_factory) -> Iterator[Source]:
    pytest.importorskip("chdb")
    executor = ChdbExecutor(str(tmp_path_factory.mktemp("chdb-catalog")))

    def ddl(sql: str, **settings: str) -> None:
        executor._session.query(sql)  # fixture DDL, outside the executor's readonly settings

    try:
        assert create_fixture_tables(ddl)
        yield Source("chdb", executor, ddl, True)
    finally:
        executor.close()


@pytest.fixture(params=["http", "chdb"])
def source(request) -> Source:
    return request.getfixturevalue(f"{request.param}_source")


@pytest.fixture
def synced(pg: LocalPostgres, admin: BackendAddress, source: Source) -> ShadowCatalog:
    catalog = ShadowCatalog(admin, f"shadow_{source.kind}")
    run(catalog.sync(run(read_schema(source.executor))))
    return catalog


# ---------------------------------------------------------------------------- read_schema


def test_read_schema(source: Source):
    tables = run(read_schema(source.executor))
    names = [table.name for table in tables]
    assert names == sorted(source.expected)  # no ".inner." table of the materialized view
    events = next(table for table in tables if table.name == EVENTS)
    assert [column.name for column in events.columns] == [c[0] for c in EXPECTED[EVENTS]]
    assert events.column("kind") == ColumnSchema(
        "kind", "Enum8('a' = 1, 'b' = 2)", 'it\'s a "kind"'
    )
    assert events.column("maybe_amount") == ColumnSchema("maybe_amount", "Nullable(Decimal(10, 2))")
    if source.modern:
        modern = next(table for table in tables if table.name == "modern")
        assert modern.comment == "table comment: it's modern"
        assert modern.column("ts") == ColumnSchema("ts", "DateTime64(3, 'UTC')")


# ---------------------------------------------------------------------------- the mirror


def test_psql_describe_shows_mapped_types(pg: LocalPostgres, synced: ShadowCatalog, source):
    for table, columns in source.expected.items():
        rows = psql(pg, synced.reader, rf"\d {pattern(table)}")
        assert [tuple(row[:4]) for row in rows] == [
            (name, type_, "", "not null" if not_null else "")
            for name, type_, not_null, _ in columns
        ], table


def test_psql_lists_exactly_the_tables(pg: LocalPostgres, synced: ShadowCatalog, source):
    rows = psql(pg, synced.reader, r"\dt")
    assert sorted(row[1] for row in rows) == sorted(source.expected)
    assert {(row[0], row[2]) for row in rows} == {("public", "table")}


def test_psql_shows_comments(pg: LocalPostgres, synced: ShadowCatalog, source: Source):
    for table, columns in source.expected.items():
        rows = psql(pg, synced.reader, rf"\d+ {pattern(table)}")
        assert [(row[0], row[-1]) for row in rows] == [(c[0], c[3]) for c in columns]
    tables = {row[1]: row[-1] for row in psql(pg, synced.reader, r"\dt+")}
    assert tables[EVENTS] == ""  # ClickHouse has no comment for it: none is made up
    if source.modern:
        assert tables["modern"] == "table comment: it's modern"


def test_information_schema_agrees(pg: LocalPostgres, synced: ShadowCatalog, source: Source):
    rows = psql(
        pg,
        synced.reader,
        "SELECT table_name, column_name, ordinal_position, is_nullable, data_type,"
        " coalesce(numeric_precision::text, ''), coalesce(numeric_scale::text, '')"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY table_name, ordinal_position",
    )
    got = {(row[0], row[1]): row[2:] for row in rows}
    expected = {
        (table, name): [str(position), "NO" if not_null else "YES"]
        for table, columns in source.expected.items()
        for position, (name, _, not_null, _) in enumerate(columns, 1)
    }
    assert {key: value[:2] for key, value in got.items()} == expected
    assert got[(EVENTS, "amount")][2:] == ["numeric", "10", "2"]
    assert got[(EVENTS, "tags")][2] == "ARRAY"
    assert got[(EVENTS, "created")][2] == "timestamp with time zone"


def test_reader_cannot_write(pg: LocalPostgres, synced: ShadowCatalog):
    reader = synced.reader
    assert reader.user == reader_role(ADMIN) == "metahog_reader_shadow_test_admin"
    flags = pg.psql(
        f"SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = '{reader.user}'"
    )
    assert flags.strip() == "f|f|f"

    async def attempt(sql: str, read_only: bool) -> str:
        conn = await asyncpg.connect(
            host=reader.host,
            port=reader.port,
            user=reader.user,
            password=reader.password.reveal(),
            database=reader.database,
            ssl="require",
            server_settings={"default_transaction_read_only": "on" if read_only else "off"},
        )
        try:
            assert await conn.fetch('SELECT * FROM public."select"') == []  # may read
            await conn.execute(sql)
        except asyncpg.PostgresError as exc:
            return exc.sqlstate
        finally:
            await conn.close()
        return "written"

    insert = 'INSERT INTO public."select" ("from") VALUES (\'x\')'
    assert run(attempt(insert, read_only=False)) == "42501"
    assert run(attempt("CREATE TABLE public.intruder (a int)", read_only=False)) == "42501"
    assert run(attempt(insert, read_only=True)) == "25006"


def test_gateway_connection_opens_as_reader(synced: ShadowCatalog):
    async def open_and_close() -> None:
        conn = await BackendConnection.open(synced.reader, read_only_options(5000))
        conn.close()

    run(open_and_close())


def test_resync_follows_alter_and_drop(pg: LocalPostgres, admin: BackendAddress, source: Source):
    database = f"shadow_{source.kind}_churn"
    catalog = ShadowCatalog(admin, database)
    source.ddl("CREATE TABLE churn_keep (a String) ENGINE = MergeTree() ORDER BY tuple()")
    source.ddl("CREATE TABLE churn_alter (a String) ENGINE = MergeTree() ORDER BY tuple()")
    source.ddl("CREATE TABLE churn_drop (a String) ENGINE = MergeTree() ORDER BY tuple()")
    try:
        run(catalog.sync(run(read_schema(source.executor))))
        before = oids(pg, database)
        # Two statements: 18.16 drops a COMMENT given in ADD COLUMN.
        source.ddl("ALTER TABLE churn_alter ADD COLUMN b Nullable(Int64)")
        source.ddl("ALTER TABLE churn_alter COMMENT COLUMN b 'added'")
        source.ddl("ALTER TABLE churn_keep COMMENT COLUMN a 'now documented'")
        source.ddl("DROP TABLE churn_drop")
        run(catalog.sync(run(read_schema(source.executor))))
        after = oids(pg, database)
        assert "churn_drop" in before and "churn_drop" not in after
        assert after["churn_keep"] == before["churn_keep"]  # only its comment changed
        assert after[EVENTS] == before[EVENTS]
        rows = psql(pg, catalog.reader, r"\d+ churn_alter")
        assert [(row[0], row[1], row[3], row[-1]) for row in rows] == [
            ("a", "text", "not null", "ClickHouse type: String"),
            ("b", "bigint", "", "added"),
        ]
        rows = psql(pg, catalog.reader, r"\d+ churn_keep")
        assert [(row[0], row[-1]) for row in rows] == [("a", "now documented")]
    finally:
        for table in ("churn_keep", "churn_alter", "churn_drop"):
            source.ddl(f"DROP TABLE IF EXISTS {table}")


# ---------------------------------------------------------------------------- without ClickHouse


def wide_tables(count: int, columns: int) -> list[TableSchema]:
    types = ["Nullable(String)", "Decimal(18, 4)", "Array(LowCardinality(String))", "UInt8"]
    return [
        TableSchema(
            f"table_{i:03}",
            tuple(ColumnSchema(f"col {j}", types[j % len(types)]) for j in range(columns)),
        )
        for i in range(count)
    ]


def test_two_hundred_tables_are_fast_and_stable(pg: LocalPostgres, admin: BackendAddress):
    database = "shadow_wide"
    catalog = ShadowCatalog(admin, database)
    tables = wide_tables(200, 30)
    started = time.monotonic()
    run(catalog.sync(tables))
    first = time.monotonic() - started
    before = oids(pg, database)
    started = time.monotonic()
    run(catalog.sync(tables))
    again = time.monotonic() - started
    assert len(before) == 200
    assert oids(pg, database) == before  # nothing changed, nothing made again
    assert first < 10 and again < 5, (first, again)
    changed = [*tables[:199], TableSchema("table_199", (ColumnSchema("x", "Date"),))]
    run(catalog.sync(changed))
    after = oids(pg, database)
    assert after["table_199"] != before["table_199"]
    assert {k: v for k, v in after.items() if k != "table_199"} == {
        k: v for k, v in before.items() if k != "table_199"
    }


def test_refresh_is_atomic_for_concurrent_readers(pg: LocalPostgres, admin: BackendAddress):
    """A reader polling the catalog while every table changes shape sees all old or all new."""
    catalog = ShadowCatalog(admin, "shadow_atomic")
    old, new = wide_tables(200, 5), wide_tables(200, 6)
    run(catalog.sync(old))

    async def poll(stop: asyncio.Event) -> set[tuple[int, int]]:
        reader = catalog.reader
        conn = await asyncpg.connect(
            host=reader.host,
            port=reader.port,
            user=reader.user,
            password=reader.password.reveal(),
            database=reader.database,
            ssl="require",
        )
        seen = set()
        try:
            while not stop.is_set():
                row = await conn.fetchrow(
                    "SELECT count(DISTINCT c.oid), count(a.attnum) FROM pg_class c"
                    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                    " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
                )
                seen.add((row[0], row[1]))
                await asyncio.sleep(0)
        finally:
            await conn.close()
        return seen

    async def refresh_while_polling() -> set[tuple[int, int]]:
        stop = asyncio.Event()
        poller = asyncio.create_task(poll(stop))
        await asyncio.sleep(0.2)
        await catalog.sync(new)
        await asyncio.sleep(0.2)
        stop.set()
        return await poller

    seen = run(refresh_while_polling())
    assert seen == {(200, 1000), (200, 1200)}  # never a half-built catalog


def test_tables_postgres_cannot_name_are_left_out(pg: LocalPostgres, admin: BackendAddress):
    catalog = ShadowCatalog(admin, "shadow_names")
    long_name = "x" * 64
    tables = [
        TableSchema("fine", (ColumnSchema("a", "String"),)),
        TableSchema(long_name, (ColumnSchema("a", "String"),)),
        TableSchema("long_column", (ColumnSchema(long_name, "String"),)),
    ]
    run(catalog.sync(tables))
    assert catalog.skipped == (long_name, "long_column")
    assert set(oids(pg, "shadow_names")) == {"fine"}


def test_an_application_database_is_not_taken_over(pg: LocalPostgres, admin: BackendAddress):
    """A source named like a database of the admin's that holds tables must not cost them."""
    pg.psql(f"CREATE DATABASE shadow_app OWNER {ADMIN}")
    pg.psql(
        f"SET ROLE {ADMIN}; CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)",
        "shadow_app",
    )
    catalog = ShadowCatalog(admin, "shadow_app")
    with pytest.raises(CatalogError, match="refusing"):
        run(catalog.sync([TableSchema("other", (ColumnSchema("a", "String"),))]))
    assert pg.psql("SELECT count(*) FROM orders", "shadow_app").strip() == "1"
    assert set(oids(pg, "shadow_app")) == {"orders"}


def test_owner_without_createrole_reads_as_itself(pg: LocalPostgres):
    pg.psql(
        f"CREATE ROLE shadow_test_owner LOGIN PASSWORD '{OWNER_PASSWORD}';"
        "CREATE DATABASE shadow_owned OWNER shadow_test_owner;"
    )
    dsn = pg.dsn("shadow_test_owner", OWNER_PASSWORD, "shadow_owned", sslmode="require")
    catalog = ShadowCatalog(BackendAddress.from_dsn(dsn, "test"), "shadow_owned")
    run(catalog.sync([TableSchema("t", (ColumnSchema("a", "Nullable(UInt8)"),))]))
    assert catalog.reader.user == "shadow_test_owner"
    assert [row[:2] for row in psql(pg, catalog.reader, r"\d t")] == [["a", "smallint"]]


# ---------------------------------------------------------------------------- private cluster


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory the unprivileged server user can enter; whatever runs there is stopped."""
    parent = Path(tempfile.mkdtemp(prefix="metahog-catalog-"))
    parent.chmod(0o755)
    try:
        yield parent / "catalog"
    finally:
        if (parent / "catalog" / "data").exists():
            LocalPostgres(directory=parent / "catalog").stop()
        shutil.rmtree(parent, ignore_errors=True)


def test_private_catalog_server_refuses_a_directory_it_cannot_enter(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("only root hands the cluster to another OS user")
    # pytest's tmp_path is 0700: the postgres user cannot enter it.
    with pytest.raises(RuntimeError, match="cannot enter"):
        PrivateCatalogServer.start_in(tmp_path / "catalog")


def test_private_catalog_server_persists_and_is_closed_to_others(private_dir: Path):
    tables = [TableSchema("events", (ColumnSchema("id", "UInt32"),))]
    server = PrivateCatalogServer.start_in(private_dir)
    catalog = ShadowCatalog(server.admin, "metahog_catalog_events")
    run(catalog.sync(tables))
    first = run(_relation_oid(catalog.reader, "events"))
    run(_refuses_tcp_superuser(server.admin))
    _refuses_other_os_users(server.admin)
    # Not stopped, as when a gateway is killed: the next start takes the directory over.
    server = PrivateCatalogServer.start_in(private_dir)
    catalog = ShadowCatalog(server.admin, "metahog_catalog_events")
    # As for a source that cannot be read at start-up: the last mirror is served as it is.
    run(catalog.sync_existing())
    assert run(_relation_oid(catalog.reader, "events")) == first
    server.stop()
    server = PrivateCatalogServer.start_in(private_dir)
    catalog = ShadowCatalog(server.admin, "metahog_catalog_events")
    run(catalog.sync(tables))
    assert run(_relation_oid(catalog.reader, "events")) == first  # kept across restarts
    server.stop()


async def _relation_oid(address: BackendAddress, table: str) -> int:
    conn = await BackendConnection.open(address, read_only_options(5000))
    conn.close()  # the gateway's own connection code gets in over the socket
    direct = await asyncpg.connect(
        host=address.host, port=address.port, user=address.user, database=address.database
    )
    try:
        return await direct.fetchval("SELECT $1::regclass::oid", table)
    finally:
        await direct.close()


async def _refuses_tcp_superuser(admin: BackendAddress) -> None:
    with pytest.raises(asyncpg.PostgresError) as info:
        await asyncpg.connect(
            host="127.0.0.1",
            port=admin.port,
            user=admin.user,
            password="guess",
            database="postgres",
            ssl="disable",
        )
    assert info.value.sqlstate == "28P01"  # password authentication failed


def _refuses_other_os_users(admin: BackendAddress) -> None:
    """The socket is 0700: another OS user cannot reach the trusting socket at all."""
    if os.geteuid() != 0:
        return
    result = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            "psql",
            "-X",
            "-h",
            admin.host,
            "-p",
            str(admin.port),
            "-U",
            admin.user,
            "-d",
            "postgres",
            "-c",
            "SELECT 1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
