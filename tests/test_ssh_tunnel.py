"""SSH tunnels against a real OpenSSH server on loopback: a PostgreSQL source reached through
it, host keys verified against known_hosts, clear errors, and recovery after the SSH
connection drops."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from dataclasses import replace

import psycopg
import pytest

from gateway.config import (
    BackendAddress,
    ClickHouseTarget,
    ConfigError,
    SourceConfig,
    SshConfig,
    parse_config,
)
from gateway.embedded.postgres import free_port
from gateway.secret import Secret
from gateway.sources.validate import ValidationFailed, validate_source
from tests.conftest import READER_PASSWORD, clickhouse_source
from tests.sshd_fixture import Sshd, sshd  # noqa: F401 (the fixture)


@pytest.fixture(scope="module")
def tunneled(gateway_factory, pg, sshd: Sshd):  # noqa: F811
    http_port = free_port()
    wrong_hosts = sshd.wrong_known_hosts()
    stranger = sshd.new_key("stranger_key")
    dsn = pg.dsn("reader", READER_PASSWORD, "testdb", sslmode="disable")
    sources = f"""
[sources.private]
kind = "postgres"
dsn = "{dsn}"
{sshd.ssh_table()}

[sources.impostor]
kind = "postgres"
dsn = "{dsn}"
{sshd.ssh_table(known_hosts=wrong_hosts)}

[sources.stranger]
kind = "postgres"
dsn = "{dsn}"
{sshd.ssh_table(key=stranger)}

