"""A stand-in for PostHog's Query API, for the tests: PostHog's cloud cannot run here.

It implements the documented contract of the endpoints MetaHog uses, and only that:

- `POST /api/projects/{project_id}/query/` with `{"query": {"kind": "HogQLQuery", "query": ...},
  "refresh": ..., "client_query_id": ...}`, authenticated by a personal API key as a Bearer
  token (401 without one or with a wrong one, 403 for another project), in DRF's error shape
  `{"type", "code", "detail", "attr"}`. The answer is a HogQLQueryResponse: `columns`, `types`
  (`[[name, ClickHouse type], ...]`), `results` (rows of JSON values, date-times as ISO 8601),
  `hasMore`, `limit`, `offset`, `hogql`, `clickhouse`, `timings`, `modifiers`...
- Async execution (`refresh` = "async" and friends, or the legacy `"async": true`): 202 with a
  `query_status` (id, query_async, team_id, complete, error, error_message, results, ...),
  polled with `GET /query/{id}/` (202 running, 200 complete, 400 failed with a message).
  `DELETE /query/{id}/` cancels, 200 with `{"message": ...}`.
- Rate limiting: a configurable number of 429 answers with a Retry-After header.
- `{"kind": "DatabaseSchemaQuery"}`: `{"tables": {name: {"type": "posthog", "id", "name",
  "fields": {name: {"name", "hogql_value", "type", "schema_valid", ...}}}}, "joins": []}`.
- Row caps as PostHog applies them to HogQL: 100 rows when the query has no LIMIT, and at most
  `max_limit` (50,000 in PostHog; configurable here so tests can page cheaply).

HogQL runs on chDB, with PostHog's table layout: events (uuid, event, distinct_id, timestamp,
properties as a JSON string, person_id), persons, person_distinct_id2. HogQL's own syntax is
rewritten to ClickHouse SQL the way PostHog compiles it: `properties.$browser` and
`person.properties.email` become JSON extraction (NULL when missing, strings unquoted). That is
all of HogQL this stand-in knows; the rest is ClickHouse SQL already.

chDB allows one data directory per process, so the server runs in a subprocess of its own
(`PostHogStandIn.start()`); tests steer it and read what it saw through `/_standin/` endpoints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_KEY = "phx_standin_personal_api_key_0123456789"
PROJECT_ID = 4242
EVENT_NAMES = ["$pageview", "$autocapture", "signup"]
EVENT_COUNT = 1200
PERSON_COUNT = 10
ASYNC_REFRESH = {"async", "force_async", "lazy_async", "async_except_on_cache_miss"}


# --- the dataset (shared with the tests, which compute expected answers from it) -------------
def person_uuid(index: int) -> str:
    return f"00000000-0000-4000-9000-{index:012d}"


def events(now: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    for n in range(EVENT_COUNT):
        rows.append(
            {
                "uuid": f"00000000-0000-4000-8000-{n:012d}",
                "event": EVENT_NAMES[n % 3],
                "distinct_id": f"user{n % PERSON_COUNT}",
                "timestamp": now - dt.timedelta(hours=n),
                "properties": {
                    "$browser": ["Chrome", "Firefox"][n % 2],
                    "price": n % 7,
                    "nested": {"my key": f"v{n % 4}"},
                },
                "person_id": person_uuid(n % PERSON_COUNT),
            }
        )
    return rows


def persons() -> list[dict[str, Any]]:
    return [
        {"id": person_uuid(i), "properties": {"email": f"user{i}@example.com", "plan": "free"}}
        for i in range(PERSON_COUNT)
    ]


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def setup_statements(now: dt.datetime) -> list[str]:
    event_values = ", ".join(
        "({}, {}, {}, {}, {}, {})".format(
            _sql_string(e["uuid"]),
            _sql_string(e["event"]),
            _sql_string(e["distinct_id"]),
            _sql_string(e["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f")),
            _sql_string(json.dumps(e["properties"])),
            _sql_string(e["person_id"]),
        )
        for e in events(now)
    )
    person_values = ", ".join(
        f"({_sql_string(p['id'])}, {_sql_string(json.dumps(p['properties']))},"
        f" '2024-01-01 00:00:00', true)"
        for p in persons()
    )
    pdi_values = ", ".join(
        f"('user{i}', {_sql_string(person_uuid(i))}, 1, false)" for i in range(PERSON_COUNT)
    )
    return [
        "CREATE TABLE persons (id UUID, properties String, created_at DateTime64(6, 'UTC'),"
        " is_identified Bool) ENGINE = MergeTree ORDER BY id",
        f"INSERT INTO persons VALUES {person_values}",
        # person.properties on events: PostHog joins persons for the query; here a Join table
        # read with joinGet stands for that join.
        "CREATE TABLE standin_person_properties (id UUID, properties String)"
        " ENGINE = Join(ANY, LEFT, id)",
        "INSERT INTO standin_person_properties SELECT id, properties FROM persons",
        "CREATE TABLE events (uuid UUID, event String, distinct_id String,"
        " timestamp DateTime64(6, 'UTC'), properties String, person_id UUID,"
        " standin_person_properties String"
        " ALIAS joinGet('standin_person_properties', 'properties', person_id))"
        " ENGINE = MergeTree ORDER BY timestamp",
        f"INSERT INTO events VALUES {event_values}",
        "CREATE TABLE person_distinct_id2 (distinct_id String, person_id UUID, version Int64,"
        " is_deleted Bool) ENGINE = MergeTree ORDER BY distinct_id",
        f"INSERT INTO person_distinct_id2 VALUES {pdi_values}",
    ]


TABLES = ("events", "persons", "person_distinct_id2")


# --- HogQL -> ClickHouse ----------------------------------------------------------------------
_KEY = r"(?:[$A-Za-z_][$\w]*|`(?:[^`\\]|\\.)*`)"
_PROPERTY = re.compile(rf"(?<![\w$.])((?:[A-Za-z_]\w*\.)*?)properties((?:\.{_KEY})+)")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")


def _keys(path: str) -> list[str]:
    keys = re.findall(rf"\.({_KEY})", path)
    return [k[1:-1].replace("\\`", "`").replace("\\\\", "\\") if k[0] == "`" else k for k in keys]


def _property(match: re.Match[str]) -> str:
    prefix, path = match.group(1), match.group(2)
    if prefix.endswith("person."):
        base = prefix[: -len("person.")] + "standin_person_properties"
    else:
        base = f"{prefix}properties"
    keys = ", ".join(_sql_string(key) for key in _keys(path))
    # As PostHog prints a property: the raw JSON, NULL when missing or null, quotes removed.
    raw = f"JSONExtractRaw({base}, {keys})"
    return f"replaceRegexpAll(nullIf(nullIf({raw}, ''), 'null'), '^\"|\"$', '')"


def hogql_to_clickhouse(hogql: str) -> str:
    """HogQL property access rewritten, outside string literals."""
    out, pos = [], 0
    for literal in _STRING.finditer(hogql):
        out.append(_PROPERTY.sub(_property, hogql[pos : literal.start()]))
        out.append(literal.group(0))
        pos = literal.end()
    out.append(_PROPERTY.sub(_property, hogql[pos:]))
    return "".join(out)


def has_outer_limit(sql: str) -> bool:
    import sqlglot

    try:
        tree = sqlglot.parse_one(sql, read="clickhouse")
    except Exception:
        return False
    return tree.args.get("limit") is not None


# --- the server -------------------------------------------------------------------------------
@dataclass
class Job:
    id: str
    team_id: int
    kind: str
    complete: bool = False
    error: bool = False
    error_message: str | None = None
    results: dict[str, Any] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    start_time: str = field(default_factory=lambda: _iso(dt.datetime.now(dt.UTC)))
    end_time: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "query_async": True,
            "team_id": self.team_id,
            "complete": self.complete,
            "error": self.error,
            "error_message": self.error_message,
            "results": self.results,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "expiration_time": None,
            "task_id": None,
            "query_progress": None,
        }


def _iso(moment: dt.datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class QueryFailed(Exception):
    pass


class StandIn:
    def __init__(self, data_dir: Path, now: dt.datetime) -> None:
        import chdb.session

        self.session = chdb.session.Session(str(data_dir))
        for statement in setup_statements(now):
            self.session.query(statement)
        self.lock = threading.Lock()  # one chDB query at a time
        self.jobs: dict[str, Job] = {}
        self.log: list[dict[str, Any]] = []
        self.control: dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        self.log.clear()
        self.control.update(
            throttle=0,
            retry_after=1,
            delay=0.0,
            max_limit=50_000,
            default_limit=100,
            api_key=API_KEY,
            user_keys=[],
            foreign_keys=[],
            project_id=PROJECT_ID,
            # Answer async requests at once with 200, as PostHog does from its cache.
            instant=False,
        )

    # --- running queries --------------------------------------------------------------------
    def execute(self, query: dict[str, Any], job: Job) -> dict[str, Any]:
        deadline = time.monotonic() + float(self.control["delay"])
        while time.monotonic() < deadline:
            if job.cancelled.wait(0.02):
                raise QueryFailed("Query cancelled")
        if query.get("kind") == "DatabaseSchemaQuery":
            return self.schema()
        hogql = str(query.get("query", ""))
        clickhouse = hogql_to_clickhouse(hogql)
        limited = has_outer_limit(clickhouse)
        cap = int(self.control["max_limit"] if limited else self.control["default_limit"])
        sql = (
            f"SELECT * FROM (\n{clickhouse}\n) LIMIT {cap + 1} SETTINGS readonly = 1,"
            " output_format_json_quote_64bit_integers = 0,"
            " output_format_json_quote_decimals = 0"
        )
        started = time.monotonic()
        with self.lock:
            if job.cancelled.is_set():
                raise QueryFailed("Query cancelled")
            try:
                raw = self.session.query(sql, "JSONCompact")
            except Exception as exc:
                raise QueryFailed(str(exc).strip().splitlines()[0]) from None
        answer = _last_document(raw.bytes().decode(errors="replace"))
        meta = answer.get("meta", [])
        rows = [_json_row(row, meta) for row in answer.get("data", [])]
        return {
            "columns": [m["name"] for m in meta],
            "types": [[m["name"], m["type"]] for m in meta],
            "results": rows[:cap],
            "hasMore": len(rows) > cap,
            "limit": cap,
            "offset": 0,
            "hogql": hogql,
            "clickhouse": clickhouse,
            "query": hogql,
            "timings": [{"k": "./execute", "t": time.monotonic() - started}],
            "modifiers": {},
            "error": None,
            "explain": None,
            "metadata": None,
            "is_cached": False,
        }

    def schema(self) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        for table in TABLES:
            with self.lock:
                raw = self.session.query(
                    "SELECT name, type FROM system.columns WHERE database = currentDatabase()"
                    f" AND table = '{table}' AND default_kind != 'ALIAS' ORDER BY position",
                    "JSONCompact",
                )
            fields = {}
            for name, ch_type in json.loads(raw.bytes())["data"]:
                kind = _field_type(name, ch_type)
                fields[name] = {
                    "name": name,
                    "hogql_value": name,
                    "type": kind,
                    "schema_valid": True,
                    "table": None,
                    "fields": None,
                    "chain": None,
                }
            if table == "events":
                fields["person"] = {
                    "name": "person",
                    "hogql_value": "person",
                    "type": "lazy_table",
                    "schema_valid": True,
                    "table": "persons",
                    "fields": ["id", "created_at", "properties", "is_identified"],
                    "chain": None,
                }
            tables[table] = {"type": "posthog", "id": table, "name": table, "fields": fields}
        return {"tables": tables, "joins": []}

    def run_job(self, query: dict[str, Any], job: Job) -> None:
        try:
            job.results = self.execute(query, job)
        except QueryFailed as exc:
            job.error, job.error_message = True, str(exc)
        except Exception:  # a stand-in bug: PostHog's internal error, without a message
            job.error = True
        job.complete = not job.error
        job.end_time = _iso(dt.datetime.now(dt.UTC))


def _last_document(text: str) -> dict[str, Any]:
    """The last JSON document of chDB's output: after a failed query, chDB 4.4 leaves that
    query's partial output in front of the next query's."""
    decoder = json.JSONDecoder()
    answer: dict[str, Any] = {}
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return answer
        try:
            answer, pos = decoder.raw_decode(text, pos)
        except ValueError:
            failure = re.search(r"Code: \d+\..*", text[pos:])
            raise QueryFailed(failure.group(0) if failure else "query failed") from None


def _field_type(name: str, ch_type: str) -> str:
    base = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", ch_type)
    if name == "properties":
        return "json"
    if base.startswith(("Int", "UInt")):
        return "integer"
    if base.startswith("Float"):
        return "float"
    if base.startswith("Decimal"):
        return "decimal"
    if base.startswith("DateTime"):
        return "datetime"
    if base.startswith("Date"):
        return "date"
    if base == "Bool":
        return "boolean"
    if base.startswith("Array"):
        return "array"
    return "string"


def _json_row(row: list[Any], meta: list[dict[str, str]]) -> list[Any]:
    """Values as PostHog sends them: date-times as ISO 8601 in their zone (UTC here)."""
    out = []
    for value, column in zip(row, meta, strict=True):
        if isinstance(value, str) and "DateTime" in column["type"]:
            moment = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
            value = _iso(moment)
        out.append(value)
    return out


def make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    path_re = re.compile(r"^/api/projects/(?P<project>[^/]+)/query/(?:(?P<id>[^/]+)/)?$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            return json.loads(data) if data else {}

        def _record(self, status: int, **extra: Any) -> None:
            # Which key asked, by its last characters, so tests can tell users apart.
            key = getattr(self, "key_suffix", None)
            standin.log.append(
                {"method": self.command, "path": self.path, "status": status, "key": key, **extra}
            )

        def do_GET(self) -> None:
            if self.path == "/_standin/log":
                self._send(200, standin.log)
                return
            self._api()

        def do_DELETE(self) -> None:
            self._api()

        def do_POST(self) -> None:
            if self.path == "/_standin/control":
                standin.control.update(self._body())
                self._send(200, standin.control)
                return
            if self.path == "/_standin/reset":
                standin.reset()
                self._send(200, standin.control)
                return
            self._api()

        def _error(self, status: int, kind: str, code: str, detail: str, **log: Any) -> None:
            headers = {}
            if status == 429:
                headers["Retry-After"] = str(standin.control["retry_after"])
            self._record(status, **log)
            self._send(
                status, {"type": kind, "code": code, "detail": detail, "attr": None}, headers
            )

        def _api(self) -> None:
            self.key_suffix: str | None = None
            body = self._body() if self.command == "POST" else {}
            match = path_re.match(self.path.split("?")[0])
            if match is None:
                self._error(404, "invalid_request", "not_found", "Not found.")
                return
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                self._error(
                    401,
                    "authentication_error",
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                )
                return
            key = auth.removeprefix("Bearer ")
            # Personal API keys belong to users; any of them may query the project, except
            # `foreign_keys`, whose users are not members of it (403).
            valid = {standin.control["api_key"], *standin.control["user_keys"]}
            foreign = set(standin.control["foreign_keys"])
            if key not in valid | foreign:
                self._error(
                    401,
                    "authentication_error",
                    "authentication_failed",
                    "Personal API key found in request Authorization header is invalid.",
                )
                return
            self.key_suffix = key[-6:]
            if match["project"] != str(standin.control["project_id"]) or key in foreign:
                self._error(
                    403,
                    "authentication_error",
                    "permission_denied",
                    "You don't have access to the project.",
                )
                return
            if standin.control["throttle"] > 0:
                standin.control["throttle"] -= 1
                wait = standin.control["retry_after"]
                self._error(
                    429,
                    "throttled_error",
                    "throttled",
                    f"Request was throttled. Expected available in {wait} seconds.",
                )
                return
            if self.command == "POST" and match["id"] is None:
                self._create(body)
            elif self.command == "GET" and match["id"] is not None:
                self._retrieve(match["id"])
            elif self.command == "DELETE" and match["id"] is not None:
                self._destroy(match["id"])
            else:
                self._error(405, "invalid_request", "method_not_allowed", "Method not allowed.")

        def _create(self, body: dict[str, Any]) -> None:
            query = body.get("query")
            if not isinstance(query, dict) or query.get("kind") not in (
                "HogQLQuery",
                "DatabaseSchemaQuery",
            ):
                self._error(400, "validation_error", "invalid_input", "Unsupported query kind.")
                return
            job = Job(str(body.get("client_query_id") or uuid.uuid4().hex), PROJECT_ID, "")
            log = {"kind": query["kind"], "query": query.get("query"), "id": job.id}
            refresh = body.get("refresh")
            asynchronous = refresh in ASYNC_REFRESH or body.get("async") is True
            if asynchronous and not standin.control["instant"]:
                standin.jobs[job.id] = job
                threading.Thread(target=standin.run_job, args=(query, job), daemon=True).start()
                self._record(202, **log)
                self._send(202, {"query_status": job.status()})
                return
            try:
                result = standin.execute(query, job)
            except QueryFailed as exc:
                self._error(400, "validation_error", "query_error", str(exc), **log)
                return
            self._record(200, **log)
            self._send(200, result)

        def _retrieve(self, job_id: str) -> None:
            job = standin.jobs.get(job_id)
            if job is None:
                self._error(404, "invalid_request", "not_found", "Query not found.")
                return
            status = 200 if job.complete else 202
            if job.error:
                status = 400 if job.error_message else 500
            self._record(status, id=job_id)
            self._send(status, {"query_status": job.status()})

        def _destroy(self, job_id: str) -> None:
            job = standin.jobs.get(job_id)
            if job is not None:
                job.cancelled.set()
            self._record(200, id=job_id)
            self._send(200, {"message": "Query cancelled" if job else "Query not found"})

    return Handler


# --- running it from the tests -----------------------------------------------------------------
class PostHogStandIn:
    """The stand-in server in a subprocess; `url` is its base URL."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> PostHogStandIn:
        data = tempfile.mkdtemp(prefix="metahog-posthog-")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.posthog_standin", data, self.now.isoformat()],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the PostHog stand-in did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **control: Any) -> None:
        self._post("/_standin/control", control)

    def reset(self) -> None:
        self._post("/_standin/reset", {})

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/_standin/log", timeout=10) as response:
            return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("now")
    args = parser.parse_args()
    standin = StandIn(args.data_dir, dt.datetime.fromisoformat(args.now))
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(standin))
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
