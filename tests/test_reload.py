"""Config reload of a running gateway: SIGHUP, a config file change, the console's RELOAD and
`metahog reload`; users, sources, limits and TLS certificates; invalid configs refused; open
sessions (and their running statements) untouched."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from gateway.protocol import messages
from gateway.protocol.tls import make_self_signed
from tests.clickhouse_fixtures import clickhouse_setup
from tests.conftest import READER_PASSWORD, build_chdb, clickhouse_source
from tests.test_cancel import wait_for

ADMIN_PASSWORD = "reload-admin-pw"
ADMIN_USER = f"""
[[users]]
name = "admin"
password = "{ADMIN_PASSWORD}"
admin = true
"""
NEW_USER = """
[[users]]
name = "newbie"
password = "newbie-pw"
"""


@pytest.fixture
def gw(gateway_factory):
    gateway = gateway_factory(users_extra=ADMIN_USER)
    yield gateway
    gateway.stop()


def edit_config(gw, old: str, new: str) -> None:
    text = gw.config_path.read_text()
    assert old in text, old
    gw.config_path.write_text(text.replace(old, new, 1))


def append_config(gw, text: str) -> None:
    """Append at the end, which is inside [sources.other]: only tables and [[users]] go there."""
    gw.config_path.write_text(gw.config_path.read_text() + text)


def add_user(gw) -> None:
    # Users must come before the sources' tables: insert the new one after the admin.
    edit_config(gw, ADMIN_USER, ADMIN_USER + NEW_USER)


def console_reload(gw) -> list[tuple]:
    with psycopg.connect(gw.dsn("metahog", "admin", ADMIN_PASSWORD), autocommit=True) as conn:
        return conn.execute("RELOAD").fetchall()


def can_log_in(gw, user: str, password: str, database: str = "pagila") -> bool:
    try:
        with psycopg.connect(gw.dsn(database, user, password)) as conn:
            return conn.execute("select 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def metahog_reload(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "reload", "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_sighup_adds_a_user(gw):
    assert not can_log_in(gw, "newbie", "newbie-pw")
    add_user(gw)
    os.kill(gw.process.pid, signal.SIGHUP)
    assert wait_for(lambda: can_log_in(gw, "newbie", "newbie-pw"))
    assert "config reloaded" in gw.log()
    assert gw.alive()


def test_a_config_file_change_reloads(gw):
    add_user(gw)
    # Polled about once a second; nothing else tells the gateway.
    assert wait_for(lambda: can_log_in(gw, "newbie", "newbie-pw"), timeout=8)


def test_metahog_reload_reports_the_outcome(gw):
    add_user(gw)
    done = metahog_reload(gw.config_path)
    assert done.returncode == 0, done.stderr
    assert "config reloaded" in done.stdout
    assert can_log_in(gw, "newbie", "newbie-pw")
    # A config that does not parse is refused before the gateway is disturbed.
    edit_config(gw, "[server]", "[server]\nbogus = 1")
    refused = metahog_reload(gw.config_path)
    assert refused.returncode == 2
    assert "server.bogus: unknown key" in refused.stderr
    # One that parses but cannot be applied (a certificate file that is not there) is refused
    # by the gateway, which says so.
    edit_config(gw, "bogus = 1", 'tls_cert = "missing.pem"\ntls_key = "missing.key"')
    failed = metahog_reload(gw.config_path)
    assert failed.returncode == 1
    assert "config not reloaded" in failed.stderr and "missing.pem" in failed.stderr
    assert can_log_in(gw, "analyst", "secret")


def test_metahog_reload_without_a_running_gateway(tmp_path):
    config = tmp_path / "metahog.toml"
    config.write_text(f'[server]\nstate_dir = "{tmp_path / "state"}"\n')
    done = metahog_reload(config)
    assert done.returncode == 1
    assert "no running gateway found" in done.stderr


def test_metahog_reload_never_signals_another_process(tmp_path):
    config = tmp_path / "metahog.toml"
    config.write_text(f'[server]\nstate_dir = "{tmp_path / "state"}"\n')
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        # A pid file left by a gateway that died, naming a process that took its pid.
        (tmp_path / "state").mkdir()
        (tmp_path / "state" / "metahog.pid").write_text(f"{bystander.pid}\n")
        done = metahog_reload(config)
        assert done.returncode == 1
        assert "is not a running gateway" in done.stderr
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_an_invalid_config_is_refused_and_the_old_one_stays(gw):
    edit_config(gw, 'kind = "postgres"', 'kind = "mysql"')
    add_user(gw)
    with psycopg.connect(gw.dsn("metahog", "admin", ADMIN_PASSWORD), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("RELOAD")
        assert caught.value.sqlstate == "F0000"
        assert "sources.pagila.kind: expected one of" in str(caught.value)
        assert caught.value.diag.message_detail == "The old config stays in force."
        # The console session goes on.
        assert conn.execute("SHOW SOURCES").fetchall()
    assert "config not reloaded" in gw.log() and "old config stays in force" in gw.log()
    assert not can_log_in(gw, "newbie", "newbie-pw")
    assert can_log_in(gw, "analyst", "secret")


def remove_other_source(gw) -> None:
    text = gw.config_path.read_text()
    start = text.index("[sources.other]")
    end = text.index("\n\n", start) if "\n\n" in text[start:] else len(text)
    text = text[:start] + text[end:]
    # The user limited to that source would name an unknown source.
    text = text.replace('sources = ["other"]', 'sources = ["pagila"]')
    gw.config_path.write_text(text)


def backend_alive(pg, pid: int) -> bool:
    return pg.psql(f"select count(*) from pg_stat_activity where pid = {pid}").strip() == "1"


def test_removed_source_refuses_new_sessions_and_open_ones_go_on(gw, pg):
    with psycopg.connect(gw.dsn("other"), autocommit=True) as open_session:
        assert open_session.execute("select body from note").fetchone() == ("other source",)
        [(backend_pid,)] = open_session.execute("select pg_backend_pid()").fetchall()
        remove_other_source(gw)
        assert console_reload(gw) == [("config reloaded: removed other",)]
        with pytest.raises(psycopg.OperationalError, match='database "other" does not exist'):
            psycopg.connect(gw.dsn("other"))
        # The open session keeps its pool and its backend connection.
        assert open_session.execute("select body from note").fetchone() == ("other source",)
    # When it ends, its backend connection is closed rather than pooled for nobody.
    assert wait_for(lambda: not backend_alive(pg, backend_pid))


def test_added_source_takes_sessions(gw, pg):
    with pytest.raises(psycopg.OperationalError, match='database "third" does not exist'):
        psycopg.connect(gw.dsn("third"))
    dsn = pg.dsn("reader", READER_PASSWORD, "otherdb", sslmode="disable")
    append_config(gw, f'\n[sources.third]\nkind = "postgres"\ndsn = "{dsn}"\n')
    assert console_reload(gw) == [("config reloaded: added third",)]
    with psycopg.connect(gw.dsn("third")) as conn:
        assert conn.execute("select body from note").fetchone() == ("other source",)


def test_changed_user_limit_applies_to_new_sessions(gw):
    with psycopg.connect(gw.dsn("pagila"), autocommit=True) as before:
        edit_config(gw, 'name = "analyst"\n', 'name = "analyst"\nmax_rows = 5\n')
        assert console_reload(gw) == [("config reloaded: no source changed",)]
        with psycopg.connect(gw.dsn("pagila"), autocommit=True) as after:
            assert len(after.execute("select film_id from film").fetchall()) == 5
        # An open session keeps the limits it started with.
        assert len(before.execute("select film_id from film").fetchall()) == 1000


def peer_certificate(port: int) -> bytes:
    """The certificate a new connection's TLS handshake presents."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(struct.pack("!II", 8, messages.SSL_REQUEST_CODE))
        assert sock.recv(1) == b"S"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock) as tls:
            certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return certificate


