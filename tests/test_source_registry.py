"""The source registry's parts: sealed secrets, keys and their rotation, the merge into the
config, and credential validation with its failure reasons, against real servers."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from gateway.config import (
    ConfigError,
    RegistryConfig,
    SourceConfig,
    _parse_source,
    load_effective_config,
)
from gateway.embedded.postgres import LocalPostgres, free_port
from gateway.sources import keys
from gateway.sources.registry import Registry, join_password, seal, split_password, unseal
from gateway.sources.validate import ValidationFailed, read_source_schema, validate_source
from tests.conftest import READER_PASSWORD
from tests.source_fixtures import REGISTRY_PASSWORD


@pytest.fixture(autouse=True)
def no_key_variable(monkeypatch) -> None:
    monkeypatch.delenv(keys.KEYS_ENV, raising=False)


def source(name: str, table: dict) -> SourceConfig:
    return _parse_source(name, table, Path("."))


def postgres(pg: LocalPostgres, user: str, password: str, database: str, **params: str) -> dict:
    return {"kind": "postgres", "dsn": pg.dsn(user, password, database, **params)}


def failure(coroutine) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        asyncio.run(coroutine)
    return caught.value


# --- secrets in and out ------------------------------------------------------------------------
def test_secrets_are_taken_out_of_urls_and_tables():
    ring = keys.KeyRing((Fernet.generate_key(),), "test")
    tables = {
        "pg": {"kind": "postgres", "dsn": "postgresql://u:p%40ss%2Fw@h:5/db?sslmode=require"},
        "pg_query": {"kind": "postgres", "dsn": "postgresql://u@h/db?password=qpw&sslmode=disable"},
        "ch": {"kind": "clickhouse", "url": "http://ch_user:ch-pw@h:8123/?database=x"},
        "hog": {"kind": "hogql", "host": "https://h", "project_id": 1, "api_key": "phx_k"},
    }
    for name, table in tables.items():
        record = seal(table, ring)
        text = json.dumps(record)
        for secret in ("p@ss/w", "p%40ss", "qpw", "ch-pw", "phx_k"):
            assert secret not in text, (name, text)
        assert set(record["encrypted"]) <= {"dsn", "url", "api_key"}
        # The parsed sources are the same whether from the table or from the sealed record.
        assert source(name, unseal(record, ring)) == source(name, table)
    assert seal({"kind": "clickhouse", "path": "/x"}, None) == {"kind": "clickhouse", "path": "/x"}
    assert split_password("postgresql://u:pw@h/db") == ("postgresql://u@h/db", "pw")
    assert join_password("http://h:1/?database=d", "p w") == "http://:p%20w@h:1/?database=d"


def test_key_file_is_created_0600_and_a_readable_one_is_refused(tmp_path):
    key_file = tmp_path / "metahog.key"
    assert keys.load_keys(key_file) is None
    ring = keys.load_or_create_keys(key_file)
    assert len(ring.keys) == 1
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert "metahog.key" in repr(ring) and ring.keys[0].decode() not in repr(ring)
    key_file.chmod(0o644)
    with pytest.raises(keys.KeysUnavailable, match="mode 0644; it must be 0600"):
        keys.load_keys(key_file)
    key_file.chmod(0o600)
    key_file.write_text("not-a-key\n")
    with pytest.raises(keys.KeysUnavailable, match="not a Fernet key"):
        keys.load_keys(key_file)


def test_the_environment_variable_wins_over_the_key_file(tmp_path, monkeypatch):
    key_file = tmp_path / "metahog.key"
    keys.load_or_create_keys(key_file)
    first, second = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(keys.KEYS_ENV, f"{first.decode()}, {second.decode()}")
    ring = keys.load_keys(key_file)
    assert ring is not None and ring.keys == (first, second) and ring.origin == keys.KEYS_ENV


def registry_in(directory: Path) -> Registry:
    return Registry(RegistryConfig(directory / "sources.json", directory / "metahog.key"))


def test_rotation_with_a_key_file(tmp_path):
    registry = registry_in(tmp_path)
    registry.add("a", {"kind": "postgres", "dsn": "postgresql://u:pw-a@h/db"})
    registry.add("b", {"kind": "hogql", "host": "https://h", "project_id": 2, "api_key": "k-b"})
    old_keys = keys.read_key_file(registry.key_file)
    assert old_keys is not None
    before = registry.records()
    assert registry.rotate() == 2
    after = registry.records()
    new_keys = keys.read_key_file(registry.key_file)
    assert new_keys is not None and len(new_keys.keys) == 1
    assert new_keys.keys[0] not in old_keys.keys
    old = Fernet(old_keys.keys[0])
    for name in ("a", "b"):
        (token,) = after[name]["encrypted"].values()
        assert token != next(iter(before[name]["encrypted"].values()))
        with pytest.raises(InvalidToken):
            old.decrypt(token.encode())
    tables = registry.tables()
    assert tables["a"]["dsn"] == "postgresql://u:pw-a@h/db"
    assert tables["b"]["api_key"] == "k-b"
    text = registry.path.read_text()
    assert "pw-a" not in text and "k-b" not in text
    assert (registry.path.stat().st_mode & 0o777) == 0o600


def test_rotation_with_the_environment_variable(tmp_path, monkeypatch):
    registry = registry_in(tmp_path)
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(keys.KEYS_ENV, old)
    registry.add("a", {"kind": "postgres", "dsn": "postgresql://u:pw-env@h/db"})
    assert not registry.key_file.exists()  # the variable's key was used; no key file made
    monkeypatch.setenv(keys.KEYS_ENV, f"{new},{old}")
    assert registry.rotate() == 1
    monkeypatch.setenv(keys.KEYS_ENV, new)
    assert registry.tables()["a"]["dsn"] == "postgresql://u:pw-env@h/db"
    monkeypatch.setenv(keys.KEYS_ENV, old)
    with pytest.raises(keys.KeysUnavailable, match="cannot be decrypted"):
        registry.tables()


def test_rotation_without_any_key_says_so(tmp_path):
    from gateway.sources.registry import RegistryError

    with pytest.raises(RegistryError, match="no key to rotate"):
        registry_in(tmp_path).rotate()


# --- the merge into the config -----------------------------------------------------------------
CONFIG = """
[[users]]
name = "analyst"
password = "x"
sources = ["app", "added"]

