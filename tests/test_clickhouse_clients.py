"""Real clients' catalog and type machinery against ClickHouse sources, through a real gateway.

Each test sends what a real client sends: psql's backslash commands and its tab-completion
queries (also typed into a real psql on a pseudo-terminal), pgjdbc's DatabaseMetaData and its
switch to server-prepared binary statements and cursor fetches (tests/jdbc/JdbcCatalogCheck.java),
SQLAlchemy's inspector, the type-loading batch Npgsql (the .NET driver under Power BI) sends at
every connect, asyncpg's own type introspection, and the catalog queries of Metabase and
DBeaver. Catalog statements are answered by the shadow catalog (a real PostgreSQL database of
empty mirror tables); data statements are translated and run on ClickHouse (embedded chDB, and
Debian's clickhouse-server 18.16 over HTTP).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import pty
import select
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import psycopg
import pytest
from asyncpg import introspection

from tests.clickhouse_fixtures import EVENTS, connect, psql
from tests.conftest import ANALYST_PASSWORD, GatewayProcess
from tests.test_jdbc import find_pgjdbc_jar

T = TypeVar("T")
TABLES = ["big", "events", "persons"]
# persons as the shadow catalog mirrors it: (column, format_type, not null, comment).
PERSONS_COLUMNS = [
    ("id", "bigint", True, "ClickHouse type: UInt32"),
    ("distinct_id", "text", True, "ClickHouse type: String"),
    ("email", "text", False, "ClickHouse type: Nullable(String)"),
    ("score", "double precision", False, "ClickHouse type: Nullable(Float64)"),
    ("amount", "numeric(10,2)", True, "ClickHouse type: Decimal(10, 2)"),
    ("tags", "text[]", True, "ClickHouse type: Array(String)"),
]
PERSONS = [
    (1, "user1", "a@example.com", 1.5, Decimal("10.25"), ["x", "y"]),
    (2, "user2", None, None, Decimal("0.10"), []),
    (3, "user3", "c@example.com", -2.0, Decimal("99999.99"), ["z"]),
]


def rows_of(output: str) -> list[list[str]]:
    """psql -A -t output as fields; multi-line cells (ACLs) are not in the rows we read."""
    return [line.split("|") for line in output.splitlines() if line]


# --- 1. psql --------------------------------------------------------------------------------
def test_psql_lists_the_source_database_and_public_schema(any_gateway):
    databases = [row[0] for row in rows_of(psql(any_gateway, "-At", "-c", r"\l"))]
    assert "events" in databases
    schemas = rows_of(psql(any_gateway, "-At", "-c", r"\dn"))
    assert schemas == [["public", "pg_database_owner"]]


def test_psql_dt_lists_every_source_table(any_gateway):
    rows = rows_of(psql(any_gateway, "-At", "-c", r"\dt"))
    assert [(schema, name, kind) for schema, name, kind, _owner in rows] == [
        ("public", table, "table") for table in TABLES
    ]


def test_psql_describes_events(any_gateway):
    rows = rows_of(psql(any_gateway, "-At", "-c", r"\d events"))
    # column | type | collation | nullable | default; no ClickHouse column is Nullable here.
    assert rows == [
        ["uuid", "uuid", "", "not null", ""],
        ["event", "text", "", "not null", ""],
        ["distinct_id", "text", "", "not null", ""],
        ["timestamp", "timestamp with time zone", "", "not null", ""],
        ["properties", "text", "", "not null", ""],
    ]


def test_psql_describe_plus_shows_clickhouse_types_as_comments(any_gateway):
    rows = rows_of(psql(any_gateway, "-At", "-c", r"\d+ persons"))
    # column | type | collation | nullable | default | storage | compression | stats | description
    assert [(r[0], r[1], r[3] == "not null", r[8]) for r in rows] == PERSONS_COLUMNS
    events = rows_of(psql(any_gateway, "-At", "-c", r"\d+ events"))
    timestamp_comment = next(r[8] for r in events if r[0] == "timestamp")
    # DateTime64(6, 'UTC') in chDB, DateTime('UTC') on the 18.16 server: ClickHouse's own words.
    assert timestamp_comment.startswith("ClickHouse type: DateTime"), timestamp_comment


# The queries psql 15's tab-complete.c sends, byte for byte as captured from psql 15.18 on the
# wire (strace of its sendto calls) after "select * from pe<TAB>", "\d <TAB>" and
# "select * from persons where <TAB>".
TAB_TABLES_PREFIX = (
    "SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relkind IN"
    " ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'pe%' AND"
    " pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM"
    " pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')\n"
    "UNION ALL\n"
    "SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname"
    " LIKE 'pe%' AND n.nspname NOT LIKE E'pg\\\\_%'\n"
    "LIMIT 1000"
)
TAB_RELATIONS = (
    "SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE (c.relname)"
    " LIKE '%' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid"
    " FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')\n"
    "UNION ALL\n"
    "SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname"
    " LIKE '%' AND n.nspname NOT LIKE E'pg\\\\_%'\n"
    "LIMIT 1000"
)
TAB_COLUMNS = (
    "SELECT a.attname, NULL::pg_catalog.text FROM pg_catalog.pg_attribute a,"
    " pg_catalog.pg_class c WHERE c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped"
    " AND (a.attname) LIKE '%' AND c.relname = 'persons' AND"
    " pg_catalog.pg_table_is_visible(c.oid)\n"
    "LIMIT 1000"
)


def test_psql_tab_completion_queries(any_gateway):
    def answer(query: str) -> set[tuple[str, str]]:
        return {tuple(row) for row in rows_of(psql(any_gateway, "-At", "-c", query))}

    assert answer(TAB_TABLES_PREFIX) == {("persons", "")}
    # The shadow catalog's mirror tables have row types but no indexes or sequences.
    assert answer(TAB_RELATIONS) == {(t, "") for t in TABLES} | {
        ("", "information_schema"),
        ("", "public"),
    }
    assert {name for name, _ in answer(TAB_COLUMNS)} == {c[0] for c in PERSONS_COLUMNS}


def _psql_completion(gateway: GatewayProcess, typed: str, expect: list[str]) -> str:
    """Type `typed` and TAB TAB into an interactive psql on a pseudo-terminal; return what
    psql printed after it, once every word of `expect` appeared (or after 20 seconds)."""
    psql_binary = shutil.which("psql")
    assert psql_binary is not None
    pid, fd = pty.fork()
    if pid == 0:  # the child: psql with readline on the terminal
        env = {
            "PATH": "/usr/bin:/bin",
            "PGSSLMODE": "require",
            "PGCONNECT_TIMEOUT": "10",
            "TERM": "dumb",
            "HOME": "/nonexistent",
            "INPUTRC": "/dev/null",  # no user readline config that could turn completion off
        }
        try:
            os.execve(psql_binary, ["psql", "-X", gateway.url("events")], env)
        finally:
            os._exit(127)  # never return into pytest in the child
    output = b""

    def read_until(done: Callable[[], bool], timeout: float) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:  # the child closed the terminal
                    return

    try:
        read_until(lambda: b"events=>" in output, 20)
        assert b"events=>" in output, output.decode(errors="replace")
        start = len(output)
        os.write(fd, typed.encode() + b"\t\t")
        read_until(lambda: all(w.encode() in output[start:] for w in expect), 20)
        return output[start:].decode(errors="replace")
    finally:
        os.write(fd, b"\x03\\q\n")
        read_until(lambda: False, 0.5)
        os.close(fd)
        os.waitpid(pid, 0)


def _listing(output: str) -> set[str]:
    """The words of the candidate list psql printed: after the echoed line, before the
    prompt it prints again."""
    assert "\r\n" in output, output
    return set(output.split("\r\n", 1)[1].rsplit("events=>", 1)[0].split())


def test_psql_interactive_tab_completion(any_gateway):
    tables = _psql_completion(any_gateway, "select * from ", TABLES)
    assert _listing(tables) == set(TABLES) | {"information_schema.", "public."}
    columns = [c[0] for c in PERSONS_COLUMNS]
    listing = _listing(_psql_completion(any_gateway, "select * from persons where ", columns))
    assert listing == set(columns)
    # A single candidate is completed in place: "pe" becomes "persons ".
    assert "from persons " in _psql_completion(any_gateway, "select * from pe", ["persons "])


# --- 2. pgjdbc --------------------------------------------------------------------------------
JAVA = shutil.which("java")
PGJDBC_JAR = find_pgjdbc_jar()
JDBC_PROGRAM = Path(__file__).parent / "jdbc" / "JdbcCatalogCheck.java"
JDBC_TIMEOUT = 180
needs_jdbc = pytest.mark.skipif(
    JAVA is None or PGJDBC_JAR is None,
    reason="the pgjdbc tests need java (17+) and the pgjdbc jar (see tests/test_jdbc.py)",
)


@pytest.fixture(scope="module", params=["chdb", "http"])
def jdbc(request) -> dict:
    """JdbcCatalogCheck's records against one gateway: {"checks": {...}, "data": {...}}."""
    if JAVA is None or PGJDBC_JAR is None:
        pytest.skip("java or the pgjdbc jar is missing")
    gateway: GatewayProcess = request.getfixturevalue(f"{request.param}_gateway")
    url = f"jdbc:postgresql://127.0.0.1:{gateway.port}/events?sslmode=require"
    command = [JAVA, "-Duser.timezone=UTC", "-cp", str(PGJDBC_JAR), str(JDBC_PROGRAM)]
    result = subprocess.run(
        [*command, url, "analyst", ANALYST_PASSWORD],
        capture_output=True,
        text=True,
        timeout=JDBC_TIMEOUT,
    )
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert records and records[-1] == {"done": True}, (
        f"JdbcCatalogCheck did not finish (exit {result.returncode})\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return {
        "checks": {r["check"]: r for r in records if "check" in r},
        "data": {r["data"]: r for r in records if "data" in r},
    }