def write_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = make_self_signed("127.0.0.1")
    (directory / f"{name}.pem").write_bytes(cert)
    (directory / f"{name}.key").write_bytes(key)
    (directory / f"{name}.key").chmod(0o600)
    return directory / f"{name}.pem", directory / f"{name}.key"


def test_a_swapped_tls_certificate_is_used_by_new_connections(gateway_factory, tmp_path):
    first_cert, first_key = write_certificate(tmp_path, "first")
    second_cert, second_key = write_certificate(tmp_path, "second")
    gw = gateway_factory(
        server={"tls_cert": str(first_cert), "tls_key": str(first_key)}, users_extra=ADMIN_USER
    )
    try:
        first = peer_certificate(gw.port)
        with psycopg.connect(gw.dsn("pagila"), autocommit=True) as open_session:
            edit_config(gw, str(first_cert), str(second_cert))
            edit_config(gw, str(first_key), str(second_key))
            console_reload(gw)
            second = peer_certificate(gw.port)
            assert first != second
            assert ssl.DER_cert_to_PEM_cert(second) == second_cert.read_text()
            # The open session's TLS connection is untouched.
            assert open_session.execute("select 1").fetchone() == (1,)
    finally:
        gw.stop()


def test_reload_during_a_long_query_neither_breaks_it_nor_drops_the_session(gw):
    outcome: dict[str, object] = {}
    started = threading.Event()

    def long_query() -> None:
        try:
            with psycopg.connect(gw.dsn("pagila"), autocommit=True) as conn:
                started.set()
                outcome["rows"] = conn.execute(
                    "select pg_sleep(3), count(*) from film /* long */"
                ).fetchall()
                outcome["after"] = conn.execute("select title from film where film_id = 1")
                outcome["after"] = outcome["after"].fetchall()  # type: ignore[union-attr]
        except psycopg.Error as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=long_query)
    thread.start()
    assert started.wait(10)
    time.sleep(0.5)
    # The source the query runs on changes (so it is replaced), and a user is added.
    edit_config(gw, "pool_size = 8", "pool_size = 9")
    add_user(gw)
    assert console_reload(gw) == [("config reloaded: changed pagila",)]
    assert can_log_in(gw, "newbie", "newbie-pw")
    thread.join(15)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["rows"] == [("", 1000)]
    assert outcome["after"] == [("Film 1",)]


