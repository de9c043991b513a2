"""`metahog demo` in a subprocess: embedded chDB and PostgreSQL with generated data, answering
psql and psycopg on each of its databases, stopping on Ctrl-C and restarting from its data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from gateway.demo_data import CUSTOMERS, DEFAULT_EVENTS, EVENT_MIX, ORDERS, person_count
from gateway.embedded.postgres import free_port

EVENTS = 20_000  # the default is 1,000,000; a small count keeps the test fast
PERSONS = person_count(EVENTS)


@dataclass
class Demo:
    port: int
    data_dir: Path
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    ready_after: float = 0.0

    def drain(self) -> None:
        # Read stderr to the end so the demo never blocks on a full pipe.
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "Press Ctrl-C" in line:
                self.ready_after = time.monotonic() - self.started
                self.ready.set()
        self.ready.set()  # the demo ended: wait_ready need not wait any longer

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 180) -> None:
        if not self.ready.wait(timeout) or "Press Ctrl-C" not in self.output:
            raise AssertionError(f"demo did not start: {self.output}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def dsn(self, database: str) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} user=demo password=demo "
            "sslmode=require connect_timeout=10"
        )


def start_demo(port: int, data_dir: Path, *extra: str) -> Demo:
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    demo = Demo(port, data_dir, process)
    threading.Thread(target=demo.drain, daemon=True).start()
    demo.wait_ready()
    return demo


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    parent = Path(tempfile.mkdtemp(prefix="metahog-demo-"))
    parent.chmod(0o755)  # the embedded server runs as an unprivileged user
    running = start_demo(free_port(), parent / "demo", "--events", str(EVENTS))
    try:
        yield running
    finally:
        running.interrupt()
        shutil.rmtree(parent, ignore_errors=True)


def rows(demo: Demo, database: str, sql: str) -> list[tuple]:
    with psycopg.connect(demo.dsn(database), autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def psql(demo: Demo, database: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", demo.dsn(database), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "10"},
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_first_run_generates_with_progress_and_prints_a_connection_string_per_database(demo):
    assert "generating the demo data" in demo.output
    assert f"{EVENTS:,}/{EVENTS:,}" in demo.output  # the progress bar reached the end
    for database in ("app", "posthog", "events"):
        assert f'psql "host=127.0.0.1 port={demo.port} dbname={database} user=demo' in demo.output
    info = json.loads((demo.data_dir / "dataset.json").read_text())
    assert (info["events"], info["persons"]) == (EVENTS, PERSONS)


def test_psycopg_on_app(demo):
    assert rows(demo, "app", "select count(*) from customers") == [(CUSTOMERS,)]
    joined = rows(
        demo, "app", "select count(*) from orders o join customers c on c.id = o.customer_id"
    )
    assert joined == [(ORDERS,)]


def test_psycopg_on_posthog(demo):
    assert rows(demo, "posthog", "select count(*) from posthog_person") == [(PERSONS,)]
    # Every person has an anonymous distinct id; the odd (identified) ones also a user_ id.
    assert rows(demo, "posthog", "select count(*) from posthog_persondistinctid") == [
        (PERSONS + PERSONS // 2,)
    ]
    teams = rows(
        demo,
        "posthog",
        "select t.name, o.name from posthog_team t"
        " join posthog_organization o on o.id = t.organization_id order by t.id",
    )
    assert teams == [("Shop (production)", "Hedgebox Inc."), ("Shop (staging)", "Hedgebox Inc.")]
    assert rows(demo, "posthog", "select count(*) > 0 from posthog_featureflag where active")
    assert rows(demo, "posthog", "select count(*) from posthog_dashboard")[0][0] >= 3


def test_psycopg_on_events(demo):
    assert rows(demo, "events", "select count(*) from events") == [(EVENTS,)]
    counts = dict(rows(demo, "events", "select event, count(*) from events group by 1"))
    assert set(counts) == {name for name, _ in EVENT_MIX}
    assert counts["$pageview"] > counts["$autocapture"] > counts["$pageleave"] > 0
    # properties is PostHog's JSON text, readable with PostgreSQL's JSON operators.
    browsers = dict(
        rows(demo, "events", "select properties->>'$browser', count(*) from events group by 1")
    )
    assert set(browsers) == {"Chrome", "Safari", "Firefox", "Edge"}
    assert sum(browsers.values()) == EVENTS
    assert rows(demo, "events", "select count(*) from persons") == [(PERSONS,)]
    # Events span the 30 days before generation: about 7/30 of them in the last week.
    recent = rows(
        demo, "events", "select count(*) from events where timestamp > now() - interval '7 days'"
    )[0][0]
    assert 0.15 * EVENTS < recent < 0.32 * EVENTS


def test_counts_agree_across_the_three_databases(demo):
    """The shop's customers, PostHog's persons and the events share their keys."""
    customer_ids = {r[0] for r in rows(demo, "app", "select distinct_id from customers")}
    customer_country = dict(rows(demo, "app", "select distinct_id, country from customers"))
    seen = rows(
        demo,
        "events",
        "select distinct_id, min(properties->>'$geoip_country_code'),"
        " max(properties->>'$geoip_country_code') from events"
        " where distinct_id like 'user\\_%' group by 1",
    )
    identified = {r[0] for r in seen}
    # Identified users in events are PostHog persons; those that are customers join to the shop
    # with the same country on both sides.
    known = {
        r[0]
        for r in rows(
            demo,
            "posthog",
            "select distinct_id from posthog_persondistinctid where distinct_id like 'user\\_%'",
        )
    }
    assert identified <= known
    buyers = identified & customer_ids
    assert len(buyers) > CUSTOMERS // 2
    for distinct_id, low, high in seen:
        if distinct_id in customer_ids:
            assert low == high == customer_country[distinct_id]
    # Every event's person is a person in the posthog database, and in ClickHouse's persons.
    event_persons = {
        str(r[0]) for r in rows(demo, "events", "select distinct person_id from events")
    }
    app_persons = {str(r[0]) for r in rows(demo, "posthog", "select uuid from posthog_person")}
    ch_persons = {str(r[0]) for r in rows(demo, "events", "select id from persons")}
    assert event_persons <= app_persons == ch_persons
    # ClickHouse's person_distinct_id2 maps each distinct id as posthog_persondistinctid does.
    ch_map = set(
        rows(demo, "events", "select distinct_id, person_id::text from person_distinct_id2")
    )
    pg_map = set(
        rows(
            demo,
            "posthog",
            "select d.distinct_id, p.uuid::text from posthog_persondistinctid d"
            " join posthog_person p on p.id = d.person_id",
        )
    )
    assert ch_map == pg_map


def test_psql_dt_and_queries_on_each_database(demo):
    events_dt = psql(demo, "events", "-c", r"\dt").stdout
    for table in ("events", "persons", "person_distinct_id2"):
        assert f" {table} " in events_dt
    assert " customers " in psql(demo, "app", "-c", r"\dt").stdout
    posthog_dt = psql(demo, "posthog", "-c", r"\dt").stdout
    for table in ("posthog_organization", "posthog_team", "posthog_person", "posthog_featureflag"):
        assert f" {table} " in posthog_dt
    issue_query = (
        "select event, count(*) from events where timestamp > now() - interval '7 days'"
        " group by 1 order by 2 desc"
    )
    out = psql(demo, "events", "-At", "-F", ",", "-c", issue_query).stdout.splitlines()
    assert out[0].startswith("$pageview,")
    counts = [int(line.split(",")[1]) for line in out]
    assert counts == sorted(counts, reverse=True) and sum(counts) < EVENTS
    top = psql(demo, "app", "-At", "-c", "select count(*) from customers").stdout
    assert top.strip() == str(CUSTOMERS)


def test_writes_are_refused_with_25006(demo):
    for database, statement in (
        ("app", "delete from orders"),
        ("posthog", "update posthog_team set name = 'x'"),
        ("events", "insert into events (event) values ('x')"),
    ):
        result = psql(demo, database, "-v", "VERBOSITY=verbose", "-c", statement, check=False)
        assert result.returncode != 0
        assert "ERROR:  25006:" in result.stderr
    assert rows(demo, "app", "select count(*) from orders") == [(ORDERS,)]
    assert rows(demo, "events", "select count(*) from events") == [(EVENTS,)]


def test_ctrl_c_stops_cleanly_and_a_second_start_reuses_the_data(demo):
    """Runs last: it stops the module's demo."""
    dataset = (demo.data_dir / "dataset.json").read_text()
    assert demo.interrupt() == 0
    assert "stopped." in demo.output
    # Without --events the data directory's own count is used, and nothing is generated.
    again = start_demo(demo.port, demo.data_dir)
    try:
        assert "generating" not in again.output
        assert again.ready_after < 30
        assert (demo.data_dir / "dataset.json").read_text() == dataset
        assert rows(again, "events", "select count(*) from events") == [(EVENTS,)]
        assert rows(again, "posthog", "select count(*) from posthog_person") == [(PERSONS,)]
    finally:
        assert again.interrupt() == 0


def test_ctrl_c_while_generating_leaves_no_half_built_data():
    parent = Path(tempfile.mkdtemp(prefix="metahog-demo-"))
    parent.chmod(0o755)  # the embedded server runs as an unprivileged user
    data_dir = parent / "demo"
    command = [sys.executable, "-m", "gateway", "demo", "--port", str(free_port())]
    process = subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--events", str(DEFAULT_EVENTS)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "events [" in line:  # generating, with the cluster loading at the same time
            break
    process.send_signal(signal.SIGINT)
    seen.append(process.stderr.read())
    assert process.wait(60) == 130, "".join(seen)
    assert "interrupted." in "".join(seen)
    assert not (data_dir / "dataset.json").exists()
    assert not (data_dir / "postgres" / "data" / "postmaster.pid").exists()
    # The next start builds the data again, whole.
    again = start_demo(free_port(), data_dir, "--events", "1000")
    try:
        assert "generating the demo data" in again.output
        assert rows(again, "events", "select count(*) from events") == [(1000,)]
        assert rows(again, "app", "select count(*) from customers") == [(CUSTOMERS,)]
    finally:
        assert again.interrupt() == 0
        shutil.rmtree(parent, ignore_errors=True)
