"""The HTTP direct-query API against a real gateway process: PostgreSQL and chDB sources,
bearer tokens, the wire protocol's guard and limits, and a schemathesis run over its OpenAPI
document."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.embedded.postgres import LocalPostgres, free_port
from gateway.http.tokens import digest, new_token
from tests.clickhouse_fixtures import clickhouse_setup
from tests.conftest import READER_PASSWORD, GatewayProcess, build_chdb, clickhouse_source
from tests.posthog_standin import API_KEY, PROJECT_ID, PostHogStandIn
from tests.posthog_standin import events as posthog_events
from tests.test_cancel import backend_activity, wait_for

ANALYST_TOKEN = new_token()
ADMIN_TOKEN = new_token()
OTHER_ONLY_TOKEN = new_token()
LIMITED_TOKEN = new_token()
DOWN_PASSWORD = "pw-of-an-unreachable-source"


def _token(token: str, user: str, admin: bool = False) -> str:
    return (
        f'\n[[http.tokens]]\nuser = "{user}"\nsha256 = "{digest(token)}"\n'
        f"admin = {'true' if admin else 'false'}\n"
    )


@pytest.fixture(scope="module")
def api(gateway_factory, catalog_dsn, pg: LocalPostgres) -> tuple[GatewayProcess, str]:
    pytest.importorskip("chdb")
    pg.psql(
        "CREATE TABLE IF NOT EXISTS api_target (id int); GRANT SELECT ON api_target TO reader;",
        "testdb",
    )
    path = Path(tempfile.mkdtemp(prefix="metahog-api-chdb-"))
    build_chdb(path, clickhouse_setup(modern=True))
    http_port = free_port()
    sources = clickhouse_source("events", path=path, catalog=catalog_dsn)
    sources += '\n[audit]\npath = "audit.log"\n'  # beside the config
    # Nothing listens on port 1.
    sources += f'\n[sources.down]\nkind = "postgres"\ndsn = "postgresql://reader:{DOWN_PASSWORD}@127.0.0.1:1/x"\n'
    sources += f"\n[http]\nport = {http_port}\n"
    sources += _token(ANALYST_TOKEN, "analyst")
    sources += _token(ADMIN_TOKEN, "analyst", admin=True)
    sources += _token(OTHER_ONLY_TOKEN, "other_only")
    sources += _token(LIMITED_TOKEN, "limited")
    users = '\n[[users]]\nname = "limited"\npassword = "limited-pw"\nmax_rows = 5\n'
    users += 'statement_timeout = "300ms"\n'
    gateway = gateway_factory(sources_extra=sources, users_extra=users)
    return gateway, f"http://127.0.0.1:{http_port}"


def call(
    base: str, method: str, path: str, token: str | None = ANALYST_TOKEN, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, base + path, headers=headers, timeout=30, **kwargs)


def execute(base: str, sql: str, source: str = "pagila", token: str = ANALYST_TOKEN, **extra):
    return call(
        base,
        "POST",
        "/api/direct_query/execute",
        token,
        json={"source": source, "sql": sql, **extra},
    )


def test_sources_lists_what_the_user_may_use(api) -> None:
    _, base = api
    everything = call(base, "GET", "/api/direct_query/sources").json()
    assert {"name": "pagila", "kind": "postgres"} in everything["sources"]
    assert {"name": "events", "kind": "clickhouse"} in everything["sources"]
    only = call(base, "GET", "/api/direct_query/sources", OTHER_ONLY_TOKEN).json()
    assert only == {"sources": [{"name": "other", "kind": "postgres"}]}
    # Connection details never appear, not even the user names of the DSNs.
    assert "reader" not in json.dumps(everything)


def test_execute_returns_posthog_shaped_results_with_json_values(api) -> None:
    _, base = api
    response = execute(
        base, "SELECT id, n, j, f8, bool, arr, d FROM typed ORDER BY id", max_rows=10
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["id", "n", "j", "f8", "bool", "arr", "d"]
    assert body["types"] == [
        ["id", "integer"],
        ["n", "numeric"],
        ["j", "jsonb"],
        ["f8", "double precision"],
        ["bool", "boolean"],
        ["arr", "integer[]"],
        ["d", "date"],
    ]
    assert body["results"][0] == [
        1,
        "12345.6789",
        {"a": [1, 2, {"b": None}]},
        "NaN",
        True,
        "{1,2,3}",
        "2024-03-01",
    ]
    assert body["results"][1][3] == "-Infinity"
    assert body["results"][2] == [3, None, None, None, None, None, None]
    assert body["hasMore"] is False
    assert body["limit"] == 10 and body["offset"] == 0
    assert body["timings"][0]["k"] == "execute" and body["timings"][0]["t"] >= 0


def test_max_rows_cuts_and_says_there_is_more(api) -> None:
    _, base = api
    body = execute(base, "SELECT film_id FROM film ORDER BY film_id", max_rows=3).json()
    assert body["results"] == [[1], [2], [3]]
    assert body["hasMore"] is True
    exact = execute(base, "SELECT film_id FROM film WHERE film_id <= 3", max_rows=3).json()
    assert exact["hasMore"] is False and len(exact["results"]) == 3


def test_a_type_outside_the_builtin_table_is_named(api) -> None:
    _, base = api
    body = execute(base, "SELECT 'pg_class'::regclass AS r, '1'::money AS m").json()
    assert body["types"] == [["r", "regclass"], ["m", "money"]]


def test_a_write_is_refused_by_the_guard_and_nothing_is_written(api, pg) -> None:
    _, base = api
    response = execute(base, "INSERT INTO api_target VALUES (1)")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error" and body["code"] == "25006"
    assert body["attr"] == "sql" and "read-only" in body["detail"]
    assert pg.psql("SELECT count(*) FROM api_target", "testdb").strip() == "0"
    # A write hidden in a CTE is refused the same way.
    cte = execute(base, "WITH x AS (DELETE FROM film RETURNING 1) SELECT * FROM x")
    assert cte.status_code == 400 and cte.json()["code"] == "25006"
    assert pg.psql("SELECT count(*) FROM film", "testdb").strip() == "1000"


def test_statement_errors_carry_their_sqlstate(api) -> None:
    _, base = api
    missing = execute(base, "SELECT * FROM no_such_table")
    assert missing.status_code == 400 and missing.json()["code"] == "42P01"
    two = execute(base, "SELECT 1; SELECT 2")
    assert two.status_code == 400 and two.json()["code"] == "42601"


def test_user_limits_apply(api) -> None:
    _, base = api
    cut = execute(base, "SELECT g FROM generate_series(1, 50) g", token=LIMITED_TOKEN).json()
    assert len(cut["results"]) == 5 and cut["hasMore"] is True
    slow = execute(base, "SELECT pg_sleep(3)", token=LIMITED_TOKEN)
    assert slow.status_code == 400 and slow.json()["code"] == "57014"


def test_clickhouse_source_through_the_same_path(api) -> None:
    _, base = api
    body = execute(
        base, "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY event", "events"
    ).json()
    assert body["columns"] == ["event", "n"]
    assert body["results"] == [["$autocapture", 100], ["$pageview", 100], ["signup", 100]]
    assert body["types"][1] == ["n", "bigint"]
    refused = execute(base, "DELETE FROM events", "events")
    assert refused.status_code == 400 and refused.json()["code"] == "25006"
    capped = execute(base, "SELECT x FROM big ORDER BY x", "events", max_rows=4).json()
    assert capped["results"] == [["0"], ["1"], ["2"], ["3"]] or capped["results"] == [
        [0],
        [1],
        [2],
        [3],
    ]
    assert capped["hasMore"] is True


def test_schema_of_postgres_and_clickhouse_sources(api) -> None:
    _, base = api
    pagila = call(base, "GET", "/api/direct_query/schema/pagila").json()["tables"]
    assert pagila["film"][:3] == [
        ["film_id", "integer"],
        ["title", "text"],
        ["rating", "text"],
    ]
    assert ["rental_rate", "numeric(4,2)"] in pagila["film"]
    events = call(base, "GET", "/api/direct_query/schema/events").json()["tables"]
    assert [column for column, _ in events["events"]] == [
        "uuid",
        "event",
        "distinct_id",
        "timestamp",
        "properties",
    ]
    assert dict(events["persons"])["id"] == "bigint"


def test_auth_failures(api) -> None:
    _, base = api
    for token in (None, "mhg_not-a-token", ANALYST_TOKEN + "x"):
        response = call(base, "GET", "/api/direct_query/sources", token)
        assert response.status_code == 401
        assert response.json()["type"] == "authentication_error"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    basic = requests.get(base + "/api/direct_query/sources", auth=("analyst", "secret"), timeout=10)
    assert basic.status_code == 401
    denied = execute(base, "SELECT 1", "pagila", OTHER_ONLY_TOKEN)
    assert denied.status_code == 403 and denied.json()["type"] == "permission_denied"
    schema = call(base, "GET", "/api/direct_query/schema/pagila", OTHER_ONLY_TOKEN)
    assert schema.status_code == 403
    unknown = execute(base, "SELECT 1", "nowhere")
    assert unknown.status_code == 404 and unknown.json()["type"] == "not_found"


def test_an_unreachable_source_is_a_502_without_its_password(api) -> None:
    _, base = api
    for response in (
        execute(base, "SELECT 1", "down"),
        call(base, "GET", "/api/direct_query/schema/down"),
    ):
        assert response.status_code == 502, response.text
        body = response.json()
        assert body["type"] == "source_error" and body["code"].startswith("08")
        assert DOWN_PASSWORD not in response.text
    assert execute(base, "SELECT 1 AS one").json()["results"] == [[1]]


def test_bad_bodies_get_400_with_the_field(api) -> None:
    _, base = api
    url = base + "/api/direct_query/execute"
    headers = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    cases = [
        (b"not json", None),
        (b"[1]", None),
        (json.dumps({"source": "pagila"}).encode(), "sql"),
        (json.dumps({"source": "pagila", "sql": "SELECT 1", "max_rows": 0}).encode(), "max_rows"),
        (json.dumps({"source": "pagila", "sql": "SELECT 1", "max_rows": "5"}).encode(), "max_rows"),
        (json.dumps({"source": "pagila", "sql": "SELECT 1", "extra": 1}).encode(), "extra"),
        (json.dumps({"source": "pagila", "sql": "SELECT '\0'"}).encode(), "sql"),
        (b'{"source": "pagila", "sql": "SELECT \'\\ud800\'"}', "sql"),
    ]
    for data, attr in cases:
        response = requests.post(url, data=data, headers=headers, timeout=10)
        assert response.status_code == 400, (data, response.text)
        assert response.json()["attr"] == attr, data
    # The gateway still answers after all of them.
    assert execute(base, "SELECT 1 AS one").json()["results"] == [[1]]


def _in_use(base: str, source: str) -> float:
    metrics = requests.get(base + "/metrics", timeout=10).text
    line = f'metahog_pool_connections{{source="{source}",state="in_use"}} '
    return float(metrics.split(line)[1].split()[0])


def test_concurrent_requests_share_the_pool_and_give_every_connection_back(api) -> None:
    _, base = api
    with ThreadPoolExecutor(max_workers=16) as workers:
        bodies = list(
            workers.map(
                lambda n: execute(base, f"SELECT {n} AS n, pg_sleep(0.05)").json(), range(40)
            )
        )
    assert sorted(body["results"][0][0] for body in bodies) == list(range(40))
    # Each request's session returned its backend connection (pool_size 8 for pagila).
    assert _in_use(base, "pagila") == 0


@pytest.fixture(scope="module")
def hogql_api(gateway_factory, catalog_dsn) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A PostHog project (the stand-in) as a source with a key of its own, and as a source with
    `auth = "passthrough"`."""
    pytest.importorskip("chdb")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    posthog = PostHogStandIn(now).start()
    try:
        http_port = free_port()
        common = f'kind = "hogql"\nhost = "{posthog.url}"\nproject_id = {PROJECT_ID}\n'
        sources = f'\n[sources.posthog]\n{common}api_key = "{API_KEY}"\n'
        sources += f'\n[sources.posthog_pt]\n{common}auth = "passthrough"\n'
        sources += f'\n[catalog]\ndsn = "{catalog_dsn}"\n'
        sources += f"\n[http]\nport = {http_port}\n" + _token(ANALYST_TOKEN, "analyst")
        gateway_factory(sources_extra=sources)
        yield f"http://127.0.0.1:{http_port}", posthog_events(now)
    finally:
        posthog.stop()


