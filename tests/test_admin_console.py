"""The admin console: database `metahog`, for admin users, over real gateway processes with
psycopg and psql."""

from __future__ import annotations

import time

import psycopg
import pytest

from gateway.config import ConfigError, parse_config
from tests.conftest import ANALYST_PASSWORD, READER_PASSWORD, SCRAM_PASSWORD
from tests.pgwire import WireClient, errors
from tests.test_cancel import wait_for
from tests.test_psql import psql
from tests.test_shutdown import in_thread

ADMIN_PASSWORD = "admin-console-pw"
ADMIN_USER = f"""
[[users]]
name = "admin"
password = "{ADMIN_PASSWORD}"
admin = true
"""


@pytest.fixture(scope="module")
def gw(gateway_factory):
    return gateway_factory(users_extra=ADMIN_USER)


def console(gw) -> psycopg.Connection:
    return psycopg.connect(
        gw.dsn("metahog", "admin", ADMIN_PASSWORD), autocommit=True, prepare_threshold=None
    )


def show(conn: psycopg.Connection, command: str) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(command)
    assert cursor.description is not None
    return [column.name for column in cursor.description], cursor.fetchall()


def test_non_admin_is_refused_at_connect(gw):
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(gw.dsn("metahog", "analyst", ANALYST_PASSWORD), autocommit=True)
    assert 'permission denied for database "metahog"' in str(caught.value)
    client = WireClient(gw.port)
    try:
        [error] = errors(client.startup("analyst", ANALYST_PASSWORD, "metahog"))
    finally:
        client.close()
    assert (error["S"], error["C"]) == ("FATAL", "42501")


def test_wrong_password_is_refused(gw):
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(gw.dsn("metahog", "admin", "wrong"), autocommit=True)
    assert "password authentication failed" in str(caught.value)


def test_show_sessions_shows_a_running_statement(gw):
    thread, outcome = in_thread(gw.dsn("pagila"), "select pg_sleep(2) /* seen-by-console */")
    try:
        with console(gw) as conn:

            def running() -> list[tuple]:
                columns, rows = show(conn, "SHOW SESSIONS")
                assert columns == [
                    "id", "user", "database", "state", "application_name",
                    "client_addr", "tls", "statement", "duration",
                ]  # fmt: skip
                return [row for row in rows if row[7] and "seen-by-console" in row[7]]

            assert wait_for(lambda: bool(running()))
            time.sleep(0.3)
            (row,) = running()
            assert row[1:4] == ("analyst", "pagila", "active")
            assert row[5].startswith("127.0.0.1:")
            assert row[6] == "on"
            assert float(row[8]) > 0.2
            # The console's own session is listed too, running SHOW SESSIONS right now.
            _, rows = show(conn, "show sessions;")
            mine = [r for r in rows if r[2] == "metahog"]
            assert len(mine) == 1 and mine[0][1] == "admin" and mine[0][3] == "active"
    finally:
        thread.join(10)
    assert outcome["rows"] == [("",)]


def test_show_sources(gw):
    with console(gw) as conn:
        columns, rows = show(conn, "SHOW SOURCES")
    assert columns == ["name", "kind", "health", "pool_size", "in_use", "idle", "waiting"]
    by_name = {row[0]: row for row in rows}
    assert set(by_name) == {"pagila", "other"}
    assert by_name["pagila"][1:4] == ("postgres", "ok", "8")
    assert by_name["other"][1:4] == ("postgres", "ok", "20")
    assert all(row[6] == "0" for row in rows)


def test_show_stats_counts_statements_per_source(gw):
    with psycopg.connect(gw.dsn("other"), autocommit=True) as conn:
        for _ in range(3):
            assert conn.execute("select * from note").fetchall() == [(1, "other source")]
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from no_such_table")
    with console(gw) as conn:
        columns, rows = show(conn, "SHOW STATS")
    assert columns == [
        "source", "statements", "errors", "rejected", "rows", "bytes", "avg_duration_ms",
    ]  # fmt: skip
    (other,) = [row for row in rows if row[0] == "other"]
    assert int(other[1]) >= 4
    assert int(other[2]) >= 1
    assert int(other[4]) >= 3
    assert int(other[5]) > 0
    assert float(other[6]) > 0