[sources.app]
kind = "postgres"
dsn = "postgresql://u:toml-pw@h/app"
"""


def test_effective_config_merges_registry_sources(tmp_path):
    path = tmp_path / "metahog.toml"
    path.write_text(CONFIG)
    registry_in(tmp_path).add(
        "added", {"kind": "postgres", "dsn": "postgresql://u:reg-pw@h:6000/db", "schema": "shop"}
    )
    config = load_effective_config(path)
    assert set(config.sources) == {"app", "added"}
    added = config.sources["added"]
    assert added.backend is not None and added.backend.password.reveal() == "reg-pw"
    assert added.backend.port == 6000 and added.schema == "shop"
    assert config.user("analyst").may_use("added")
    assert tmp_path / "sources.json" in config.watch_paths


def test_registry_problems_stop_the_config_with_a_clear_message(tmp_path):
    path = tmp_path / "metahog.toml"
    path.write_text(CONFIG)
    registry = registry_in(tmp_path)
    registry.add("app", {"kind": "postgres", "dsn": "postgresql://u@h/db"})
    with pytest.raises(ConfigError, match="'app' is also defined in the config"):
        load_effective_config(path)
    registry.remove("app")
    registry.add("added", {"kind": "postgres", "dsn": "postgresql://u:pw@h/db"})
    registry.key_file.unlink()
    with pytest.raises(ConfigError, match="no key to decrypt the source registry") as caught:
        load_effective_config(path)
    assert "pw" not in str(caught.value).replace("password", "")
    # A different key cannot read it either.
    keys.write_key_file(registry.key_file, (Fernet.generate_key(),))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        load_effective_config(path)


def test_registry_path_and_key_file_are_configurable(tmp_path):
    path = tmp_path / "metahog.toml"
    registry = '\n[registry]\npath = "state/reg.json"\nkey_file = "k/reg.key"\n'
    path.write_text(CONFIG.replace(', "added"', "") + registry)
    config = load_effective_config(path)
    assert config.registry == RegistryConfig(tmp_path / "state/reg.json", tmp_path / "k/reg.key")
    Registry(config.registry).add("added", {"kind": "postgres", "dsn": "postgresql://u:p@h/d"})
    assert (tmp_path / "k/reg.key").exists()
    assert "added" in load_effective_config(path).sources


# --- validation --------------------------------------------------------------------------------
def test_postgres_validates_and_lists_its_schema(registry_pg):
    ok = source(
        "ok", {**postgres(registry_pg, "reg_user", REGISTRY_PASSWORD, "reg_db"), "schema": "shop"}
    )
    asyncio.run(validate_source(ok))
    assert asyncio.run(read_source_schema(ok)) == [
        ("item", [("id", "integer"), ("label", "character varying(20)")])
    ]
    public = source("public", postgres(registry_pg, "reg_user", REGISTRY_PASSWORD, "reg_db"))
    assert asyncio.run(read_source_schema(public)) == [
        ("item", [("id", "integer"), ("label", "text")])
    ]


@pytest.mark.parametrize(
    "reason, table",
    [
        ("auth_failed", lambda pg, port: postgres(pg, "reg_user", "wrong-pw", "reg_db")),
        ("auth_failed", lambda pg, port: postgres(pg, "md5_user", "wrong-pw", "testdb")),
        ("auth_failed", lambda pg, port: postgres(pg, "nobody", "wrong-pw", "testdb")),
        ("database_missing", lambda pg, port: postgres(pg, "reader", READER_PASSWORD, "nodb")),
        (
            "tls_required",
            lambda pg, port: postgres(pg, "tls_user", "tls-pw", "testdb", sslmode="disable"),
        ),
        (
            "schema_missing",
            lambda pg, port: {
                **postgres(pg, "reader", READER_PASSWORD, "testdb"),
                "schema": "nope",
            },
        ),
        (
            "unreachable",
            lambda pg, port: {
                "kind": "postgres",
                "dsn": f"postgresql://u:pw@127.0.0.1:{free_port()}/d",
            },
        ),
        (
            "timeout",
            lambda pg, port: {"kind": "postgres", "dsn": f"postgresql://u:pw@127.0.0.1:{port}/d"},
        ),
    ],
)
def test_postgres_failure_reasons(registry_pg, silent_port, reason, table):
    config = source("bad", table(registry_pg, silent_port))
    caught = failure(validate_source(config, timeout=1.5))
    assert caught.reason == reason, caught
    assert config.backend is not None
    password = config.backend.password.reveal()
    assert password not in caught.message and password not in str(caught)
    assert f"{config.backend.host}:{config.backend.port}" in caught.message


def test_tls_succeeds_where_it_is_required(registry_pg):
    asyncio.run(
        validate_source(
            source("tls", postgres(registry_pg, "tls_user", "tls-pw", "testdb", sslmode="require"))
        )
    )


def test_clickhouse_validation(clickhouse_server, silent_port):
    url = clickhouse_server.url
    good = source("ch", {"kind": "clickhouse", "url": url + "?database=default"})
    asyncio.run(validate_source(good))
    tables = dict(asyncio.run(read_source_schema(good)))
    assert tables["persons"][:3] == [
        ("id", "UInt32"),
        ("distinct_id", "String"),
        ("email", "Nullable(String)"),
    ]
    cases = {
        "auth_failed": url.replace(f":{clickhouse_server.password}@", ":wrong-ch-pw@"),
        "database_missing": url + "?database=no_such_db",
        "unreachable": f"http://u:ch-pw@127.0.0.1:{free_port()}/",
        "timeout": f"http://u:ch-pw@127.0.0.1:{silent_port}/",
    }
    for reason, bad_url in cases.items():
        caught = failure(validate_source(source("ch", {"kind": "clickhouse", "url": bad_url}), 1))
        assert caught.reason == reason, caught
        assert "wrong-ch-pw" not in str(caught) and "ch-pw" not in str(caught)


def test_chdb_directory_that_does_not_exist(tmp_path):
    missing = source("ch", {"kind": "clickhouse", "path": str(tmp_path / "none")})
    assert failure(validate_source(missing)).reason == "database_missing"


def test_hogql_validation(registry_posthog):
    posthog = registry_posthog
    from tests.posthog_standin import API_KEY, PROJECT_ID

    def hogql(api_key: str = API_KEY, project_id: int = PROJECT_ID, host: str = posthog.url):
        table = {"kind": "hogql", "host": host, "project_id": project_id, "api_key": api_key}
        return source("hog", table)

    asyncio.run(validate_source(hogql()))
    tables = dict(asyncio.run(read_source_schema(hogql())))
    assert ("event", "Nullable(String)") in tables["events"]
    for reason, config in {
        "auth_failed": hogql(api_key="phx_wrong_key_123"),
        "permission_denied": hogql(project_id=PROJECT_ID + 1),
        "unreachable": hogql(host=f"http://127.0.0.1:{free_port()}"),
    }.items():
        caught = failure(validate_source(config, 5))
        assert caught.reason == reason, caught
        assert "phx_wrong_key_123" not in str(caught) and API_KEY not in str(caught)


def test_hogql_validation_ends_at_its_timeout(silent_port):
    table = {"kind": "hogql", "host": f"http://127.0.0.1:{silent_port}", "project_id": 1}
    started = time.monotonic()
    caught = failure(validate_source(source("hog", {**table, "api_key": "phx_k"}), 1))
    assert caught.reason == "timeout", caught
    # asyncio.run waits for the worker thread's request: it ends with the wait, not 120 s on.
    assert time.monotonic() - started < 5


def test_validation_failed_carries_a_known_reason():
    with pytest.raises(AssertionError):
        ValidationFailed("made_up", "x")
    assert str(ValidationFailed("timeout", "no answer")) == "timeout: no answer"
    assert os.environ.get(keys.KEYS_ENV) is None
