"""The audit log: a JSON line per statement from a real gateway, for simple and extended
queries, rejected and failing statements; literals redacted (or not, when configured, except
passwords); rotation by size; and never a secret in it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psycopg
import pytest

from gateway.embedded.postgres import free_port
from gateway.ops.audit import redact, shown_statement
from tests.clickhouse_fixtures import clickhouse_setup
from tests.conftest import (
    ANALYST_PASSWORD,
    READER_PASSWORD,
    SCRAM_PASSWORD,
    build_chdb,
    clickhouse_source,
)
from tests.test_metrics import Scraper, scrape, value, wait_for_http

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = {
    "time",
    "session",
    "user",
    "source",
    "application_name",
    "client",
    "statement",
    "verdict",
    "reason",
    "sqlstate",
    "rows",
    "bytes",
    "duration_ms",
}


def audited(gateway_factory, tmp_path: Path, **settings: object) -> tuple[object, Path]:
    path = tmp_path / "audit" / "statements.log"
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    gateway = gateway_factory(sources_extra=f'\n[audit]\npath = "{path}"\n{lines}')
    return gateway, path


def entries(path: Path, count: int) -> list[dict]:
    """The audit file's entries, once it holds at least `count` (a thread writes them)."""
    deadline = time.monotonic() + 10
    while True:
        found = path.read_text().splitlines() if path.exists() else []
        if len(found) >= count:
            return [json.loads(line) for line in found]
        assert time.monotonic() < deadline, f"{len(found)} audit lines, expected {count}"
        time.sleep(0.05)


def connect(gateway, **params: str) -> psycopg.Connection:
    return psycopg.connect(gateway.dsn(application_name="audit-test", **params), autocommit=True)


def test_one_line_per_statement_with_its_outcome(gateway_factory, tmp_path: Path) -> None:
    gateway, path = audited(gateway_factory, tmp_path)
    with connect(gateway) as conn:
        pid = conn.info.backend_pid
        client_port = conn.execute("select 1").fetchone()  # simple protocol
        assert client_port == (1,)
        rows = conn.execute(
            "select title from film where film_id <= %s and title <> 'x-literal'", (4,)
        ).fetchall()  # extended protocol
        assert len(rows) == 4
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from film where film_id = 42")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("select 10/0")
    simple, extended, rejected, failing = entries(path, 4)
    for entry in (simple, extended, rejected, failing):
        assert set(entry) == FIELDS
        assert ISO_UTC.match(entry["time"]), entry["time"]
        assert entry["session"] == pid
        assert entry["user"] == "analyst"
        assert entry["source"] == "pagila"
        assert entry["application_name"] == "audit-test"
        assert re.match(r"^127\.0\.0\.1:\d+$", entry["client"])
        assert entry["duration_ms"] >= 0
    assert simple["statement"] == "select ?"
    assert (simple["verdict"], simple["sqlstate"], simple["rows"]) == ("allowed", None, 1)
    assert simple["bytes"] > 0
    assert extended["statement"] == "select title from film where film_id <= $1 and title <> ?"
    assert (extended["verdict"], extended["sqlstate"], extended["rows"]) == ("allowed", None, 4)
    assert rejected["statement"] == "delete from film where film_id = ?"
    assert (rejected["verdict"], rejected["reason"]) == ("rejected", "25006")
    assert (rejected["sqlstate"], rejected["rows"]) == ("25006", 0)
    assert failing["statement"] == "select ?/?"
    assert (failing["verdict"], failing["sqlstate"], failing["reason"]) == (
        "allowed",
        "22012",
        None,
    )
    assert "x-literal" not in path.read_text()


def test_a_pipelined_batch_is_one_entry_up_to_its_sync(gateway_factory, tmp_path: Path) -> None:
    """psycopg's pipeline mode sends several statements before one Sync: they are answered by
    one ReadyForQuery, and are one entry with every statement's text and all their rows."""
    gateway, path = audited(gateway_factory, tmp_path)
    with connect(gateway) as conn:
        with conn.pipeline():
            one = conn.execute("select %s::int", (1,))
            three = conn.execute("select film_id from film where film_id <= %s", (3,))
        assert len(one.fetchall()) + len(three.fetchall()) == 4
        conn.execute("select 7").fetchall()
    batch, single = entries(path, 2)
    assert batch["statement"] == "select $1::int; select film_id from film where film_id <= $1"
    assert (batch["rows"], batch["sqlstate"]) == (4, None)
    assert (single["statement"], single["rows"]) == ("select ?", 1)


def test_literals_kept_when_configured_but_never_passwords(gateway_factory, tmp_path: Path) -> None:
    gateway, path = audited(gateway_factory, tmp_path, redact_literals=False)
    with connect(gateway) as conn:
        conn.execute("select 'kept-literal', 42").fetchall()
        with pytest.raises(psycopg.Error):
            conn.execute("alter role reader password 'hunter2-never-logged'")
        with pytest.raises(psycopg.Error):
            conn.execute("create user mallory with password 'hunter3-never-logged'")
    kept, altered, created = entries(path, 3)
    assert kept["statement"] == "select 'kept-literal', 42"
    assert altered["verdict"] == "rejected"
    assert altered["statement"] == "alter role reader password ?"
    assert created["statement"] == "create user mallory with password ?"
    assert "never-logged" not in path.read_text()


