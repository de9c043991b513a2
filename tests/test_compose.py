"""docker-compose.yml is valid, and what it runs is what MetaHog and the servers accept.

- The file is validated against the Compose specification's JSON schema, vendored as
  tests/compose_spec.json: `compose/config/compose_spec.json` from the `docker-compose` 1.29.2
  wheel on PyPI (Docker Inc., Apache-2.0), the schema of the Compose specification
  (github.com/compose-spec/compose-spec, schema/compose-spec.json) as of May 2021. Where
  `docker compose` (or a standalone `docker-compose`) exists, `config` checks it too.
- The gateway's config (docker/gateway/metahog.toml) loads with MetaHog's own loader and names
  the compose services, users and passwords that the servers' init scripts create.
- The init scripts are generated from gateway/demo_data.py and current; the PostgreSQL ones load
  into a real PostgreSQL, the ClickHouse one into chDB (a real ClickHouse).
- The gateway's health check, run against a real gateway, passes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from gateway.config import load_config
from gateway.demo_data import (
    CUSTOMERS,
    DEFAULT_EVENTS,
    DOCKER_CH_DATABASE,
    DOCKER_CH_READER,
    DOCKER_PG_CATALOG,
    DOCKER_PG_READER,
    ORDERS,
    docker_init_scripts,
    person_count,
)
from gateway.embedded.postgres import LocalPostgres

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKER = ROOT / "docker"
GATEWAY_TOML = DOCKER / "gateway" / "metahog.toml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_specification():
    schema = json.loads((Path(__file__).parent / "compose_spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # The schema itself rejects what is wrong (a misspelt key), so the check above means something.
    broken = compose()
    broken["services"]["gateway"]["healthcheck"]["intervall"] = "5s"
    assert list(validator.iter_errors(broken))


def test_every_service_has_a_health_check_and_the_gateway_waits_for_its_servers():
    services = compose()["services"]
    assert set(services) == {"postgres", "clickhouse", "gateway"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert services["gateway"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "clickhouse": {"condition": "service_healthy"},
    }


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_config_accepts_the_file():
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_gateway_config_loads_and_names_the_compose_services():
    config = load_config(GATEWAY_TOML)
    service = compose()["services"]["gateway"]
    # The file compose mounts is the file the command reads, and the port it publishes is the
    # port the gateway listens on.
    mount = next(v for v in service["volumes"] if v.startswith("./docker/gateway/metahog.toml:"))
    target = mount.split(":")[1]
    assert service["command"][-2:] == ["--config", target]
    assert service["ports"] == [f"127.0.0.1:{config.server.port}:{config.server.port}"]
    assert config.server.host == "0.0.0.0"
    assert [u.name for u in config.users] == ["demo"]

    assert {name: s.kind for name, s in config.sources.items()} == {
        "app": "postgres",
        "posthog": "postgres",
        "events": "clickhouse",
    }
    for name in ("app", "posthog"):
        backend = config.sources[name].backend
        assert (backend.host, backend.port, backend.database) == ("postgres", 5432, name)
        assert (backend.user, backend.password.reveal()) == DOCKER_PG_READER
    catalog = config.catalog.dsn
    assert catalog is not None and catalog.host == "postgres"
    assert (catalog.user, catalog.password.reveal()) == DOCKER_PG_CATALOG
    url = config.sources["events"].clickhouse.url.reveal()
    user, password = DOCKER_CH_READER
    assert url == f"http://{user}:{password}@clickhouse:8123/?database={DOCKER_CH_DATABASE}"
    # The ClickHouse health check logs in as that same user, on the events.
    check = " ".join(compose()["services"]["clickhouse"]["healthcheck"]["test"])
    assert f"--user={user} --password={password}" in check
    assert f"{DOCKER_CH_DATABASE}.events" in check


def test_init_scripts_are_current():
    """docker/*/init is `python -m gateway.demo_data --write-docker docker`'s output."""
    expected = docker_init_scripts()
    present = {
        str(path.relative_to(DOCKER)): path.read_text()
        for path in DOCKER.glob("*/init/*")
        if path.is_file()
    }
    assert sorted(present) == sorted(expected)
    for path, text in expected.items():
        assert present[path] == text, f"docker/{path} is stale: run the generator"


def test_dockerfile_installs_the_project_with_pip():
    dockerfile = (DOCKER / "gateway" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir ." in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert compose()["services"]["gateway"]["build"] == {
        "context": ".",
        "dockerfile": "docker/gateway/Dockerfile",
    }


def test_postgres_init_scripts_load_into_postgresql():
    with LocalPostgres() as cluster:
        # As the image's entrypoint runs them: in name order, as the superuser, with psql.
        for path in sorted((DOCKER / "postgres" / "init").glob("*.sql")):
            cluster.psql(path.read_text())
        reader, password = DOCKER_PG_READER
        with psycopg.connect(cluster.dsn(reader, password, "app", sslmode="disable")) as conn:
            assert conn.execute("select count(*) from customers").fetchone() == (CUSTOMERS,)
            assert conn.execute("select count(*) from orders").fetchone() == (ORDERS,)
        with psycopg.connect(cluster.dsn(reader, password, "posthog", sslmode="disable")) as conn:
            persons = conn.execute("select count(*) from posthog_person").fetchone()
            assert persons == (person_count(DEFAULT_EVENTS),)
            assert conn.execute("select count(*) from posthog_team").fetchone() == (2,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("delete from posthog_team")
        catalog, password = DOCKER_PG_CATALOG
        with psycopg.connect(cluster.dsn(catalog, password, "postgres", sslmode="disable")) as conn:
            rights = conn.execute(
                "select rolcreatedb, rolcreaterole from pg_roles where rolname = current_user"
            ).fetchone()
            assert rights == (True, True)


_RUN_IN_CHDB = """
import json, sys, tempfile, chdb.session
session = chdb.session.Session(tempfile.mkdtemp())
for sql in json.load(sys.stdin)["load"]:
    session.query(sql)
counts = {t: int(session.query(f"SELECT count() FROM posthog.{t}", "CSV").bytes())
          for t in ("events", "persons", "person_distinct_id2")}
# The reader script: ClickHouse's own parser reads it (chDB has no users to create).
def literal(text):
    return "'" + text.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'") + "'"
parsed = [session.query(f"SELECT formatQuery({literal(sql)})", "TSVRaw").bytes().decode()
          for sql in json.load(open(sys.argv[1]))["parse"]]
print(json.dumps({"counts": counts, "parsed": parsed}))
"""


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [sql for sql in "\n".join(lines).split(";\n") if sql.strip()]


def test_clickhouse_init_scripts_load_into_clickhouse(tmp_path):
    pytest.importorskip("chdb")
    init = DOCKER / "clickhouse" / "init"
    load = _statements((init / "10-posthog.sql").read_text())
    parse = _statements((init / "20-reader.sql").read_text())
    (tmp_path / "parse.json").write_text(json.dumps({"parse": parse}))
    # In a subprocess: this process may have another chDB directory open already.
    result = subprocess.run(
        [sys.executable, "-c", _RUN_IN_CHDB, str(tmp_path / "parse.json")],
        input=json.dumps({"load": load}),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    persons = person_count(DEFAULT_EVENTS)
    assert report["counts"] == {
        "events": DEFAULT_EVENTS,
        "persons": persons,
        "person_distinct_id2": persons + (persons + 1) // 2,
    }
    assert [p.split()[:2] for p in report["parsed"]] == [["CREATE", "USER"], ["GRANT", "SELECT"]]


def test_gateway_health_check_passes_against_a_real_gateway(gateway):
    test = compose()["services"]["gateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    code = test[3].replace("6543", str(gateway.port))
    passed = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert passed.returncode == 0, passed.stderr
    # And fails where nothing listens.
    closed = subprocess.run(
        [sys.executable, "-c", test[3].replace("6543", "1")], capture_output=True, timeout=30
    )
    assert closed.returncode != 0
