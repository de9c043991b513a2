"""`auth = "passthrough"` on a PostHog source: each user's password is their personal API key.
PostHog (here its stand-in, tests/posthog_standin.py) accepts or refuses the key at login, and
the session's queries carry that key, so PostHog applies the user's own access."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from gateway.config import ConfigError, parse_config
from tests.conftest import GatewayProcess
from tests.pgwire import WireClient, errors
from tests.posthog_standin import API_KEY, PROJECT_ID, PostHogStandIn

ALICE_KEY = "phx_alice_personal_key_aaaaaaaaaaaa1111"
BOB_KEY = "phx_bob_personal_key_bbbbbbbbbbbbbbb2222"
OUTSIDER_KEY = "phx_outsider_key_with_no_project_access_3333"  # valid, other organisation
WRONG_KEY = "phx_not_a_key_anyone_has_4444"


@pytest.fixture(scope="module")
def posthog(request) -> PostHogStandIn:
    pytest.importorskip("chdb")
    from tests.test_hogql_source import NOW

    standin = PostHogStandIn(NOW).start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def keys(posthog) -> None:
    posthog.reset()
    posthog.configure(user_keys=[ALICE_KEY, BOB_KEY], foreign_keys=[OUTSIDER_KEY])


@pytest.fixture(scope="module")
def gateway(gateway_factory, catalog_dsn, posthog) -> GatewayProcess:
    # No api_key at all: the schema too is read with the users' keys.
    sources = (
        f'\n[sources.posthog_pt]\nkind = "hogql"\nhost = "{posthog.url}"\n'
        f'project_id = {PROJECT_ID}\nauth = "passthrough"\n'
        f'\n[catalog]\ndsn = "{catalog_dsn}"\n'
    )
    return gateway_factory(sources_extra=sources)


def connect(gateway: GatewayProcess, user: str, key: str, **params: str) -> psycopg.Connection:
    return psycopg.connect(
        gateway.dsn("posthog_pt", user=user, password=key, **params), autocommit=True
    )


def run_psql(gateway: GatewayProcess, user: str, key: str, sql: str, sslmode: str = "require"):
    return subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PGHOST": "127.0.0.1",
            "PGPORT": str(gateway.port),
            "PGDATABASE": "posthog_pt",
            "PGUSER": user,
            "PGPASSWORD": key,
            "PGSSLMODE": sslmode,
            "PATH": "/usr/bin:/bin",
        },
    )


def queries_by_key(posthog: PostHogStandIn) -> dict[str, list[str]]:
    asked: dict[str, list[str]] = {}
    for entry in posthog.requests():
        if entry["method"] == "POST" and entry.get("kind"):
            asked.setdefault(entry["key"], []).append(entry.get("query") or entry["kind"])
    return asked


def test_each_session_queries_with_its_users_key(gateway, posthog):
    with connect(gateway, "alice", ALICE_KEY) as alice, connect(gateway, "bob", BOB_KEY) as bob:
        a = alice.execute("SELECT count(*) FROM events WHERE event = 'signup'").fetchone()
        b = bob.execute("SELECT count(*) FROM events WHERE event = 'signup'").fetchone()
    assert a == b and a[0] > 0
    asked = queries_by_key(posthog)
    for key in (ALICE_KEY, BOB_KEY):
        data = [q for q in asked.get(key[-6:], []) if "signup" in q]
        assert len(data) == 1, asked
    # The gateway has no key of its own to query with.
    assert API_KEY[-6:] not in asked


def test_psql_logs_in_with_a_personal_key_and_lists_tables(gateway, posthog):
    result = run_psql(gateway, "alice", ALICE_KEY, r"\dt")
    assert result.returncode == 0, result.stderr
    assert "|events|" in result.stdout and "|persons|" in result.stdout, result.stdout
    result = run_psql(gateway, "bob", BOB_KEY, "SELECT count(*) > 0 FROM persons")
    assert result.returncode == 0 and result.stdout.strip() == "t", result


def test_a_wrong_key_is_a_wrong_password(gateway, posthog):
    with pytest.raises(psycopg.OperationalError) as failure:
        connect(gateway, "alice", WRONG_KEY)
    assert 'password authentication failed for user "alice"' in str(failure.value)
    result = run_psql(gateway, "alice", WRONG_KEY, "SELECT 1")
    assert result.returncode != 0
    assert 'password authentication failed for user "alice"' in result.stderr
    # PostHog said no to the key: nothing else was asked with it.
    assert [e for e in posthog.requests() if e["status"] == 200] == []


def test_an_empty_password_is_refused_without_asking_posthog(gateway, posthog):
    result = run_psql(gateway, "alice", "", "SELECT 1")
    assert result.returncode != 0
    assert "password" in result.stderr
    assert posthog.requests() == []


def test_a_key_without_access_to_the_project_gets_42501(gateway, posthog):
    client = WireClient(gateway.port)
    try:
        [error] = errors(client.startup("outsider", OUTSIDER_KEY, "posthog_pt"))
    finally:
        client.close()
    assert (error["S"], error["C"]) == ("FATAL", "42501")
    assert f"project {PROJECT_ID}" in error["M"]
    with pytest.raises(psycopg.OperationalError, match="may not run queries"):
        connect(gateway, "outsider", OUTSIDER_KEY)


def test_keys_travel_only_over_tls(gateway, posthog):
    result = run_psql(gateway, "alice", ALICE_KEY, "SELECT 1", sslmode="disable")
    assert result.returncode != 0
    assert "cleartext password authentication is only allowed over TLS" in result.stderr
    assert posthog.requests() == []


def test_an_accepted_key_is_trusted_for_a_while(gateway, posthog):
    for _ in range(3):
        with connect(gateway, "bob", BOB_KEY) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    checks = [q for q in queries_by_key(posthog).get(BOB_KEY[-6:], []) if q == "SELECT 1"]
    assert len(checks) <= 1, checks


def test_a_revoked_key_stops_working_for_queries_at_once(gateway, posthog):
    with connect(gateway, "alice", ALICE_KEY) as conn:
        assert conn.execute("SELECT count(*) FROM persons").fetchone()[0] > 0
        posthog.configure(user_keys=[BOB_KEY])
        with pytest.raises(psycopg.Error) as failure:
            conn.execute("SELECT count(*) FROM persons")
        assert failure.value.sqlstate == "28000"
        assert failure.value.diag.message_hint.startswith("Check your password")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the session stays usable


def test_the_schema_is_read_with_a_users_key(gateway, posthog):
    with connect(gateway, "bob", BOB_KEY) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " ORDER BY 1"
        ).fetchall()
    assert ("events",) in rows and ("person_distinct_id2",) in rows


def test_no_key_reaches_the_gateway_log(gateway, posthog):
    with connect(gateway, "alice", ALICE_KEY) as conn:
        conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        connect(gateway, "alice", WRONG_KEY)
    log = gateway.log()
    for key in (ALICE_KEY, BOB_KEY, WRONG_KEY, OUTSIDER_KEY):
        assert key not in log


def test_passthrough_config():
    base = {"kind": "hogql", "host": "https://us.posthog.com", "project_id": 1}
    config = parse_config({"sources": {"p": {**base, "auth": "passthrough"}}})
    assert config.sources["p"].hogql.passthrough
    with pytest.raises(ConfigError, match=r"sources\.p\.api_key: required"):
        parse_config({"sources": {"p": base}})
    with pytest.raises(ConfigError, match=r"sources\.p\.auth: expected one of"):
        parse_config({"sources": {"p": {**base, "auth": "oauth"}}})