[http]
port = {http_port}
"""
    gateway = gateway_factory(sources_extra=sources)
    gateway.extra["http_port"] = str(http_port)
    return gateway


def query(gateway, database: str, sql: str) -> list[tuple]:
    with psycopg.connect(gateway.dsn(database), autocommit=True) as connection:
        return connection.execute(sql).fetchall()


def test_a_query_reaches_postgres_through_the_tunnel(tunneled, sshd: Sshd) -> None:  # noqa: F811
    assert query(tunneled, "private", "SELECT count(*) FROM film") == [(1000,)]
    log = sshd.log()
    assert "Accepted publickey for root" in log
    # sshd forwarded a channel to the PostgreSQL server's port.
    assert "direct-tcpip" in log or "server_request_direct_tcpip" in log


def test_readiness_is_checked_through_the_tunnel(tunneled, sshd: Sshd) -> None:  # noqa: F811
    channels = sshd.log().count("direct-tcpip")
    url = f"http://127.0.0.1:{tunneled.extra['http_port']}/readyz"
    with pytest.raises(urllib.error.HTTPError) as answer:  # impostor and stranger cannot answer
        urllib.request.urlopen(url, timeout=15)
    assert answer.value.code == 503
    report = json.loads(answer.value.read())
    assert report["sources"]["private"] == {"status": "ok"}, report
    assert "host key" in report["sources"]["impostor"]["reason"], report
    # The check went through sshd, as a forwarded channel, not straight to PostgreSQL.
    assert sshd.log().count("direct-tcpip") > channels


def test_writes_are_refused_through_the_tunnel_too(tunneled) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        query(tunneled, "private", "DELETE FROM film")


def test_a_wrong_host_key_is_refused_with_a_clear_error(tunneled) -> None:
    with pytest.raises(psycopg.OperationalError) as caught:
        query(tunneled, "impostor", "SELECT 1")
    message = str(caught.value)
    assert "host key not verified" in message and "wrong_known_hosts" in message
    assert tunneled.alive()
    assert query(tunneled, "private", "SELECT 1") == [(1,)]


def test_an_unknown_client_key_is_refused_with_a_clear_error(tunneled) -> None:
    with pytest.raises(psycopg.OperationalError) as caught:
        query(tunneled, "stranger", "SELECT 1")
    assert "authentication with key" in str(caught.value)
    assert "refused" in str(caught.value)


def test_the_tunnel_recovers_after_the_ssh_connection_drops(tunneled, sshd: Sshd) -> None:  # noqa: F811
    assert query(tunneled, "private", "SELECT 1") == [(1,)]
    sshd.drop_connections()
    time.sleep(0.5)
    # The pooled connection died with the SSH connection; a new session gets a new one, through
    # a new SSH connection on the same local port.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert query(tunneled, "private", "SELECT 2") == [(2,)]
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert "reconnecting" in tunneled.log()


def test_no_secret_of_the_tunnel_reaches_the_log(tunneled, sshd: Sshd) -> None:  # noqa: F811
    query(tunneled, "private", "SELECT 1")
    log = tunneled.log()
    private_key = sshd.client_key.read_text().splitlines()[1]
    assert private_key not in log and READER_PASSWORD not in log


def _source(pg, ssh: SshConfig) -> SourceConfig:
    dsn = pg.dsn("reader", READER_PASSWORD, "testdb", sslmode="disable")
    return SourceConfig("tunneled", "postgres", BackendAddress.from_dsn(dsn, "dsn"), ssh=ssh)


def test_validation_goes_through_the_tunnel(pg, sshd: Sshd) -> None:  # noqa: F811
    ssh = SshConfig("127.0.0.1", "root", sshd.client_key, sshd.known_hosts, sshd.port)
    asyncio.run(validate_source(_source(pg, ssh)))


def test_validation_says_why_the_ssh_server_refused(pg, sshd: Sshd) -> None:  # noqa: F811
    def failure(**changes) -> str:
        ssh = SshConfig("127.0.0.1", "root", sshd.client_key, sshd.known_hosts, sshd.port)
        with pytest.raises(ValidationFailed) as caught:
            asyncio.run(validate_source(_source(pg, replace(ssh, **changes))))
        assert caught.value.reason == "ssh_failed"
        assert READER_PASSWORD not in str(caught.value)
        return caught.value.message

    assert "authentication with key" in failure(key_file=sshd.new_key("k2"))
    assert "host key not verified" in failure(known_hosts=sshd.wrong_known_hosts())
    assert "127.0.0.1:1" in failure(port=1)
    assert "nope" in failure(key_file=sshd.directory / "nope")


def test_a_source_without_known_hosts_is_refused() -> None:
    base = {"kind": "postgres", "dsn": "postgresql://u@db/x"}
    ssh = {"host": "bastion", "user": "u", "key_file": "k"}
    with pytest.raises(ConfigError, match=r"sources.a.ssh.known_hosts: required"):
        parse_config({"sources": {"a": {**base, "ssh": ssh}}})
    with pytest.raises(ConfigError, match=r"sources.a.ssh.host_key: unknown key"):
        parse_config(
            {"sources": {"a": {**base, "ssh": {**ssh, "known_hosts": "kh", "host_key": "x"}}}}
        )
    with pytest.raises(ConfigError, match=r"sources.c.ssh: only PostgreSQL sources"):
        parse_config({"sources": {"c": {"kind": "clickhouse", "path": "x", "ssh": {**ssh}}}})
    with pytest.raises(ConfigError, match=r"sources.h.ssh: only PostgreSQL sources"):
        posthog = {"kind": "hogql", "host": "https://x", "project_id": 1, "api_key": "k"}
        parse_config({"sources": {"h": {**posthog, "ssh": {**ssh}}}})


# --- a ClickHouse server through the tunnel ----------------------------------------------------
@pytest.fixture(scope="module")
def tunneled_clickhouse(gateway_factory, catalog_dsn, clickhouse_server, sshd: Sshd):  # noqa: F811
    url = clickhouse_server.url + "?database=default"
    sources = clickhouse_source("events", url=url, catalog=catalog_dsn, extra=sshd.ssh_table())
    return gateway_factory(sources_extra=sources)


def test_a_clickhouse_server_is_queried_through_the_tunnel(
    tunneled_clickhouse,
    clickhouse_server,
    sshd: Sshd,  # noqa: F811
) -> None:
    channels = sshd.log().count("direct-tcpip")
    expected = clickhouse_server.query("SELECT count() FROM events").strip()
    with psycopg.connect(tunneled_clickhouse.dsn("events"), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (int(expected),)
    # The query went to the server's HTTP port as a channel forwarded by sshd.
    assert sshd.log().count("direct-tcpip") > channels
    # The URL's password ("metahog", as in every path here) never shows with its URL.
    assert f":{clickhouse_server.password}@" not in tunneled_clickhouse.log()


def test_clickhouse_validation_goes_through_the_tunnel(clickhouse_server, sshd: Sshd) -> None:  # noqa: F811
    ssh = SshConfig("127.0.0.1", "root", sshd.client_key, sshd.known_hosts, sshd.port)
    target = ClickHouseTarget(url=Secret(clickhouse_server.url))
    source = SourceConfig("ch", "clickhouse", None, clickhouse=target, ssh=ssh)
    asyncio.run(validate_source(source))
    refused = replace(source, ssh=replace(ssh, known_hosts=sshd.wrong_known_hosts()))
    with pytest.raises(ValidationFailed) as caught:
        asyncio.run(validate_source(refused))
    assert caught.value.reason == "ssh_failed"
    assert "host key not verified" in caught.value.message


def test_source_add_takes_ssh_options_for_both_server_kinds(
    tmp_path,
    pg,
    clickhouse_server,
    sshd: Sshd,  # noqa: F811
) -> None:
    from tests.conftest import write_config
    from tests.test_source_cli import run

    config = write_config(pg, tmp_path, free_port())
    ssh = ["--ssh-host", "127.0.0.1", "--ssh-port", str(sshd.port), "--ssh-user", "root"]
    ssh += ["--ssh-key", str(sshd.client_key), "--ssh-known-hosts", str(sshd.known_hosts)]
    common = ["-c", str(config), "--host", "127.0.0.1", "--password-stdin", *ssh]
    added = run(
        "source", "add", "pg_ssh", "--kind", "postgres", "--port", str(pg.port),
        "--user", "reader", "--database", "testdb", "--sslmode", "disable", *common,
        stdin=READER_PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    added = run(
        "source", "add", "ch_ssh", "--kind", "clickhouse", "--port",
        str(clickhouse_server.http_port), "--user", clickhouse_server.user, *common,
        stdin=clickhouse_server.password + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    registry = json.loads((tmp_path / "sources.json").read_text())
    assert json.dumps(registry).count('"known_hosts"') == 2
    # A wrong host key fails validation, and nothing is saved.
    wrong = [*common[:-1], str(sshd.wrong_known_hosts())]
    refused = run(
        "source", "add", "ch_bad", "--kind", "clickhouse", "--port",
        str(clickhouse_server.http_port), "--user", clickhouse_server.user, *wrong,
        stdin=clickhouse_server.password + "\n",
    )  # fmt: skip
    assert refused.returncode == 1 and "ssh_failed" in refused.stderr, refused.stderr
    assert "ch_bad" not in (tmp_path / "sources.json").read_text()