def test_a_clickhouse_source_is_added_and_removed(gateway_factory, catalog_dsn, tmp_path):
    pytest.importorskip("chdb")
    path = tmp_path / "chdb"
    build_chdb(path, clickhouse_setup(modern=True))
    gw = gateway_factory(
        users_extra=ADMIN_USER, sources_extra=f'\n[catalog]\ndsn = "{catalog_dsn}"\n'
    )
    try:
        append_config(gw, clickhouse_source("added_events", path=path))
        assert console_reload(gw) == [("config reloaded: added added_events",)]
        with psycopg.connect(gw.dsn("added_events"), autocommit=True) as conn:
            # Data from ClickHouse, and the shadow catalog that describes it.
            assert conn.execute("select count(*) from persons").fetchone() == (3,)
            assert conn.execute(
                "select count(*) from information_schema.tables where table_name = 'persons'"
            ).fetchone() == (1,)
            text = gw.config_path.read_text()
            gw.config_path.write_text(text[: text.index("\n[sources.added_events]")])
            assert console_reload(gw) == [("config reloaded: removed added_events",)]
            # The open session keeps its source.
            assert conn.execute("select count(*) from persons").fetchone() == (3,)
        with pytest.raises(psycopg.OperationalError, match='database "added_events" does not'):
            psycopg.connect(gw.dsn("added_events"))
    finally:
        gw.stop()


def test_settings_that_need_a_restart_keep_their_old_values(gw):
    edit_config(gw, f"port = {gw.port}", "port = 1")
    assert console_reload(gw) == [("config reloaded: no source changed",)]
    assert "server.port changed; it takes effect when the gateway restarts" in gw.log()
    with psycopg.connect(gw.dsn("metahog", "admin", ADMIN_PASSWORD), autocommit=True) as conn:
        values = dict(conn.execute("SHOW CONFIG").fetchall())
    assert values["server.port"] == str(gw.port)
    assert can_log_in(gw, "analyst", "secret")
