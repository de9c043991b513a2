"""Prometheus metrics at /metrics and readiness at /readyz, scraped from a real gateway process
after real clients' statements: exact deltas of the counters each statement moves."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.embedded.postgres import LocalPostgres, free_port
from gateway.protocol import messages
from tests.conftest import ANALYST_PASSWORD, READER_PASSWORD, SCRAM_PASSWORD

SLOW_PASSWORD = "slow-user-pw-7781"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def wait_for_http(port: int) -> None:
    """The HTTP port opens just after the PostgreSQL one, which is what start-up waits for."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"HTTP port {port} never opened"
            time.sleep(0.05)


def scrape(port: int) -> tuple[Samples, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Scraper:
    def __init__(self, port: int) -> None:
        self.port = port
        self.before, _ = scrape(port)

    def delta(self, name: str, **labels: str) -> float:
        after, _ = scrape(self.port)
        return value(after, name, **labels) - value(self.before, name, **labels)

    def settled_delta(self, expected: float, name: str, **labels: str) -> float:
        """The delta once it reaches `expected`, or after 5 s: a session is counted when it
        ends, a moment after its client has closed the connection."""
        deadline = time.monotonic() + 5
        while (delta := self.delta(name, **labels)) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return delta


@pytest.fixture(scope="module")
def observed(gateway_factory):
    http_port = free_port()
    gateway = gateway_factory(
        sources_extra=f"\n[http]\nport = {http_port}\n",
        users_extra=(
            f'\n[[users]]\nname = "slow"\npassword = "{SLOW_PASSWORD}"\n'
            'statement_timeout = "300ms"\n'
        ),
    )
    gateway.http_port = http_port
    wait_for_http(http_port)
    return gateway


def connect(gateway, **params: str) -> psycopg.Connection:
    return psycopg.connect(gateway.dsn(**params), autocommit=True)


def test_statements_by_outcome_rows_bytes_errors_and_rejections(observed) -> None:
    scraper = Scraper(observed.http_port)
    with connect(observed) as conn:
        rows = conn.execute("select film_id from film where film_id <= 3").fetchall()
        assert len(rows) == 3
        rows = conn.execute("select title from film where film_id <= %s", (5,)).fetchall()
        assert len(rows) == 5
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("select 1/0")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from film")
    labels = {"source": "pagila", "user": "analyst"}
    assert scraper.delta("metahog_statements_total", outcome="ok", **labels) == 2
    assert scraper.delta("metahog_statements_total", outcome="error", **labels) == 1
    assert scraper.delta("metahog_statements_total", outcome="rejected", **labels) == 1
    assert scraper.delta("metahog_rows_total", source="pagila") == 8
    assert scraper.delta("metahog_result_bytes_total", source="pagila") > 8 * 5
    assert scraper.delta("metahog_errors_total", source="pagila", sqlstate="22012") == 1
    assert scraper.delta("metahog_errors_total", source="pagila", sqlstate="25006") == 1
    assert scraper.delta("metahog_guard_rejections_total", source="pagila", reason="25006") == 1
    assert scraper.delta("metahog_statement_duration_seconds_count", source="pagila") == 4


def test_sessions_by_tls_and_auth_outcome_and_open_gauge(observed) -> None:
    scraper = Scraper(observed.http_port)
    first = connect(observed)
    second = connect(observed, sslmode="disable")
    try:
        samples, _ = scrape(observed.http_port)
        assert value(samples, "metahog_client_sessions_open") == 2
    finally:
        first.close()
        second.close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(observed, password="wrong")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        connect(observed, database="nosuchdb")
    sessions = "metahog_client_sessions_total"
    assert scraper.settled_delta(1, sessions, tls="true", auth="ok") == 1
    assert scraper.settled_delta(1, sessions, tls="false", auth="ok") == 1
    assert scraper.settled_delta(1, sessions, tls="true", auth="failed") == 1
    assert scraper.settled_delta(1, sessions, tls="true", auth="refused") == 1
    deadline = time.monotonic() + 5
    while value(scrape(observed.http_port)[0], "metahog_client_sessions_open") != 0:
        assert time.monotonic() < deadline, "closed sessions still counted as open"
        time.sleep(0.05)


def test_connections_over_the_limit_count_as_refused(gateway_factory) -> None:
    http_port = free_port()
    gateway = gateway_factory(
        server={"max_client_connections": 1}, sources_extra=f"\n[http]\nport = {http_port}\n"
    )
    wait_for_http(http_port)
    scraper = Scraper(http_port)
    with connect(gateway):
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            connect(gateway, sslmode="disable")
    sessions = "metahog_client_sessions_total"
    assert scraper.settled_delta(1, sessions, tls="false", auth="refused") == 1
    assert scraper.settled_delta(1, sessions, tls="true", auth="ok") == 1


def test_cancel_requests_matched_and_unknown(observed) -> None:
    scraper = Scraper(observed.http_port)
    with connect(observed) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(10)")
        timer.join()
    # A CancelRequest whose key matches no session.
    with socket.create_connection(("127.0.0.1", observed.port), timeout=5) as sock:
        sock.sendall(
            messages.CancelRequest.build(code=messages.CANCEL_REQUEST_CODE, pid=1, secret=2)
        )
        assert sock.recv(1) == b""
    deadline = time.monotonic() + 5
    while scraper.delta("metahog_cancel_requests_total", result="unknown") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert scraper.delta("metahog_cancel_requests_total", result="matched") == 1
    assert scraper.delta("metahog_cancel_requests_total", result="unknown") == 1
    assert scraper.delta("metahog_errors_total", source="pagila", sqlstate="57014") == 1
    # A cancel is not a timeout.
    assert scraper.delta("metahog_statement_timeouts_total", source="pagila") == 0


def test_statement_timeouts(observed) -> None:
    scraper = Scraper(observed.http_port)
    with connect(observed, user="slow", password=SLOW_PASSWORD) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute("select pg_sleep(5)")
        assert conn.execute("select 1").fetchone() == (1,)
    assert scraper.delta("metahog_statement_timeouts_total", source="pagila") == 1
    assert scraper.delta("metahog_errors_total", source="pagila", sqlstate="57014") == 1
    labels = {"source": "pagila", "user": "slow"}
    assert scraper.delta("metahog_statements_total", outcome="error", **labels) == 1
    assert scraper.delta("metahog_statements_total", outcome="ok", **labels) == 1


def test_pool_gauges_and_wait_histogram(observed) -> None:
    scraper = Scraper(observed.http_port)
    with connect(observed) as conn, connect(observed, database="other") as other:
        samples, _ = scrape(observed.http_port)
        assert value(samples, "metahog_pool_connections", source="pagila", state="in_use") == 1
        assert value(samples, "metahog_pool_connections", source="other", state="in_use") == 1
        assert value(samples, "metahog_pool_size", source="pagila") == 8
        assert value(samples, "metahog_pool_size", source="other") == 20
        conn.execute("select 1")
        other.execute("select 1")
    assert scraper.delta("metahog_pool_wait_seconds_count", source="pagila") == 1
    assert scraper.delta("metahog_pool_wait_seconds_count", source="other") == 1
    # Released connections go back to the pool, idle.
    deadline = time.monotonic() + 5
    while True:
        samples, _ = scrape(observed.http_port)
        if value(samples, "metahog_pool_connections", source="pagila", state="in_use") == 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert value(samples, "metahog_pool_connections", source="pagila", state="idle") >= 1


def test_metrics_carry_no_secret_and_no_statement_text(observed) -> None:
    with connect(observed) as conn:
        conn.execute("select 'a-literal-never-in-metrics' as x").fetchall()
    with pytest.raises(psycopg.OperationalError):
        connect(observed, password="wrong-pw-never-in-metrics")
    _, text = scrape(observed.http_port)
    for secret in (
        READER_PASSWORD,
        SCRAM_PASSWORD,
        SLOW_PASSWORD,
        f'"{ANALYST_PASSWORD}"',
        "wrong-pw-never-in-metrics",
        "a-literal-never-in-metrics",
    ):
        assert secret not in text
    assert "metahog_statements_total" in text


# --- readiness ------------------------------------------------------------------------------
@pytest.fixture
def spare_pg() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of its own, that a test may stop."""
    cluster = LocalPostgres().start()
    try:
        cluster.psql(f"CREATE ROLE spare LOGIN PASSWORD '{READER_PASSWORD}'")
        yield cluster
    finally:
        cluster.stop()


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readyz_follows_the_sources(gateway_factory, spare_pg: LocalPostgres) -> None:
    http_port = free_port()
    dsn = spare_pg.dsn("spare", READER_PASSWORD, "postgres", sslmode="disable")
    gateway_factory(
        sources_extra=(
            f'\n[sources.spare]\nkind = "postgres"\ndsn = "{dsn}"\n\n[http]\nport = {http_port}\n'
        )
    )
    wait_for_http(http_port)
    status, body = get_json(f"http://127.0.0.1:{http_port}/readyz")
    assert status == 200, body
    assert body == {
        "status": "ok",
        "sources": {name: {"status": "ok"} for name in ("pagila", "other", "spare")},
    }
    spare_pg.stop()
    status, body = get_json(f"http://127.0.0.1:{http_port}/readyz")
    assert status == 503
    assert body["status"] == "failed"
    assert body["sources"]["pagila"] == {"status": "ok"}
    assert body["sources"]["spare"]["status"] == "failed"
    assert "could not connect" in body["sources"]["spare"]["reason"]
    assert READER_PASSWORD not in json.dumps(body)
    # Liveness does not depend on the sources.
    assert get_json(f"http://127.0.0.1:{http_port}/healthz") == (200, {"status": "ok"})