def test_posthog_sources_through_the_api(hogql_api) -> None:
    base, events = hogql_api
    listed = call(base, "GET", "/api/direct_query/sources").json()["sources"]
    assert {"name": "posthog", "kind": "hogql"} in listed
    assert "posthog_pt" not in {source["name"] for source in listed}
    body = execute(
        base, "SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY event", "posthog"
    ).json()
    counts = Counter(event["event"] for event in events)
    assert body["results"] == [[event, counts[event]] for event in sorted(counts)]
    assert body["types"] == [["event", "text"], ["n", "bigint"]]
    tables = call(base, "GET", "/api/direct_query/schema/posthog").json()["tables"]
    assert ["event", "text"] in tables["events"]
    refused = execute(base, "DELETE FROM events", "posthog")
    assert refused.status_code == 400 and refused.json()["code"] == "25006"
    # A passthrough source is queried with each user's PostHog key; a token has none.
    passthrough = execute(base, "SELECT 1", "posthog_pt")
    assert passthrough.status_code == 403 and passthrough.json()["code"] == "passthrough"


def test_api_sessions_are_ordinary_sessions_in_the_log(api) -> None:
    gateway, base = api
    execute(base, "SELECT 'logged' AS marker")
    log = gateway.log()
    assert "connected as analyst to pagila" in log
    # No token, digest or password reaches the log.
    for secret in (ANALYST_TOKEN, ADMIN_TOKEN, digest(ANALYST_TOKEN), "reader-pw"):
        assert secret not in log


