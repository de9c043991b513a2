"""`metahog source add/list/test/schema/remove` and `metahog keys rotate`, run as commands against
real PostgreSQL, ClickHouse and PostHog stand-in servers; and a running gateway serving sources
as they are added and removed, without a restart. No secret may appear in any output, log or
the registry file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from gateway.embedded.postgres import free_port
from tests.conftest import ANALYST_PASSWORD, GatewayProcess, write_config
from tests.pgwire import WireClient, error_fields
from tests.source_fixtures import REGISTRY_PASSWORD

TLS_PASSWORD = "tls-pw"
# Every secret these tests hand to the CLI; none may come back out.
SECRETS = (REGISTRY_PASSWORD, "Wrong-Secret-Pw-88", TLS_PASSWORD)


@pytest.fixture
def config(registry_pg, tmp_path) -> Path:
    """A config with two TOML sources (pagila, other); its registry is empty."""
    return write_config(registry_pg, tmp_path, free_port())


@pytest.fixture(autouse=True)
def no_key_variable(monkeypatch) -> None:
    monkeypatch.delenv("METAHOG_KEYS", raising=False)


def run(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `metahog`; then neither its output nor the registry file may show a secret."""
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert_no_secret(result.stdout + result.stderr)
    if "-c" in args:
        registry = Path(args[args.index("-c") + 1]).parent / "sources.json"
        if registry.exists():
            assert_no_secret(registry.read_text())
    return result


def add_postgres(config: Path, name: str, *extra: str, password: str = REGISTRY_PASSWORD, pg=None):
    port = str(pg.port) if pg is not None else None
    args = ["source", "add", name, "-c", str(config), "--kind", "postgres", "--host", "127.0.0.1"]
    args += ["--port", port] if port else []
    return run(*args, "--password-stdin", *extra, stdin=password + "\n")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- each command ------------------------------------------------------------------------------
def test_add_list_test_schema_remove(registry_pg, config):
    added = add_postgres(
        config,
        "shop",
        "--database",
        "reg_db",
        "--user",
        "reg_user",
        "--schema",
        "shop",
        "--sslmode",
        "require",
        pg=registry_pg,
    )
    assert added.returncode == 0, added.stderr
    assert "added source shop (postgres, reg_user@127.0.0.1:" in added.stdout

    listing = run("source", "list", "-c", str(config))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "ORIGIN", "TARGET"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["pagila"][1:3] == ["postgres", "config"]
    assert rows["other"][1:3] == ["postgres", "config"]
    assert rows["shop"][1:3] == ["postgres", "registry"]
    assert f"reg_user@127.0.0.1:{registry_pg.port}/reg_db" in rows["shop"][3]
    as_json = [
        json.loads(line)
        for line in run("source", "list", "-c", str(config), "--json").stdout.splitlines()
    ]
    assert {"name": "shop", "kind": "postgres", "origin": "registry"}.items() <= as_json[-1].items()

    tested = run("source", "test", "shop", "-c", str(config))
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.startswith("source shop (registry): ok")
    assert run("source", "test", "pagila", "-c", str(config)).stdout.startswith(
        "source pagila (config): ok"
    )

    schema = run("source", "schema", "shop", "-c", str(config))
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout.splitlines() == [
        "item",
        "  id     integer",
        "  label  character varying(20)",
    ]
    schema_json = json.loads(run("source", "schema", "shop", "-c", str(config), "--json").stdout)
    assert schema_json == [
        {
            "table": "item",
            "columns": [
                {"name": "id", "type": "integer"},
                {"name": "label", "type": "character varying(20)"},
            ],
        }
    ]

    registry = (config.parent / "sources.json").read_text()
    assert "shop" in registry and REGISTRY_PASSWORD not in registry
    assert (config.parent / "metahog.key").stat().st_mode & 0o777 == 0o600

    removed = run("source", "remove", "shop", "-c", str(config))
    assert removed.returncode == 0, removed.stderr
    assert "shop" not in run("source", "list", "-c", str(config)).stdout
    again = run("source", "remove", "shop", "-c", str(config))
    assert again.returncode == 1 and "not in the registry" in again.stderr
    unknown = run("source", "test", "shop", "-c", str(config))
    assert unknown.returncode == 1 and "no source named 'shop'" in unknown.stderr