def step(jdbc: dict, name: str) -> dict:
    """What one step read; a step that raised has no data: fail with its error instead."""
    if name not in jdbc["data"]:
        pytest.fail(f"JDBC step {name!r} failed: {jdbc['checks'].get(name)}")
    return jdbc["data"][name]


@needs_jdbc
def test_jdbc_every_step_ran(jdbc):
    failed = {name: r["detail"] for name, r in jdbc["checks"].items() if not r["ok"]}
    assert not failed
    assert set(jdbc["checks"]) == {
        "connect",
        "schemas",
        "tables",
        "columns",
        "primary_keys",
        "type_info",
        "prepared",
        "fetch_size",
        "still_usable",
    }
    assert step(jdbc, "still_usable")["count"] == 3


@needs_jdbc
def test_jdbc_schemas_and_tables(jdbc):
    assert "public" in step(jdbc, "schemas")["names"]
    assert step(jdbc, "tables")["tables"] == [
        {"schema": "public", "name": table, "type": "TABLE"} for table in TABLES
    ]


@needs_jdbc
def test_jdbc_columns_of_persons(jdbc):
    columns = step(jdbc, "columns")["columns"]
    # java.sql.Types: BIGINT -5, VARCHAR 12, DOUBLE 8, NUMERIC 2, ARRAY 2003.
    assert [
        (c["name"], c["type_name"], c["data_type"], c["nullable"], c["is_nullable"])
        for c in columns
    ] == [
        ("id", "int8", -5, 0, "NO"),
        ("distinct_id", "text", 12, 0, "NO"),
        ("email", "text", 12, 1, "YES"),
        ("score", "float8", 8, 1, "YES"),
        ("amount", "numeric", 2, 0, "NO"),
        ("tags", "_text", 2003, 0, "NO"),
    ]
    amount = columns[4]
    assert (amount["column_size"], amount["decimal_digits"]) == (10, 2)
    assert columns[0]["column_size"] == 19  # int8's precision
    assert [c["ordinal"] for c in columns] == [1, 2, 3, 4, 5, 6]
    assert [c["remarks"] for c in columns] == [c[3] for c in PERSONS_COLUMNS]


