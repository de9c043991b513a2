"""pgjdbc, the PostgreSQL JDBC driver, through the gateway.

tests/jdbc/JdbcCheck.java runs in Java's source-launcher mode (no build step) and prints one JSON
object per line: a verdict per check and the values it read. This module runs it against the
`gateway` fixture, requires every check to pass, and compares the values with the same queries
run directly on the backend.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

JAVA_PROGRAM = Path(__file__).parent / "jdbc" / "JdbcCheck.java"
FILM_QUERY = "select film_id, title, rental_rate, last_update from film where film_id = %s"
JAVA_TIMEOUT = 180
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EXPECTED_CHECKS = {
    "connect",
    "tables",
    "columns",
    "primary_keys",
    "prepared_film",
    "server_prepared_statement",
    "prepared_typed",
    "insert_refused",
    "update_refused",
    "delete_refused",
    "create_table_refused",
    "write_after_select_refused",
    "batch_insert_refused",
    "nothing_written",
    "transaction_commit",
    "transaction_failed_write",
    "read_only",
    "isolation",
    "read_only_mode_always",
    "still_usable",
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _jar_version(jar: Path) -> str:
    """The driver version from the jar's manifest; "0" when it cannot be read."""
    try:
        with zipfile.ZipFile(jar) as archive:
            manifest = archive.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return "0"
    for key in ("Implementation-Version", "Bundle-Version"):
        match = re.search(rf"^{key}:\s*(\S+)", manifest, re.MULTILINE)
        if match:
            return match.group(1)
    return "0"


def find_pgjdbc_jar() -> Path | None:
    """The newest pgjdbc jar among the system package's and the local Maven repository's."""
    candidates = [Path("/usr/share/java/postgresql.jar")]
    candidates += map(
        Path,
        glob.glob(
            os.path.expanduser("~/.m2/repository/org/postgresql/postgresql/*/postgresql-*.jar")
        ),
    )
    jars = [
        jar
        for jar in candidates
        if jar.is_file() and not jar.name.endswith(("-sources.jar", "-javadoc.jar"))
    ]
    if not jars:
        return None
    return max(jars, key=lambda jar: _version_key(_jar_version(jar)))