def test_add_from_a_connection_string(registry_pg, config):
    dsn = registry_pg.dsn("reg_user", REGISTRY_PASSWORD, "reg_db", sslmode="disable")
    added = run("source", "add", "fromdsn", "-c", str(config), "--dsn-stdin", stdin=dsn + "\n")
    assert added.returncode == 0, added.stderr
    record = json.loads((config.parent / "sources.json").read_text())["sources"]["fromdsn"]
    assert record["kind"] == "postgres"
    assert (
        record["dsn"]
        == f"postgresql://reg_user@127.0.0.1:{registry_pg.port}/reg_db?sslmode=disable"
    )
    assert set(record["encrypted"]) == {"dsn"}
    assert run("source", "test", "fromdsn", "-c", str(config)).returncode == 0


# --- each failure reason -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "reason, options, password",
    [
        ("unreachable", ["--user", "reg_user", "--port", "CLOSED"], REGISTRY_PASSWORD),
        ("timeout", ["--user", "reg_user", "--port", "SILENT"], REGISTRY_PASSWORD),
        ("auth_failed", ["--user", "reg_user", "--database", "reg_db"], "Wrong-Secret-Pw-88"),
        ("database_missing", ["--user", "reg_user", "--database", "no_such_db"], REGISTRY_PASSWORD),
        (
            "tls_required",
            ["--user", "tls_user", "--database", "testdb", "--sslmode", "disable"],
            TLS_PASSWORD,
        ),
        (
            "schema_missing",
            ["--user", "reg_user", "--database", "reg_db", "--schema", "nope"],
            REGISTRY_PASSWORD,
        ),
    ],
)
def test_each_failure_reason_is_named_and_nothing_is_saved(
    registry_pg, config, silent_port, reason, options, password
):
    ports = {"CLOSED": str(free_port()), "SILENT": str(silent_port)}
    options = [ports.get(option, option) for option in options]
    pg = None if "--port" in options else registry_pg
    started = time.monotonic()
    result = add_postgres(config, "broken", *options, "--timeout", "2", password=password, pg=pg)
    assert result.returncode == 1, result
    assert result.stderr.startswith(f"metahog: source broken: {reason}: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert_no_secret(result.stdout + result.stderr)
    assert time.monotonic() - started < 30
    assert not (config.parent / "sources.json").exists()
    assert "broken" not in run("source", "list", "-c", str(config)).stdout


def test_names_of_config_sources_and_reserved_names_are_refused(registry_pg, config):
    common = ["--user", "reg_user", "--database", "reg_db"]
    taken = add_postgres(config, "pagila", *common, pg=registry_pg)
    assert taken.returncode == 1
    assert "source 'pagila' is defined in the config ([sources.pagila]" in taken.stderr
    reserved = add_postgres(config, "metahog", *common, pg=registry_pg)
    assert reserved.returncode == 2 and "is the admin console's" in reserved.stderr
    assert add_postgres(config, "twice", *common, pg=registry_pg).returncode == 0
    twice = add_postgres(config, "twice", *common, pg=registry_pg)
    assert twice.returncode == 1 and "already in the registry" in twice.stderr
    removing = run("source", "remove", "pagila", "-c", str(config))
    assert removing.returncode == 1 and "defined in the config, not the registry" in removing.stderr


def test_usage_and_config_errors_exit_2(registry_pg, config, tmp_path):
    no_kind = run("source", "add", "x", "-c", str(config), "--host", "h", stdin="")
    assert no_kind.returncode == 2 and "--kind is required" in no_kind.stderr
    wrong_option = add_postgres(config, "x", "--user", "u", "--project-id", "3", pg=registry_pg)
    assert wrong_option.returncode == 2 and "--project-id does not apply" in wrong_option.stderr
    bad_schema = add_postgres(config, "x", "--user", "u", "--schema", "a b", pg=registry_pg)
    assert bad_schema.returncode == 2 and "sources.x.schema" in bad_schema.stderr
    both = run("source", "add", "x", "-c", str(config), "--dsn-stdin", "--password-stdin")
    assert both.returncode == 2
    missing = run("source", "list", "-c", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not (config.parent / "sources.json").exists()


def test_keys_rotate(registry_pg, config):
    common = ["--user", "reg_user", "--database", "reg_db"]
    assert add_postgres(config, "one", *common, pg=registry_pg).returncode == 0
    key_file = config.parent / "metahog.key"
    old_key = key_file.read_text()
    old_registry = (config.parent / "sources.json").read_text()
    rotated = run("keys", "rotate", "-c", str(config))
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secrets" in rotated.stdout
    assert key_file.read_text() != old_key and len(key_file.read_text().split()) == 1
    assert (config.parent / "sources.json").read_text() != old_registry
    assert run("source", "test", "one", "-c", str(config)).returncode == 0
    # Only the old key: the re-encrypted secret cannot be read.
    key_file.write_text(old_key)
    stale = run("source", "test", "one", "-c", str(config))
    assert stale.returncode == 1 and "cannot be decrypted" in stale.stderr
    # A key file others may read is refused, whatever it holds.
    key_file.chmod(0o640)
    loose = run("source", "test", "one", "-c", str(config))
    assert loose.returncode == 1 and "must be 0600" in loose.stderr


def test_keys_from_the_environment(registry_pg, config):
    first = run("keys", "generate").stdout.strip()
    second = run("keys", "generate").stdout.strip()
    assert first != second and len(first) == 44
    common = ["--user", "reg_user", "--database", "reg_db"]
    env = {"METAHOG_KEYS": first}
    args = [
        "source",
        "add",
        "envkey",
        "-c",
        str(config),
        "--kind",
        "postgres",
        "--host",
        "127.0.0.1",
    ]
    added = run(
        *args,
        "--port",
        str(registry_pg.port),
        *common,
        "--password-stdin",
        stdin=REGISTRY_PASSWORD,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert not (config.parent / "metahog.key").exists()
    rotated = run("keys", "rotate", "-c", str(config), env={"METAHOG_KEYS": f"{second},{first}"})
    assert rotated.returncode == 0 and "can now be removed" in rotated.stdout
    assert (
        run("source", "test", "envkey", "-c", str(config), env={"METAHOG_KEYS": second}).returncode
        == 0
    )
    assert (
        run("source", "test", "envkey", "-c", str(config), env={"METAHOG_KEYS": first}).returncode
        == 1
    )


# --- the other kinds ---------------------------------------------------------------------------
def test_clickhouse_kind(config, clickhouse_server):
    url = clickhouse_server.url + "?database=default"
    added = run("source", "add", "ch", "-c", str(config), "--dsn-stdin", stdin=url)
    assert added.returncode == 0, added.stderr
    assert f":{clickhouse_server.password}@" not in (config.parent / "sources.json").read_text()
    schema = run("source", "schema", "ch", "-c", str(config))
    assert schema.returncode == 0, schema.stderr
    assert "persons\n  id           UInt32\n" in schema.stdout
    flags = [
        "source",
        "add",
        "ch2",
        "-c",
        str(config),
        "--kind",
        "clickhouse",
        "--host",
        "127.0.0.1",
        "--port",
        str(clickhouse_server.http_port),
        "--user",
        clickhouse_server.user,
        "--database",
        "no_such_db",
        "--password-stdin",
    ]
    missing = run(*flags, stdin=clickhouse_server.password)
    assert missing.returncode == 1 and "database_missing" in missing.stderr
    wrong = run(*flags[:-3], "--password-stdin", stdin="Wrong-Secret-Pw-88")
    assert wrong.returncode == 1 and "auth_failed" in wrong.stderr
    listing = run("source", "list", "-c", str(config)).stdout
    assert "ch  " in listing and "clickhouse  registry" in listing


def test_chdb_kind(config, tmp_path):
    pytest.importorskip("chdb")
    from tests.conftest import build_chdb

    path = tmp_path / "chdb"
    build_chdb(path, ["CREATE TABLE t (a Int32, b Nullable(String)) ENGINE = MergeTree ORDER BY a"])
    added = run(
        "source", "add", "local", "-c", str(config), "--kind", "clickhouse", "--path", str(path)
    )
    assert added.returncode == 0, added.stderr
    schema = run("source", "schema", "local", "-c", str(config))
    assert schema.stdout.split() == ["t", "a", "Int32", "b", "Nullable(String)"]


def test_hogql_kind(config, registry_posthog):
    posthog = registry_posthog
    from tests.posthog_standin import API_KEY, PROJECT_ID

    args = ["source", "add", "hog", "-c", str(config), "--kind", "hogql", "--host", posthog.url]
    wrong = run(
        *args, "--project-id", str(PROJECT_ID), "--password-stdin", stdin="phx_Wrong_key_77"
    )
    assert wrong.returncode == 1 and "auth_failed" in wrong.stderr
    assert "phx_Wrong_key_77" not in wrong.stderr
    other = run(*args, "--project-id", str(PROJECT_ID + 1), "--password-stdin", stdin=API_KEY)
    assert other.returncode == 1 and "permission_denied" in other.stderr
    added = run(*args, "--project-id", str(PROJECT_ID), "--password-stdin", stdin=API_KEY)
    assert added.returncode == 0, added.stderr
    schema = run("source", "schema", "hog", "-c", str(config))
    assert "events\n" in schema.stdout and "  event " in schema.stdout
    outputs = (
        added.stdout
        + added.stderr
        + schema.stdout
        + run("source", "list", "-c", str(config)).stdout
    )
    assert API_KEY not in outputs
    assert API_KEY not in (config.parent / "sources.json").read_text()


# --- a running gateway -------------------------------------------------------------------------
def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (psycopg.Error, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def startup_error(gateway: GatewayProcess, database: str) -> dict[str, str]:
    client = WireClient(gateway.port)
    try:
        responses = client.startup("analyst", ANALYST_PASSWORD, database)
        assert responses[0][0] == b"E", responses
        return error_fields(responses[0][1])
    finally:
        client.close()


def test_running_gateway_serves_added_sources_and_drops_removed_ones(registry_pg, gateway_factory):
    gateway: GatewayProcess = gateway_factory()
    config = gateway.config_path
    assert startup_error(gateway, "shop")["C"] == "3D000"
    added = add_postgres(
        config,
        "shop",
        "--user",
        "reg_user",
        "--database",
        "reg_db",
        "--schema",
        "shop",
        pg=registry_pg,
    )
    assert added.returncode == 0, added.stderr

    def query() -> list:
        with psycopg.connect(gateway.dsn("shop"), autocommit=True) as connection:
            # Unqualified: the source's `--schema` is the backend session's search_path.
            return connection.execute("select label from item").fetchall()

    assert wait_for(query) == [("from shop",)]
    # The TOML sources keep working beside the registry's.
    with psycopg.connect(gateway.dsn("other"), autocommit=True) as connection:
        assert connection.execute("select body from note").fetchall() == [("other source",)]

    assert run("source", "remove", "shop", "-c", str(config)).returncode == 0

    def refused() -> None:
        error = startup_error(gateway, "shop")
        assert (error["C"], error["M"]) == ("3D000", 'database "shop" does not exist')

    wait_for(refused)
    assert gateway.alive()
    log = gateway.log()
    assert "reload" in log
    assert_no_secret(log)