@needs_jdbc
def test_jdbc_primary_keys_and_type_info(jdbc):
    # ClickHouse has no primary key constraint (ORDER BY is not one): the mirror declares none.
    assert step(jdbc, "primary_keys")["keys"] == []
    types = {t["name"]: t["data_type"] for t in step(jdbc, "type_info")["types"]}
    assert {
        name: types.get(name) for name in ("int4", "int8", "text", "numeric", "timestamptz", "uuid")
    } == {"int4": 4, "int8": -5, "text": 12, "numeric": 2, "timestamptz": 93, "uuid": 1111}


@needs_jdbc
def test_jdbc_prepared_statement_switches_to_binary(jdbc):
    prepared = step(jdbc, "prepared")
    assert prepared["threshold"] == 5
    expected = {
        start: [[pid, email, str(amount)] for pid, _, email, _, amount, _ in PERSONS[start - 1 :]]
        for start in (1, 2, 3)
    }
    executions = prepared["executions"]
    assert [e["run"] for e in executions] == [1, 2, 3, 4, 5, 6]
    for execution in executions:
        assert execution["rows"] == expected[execution["from"]], execution
    # Runs 1-4: unnamed statement, text. Run 5 parses the named statement (still text, since
    # pgjdbc has not described it yet); run 6 asks for int8 and numeric in binary.
    assert [e["server_prepare_before"] for e in executions] == [False] * 4 + [True] * 2
    assert all(e["formats"] == [0, 0, 0] for e in executions[:5])
    assert executions[5]["formats"] == [1, 0, 1]
    assert prepared["server_prepare_after"] is True


@needs_jdbc
def test_jdbc_fetch_size_uses_portal_suspension(jdbc):
    fetched = step(jdbc, "fetch_size")
    assert fetched["values"] == list(range(95))
    # pgjdbc held 10 rows at a time: each Execute(max_rows=10) got 10 rows and PortalSuspended,
    # the last one the remaining 5 and CommandComplete.
    assert fetched["batch_sizes"] == [10] * 9 + [5]


# --- 3. SQLAlchemy ----------------------------------------------------------------------------
def test_sqlalchemy_inspector(any_gateway):
    sa = pytest.importorskip("sqlalchemy", minversion="2")
    from sqlalchemy.dialects import postgresql

    url = any_gateway.url("events").replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url + "?sslmode=require")
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_table_names() == TABLES
        assert "public" in inspector.get_schema_names()
        columns = inspector.get_columns("persons")
        assert [(c["name"], c["nullable"], c["comment"]) for c in columns] == [
            (name, not not_null, comment) for name, _, not_null, comment in PERSONS_COLUMNS
        ]
        types = [c["type"] for c in columns]
        assert isinstance(types[0], sa.BigInteger)
        assert isinstance(types[1], sa.Text) and isinstance(types[2], sa.Text)
        assert isinstance(types[3], postgresql.DOUBLE_PRECISION)
        assert isinstance(types[4], sa.Numeric)
        assert (types[4].precision, types[4].scale) == (10, 2)
        assert isinstance(types[5], postgresql.ARRAY) and isinstance(types[5].item_type, sa.Text)
        assert inspector.get_pk_constraint("persons")["constrained_columns"] == []

        # The reflected table drives queries that run on ClickHouse.
        with engine.connect() as conn:
            persons = sa.Table("persons", sa.MetaData(), autoload_with=conn)
            query = sa.select(persons).where(persons.c.id >= 2).order_by(persons.c.id)
            assert [tuple(row) for row in conn.execute(query)] == PERSONS[1:]
    finally:
        engine.dispose()


