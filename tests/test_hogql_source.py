"""PostHog sources end to end: psql and psycopg through a real gateway process to a stand-in for
PostHog's Query API (tests/posthog_standin.py, which runs HogQL on chDB in a process of its
own). The shadow catalog is a real PostgreSQL database on the test cluster."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from gateway.backends.hogql.source import HogQLSource
from gateway.config import ConfigError, Limits, parse_config
from tests.clickhouse_fixtures import connect, psql
from tests.conftest import GatewayProcess
from tests.posthog_standin import API_KEY, PROJECT_ID, PostHogStandIn, events, persons

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
EVENTS = events(NOW)
EMAILS = {p["id"]: p["properties"]["email"] for p in persons()}
PAGE = 500  # the source's and the stand-in's max_limit: small, so paging is cheap to test


@pytest.fixture(scope="session")
def posthog() -> PostHogStandIn:
    pytest.importorskip("chdb")
    standin = PostHogStandIn(NOW).start()
    yield standin
    standin.stop()


def hogql_source(name: str, url: str, extra: str = "") -> str:
    return (
        f'\n[sources.{name}]\nkind = "hogql"\nhost = "{url}"\nproject_id = {PROJECT_ID}\n'
        f'api_key = "{API_KEY}"\nmax_limit = {PAGE}\nmax_retry_wait = 5\n{extra}\n'
    )


@pytest.fixture(scope="module")
def gateway(gateway_factory, catalog_dsn, posthog) -> GatewayProcess:
    sources = hogql_source("posthog", posthog.url)
    sources += hogql_source("posthog_capped", posthog.url, 'statement_timeout = "1s"\nmax_rows = 5')
    sources += f'\n[catalog]\ndsn = "{catalog_dsn}"\n'
    return gateway_factory(sources_extra=sources)


@pytest.fixture(autouse=True)
def fresh_standin(request) -> None:
    if "posthog" in request.fixturenames:
        standin = request.getfixturevalue("posthog")
        standin.reset()
        standin.configure(max_limit=PAGE)


def query_posts(standin: PostHogStandIn) -> list[dict]:
    return [r for r in standin.requests() if r["method"] == "POST" and r.get("kind")]


# --- schema ------------------------------------------------------------------------------
def test_psql_lists_and_describes_posthog_tables(gateway):
    listing = psql(gateway, "-c", r"\dt", database="posthog")
    for table in ("events", "persons", "person_distinct_id2"):
        assert f" {table} " in listing, listing
    described = psql(gateway, "-c", r"\d+ events", database="posthog")
    for column, pg in [("uuid", "text"), ("timestamp", "timestamp with time zone")]:
        assert column in described and pg in described, described
    assert "PostHog type: json" in described  # properties, from DatabaseSchemaQuery
    # The lazy join `person` is a HogQL field, not a column.
    assert " person " not in described


# --- the issue's queries -----------------------------------------------------------------
def expected_counts(days: int) -> list[tuple[str, int]]:
    counts = Counter(e["event"] for e in EVENTS if e["timestamp"] > NOW - dt.timedelta(days=days))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def test_issue_example_through_psql(gateway):
    out = psql(
        gateway,
        "-At",
        "-c",
        "select event, count(*) from events where timestamp > now() - interval '7 days' "
        "group by 1 order by 2 desc, 1",
        database="posthog",
    )
    rows = [tuple(line.split("|")) for line in out.splitlines()]
    assert rows == [(event, str(count)) for event, count in expected_counts(7)]


def test_result_types_are_postgres_types(gateway):
    with connect(gateway, "posthog") as conn:
        cur = conn.execute(
            "select uuid, event, timestamp, count(*) over () from events"
            " order by timestamp desc limit 1"
        )
        # uuid: the ClickHouse type PostHog reports for the result (its schema only says
        # "string"); count(*) is bigint, as in PostgreSQL.
        assert [c.type_code for c in cur.description] == [2950, 25, 1184, 20]
        uuid, event, timestamp, total = cur.fetchone()
        assert (str(uuid), event, timestamp) == (
            EVENTS[0]["uuid"],
            EVENTS[0]["event"],
            EVENTS[0]["timestamp"],
        )
        assert total == len(EVENTS)


def test_binary_results_and_bound_parameters(gateway):
    with connect(gateway, "posthog", prepare_threshold=0) as conn:
        for _ in range(2):
            cur = conn.cursor(binary=True)
            cur.execute("select count(*), max(timestamp) from events where event = %s", ("signup",))
            count, latest = cur.fetchone()
            signups = [e for e in EVENTS if e["event"] == "signup"]
            assert count == len(signups)
            assert latest == max(e["timestamp"] for e in signups)
        hostile = "x' OR '1'='1"
        assert (
            conn.execute("select count(*) from events where event = %s", (hostile,)).fetchone()[0]
            == 0
        )


# --- property access -----------------------------------------------------------------------
def test_json_arrows_become_property_access(gateway, posthog):
    with connect(gateway, "posthog") as conn:
        rows = conn.execute(
            "select properties->>'$browser' as browser, count(*) from events group by 1 order by 1"
        ).fetchall()
        assert rows == [("Chrome", 600), ("Firefox", 600)]
        sent = query_posts(posthog)[-1]["query"]
        assert "properties.$browser" in sent, sent
        row = conn.execute(
            "select properties->'nested'->>'my key', properties #>> '{nested,my key}',"
            " properties->>'missing' from events where uuid = %s",
            (UUID(EVENTS[5]["uuid"]),),
        ).fetchone()
        assert row == ("v1", "v1", None)
        assert "properties.nested.`my key`" in query_posts(posthog)[-1]["query"]
        cur = conn.execute(
            "select distinct_id, person.properties->>'email' from events"
            " where properties->>'$browser' = %s order by timestamp desc limit 3",
            ("Firefox",),
        )
        assert [c.name for c in cur.description] == ["distinct_id", "?column?"]
        firefox = [e for e in EVENTS if e["properties"]["$browser"] == "Firefox"][:3]
        assert cur.fetchall() == [(e["distinct_id"], EMAILS[e["person_id"]]) for e in firefox]
        assert "person.properties.email" in query_posts(posthog)[-1]["query"]


# --- row caps ----------------------------------------------------------------------------------
def test_default_limit_is_added_and_explicit(gateway, posthog):
    with connect(gateway, "posthog") as conn:
        rows = conn.execute("select uuid from events").fetchall()
        assert len(rows) == 100
        assert query_posts(posthog)[-1]["query"].endswith("LIMIT 100 OFFSET 0")


def test_large_results_are_paged_with_limit_and_offset(gateway, posthog):
    with connect(gateway, "posthog") as conn:
        cur = conn.execute("select uuid from events order by timestamp desc limit 1100")
        assert [str(r[0]) for r in cur.fetchall()] == [e["uuid"] for e in EVENTS[:1100]]
        assert cur.statusmessage == "SELECT 1100"
        pages = [p["query"][p["query"].rindex("LIMIT") :] for p in query_posts(posthog)]
        assert pages == ["LIMIT 500 OFFSET 0", "LIMIT 500 OFFSET 500", "LIMIT 100 OFFSET 1000"]
        # An OFFSET shifts every page; the last page comes back short and ends the result.
        rows = conn.execute(
            "select uuid from events order by timestamp desc limit 900 offset 600"
        ).fetchall()
        assert [str(r[0]) for r in rows] == [e["uuid"] for e in EVENTS[600:]]
        # LIMIT ALL asks for every row: pages until PostHog runs out.
        assert conn.execute("select count(*) from (select uuid from events limit all) s").fetchone()
        rows = conn.execute("select uuid from events order by timestamp limit all").fetchall()
        assert len(rows) == len(EVENTS)


def test_max_rows_cuts_with_a_warning(gateway):
    with connect(gateway, "posthog_capped") as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        cur = conn.execute("select uuid from events order by timestamp desc limit 50")
        assert [str(r[0]) for r in cur.fetchall()] == [e["uuid"] for e in EVENTS[:5]]
        assert cur.statusmessage == "SELECT 5"
        assert any("max_rows" in n for n in notices)


# --- long queries ------------------------------------------------------------------------------
def test_async_queries_are_polled(gateway, posthog):
    posthog.configure(delay=1.0)
    with connect(gateway, "posthog") as conn:
        assert conn.execute("select count(*) from events").fetchone() == (len(EVENTS),)
    log = posthog.requests()
    post = query_posts(posthog)[-1]
    assert post["status"] == 202  # refresh=async: PostHog answered with a query status
    polls = [r for r in log if r["method"] == "GET" and r.get("id") == post["id"]]
    assert [p["status"] for p in polls][-1] == 200
    assert 202 in [p["status"] for p in polls]
    # An answer PostHog has at once (from its cache) comes back 200 and needs no polling.
    posthog.configure(delay=0, instant=True)
    with connect(gateway, "posthog") as conn:
        assert conn.execute("select count(*) from events").fetchone() == (len(EVENTS),)
    assert query_posts(posthog)[-1]["status"] == 200
    assert posthog.requests()[-1]["method"] == "POST"


def test_cancel_request_deletes_the_posthog_query(gateway, posthog):
    posthog.configure(delay=30)
    with connect(gateway, "posthog") as conn:
        threading.Timer(1.0, conn.cancel).start()
        started = time.monotonic()
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from events")
        assert info.value.sqlstate == "57014", str(info.value)
        assert "user request" in str(info.value)
        assert time.monotonic() - started < 10
        post = query_posts(posthog)[-1]
        deletes = [r for r in posthog.requests() if r["method"] == "DELETE"]
        assert [d["id"] for d in deletes] == [post["id"]]
        posthog.configure(delay=0)
        assert conn.execute("select count(*) from persons").fetchone() == (10,)


def test_client_disconnect_deletes_the_posthog_query(gateway, posthog):
    posthog.configure(delay=30)
    client = subprocess.Popen(
        ["psql", "-X", gateway.url("posthog"), "-c", "select count(*) from events"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PGSSLMODE": "require", "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 10
        while not query_posts(posthog) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        client.kill()
        client.wait(10)
    post = query_posts(posthog)[-1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(r["method"] == "DELETE" and r["id"] == post["id"] for r in posthog.requests()):
            return
        time.sleep(0.1)
    pytest.fail("the gateway did not cancel the PostHog query of a client that left")


def test_statement_timeout_deletes_the_posthog_query(gateway, posthog):
    posthog.configure(delay=30)
    with connect(gateway, "posthog_capped") as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from events")
        assert info.value.sqlstate == "57014"
        assert "statement timeout" in str(info.value)
    post = query_posts(posthog)[-1]
    assert any(r["method"] == "DELETE" and r["id"] == post["id"] for r in posthog.requests())


# --- rate limits -----------------------------------------------------------------------------
def test_429_is_retried_honouring_retry_after(gateway, posthog):
    posthog.configure(throttle=2, retry_after=1)
    with connect(gateway, "posthog") as conn:
        started = time.monotonic()
        assert conn.execute("select count(*) from persons").fetchone() == (10,)
        assert time.monotonic() - started >= 2  # two waits of Retry-After: 1
    statuses = [r["status"] for r in posthog.requests() if r["method"] == "POST"]
    assert statuses[:3] == [429, 429, 202]


def test_429_after_the_last_retry_is_53400(gateway, posthog):
    posthog.configure(throttle=100, retry_after=0)
    with connect(gateway, "posthog") as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from persons")
        assert info.value.sqlstate == "53400"
        assert "rate limited: gave up after 4 retries" in str(info.value)
        # A Retry-After longer than the source waits for fails at once.
        posthog.configure(throttle=100, retry_after=3600)
        started = time.monotonic()
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from persons")
        assert info.value.sqlstate == "53400"
        assert "retry in 3600s" in str(info.value)
        assert time.monotonic() - started < 5
        posthog.configure(throttle=0)
        assert conn.execute("select count(*) from persons").fetchone() == (10,)


# --- errors ----------------------------------------------------------------------------------
def test_auth_failures_are_clear_and_never_show_the_key(gateway, posthog):
    posthog.configure(api_key="phx_someone_else")
    with connect(gateway, "posthog") as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from events")
        assert info.value.sqlstate == "28000"
        message = str(info.value)
        assert "refused its API key (HTTP 401)" in message
        assert "invalid" in message  # PostHog's own detail
        assert API_KEY not in message and API_KEY not in (info.value.diag.message_hint or "")
        posthog.configure(api_key=API_KEY, project_id=1)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select count(*) from events")
        assert info.value.sqlstate == "42501"
        assert f"project {PROJECT_ID}" in str(info.value)
    assert API_KEY not in gateway.log()


def test_a_wrong_key_at_start_up_is_logged_without_the_key(gateway_factory, catalog_dsn, posthog):
    wrong = "phx_wrong_key_that_must_not_be_logged"
    sources = hogql_source("posthog_wrong_key", posthog.url).replace(API_KEY, wrong)
    started = gateway_factory(sources_extra=sources + f'\n[catalog]\ndsn = "{catalog_dsn}"\n')
    log = started.log()
    assert 'PostHog source "posthog_wrong_key" refused its API key (HTTP 401)' in log
    assert wrong not in log
    started.stop()


def test_posthog_query_errors_reach_the_client(gateway, posthog):
    with connect(gateway, "posthog") as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("select event from events where toDate(event) > now()")
        assert info.value.sqlstate in ("42000", "42883")
        assert conn.execute("select count(*) from persons").fetchone() == (10,)


# --- HogQL passed through ----------------------------------------------------------------------
def _source(posthog: PostHogStandIn, tmp_path: Path, dialect: str = "hogql") -> HogQLSource:
    config = parse_config(
        {
            "sources": {
                "ph": {
                    "kind": "hogql",
                    "host": posthog.url,
                    "project_id": PROJECT_ID,
                    "api_key": API_KEY,
                    "dialect": dialect,
                }
            }
        },
        tmp_path,
    )
    return HogQLSource(config.sources["ph"])


def test_hogql_passthrough_runs_as_written(posthog, tmp_path):
    source = _source(posthog, tmp_path)
    assert source.dialect == "hogql"

    async def run(text: str) -> tuple[list, list]:
        translation = source.passthrough(text)
        rows = []
        async for result in source.stream(translation, Limits(), "q1"):
            rows.extend(result.rows)
            types = result.types
        return rows, types

    rows, types = asyncio.run(
        run(
            "SELECT properties.$browser, person.properties.email, count() FROM events"
            " WHERE distinct_id = 'user1' GROUP BY 1, 2 ORDER BY 1;"
        )
    )
    assert rows == [["Firefox", "user1@example.com", "120"]]
    assert types[2] == "UInt64"
    assert query_posts(posthog)[-1]["query"].startswith("SELECT properties.$browser")
    # Without a LIMIT, PostHog's own default applies to HogQL passed through.
    rows, _ = asyncio.run(run("SELECT uuid FROM events"))
    assert len(rows) == 100
    with pytest.raises(Exception, match="multiple HogQL statements"):
        source.passthrough("SELECT 1; SELECT 2")
    with pytest.raises(Exception, match="PostHog query failed"):
        asyncio.run(run("SELECT nosuchcolumn FROM events"))


@pytest.fixture(scope="module")
def hogql_gateway(gateway_factory, catalog_dsn, posthog) -> GatewayProcess:
    sources = hogql_source("posthog", posthog.url)
    sources += hogql_source("posthog_hogql", posthog.url, 'dialect = "hogql"')
    sources += f'\n[catalog]\ndsn = "{catalog_dsn}"\n'
    return gateway_factory(sources_extra=sources)


def test_set_metahog_dialect_passes_hogql_through(hogql_gateway):
    out = psql(
        hogql_gateway,
        "-At",
        "-c",
        "SET metahog.dialect = 'hogql'",
        "-c",
        "SELECT properties.$browser, count() FROM events GROUP BY 1 ORDER BY 1",
        "-c",
        "RESET metahog.dialect",
        "-c",
        "select properties->>'$browser', count(*) from events group by 1 order by 1",
        database="posthog",
    )
    assert out.splitlines() == [
        "SET",
        "Chrome|600",
        "Firefox|600",
        "RESET",
        "Chrome|600",
        "Firefox|600",
    ]
    with connect(hogql_gateway, "posthog") as conn:
        conn.execute("set metahog.dialect = 'hogql'")
        email = conn.execute(
            "select person.properties.email from events where distinct_id = 'user3' limit 1"
        ).fetchone()
        assert email == ("user3@example.com",)
        assert conn.execute("show metahog.dialect").fetchone() == ("hogql",)
        # SET LOCAL and ROLLBACK behave as in PostgreSQL: the setting lives at home.
        conn.execute("begin")
        conn.execute("set local metahog.dialect = 'postgres'")
        assert conn.execute("select count(*) from events").fetchone() == (len(EVENTS),)
        conn.execute("rollback")
        assert conn.execute("select count() from events").fetchone() == (len(EVENTS),)


def test_hogql_as_written_over_the_extended_protocol(hogql_gateway):
    """JDBC and BI tools send every statement with Parse/Bind/Execute; psycopg does so for
    binary results and prepared statements."""
    query = "select properties.$browser, count() from events group by 1 order by 1"
    with connect(hogql_gateway, "posthog") as conn:
        conn.execute("set metahog.dialect = 'hogql'")
        assert conn.execute(query, binary=True).fetchall() == [("Chrome", 600), ("Firefox", 600)]
        for _ in range(3):  # prepared on the server from the second run
            assert conn.execute(query, prepare=True).fetchall()[0] == ("Chrome", 600)
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="no bound parameters"):
            conn.execute("select count() from events where event = %s", ["signup"])
        # A catalog statement in the extended protocol still goes home.
        assert conn.execute(
            "select current_setting('metahog.dialect')", binary=True
        ).fetchone() == ("hogql",)


def test_source_dialect_hogql_keeps_catalog_queries_at_home(hogql_gateway):
    assert " events " in psql(hogql_gateway, "-c", r"\dt", database="posthog_hogql")
    out = psql(
        hogql_gateway,
        "-At",
        "-c",
        "SELECT event, count() FROM events GROUP BY event ORDER BY event",
        database="posthog_hogql",
    )
    assert out.splitlines() == ["$autocapture|400", "$pageview|400", "signup|400"]


@pytest.mark.parametrize(
    "sql, sqlstate",
    [
        ("set statement_timeout = 0", "42501"),
        # HogQL that is not PostgreSQL: judged by the ClickHouse guard before PostHog sees it.
        ("select properties.$browser from events settings readonly = 0", "42501"),
        ("select properties.$browser from events format JSON", "42501"),
        ("select * from url('http://127.0.0.1:9/x', CSV, 'a String')", None),
        ("select properties.$browser from events into outfile '/tmp/x'", "25006"),
        ("insert into events select * from events", "25006"),
    ],
)
def test_hogql_mode_keeps_the_guard_refusals(hogql_gateway, sql, sqlstate):
    with connect(hogql_gateway, "posthog_hogql") as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql)
        if sqlstate is not None:
            assert info.value.sqlstate == sqlstate, str(info.value)
        # Still usable, still reading PostHog.
        assert conn.execute("select count() from events").fetchone()[0] > 0


# --- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, message",
    [
        ({"auth": "oauth"}, "auth: expected one of api_key, passthrough"),
        ({"dialect": "mysql"}, "dialect: expected one of postgres, hogql"),
        ({"api_key": ""}, "api_key: required"),
        ({"default_limit": 10, "max_limit": 5}, "default_limit: must not exceed max_limit"),
        ({"host": "us.posthog.com"}, "host: expected an http:// or https:// URL"),
        ({"url": "http://x"}, "sources.ph.url: unknown key"),
    ],
)
def test_hogql_config_errors_name_the_key(extra, message):
    table = {"kind": "hogql", "host": "https://us.posthog.com", "project_id": 1, "api_key": "k"}
    with pytest.raises(ConfigError, match=message):
        parse_config({"sources": {"ph": table | extra}})


def test_hogql_config_keeps_the_key_secret():
    config = parse_config(
        {
            "sources": {
                "ph": {
                    "kind": "hogql",
                    "host": "https://us.posthog.com/",
                    "project_id": 12345,
                    "api_key": "phx_secret",
                }
            }
        }
    )
    target = config.sources["ph"].hogql
    assert target is not None
    assert (target.host, target.default_limit, target.max_limit) == (
        "https://us.posthog.com",
        100,
        50_000,
    )
    assert "phx_secret" not in repr(config)