def test_unreadable_statements_logged_as_a_hash(gateway_factory, tmp_path: Path) -> None:
    gateway, path = audited(gateway_factory, tmp_path)
    with connect(gateway) as conn:
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("select 'unterminated secret-in-broken-text")
        assert conn.execute("select 2").fetchone() == (2,)
    broken, after = entries(path, 2)
    assert broken["verdict"] == "rejected"
    assert broken["sqlstate"] == "42601"
    assert re.match(
        r"^<unreadable statement: sha256 [0-9a-f]{16}, 42 characters>$", broken["statement"]
    )
    assert "secret-in-broken-text" not in path.read_text()
    assert after["statement"] == "select ?"


def test_rotates_by_size(gateway_factory, tmp_path: Path) -> None:
    gateway, path = audited(gateway_factory, tmp_path, max_bytes=2000, backup_count=2)
    with connect(gateway) as conn:
        for number in range(60):
            conn.execute(f"select {number} as n_{number}").fetchall()
    deadline = time.monotonic() + 10
    backups = [path.with_name(f"{path.name}.{n}") for n in (1, 2)]
    while not all(backup.exists() for backup in backups):
        assert time.monotonic() < deadline, "no rotation"
        time.sleep(0.05)
    assert not path.with_name(f"{path.name}.3").exists()
    for file in (path, *backups):
        assert file.stat().st_size <= 2000
        for line in file.read_text().splitlines():
            assert json.loads(line)["statement"].startswith("select ? as n_")


def test_no_secret_in_the_audit_log(gateway_factory, tmp_path: Path) -> None:
    gateway, path = audited(gateway_factory, tmp_path, redact_literals=False)
    with pytest.raises(psycopg.OperationalError):
        connect(gateway, password="wrong-password-never-logged")
    with connect(gateway) as conn:
        conn.execute("select current_user").fetchall()
        with pytest.raises(psycopg.Error):
            conn.execute(
                "select * from dblink('host=x password=dsn-secret-never-logged', 'select 1')"
            )
    entries(path, 2)
    text = path.read_text()
    for secret in (
        READER_PASSWORD,
        SCRAM_PASSWORD,
        f'"{ANALYST_PASSWORD}"',
        "wrong-password-never-logged",
        "dsn-secret-never-logged",
    ):
        assert secret not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("SELECT * FROM t WHERE a = 'x' AND b = 1.5e3", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ('select "Quoted Name", $1 from t -- a comment', 'select "Quoted Name", $1 from t'),
        ("select E'\\'x', $$dollar$$, $tag$y$tag$, B'101', X'ff'", "select ?, ?, ?, ?, ?"),
        ("select /* hidden */ .5, t1.c2 from t1", "select ?, t1.c2 from t1"),
    ],
)
def test_redaction(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_shown_statement_never_raises_and_cuts_long_texts() -> None:
    assert shown_statement("select 'a\\").startswith("<unreadable statement")
    long = "select " + ", ".join(["1"] * 50_000)
    assert shown_statement(long).endswith("...(cut)")
    assert shown_statement("select 'x'", redact_literals=False) == "select 'x'"
    assert shown_statement("select 'password=x'", redact_literals=False) == "select ?"


def test_federated_sessions_are_observed_like_relayed_ones(gateway_factory, catalog_dsn, tmp_path):
    """A ClickHouse source's session: data statements run on ClickHouse, catalog statements at
    home, refusals; each is one audit line and moves the metrics like a relayed one."""
    pytest.importorskip("chdb")

    data = tmp_path / "chdb"
    build_chdb(data, clickhouse_setup(modern=True))
    http_port = free_port()
    audit = tmp_path / "audit.log"
    gateway = gateway_factory(
        sources_extra=clickhouse_source("events", path=data, catalog=catalog_dsn)
        + f'\n[http]\nport = {http_port}\n\n[audit]\npath = "{audit}"\n'
    )
    wait_for_http(http_port)
    scraper = Scraper(http_port)
    with psycopg.connect(gateway.dsn("events"), autocommit=True) as conn:
        pid = conn.info.backend_pid
        assert conn.execute("select count(*) from persons").fetchone() == (3,)
        assert len(conn.execute("select id from persons where id <= %s", (2,)).fetchall()) == 2
        assert conn.execute("select 1").fetchone() == (1,)  # answered at home
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("insert into persons (id) values (4)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("select 1/0")
    counted, bound, home, refused, failed = entries(audit, 5)
    assert {entry["session"] for entry in (counted, bound, home, refused, failed)} == {pid}
    assert {entry["source"] for entry in (counted, bound, home, refused, failed)} == {"events"}
    assert (counted["statement"], counted["rows"], counted["sqlstate"]) == (
        "select count(*) from persons",
        1,
        None,
    )
    assert (bound["statement"], bound["rows"]) == ("select id from persons where id <= $1", 2)
    assert (home["statement"], home["rows"]) == ("select ?", 1)
    assert (refused["verdict"], refused["sqlstate"]) == ("rejected", "25006")
    assert refused["statement"] == "insert into persons (id) values (?)"
    assert (failed["verdict"], failed["sqlstate"]) == ("allowed", "22012")
    labels = {"source": "events", "user": "analyst"}
    assert scraper.delta("metahog_statements_total", outcome="ok", **labels) == 3
    assert scraper.delta("metahog_statements_total", outcome="rejected", **labels) == 1
    assert scraper.delta("metahog_statements_total", outcome="error", **labels) == 1
    assert scraper.delta("metahog_rows_total", source="events") == 4
    assert scraper.delta("metahog_guard_rejections_total", source="events", reason="25006") == 1
    samples, _ = scrape(http_port)
    assert value(samples, "metahog_pool_size", source="events") == 20