# --- 4. Npgsql / Power BI -----------------------------------------------------------------------
# Npgsql 6-8's PostgresDatabaseInfo.GenerateLoadTypesQuery and the queries sent with it, with
# the options a PostgreSQL 15 server gets (ranges and multiranges on, table composites off),
# reproduced from the source; Npgsql sends all four as ONE simple Query message at every
# connect. Npgsql joins them with Environment.NewLine: "\r\n" on Windows, where Power BI runs.
NPGSQL_LOAD_TYPES = """
SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid
FROM (
    -- Arrays have typtype=b - this subquery identifies them by their typreceive and converts their typtype to a
    -- We first do this for the type (innerest-most subquery), and then for its element type
    -- This also returns the array element, range subtype and domain base type as elemtypoid
    SELECT
        typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, typ.typnotnull, typ.relkind,
        elemtyp.oid AS elemtypoid, elemtyp.typname AS elemtypname, elemcls.relkind AS elemrelkind,
        CASE WHEN elemproc.proname='array_recv' THEN 'a' ELSE elemtyp.typtype END AS elemtyptype
    FROM (
        SELECT typ.oid, typnamespace, typname, typrelid, typnotnull, relkind, typelem AS elemoid,
            CASE WHEN proc.proname='array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
            CASE
                WHEN proc.proname='array_recv' THEN typ.typelem
                WHEN typ.typtype='r' THEN rngsubtype
                WHEN typ.typtype='m' THEN (SELECT rngtypid FROM pg_range WHERE rngmultitypid = typ.oid)
                WHEN typ.typtype='d' THEN typ.typbasetype
            END AS elemtypoid
        FROM pg_type AS typ
        LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
        LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
    ) AS typ
    LEFT JOIN pg_type AS elemtyp ON elemtyp.oid = elemtypoid
    LEFT JOIN pg_class AS elemcls ON (elemcls.oid = elemtyp.typrelid)
    LEFT JOIN pg_proc AS elemproc ON elemproc.oid = elemtyp.typreceive
) AS t
JOIN pg_namespace AS ns ON (ns.oid = typnamespace)
WHERE
    typtype IN ('b', 'r', 'm', 'e', 'd') OR -- Base, range, multirange, enum, domain
    (typtype = 'c' AND relkind='c') OR -- User-defined free-standing composites (not table composites) by default
    (typtype = 'p' AND typname IN ('record', 'void')) OR -- Some special supported pseudo-types
    (typtype = 'a' AND (  -- Array of...
        elemtyptype IN ('b', 'r', 'm', 'e', 'd') OR -- Array of base, range, multirange, enum, domain
        (elemtyptype = 'p' AND elemtypname IN ('record', 'void')) OR -- Arrays of special supported pseudo-types
        (elemtyptype = 'c' AND elemrelkind='c') -- Array of user-defined free-standing composites (not table composites) by default
    ))
ORDER BY CASE
       WHEN typtype IN ('b', 'e', 'p') THEN 0           -- First base types, enums, pseudo-types
       WHEN typtype = 'r' THEN 1                        -- Ranges after
       WHEN typtype = 'm' THEN 2                        -- Multiranges after
       WHEN typtype = 'c' THEN 3                        -- Composites after
       WHEN typtype = 'd' AND elemtyptype <> 'a' THEN 4 -- Domains over non-arrays after
       WHEN typtype = 'a' THEN 5                        -- Arrays after
       WHEN typtype = 'd' AND elemtyptype = 'a' THEN 6  -- Domains over arrays last
END;"""  # noqa: E501 (Npgsql's own line lengths: the text is what goes on the wire)
NPGSQL_LOAD_COMPOSITES = """
-- Load field definitions for (free-standing) composite types
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     -- Don't load system attributes
  NOT attisdropped
ORDER BY typ.oid, att.attnum;"""
NPGSQL_LOAD_ENUMS = """
-- Load enum fields
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder;"""
NPGSQL_BATCH = "\r\n".join(
    ["SELECT version();", NPGSQL_LOAD_TYPES, NPGSQL_LOAD_COMPOSITES, NPGSQL_LOAD_ENUMS, ""]
)

# Npgsql 4.0 (the version Power BI Desktop bundles) sent this instead, through NpgsqlCommand:
# split into statements client-side, each Parse/Bind/Describe/Execute, one Sync at the end.
NPGSQL4_TYPES = """
/*** Load all supported types ***/
SELECT ns.nspname, a.typname, a.oid, a.typrelid, a.typbasetype,
CASE WHEN pg_proc.proname='array_recv' THEN 'a' ELSE a.typtype END AS type,
CASE
  WHEN pg_proc.proname='array_recv' THEN a.typelem
  WHEN a.typtype='r' THEN rngsubtype
  ELSE 0
END AS elemoid,
CASE
  WHEN pg_proc.proname IN ('array_recv','oidvectorrecv') THEN 3    /* Arrays last */
  WHEN a.typtype='r' THEN 2                                        /* Ranges before */
  WHEN a.typtype='d' THEN 1                                        /* Domains before */
  ELSE 0                                                           /* Base types first */
END AS ord
FROM pg_type AS a
JOIN pg_namespace AS ns ON (ns.oid = a.typnamespace)
JOIN pg_proc ON pg_proc.oid = a.typreceive
LEFT OUTER JOIN pg_class AS cls ON (cls.oid = a.typrelid)
LEFT OUTER JOIN pg_type AS b ON (b.oid = a.typelem)
LEFT OUTER JOIN pg_class AS elemcls ON (elemcls.oid = b.typrelid)
LEFT OUTER JOIN pg_range ON (pg_range.rngtypid = a.oid) 
WHERE
  a.typtype IN ('b', 'r', 'e', 'd') OR         /* Base, range, enum, domain */
  (a.typtype = 'c' AND cls.relkind='c') OR /* User-defined free-standing composites (not table composites) by default */
  (pg_proc.proname='array_recv' AND (
    b.typtype IN ('b', 'r', 'e', 'd') OR       /* Array of base, range, enum, domain */
    (b.typtype = 'p' AND b.typname IN ('record', 'void')) OR /* Arrays of special supported pseudo-types */
    (b.typtype = 'c' AND elemcls.relkind='c')  /* Array of user-defined free-standing composites (not table composites) */
  )) OR
  (a.typtype = 'p' AND a.typname IN ('record', 'void'))  /* Some special supported pseudo-types */
ORDER BY ord"""  # noqa: W291, E501 (Npgsql's own text, trailing space included)
NPGSQL4_COMPOSITES = """
/*** Load field definitions for (free-standing) composite types ***/
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     /* Don't load system attributes */
  NOT attisdropped
ORDER BY typ.typname, att.attnum"""
NPGSQL4_ENUMS = """
/*** Load enum fields ***/
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder"""
BASE_TYPES = {"int2", "int4", "int8", "text", "numeric", "float8", "timestamptz", "uuid", "bool"}


def _results(cursor: psycopg.Cursor) -> list[list[tuple]]:
    results = [cursor.fetchall()]
    while cursor.nextset():
        results.append(cursor.fetchall())
    return results