def test_show_config_masks_every_secret(gw):
    with console(gw) as conn:
        columns, rows = show(conn, "SHOW CONFIG")
    assert columns == ["key", "value"]
    values = dict(rows)
    assert values["server.port"] == str(gw.port)
    assert values["sources.pagila.kind"] == "postgres"
    assert values["sources.pagila.backend.user"] == "reader"
    assert values["sources.pagila.backend.password"] == "***"
    assert values["users[0].name"] == "analyst"
    assert values["users[0].password"] == "***"
    assert values["users[3].admin"] == "true"
    text = repr(rows)
    for secret in (READER_PASSWORD, ANALYST_PASSWORD, SCRAM_PASSWORD, ADMIN_PASSWORD, "other-pw"):
        assert secret not in text
    assert "SCRAM-SHA-256$" not in text  # not even a verifier


def test_reload_answers_with_what_changed(gw):
    with console(gw) as conn:
        cursor = conn.execute("RELOAD")
        assert cursor.statusmessage == "RELOAD"
        assert cursor.description is not None and cursor.description[0].name == "result"
        assert cursor.fetchall() == [("config reloaded: no source changed",)]


def test_cancel_cancels_a_session_statement(gw):
    thread, outcome = in_thread(gw.dsn("pagila"), "select pg_sleep(30) /* cancel-by-id */")
    try:
        with console(gw) as conn:

            def target() -> str | None:
                _, rows = show(conn, "SHOW SESSIONS")
                found = [r[0] for r in rows if r[7] and "cancel-by-id" in r[7]]
                return found[0] if found else None

            assert wait_for(lambda: target() is not None)
            started = time.monotonic()
            assert conn.execute(f"CANCEL {target()}").statusmessage == "CANCEL"
            thread.join(10)
            assert time.monotonic() - started < 5
    finally:
        thread.join(10)
    assert isinstance(outcome.get("error"), psycopg.errors.QueryCanceled)


def test_errors_keep_the_console_usable(gw):
    with console(gw) as conn:
        with pytest.raises(psycopg.errors.UndefinedObject, match="no session with id 1"):
            conn.execute("CANCEL 1")
        with pytest.raises(psycopg.errors.SyntaxError, match="CANCEL takes one session id"):
            conn.execute("CANCEL me")
        with pytest.raises(psycopg.errors.SyntaxError) as caught:
            conn.execute("SHOW NOTHING")
        assert caught.value.diag.message_hint is not None
        assert "SHOW SESSIONS" in caught.value.diag.message_hint
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="not SQL"):
            conn.execute("select 1")
        with pytest.raises(psycopg.errors.SyntaxError, match="takes no arguments"):
            conn.execute("SHOW STATS now")
        # Parameters make psycopg use the extended protocol, which the console does not answer.
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="simple query protocol"):
            conn.execute("SHOW SOURCES -- %s", ("x",))
        columns, _ = show(conn, "SHOW SOURCES")
        assert columns[0] == "name"


def test_psql_can_use_the_console(gw):
    dsn = gw.dsn("metahog", "admin", ADMIN_PASSWORD)
    result = psql(dsn, "SHOW SOURCES", "SHOW CONFIG")
    assert result.returncode == 0, result.stderr
    assert "pagila" in result.stdout and "postgres" in result.stdout
    assert "server.port" in result.stdout
    assert READER_PASSWORD not in result.stdout and ADMIN_PASSWORD not in result.stdout
    failed = psql(dsn, "SELECT 1")
    assert failed.returncode != 0
    assert "not SQL" in failed.stderr


def test_config_refuses_a_source_named_like_the_console():
    raw = {"sources": {"metahog": {"kind": "postgres", "dsn": "postgresql://u@h/db"}}}
    with pytest.raises(ConfigError, match=r"sources\.metahog: the name 'metahog' is the admin"):
        parse_config(raw)


def test_config_admin_flag_must_be_a_boolean():
    raw = {"users": [{"name": "a", "password": "p", "admin": "yes"}]}
    with pytest.raises(ConfigError, match=r"users\[0\].admin: expected"):
        parse_config(raw)