def run_jdbc_check(java: str, jar: Path, url: str, user: str, password: str) -> list[dict]:
    command = [java, "-Duser.timezone=UTC", "-cp", str(jar), str(JAVA_PROGRAM), url, user, password]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=JAVA_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"JdbcCheck did not finish within {JAVA_TIMEOUT}s\n"
            f"stdout:\n{_text(exc.stdout)}\nstderr:\n{_text(exc.stderr)}"
        )
    records = []
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    assert records and records[-1] == {"done": True}, (
        f"JdbcCheck did not finish (exit {result.returncode})\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return records


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def micros(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


JAVA = shutil.which("java")
PGJDBC_JAR = find_pgjdbc_jar()
# Marks, not skips inside a fixture: they apply before the session's cluster and gateway start.
pytestmark = [
    pytest.mark.skipif(
        JAVA is None, reason="java is not installed: the pgjdbc test needs a Java 17+ runtime"
    ),
    pytest.mark.skipif(
        PGJDBC_JAR is None,
        reason="pgjdbc jar not found in /usr/share/java/postgresql.jar or "
        "~/.m2/repository/org/postgresql/postgresql/*/",
    ),
]


@pytest.fixture(scope="module")
def jdbc_records(gateway) -> list[dict]:
    assert JAVA is not None and PGJDBC_JAR is not None
    url = f"jdbc:postgresql://127.0.0.1:{gateway.port}/pagila?sslmode=require"
    return run_jdbc_check(JAVA, PGJDBC_JAR, url, "analyst", "secret")


def data(records: list[dict], name: str) -> dict:
    matches = [record for record in records if record.get("data") == name]
    assert len(matches) == 1, f"no data record {name!r}"
    return matches[0]


def test_every_jdbc_check_passes(jdbc_records, gateway):
    checks = {record["check"]: record for record in jdbc_records if "check" in record}
    failed = {name: record["detail"] for name, record in checks.items() if not record["ok"]}
    assert not failed, (
        f"failed JDBC checks: {json.dumps(failed, indent=2)}\ngateway log:\n{gateway.log()[-4000:]}"
    )
    assert set(checks) == EXPECTED_CHECKS
    assert gateway.alive()


def test_metadata_matches_backend(jdbc_records, direct_dsn):
    tables = data(jdbc_records, "tables")["names"]
    columns = data(jdbc_records, "columns")["columns"]
    with psycopg.connect(direct_dsn) as conn:
        backend_tables = [
            row[0]
            for row in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = 'public' and c.relkind in ('r', 'p') order by c.relname"
            )
        ]
        backend_columns = conn.execute(
            "select a.attname, t.typname, not a.attnotnull, a.attnum,"
            " information_schema._pg_numeric_precision(a.atttypid, a.atttypmod),"
            " information_schema._pg_numeric_scale(a.atttypid, a.atttypmod)"
            " from pg_attribute a join pg_type t on t.oid = a.atttypid"
            " where a.attrelid = 'public.film'::regclass and a.attnum > 0"
            " and not a.attisdropped order by a.attnum"
        ).fetchall()
    assert sorted(tables) == backend_tables
    assert [(c["name"], c["type_name"], c["nullable"] == 1, c["ordinal"]) for c in columns] == [
        row[:4] for row in backend_columns
    ]
    numeric = {c["name"]: c for c in columns}["rental_rate"]
    precision, scale = next(row[4:] for row in backend_columns if row[0] == "rental_rate")
    assert (numeric["column_size"], numeric["decimal_digits"]) == (precision, scale) == (4, 2)


def test_prepared_values_match_backend(jdbc_records, direct_dsn):
    executions = data(jdbc_records, "prepared_film")["executions"]
    assert [e["id"] for e in executions] == list(range(1, 11))
    # Text for the first four runs, binary (int4 and timestamptz) once pgjdbc switched to a
    # named server-side statement.
    assert all(e["formats"] == [0, 0, 0, 0] for e in executions[:4])
    assert all(e["formats"][0] == e["formats"][3] == 1 for e in executions[5:])
    assert not executions[0]["server_prepare_before"]
    assert all(e["server_prepare_before"] for e in executions[5:])
    with psycopg.connect(direct_dsn) as conn:
        for execution in executions:
            row = conn.execute(FILM_QUERY, (execution["id"],)).fetchone()
            assert row is not None
            film_id, title, rate, last_update = row
            assert execution["film_id"] == film_id
            assert execution["title"] == title
            assert Decimal(execution["rental_rate"]) == rate
            assert execution["rental_rate"] == str(rate)  # the scale survives too: "1.99"
            assert execution["last_update_micros"] == micros(last_update)


def test_typed_binary_values_match_backend(jdbc_records, direct_dsn):
    rows = {row["id"]: row for row in data(jdbc_records, "prepared_typed")["rows"]}
    assert set(rows) == {1, 2, 3}
    with psycopg.connect(direct_dsn) as conn:
        for id_, row in rows.items():
            n, ts, f8, flag, u = conn.execute(
                "select n, ts, f8, bool, u from typed where id = %s", (id_,)
            ).fetchone()
            values = row["values"]
            assert values[1] == (None if n is None else str(n))
            assert values[2] == (None if ts is None else f"micros:{micros(ts)}")
            assert values[10] == (None if f8 is None else f"Double:{_java_double(f8)}")
            assert values[11] == (None if flag is None else f"Boolean:{str(flag).lower()}")
            assert values[4] == (None if u is None else f"UUID:{u}")


def _java_double(value: float) -> str:
    """Double.toString for the special values the fixture holds (NaN, -Infinity)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)