def test_npgsql_type_loading_batch(any_gateway):
    with connect(any_gateway) as conn:
        version, types, composites, enums = _results(conn.execute(NPGSQL_BATCH))
    assert version[0][0].startswith("PostgreSQL ")
    by_name = {
        (nspname, typname): (oid, typtype, elem)
        for nspname, oid, typname, typtype, _, elem in types
    }
    for name in BASE_TYPES:
        assert by_name[("pg_catalog", name)][1] == "b", name
    # Arrays come back as typtype 'a' with their element: Npgsql needs _text for text[].
    assert by_name[("pg_catalog", "_text")] == (1009, "a", 25)
    assert composites == [] and enums == []


def test_npgsql_type_loading_matches_the_shadow_catalog(chdb_gateway, catalog_dsn):
    with connect(chdb_gateway) as conn:
        through_gateway = _results(conn.execute(NPGSQL_BATCH))
    # The chDB gateway's shadow catalog is database "events" on the test cluster.
    direct_dsn = catalog_dsn.replace("/postgres?", "/events?")
    with psycopg.connect(direct_dsn, autocommit=True) as conn:
        direct = _results(conn.execute(NPGSQL_BATCH))
    assert len(through_gateway[1]) > 100
    assert through_gateway == direct


def test_npgsql4_type_loading_extended_protocol(any_gateway):
    # psycopg's pipeline mode sends what Npgsql 4's NpgsqlCommand sends for a batch: each
    # statement as Parse/Bind/Describe/Execute, results read after one Sync.
    with connect(any_gateway) as conn:
        with conn.pipeline():
            cursors = [conn.cursor() for _ in range(3)]
            statements = [NPGSQL4_TYPES, NPGSQL4_COMPOSITES, NPGSQL4_ENUMS]
            for cursor, sql in zip(cursors, statements, strict=True):
                cursor.execute(sql)
        types, composites, enums = (cursor.fetchall() for cursor in cursors)
    by_name = {(row[0], row[1]): row for row in types}
    for name in BASE_TYPES:
        assert by_name[("pg_catalog", name)][5] == "b", name
    _, _, oid, _, _, kind, elemoid, ord_ = by_name[("pg_catalog", "_numeric")]
    assert (oid, kind, elemoid, ord_) == (1231, "a", 1700, 3)
    assert list(composites) == [] and list(enums) == []


def test_npgsql_reads_every_column_in_binary(any_gateway):
    # Npgsql asks for every result column in binary (one result-format code, 1) and Power BI
    # reads whole tables that way: binary must decode to the same values as text.
    queries = {
        "select uuid, event, distinct_id, timestamp, properties from events order by timestamp"
        " desc": [(uuid.UUID(u), e, d, t, p) for u, e, d, t, p in EVENTS],
        "select * from persons order by id": PERSONS,
        "select x from big where x >= 99990 order by x": [
            (Decimal(n),) for n in range(99990, 100000)
        ],
    }
    with connect(any_gateway) as conn:
        for query, expected in queries.items():
            binary = conn.cursor(binary=True)
            binary.execute(query)
            assert binary.pgresult is not None
            formats = {binary.pgresult.fformat(i) for i in range(binary.pgresult.nfields)}
            assert formats == {1}, query
            assert binary.fetchall() == expected, query
            assert conn.execute(query).fetchall() == expected, query


def test_power_bi_navigator_and_folded_queries(any_gateway):
    with connect(any_gateway) as conn:
        tables = conn.execute(
            "select TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE from INFORMATION_SCHEMA.tables"
            " where TABLE_SCHEMA not in ('information_schema', 'pg_catalog')"
            " order by TABLE_SCHEMA, TABLE_NAME"
        ).fetchall()
        assert tables == [("public", table, "BASE TABLE") for table in TABLES]
        # Power Query folds steps into nested selects with quoted aliases ("$Table", "_").
        preview = conn.execute(
            'select "$Table"."id" as "id",\n    "$Table"."email" as "email"\n'
            'from "public"."persons" "$Table"\nlimit 1000'
        )
        assert [c.name for c in preview.description] == ["id", "email"]
        assert sorted(preview.fetchall()) == [(p[0], p[2]) for p in PERSONS]
        grouped = conn.execute(
            'select "_"."event",\n    "_"."count"\nfrom \n(\n'
            '    select "rows"."event" as "event",\n        count(1) as "count"\n'
            '    from "public"."events" "rows"\n    group by "event"\n) "_"\n'
            'where not "_"."event" is null\nlimit 1000'
        )
        assert [c.name for c in grouped.description] == ["event", "count"]
        assert sorted(grouped.fetchall()) == [
            ("$autocapture", 100),
            ("$pageview", 100),
            ("signup", 100),
        ]
        assert conn.execute(
            'select count(1) as "a0" from "public"."events" "$Table"'
        ).fetchone() == (300,)


