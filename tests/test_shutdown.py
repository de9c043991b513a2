"""Graceful shutdown on SIGTERM: no new connections, running statements finish until the
deadline and are cancelled on their backends after it, idle sessions end with 57P01, exit 0."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest

from gateway.embedded.postgres import free_port
from tests.test_cancel import backend_activity, wait_for


def in_thread(dsn: str, sql: str) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                outcome["rows"] = conn.execute(sql).fetchall()
                outcome["finished"] = time.monotonic()
                try:
                    conn.execute("select 1")
                except psycopg.Error as exc:
                    outcome["after"] = exc
        except psycopg.Error as exc:
            outcome["error"] = exc
            outcome["finished"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_sigterm_lets_running_statements_finish(gateway_factory, pg):
    http_port = free_port()
    gw = gateway_factory(
        server={"shutdown_timeout": 20}, sources_extra=f"[http]\nport = {http_port}"
    )
    readyz = f"http://127.0.0.1:{http_port}/readyz"
    with urllib.request.urlopen(readyz, timeout=10) as answer:
        assert json.loads(answer.read())["status"] == "ok"
    pid_file = gw.state_dir / "metahog.pid"
    assert pid_file.read_text().strip() == str(gw.process.pid)
    idle = psycopg.connect(gw.dsn("other"), autocommit=True)
    assert idle.execute("select 1").fetchone() == (1,)
    thread, outcome = in_thread(gw.dsn("pagila"), "select pg_sleep(2), 42 /* drain-me */")
    try:
        assert wait_for(lambda: backend_activity(pg, "drain-me") == ["active"])
        signalled = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        # An idle session is ended at once, as PostgreSQL ends it.
        time.sleep(0.5)
        with pytest.raises(psycopg.OperationalError) as ended:
            idle.execute("select 1")
        assert "terminating connection due to administrator command" in str(ended.value)
        # Not ready any more, so a load balancer sends no one here...
        with pytest.raises(urllib.error.HTTPError) as draining:
            urllib.request.urlopen(readyz, timeout=10)
        assert draining.value.code == 503
        assert json.loads(draining.value.read())["status"] == "draining"
        # ...and new connections are refused while the running statement finishes.
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(gw.dsn("pagila"), connect_timeout=3)
        thread.join(15)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["rows"] == [("", 42)]
        # Then its session is ended too, and the gateway exits cleanly.
        assert "terminating connection" in str(outcome["after"])
        assert gw.process.wait(10) == 0
        assert time.monotonic() - signalled < 10
    finally:
        idle.close()
        thread.join(5)
    assert not pid_file.exists()
    assert "shut down" in gw.log()


@pytest.mark.parametrize(
    ("shutdown_timeout", "signals"),
    [(1, 1), (60, 2)],
    ids=["at_the_deadline", "at_a_second_sigterm"],
)
def test_sigterm_cancels_statements_still_running(gateway_factory, pg, shutdown_timeout, signals):
    gw = gateway_factory(server={"shutdown_timeout": shutdown_timeout})
    thread, outcome = in_thread(gw.dsn("pagila"), "select pg_sleep(60) /* too-long */")
    try:
        assert wait_for(lambda: backend_activity(pg, "too-long") == ["active"])
        signalled = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        if signals == 2:
            time.sleep(0.5)
            assert gw.alive()
            gw.process.send_signal(signal.SIGTERM)
        assert gw.process.wait(15) == 0
        thread.join(10)
        assert isinstance(outcome.get("error"), psycopg.errors.QueryCanceled)
        assert min(shutdown_timeout, 0.5) <= outcome["finished"] - signalled < 8  # type: ignore[operator]
        # The statement is gone from the backend, not left running there.
        assert wait_for(lambda: "active" not in backend_activity(pg, "too-long"), timeout=5)
    finally:
        thread.join(5)
    assert "cancelling 1 running statements" in gw.log()