def test_api_statements_are_audited_like_any_other(api) -> None:
    gateway, base = api
    execute(base, "SELECT 1 AS api_audit_marker")
    execute(base, "UPDATE film SET title = title WHERE film_id = 7 RETURNING api_audit_marker")
    audit = gateway.config_path.parent / "audit.log"
    deadline = time.monotonic() + 10
    while True:
        entries = [
            json.loads(line)
            for line in (audit.read_text().splitlines() if audit.exists() else [])
            if "api_audit_marker" in line
        ]
        if len(entries) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    allowed, rejected = entries[0], entries[1]
    assert allowed["user"] == "analyst" and allowed["source"] == "pagila"
    assert allowed["application_name"] == "metahog-http-api"
    assert allowed["client"].startswith("127.0.0.1:")
    assert allowed["verdict"] == "allowed" and allowed["rows"] == 1
    assert rejected["verdict"] == "rejected" and rejected["reason"] == "25006"


def test_token_create_prints_a_token_and_its_entry(api) -> None:
    gateway, _ = api
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "token",
            "create",
            "analyst",
            "--admin",
            "--config",
            str(gateway.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    token, _, entry = done.stdout.partition("\n")
    assert token.startswith("mhg_") and len(token) > 40
    assert f'sha256 = "{digest(token)}"' in entry and "admin = true" in entry
    assert 'user = "analyst"' in entry and token not in entry
    unknown = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "token",
            "create",
            "nobody",
            "--config",
            str(gateway.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "gateway", "token", "create", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert usage.returncode == 0 and "--admin" in usage.stdout and "SHA-256" in usage.stdout


def test_openapi_document_is_served(api) -> None:
    _, base = api
    document = call(base, "GET", "/api/openapi.json", None).json()
    assert document["openapi"].startswith("3.")
    assert "/api/direct_query/execute" in document["paths"]


@pytest.fixture
def api_schema(api):
    _, base = api
    document = requests.get(base + "/api/openapi.json", timeout=10).json()
    # Fuzz statements against real sources, not only 404s: a source is one of these names.
    names = {"type": "string", "enum": ["pagila", "other", "events"]}
    document["components"]["schemas"]["QueryRequest"]["properties"]["source"] = names
    document["paths"]["/api/direct_query/schema/{source}"]["get"]["parameters"][0]["schema"] = names
    return schemathesis.openapi.from_dict(document)


# Adding and removing sources change the gateway's registry: they have tests of their own.
fuzzed = schemathesis.pytest.from_fixture("api_schema").exclude(
    method=["POST", "DELETE"], path_regex="/sources"
)


@fuzzed.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_schemathesis_finds_no_server_error_and_conforming_responses(case, api) -> None:
    _, base = api
    # Every other check schemathesis has: no 5xx, status codes, content types, headers and
    # bodies as documented, requests without the token refused, invalid bodies rejected. Not
    # positive_data_acceptance: no schema can say which strings are valid SQL, and a statement
    # that fails is rightly a 400.
    case.call_and_validate(
        base_url=base,
        headers={"Authorization": f"Bearer {ANALYST_TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )


def _wait_for_sources(base: str, present: bool, name: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        names = {
            s["name"] for s in call(base, "GET", "/api/direct_query/sources").json()["sources"]
        }
        if (name in names) == present:
            return True
        time.sleep(0.2)
    return False


def test_admin_tokens_add_and_remove_registry_sources(api, pg) -> None:
    gateway, base = api
    good = {
        "name": "added",
        "kind": "postgres",
        "dsn": pg.dsn("reader", READER_PASSWORD, "otherdb"),
    }
    wrong = {**good, "dsn": pg.dsn("reader", "not-the-password", "otherdb")}
    path = "/api/direct_query/sources"
    assert call(base, "POST", path, ANALYST_TOKEN, json=good).status_code == 403
    refused = call(base, "POST", path, ADMIN_TOKEN, json=wrong)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "auth_failed"
    assert "not-the-password" not in refused.text
    taken = call(base, "POST", path, ADMIN_TOKEN, json={**good, "name": "pagila"})
    assert taken.status_code == 409
    bad = call(base, "POST", path, ADMIN_TOKEN, json={"name": "x", "kind": "postgres"})
    assert bad.status_code == 400 and "dsn" in bad.json()["detail"]

    added = call(base, "POST", path, ADMIN_TOKEN, json=good)
    assert added.status_code == 201, added.text
    assert added.json() == {"name": "added", "kind": "postgres"}
    registry = (gateway.config_path.parent / "sources.json").read_text()
    assert READER_PASSWORD not in registry
    # The gateway reloads on the registry's change; the new source is then queryable.
    assert _wait_for_sources(base, True, "added"), gateway.log()[-3000:]
    assert execute(base, "SELECT body FROM note", "added").json()["results"] == [["other source"]]

    assert call(base, "DELETE", f"{path}/added", ANALYST_TOKEN).status_code == 403
    assert call(base, "DELETE", f"{path}/nowhere", ADMIN_TOKEN).status_code == 404
    config_source = call(base, "DELETE", f"{path}/pagila", ADMIN_TOKEN)
    assert config_source.status_code == 409 and "config" in config_source.json()["detail"]
    assert call(base, "DELETE", f"{path}/added", ADMIN_TOKEN).status_code == 204
    assert _wait_for_sources(base, False, "added")
    assert READER_PASSWORD not in gateway.log()


def test_a_client_that_hangs_up_stops_its_statement_on_the_backend(api, pg) -> None:
    _, base = api
    marker = "api-hangup-marker"
    body = json.dumps({"source": "pagila", "sql": f"select pg_sleep(30) /* {marker} */"})
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"POST /api/direct_query/execute HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {ANALYST_TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(request.encode())
        assert wait_for(lambda: backend_activity(pg, marker) == ["active"])
    # The client is gone: the statement stops long before its 30 s.
    assert wait_for(lambda: backend_activity(pg, marker) == [], timeout=10)