# --- 5. asyncpg ---------------------------------------------------------------------------------
async def _asyncpg(
    gateway: GatewayProcess, body: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    conn = await asyncpg.connect(gateway.url("events"), ssl="require", timeout=10)
    try:
        return await body(conn)
    finally:
        await conn.close()


def test_asyncpg_decodes_every_column_of_events(any_gateway):
    query = "select uuid, event, timestamp, properties from events order by timestamp desc"

    async def body(conn: asyncpg.Connection):
        statement = await conn.prepare(query)
        attributes = [(a.name, a.type.name, a.type.oid) for a in statement.get_attributes()]
        return attributes, await statement.fetch(), await conn.fetch(query)

    attributes, prepared_rows, rows = asyncio.run(_asyncpg(any_gateway, body))
    assert attributes == [
        ("uuid", "uuid", 2950),
        ("event", "text", 25),
        ("timestamp", "timestamptz", 1184),
        ("properties", "text", 25),
    ]
    assert [tuple(r) for r in rows] == [tuple(r) for r in prepared_rows]
    assert len(rows) == len(EVENTS) == 300
    for row, (uuid_text, event, _, timestamp, properties) in zip(rows, EVENTS, strict=True):
        assert row["uuid"] == uuid.UUID(uuid_text)
        assert isinstance(row["uuid"], uuid.UUID)
        assert (row["event"], row["properties"]) == (event, properties)
        assert row["timestamp"] == timestamp
        assert row["timestamp"].utcoffset() == dt.timedelta(0)


def test_asyncpg_decodes_every_column_of_persons(any_gateway):
    query = "select id, distinct_id, email, score, amount, tags from persons order by id"

    async def body(conn: asyncpg.Connection):
        statement = await conn.prepare(query)
        attributes = [(a.name, a.type.name) for a in statement.get_attributes()]
        return attributes, await statement.fetch(), await conn.fetch(query)

    attributes, prepared_rows, rows = asyncio.run(_asyncpg(any_gateway, body))
    assert attributes == [
        ("id", "int8"),
        ("distinct_id", "text"),
        ("email", "text"),
        ("score", "float8"),
        ("amount", "numeric"),
        ("tags", "text[]"),
    ]
    for fetched in (rows, prepared_rows):
        assert [tuple(r) for r in fetched] == PERSONS
    first = rows[0]
    assert type(first["id"]) is int and type(first["score"]) is float
    assert type(first["amount"]) is Decimal and str(first["amount"]) == "10.25"
    assert type(first["tags"]) is list and rows[1]["tags"] == []


def test_asyncpg_decodes_uint64_as_numeric(any_gateway):
    async def body(conn: asyncpg.Connection):
        statement = await conn.prepare("select x from big where x >= $1 order by x limit 3")
        return [a.type.name for a in statement.get_attributes()], await statement.fetch(99997)

    names, rows = asyncio.run(_asyncpg(any_gateway, body))
    assert names == ["numeric"]
    assert [r["x"] for r in rows] == [Decimal(99997), Decimal(99998), Decimal(99999)]


def test_asyncpg_type_introspection_through_the_gateway(any_gateway):
    """asyncpg's own catalog queries for every OID the source's columns produce, and its
    set_type_codec path (TYPE_BY_NAME, the jit guard, the introspection query), answered by the
    shadow catalog."""
    queries = [
        "select uuid, event, timestamp, properties from events",
        "select id, distinct_id, email, score, amount, tags from persons",
        "select x from big",
    ]

    async def body(conn: asyncpg.Connection):
        oids = set()
        for query in queries:
            statement = await conn.prepare(query)
            oids |= {a.type.oid for a in statement.get_attributes()}
        found = {}
        for intro in (introspection.INTRO_LOOKUP_TYPES, introspection.INTRO_LOOKUP_TYPES_13):
            rows = await conn.fetch(intro, sorted(oids))
            found[intro] = {r["oid"]: (r["ns"], r["name"], r["kind"], r["elemtype"]) for r in rows}
        by_name = await conn.fetchrow(introspection.TYPE_BY_NAME, "persons", "public")
        # The mirror table's row type is a composite, not a builtin: set_type_codec (public API)
        # makes asyncpg run TYPE_BY_NAME, its jit guard and its introspection query itself.
        await conn.set_type_codec(
            "persons", schema="public", encoder=tuple, decoder=tuple, format="tuple"
        )
        return oids, found, by_name

    oids, found, by_name = asyncio.run(_asyncpg(any_gateway, body))
    assert oids == {2950, 25, 1184, 20, 701, 1700, 1009}
    expected = {
        2950: ("pg_catalog", "uuid", b"b", 0),
        25: ("pg_catalog", "text", b"b", 0),
        1184: ("pg_catalog", "timestamptz", b"b", 0),
        20: ("pg_catalog", "int8", b"b", 0),
        701: ("pg_catalog", "float8", b"b", 0),
        1700: ("pg_catalog", "numeric", b"b", 0),
        1009: ("pg_catalog", "_text", b"b", 25),
    }
    for answer in found.values():
        assert answer == expected
    assert by_name is not None and by_name["kind"] == b"c"


def test_asyncpg_cursors_fetch_in_batches(any_gateway):
    # asyncpg's cursors bind a named portal and Execute it with a row count (prefetch, fetch(n)):
    # each batch ends with PortalSuspended, the last with CommandComplete.
    async def body(conn: asyncpg.Connection):
        async with conn.transaction():
            query = "select x from big where x < $1 order by x"
            iterated = [r["x"] async for r in conn.cursor(query, 95, prefetch=10)]
            cursor = await conn.cursor("select id, tags from persons order by id")
            batches = [await cursor.fetch(2), [await cursor.fetchrow()], await cursor.fetch(5)]
        return iterated, [[tuple(r) for r in batch] for batch in batches]

    iterated, batches = asyncio.run(_asyncpg(any_gateway, body))
    assert iterated == [Decimal(n) for n in range(95)]
    assert batches == [[(1, ["x", "y"]), (2, [])], [(3, ["z"])], []]


@pytest.mark.xfail(
    strict=True,
    raises=asyncpg.exceptions.InvalidCursorNameError,
    reason="federation: MOVE/FETCH naming a protocol-level portal of a ClickHouse statement go "
    "to the shadow catalog, which has no such cursor (34000); asyncpg's Cursor.forward() sends "
    'MOVE FORWARD n "__asyncpg_portal_k__" as a simple query',
)
def test_asyncpg_cursor_forward(any_gateway):
    async def body(conn: asyncpg.Connection):
        async with conn.transaction():
            cursor = await conn.cursor("select x from big order by x")
            moved = await cursor.forward(50)
            return moved, await cursor.fetchrow()

    moved, row = asyncio.run(_asyncpg(any_gateway, body))
    assert (moved, row["x"]) == (50, Decimal(50))


def test_expression_types_match_postgres(chdb_gateway, catalog_dsn):
    # The shadow catalog holds the same tables (empty) with the mirrored types: PostgreSQL's
    # own description of the query there is what the gateway must describe.
    query = (
        "select id + 1 as a, id * 2 as b, id - 5 as c, score + 1 as d, amount * 2 as e,"
        " length(event) as f from persons, events limit 0"
    )
    with psycopg.connect(catalog_dsn.replace("/postgres?", "/events?")) as conn:
        expected = [(c.name, c.type_code) for c in conn.execute(query).description]
    assert expected == [("a", 20), ("b", 20), ("c", 20), ("d", 701), ("e", 1700), ("f", 23)]
    with connect(chdb_gateway) as conn:
        assert [(c.name, c.type_code) for c in conn.execute(query).description] == expected


# --- 6. BI tools: Metabase, DBeaver -------------------------------------------------------------
# Metabase's postgres driver, sql-jdbc.sync/current-user-table-privileges (lines joined with
# "\n" as Metabase does), sent at every sync.
_QUOTED = (
    "'\"' || replace(t.schemaname, '\"', '\"\"') || '\"' || '.' || '\"'"
    " || replace(t.objectname, '\"', '\"\"') || '\"'"
)
METABASE_PRIVILEGES = "\n".join(
    [
        "with table_privileges as (",
        " select",
        "   NULL as role,",
        "   t.schemaname as schema,",
        "   t.objectname as table,",
        f"   pg_catalog.has_any_column_privilege(current_user, {_QUOTED},  'update') as update,",
        f"   pg_catalog.has_any_column_privilege(current_user, {_QUOTED},  'select') as select,",
        f"   pg_catalog.has_any_column_privilege(current_user, {_QUOTED},  'insert') as insert,",
        f"   pg_catalog.has_table_privilege(     current_user, {_QUOTED},  'delete') as delete",
        " from (",
        "   select schemaname, tablename as objectname from pg_catalog.pg_tables",
        "   union",
        "   select schemaname, viewname as objectname from pg_catalog.pg_views",
        "   union",
        "   select schemaname, matviewname as objectname from pg_catalog.pg_matviews",
        " ) t",
        " where t.schemaname !~ '^pg_'",
        "   and t.schemaname <> 'information_schema'",
        "   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')",
        ")",
        "select t.*",
        "from table_privileges t",
    ]
)


def test_metabase_table_privileges(any_gateway):
    with connect(any_gateway) as conn:
        cursor = conn.execute(METABASE_PRIVILEGES)
        rows = sorted(cursor.fetchall(), key=lambda row: row[2])
        names = [column.name for column in cursor.description]
    assert names == ["role", "schema", "table", "update", "select", "insert", "delete"]
    # The gateway's catalog role may read every mirror table and write none.
    assert rows == [(None, "public", table, False, True, False, False) for table in TABLES]


def test_information_schema_columns(any_gateway):
    with connect(any_gateway) as conn:
        cursor = conn.execute(
            "SELECT * FROM information_schema.columns WHERE table_schema='public'"
            " ORDER BY table_name, ordinal_position"
        )
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert [(r["table_catalog"], r["table_schema"]) for r in rows] == [("events", "public")] * 12
    persons = [r for r in rows if r["table_name"] == "persons"]
    assert [
        (r["column_name"], r["data_type"], r["is_nullable"], r["udt_name"]) for r in persons
    ] == [
        ("id", "bigint", "NO", "int8"),
        ("distinct_id", "text", "NO", "text"),
        ("email", "text", "YES", "text"),
        ("score", "double precision", "YES", "float8"),
        ("amount", "numeric", "NO", "numeric"),
        ("tags", "ARRAY", "NO", "_text"),
    ]
    amount = persons[4]
    assert (amount["numeric_precision"], amount["numeric_scale"]) == (10, 2)
    events = [(r["column_name"], r["data_type"]) for r in rows if r["table_name"] == "events"]
    assert events == [
        ("uuid", "uuid"),
        ("event", "text"),
        ("distinct_id", "text"),
        ("timestamp", "timestamp with time zone"),
        ("properties", "text"),
    ]
    assert [(r["column_name"], r["data_type"]) for r in rows if r["table_name"] == "big"] == [
        ("x", "numeric")
    ]


def test_select_star_limit_0_describes_without_rows(any_gateway):
    with connect(any_gateway) as conn:
        cursor = conn.execute("select * from events limit 0")
        assert cursor.fetchall() == []
        assert cursor.statusmessage == "SELECT 0"
        assert [(c.name, c.type_code) for c in cursor.description] == [
            ("uuid", 2950),
            ("event", 25),
            ("distinct_id", 25),
            ("timestamp", 1184),
            ("properties", 25),
        ]
        cursor = conn.execute("select * from persons limit 0")
        assert cursor.fetchall() == []
        described = [(c.name, c.type_code, c.precision, c.scale) for c in cursor.description]
        assert described == [
            ("id", 20, None, None),
            ("distinct_id", 25, None, None),
            ("email", 25, None, None),
            ("score", 701, None, None),
            ("amount", 1700, 10, 2),  # numeric(10,2): the typmod as for a table column
            ("tags", 1009, None, None),
        ]


def test_result_columns_name_their_table(any_gateway):
    # pgjdbc's ResultSetMetaData.isNullable/getBaseTableName, Npgsql's GetSchemaTable and
    # DBeaver's result-set editor read these two fields of RowDescription.
    with connect(any_gateway) as conn:
        oid = conn.execute("select 'public.events'::regclass::oid").fetchone()[0]
        result = conn.execute("select * from events limit 0").pgresult
        assert result is not None
        assert [(result.ftable(i), result.ftablecol(i)) for i in range(5)] == [
            (oid, n) for n in range(1, 6)
        ]


def test_result_column_names_are_postgres_names(any_gateway):
    # Metabase and pandas key results by column name: PostgreSQL calls count(*) "count".
    with connect(any_gateway) as conn:
        cursor = conn.execute(
            "select count(*), id + 1, upper(distinct_id) from persons group by 2, 3"
        )
        assert [c.name for c in cursor.description] == ["count", "?column?", "upper"]


def test_metabase_select_probe_on_chdb(chdb_gateway):
    # Metabase's sql-jdbc simple-select-probe-query: may the user read this table?
    with connect(chdb_gateway) as conn:
        cursor = conn.execute('SELECT TRUE AS "_" FROM "public"."events" WHERE 1 <> 1 LIMIT 0')
        assert cursor.fetchall() == []
        assert [(c.name, c.type_code) for c in cursor.description] == [("_", 16)]


@pytest.mark.xfail(
    strict=True,
    raises=psycopg.errors.UndefinedColumn,
    reason="translate: the literal TRUE is sent as `TRUE`, which ClickHouse 18.16 (no Bool "
    "type) reads as an identifier: error 47 Unknown identifier",
)
def test_metabase_select_probe_on_clickhouse_18(http_gateway):
    with connect(http_gateway) as conn:
        cursor = conn.execute('SELECT TRUE AS "_" FROM "public"."events" WHERE 1 <> 1 LIMIT 0')
        assert cursor.fetchall() == []
        assert [(c.name, c.type_code) for c in cursor.description] == [("_", 16)]


# Metabase's query for "count of events by day" (a question's time series), as it sends it.
METABASE_BY_DAY = (
    'SELECT DATE_TRUNC(\'day\', "public"."events"."timestamp") AS "timestamp",'
    ' COUNT(*) AS "count" FROM "public"."events"'
    ' GROUP BY DATE_TRUNC(\'day\', "public"."events"."timestamp")'
    ' ORDER BY DATE_TRUNC(\'day\', "public"."events"."timestamp") ASC'
)


def _events_by_day() -> list[tuple[dt.datetime, int]]:
    days: dict[dt.datetime, int] = {}
    for *_, timestamp, _ in EVENTS:
        day = timestamp.replace(hour=0, minute=0, second=0, microsecond=0)
        days[day] = days.get(day, 0) + 1
    return sorted(days.items())


def test_metabase_time_series_on_chdb(chdb_gateway):
    with connect(chdb_gateway) as conn:
        cursor = conn.execute(METABASE_BY_DAY)
        assert [(c.name, c.type_code) for c in cursor.description] == [
            ("timestamp", 1184),
            ("count", 20),
        ]
        assert cursor.fetchall() == _events_by_day()


@pytest.mark.xfail(
    strict=True,
    raises=psycopg.errors.InternalError_,
    reason='translate: the output alias "timestamp" equals the source column\'s name; ClickHouse '
    "18.16 resolves events.timestamp in GROUP BY to the alias: error 215 (column timestamp is "
    "not under aggregate function and not in GROUP BY)",
)
def test_metabase_time_series_on_clickhouse_18(http_gateway):
    with connect(http_gateway) as conn:
        assert conn.execute(METABASE_BY_DAY).fetchall() == _events_by_day()


def test_dbeaver_navigator_queries(any_gateway):
    with connect(any_gateway) as conn:
        # DBeaver's schema list, then its table list for schema public (relnamespace 2200).
        schemas = conn.execute(
            "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n"
            " LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0"
            " AND d.classoid='pg_namespace'::regclass ORDER BY nspname"
        ).fetchall()
        assert "public" in [row[2] for row in schemas]
        tables = conn.execute(
            "select c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as"
            " partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key"
            " from pg_catalog.pg_class c left outer join pg_catalog.pg_description d"
            " on d.objoid=c.oid and d.objsubid=0 and d.classoid='pg_class'::regclass"
            " where c.relnamespace=2200 and c.relkind not in ('i','I','c') order by c.relname"
        ).fetchall()
        assert [row[2] for row in tables] == TABLES
        # Its data viewer: schema-qualified, aliased, LIMIT 200.
        rows = conn.execute("SELECT x.* FROM public.persons x ORDER BY x.id LIMIT 200").fetchall()
        assert rows == PERSONS


# --- the session's TimeZone -----------------------------------------------------------------
# pgjdbc sends the JVM's zone as TimeZone in its startup packet, psql and libpq clients send
# PGTZ: DBeaver, Metabase and Tableau sessions are rarely in UTC.
BERLIN = "-c TimeZone=Europe/Berlin"


def test_timestamptz_text_follows_the_session_time_zone(any_gateway):
    with connect(any_gateway, options=BERLIN) as conn:
        assert conn.execute("show timezone").fetchone() == ("Europe/Berlin",)
        cursor = conn.execute("select timestamp from events order by timestamp desc limit 1")
        result = cursor.pgresult
        assert result is not None and result.get_value(0, 0) is not None
        from_clickhouse = result.get_value(0, 0).decode()
        instant = cursor.fetchone()[0]
        # The same instant as PostgreSQL itself prints it in this session (a catalog statement,
        # answered by the shadow catalog's PostgreSQL).
        expected = conn.execute("select %s::timestamptz::text", (instant,)).fetchone()[0]
    assert expected.endswith("+01")
    assert from_clickhouse == expected


def test_timestamptz_to_date_uses_the_session_time_zone(any_gateway):
    berlin = ZoneInfo("Europe/Berlin")
    late = [event for event in EVENTS if event[3].astimezone(berlin).date() != event[3].date()]
    assert late  # 300 hourly events: some fall between 23:00 and 24:00 UTC
    with connect(any_gateway, options=BERLIN) as conn:
        for uuid_text, _, _, timestamp, _ in late[:3]:
            day = conn.execute(
                "select timestamp::date from events where uuid = %s", (uuid_text,)
            ).fetchone()
            assert day == (timestamp.astimezone(berlin).date(),), timestamp
