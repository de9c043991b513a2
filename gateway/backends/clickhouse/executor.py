"""Run one already-guarded ClickHouse SELECT with the gateway's own settings.

Two kinds of source share one result shape and one error type:

- `HttpExecutor`: a ClickHouse server over its HTTP interface. The settings go in the URL's
  query string, which the gateway builds; the query text is the POST body. ClickHouse refuses
  any setting change in the query (`SET`, a `SETTINGS` clause) when `readonly=1`, with code 164.
- `ChdbExecutor`: embedded chDB, in-process. chDB has no URL, so the query is wrapped as
  `SELECT * FROM (query) SETTINGS ...`. That is safe because the guard (`Guard("clickhouse")`)
  refuses user SETTINGS and FORMAT clauses, so the gateway's clause is the only one; and with
  readonly=1 ClickHouse refuses a setting change in a subquery's SETTINGS anyway (code 164).
  Only SELECT-shaped queries run there (SHOW, DESCRIBE, EXPLAIN do not parse as a subquery).

The output format is TabSeparatedWithNamesAndTypes: every ClickHouse version has it (the Debian
18.16 server lacks the JSON*EachRowWithNamesAndTypes formats), it carries names and types, and
values arrive in ClickHouse's own text form, which is what a PostgreSQL text-format DataRow
needs anyway. Values are `str`, or None for NULL.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import math
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from gateway.config import Limits
from gateway.secret import Secret

FORMAT = "TabSeparatedWithNamesAndTypes"

# ClickHouse's error codes that the gateway maps to PostgreSQL errors or notices.
READONLY = 164
TOO_SLOW = 160
TIMEOUT_EXCEEDED = 159
TOO_MANY_ROWS = 158
TOO_MANY_ROWS_OR_BYTES = 396
MEMORY_LIMIT_EXCEEDED = 241


def query_settings(
    limits: Limits, *, max_rows_to_read: int, max_memory_usage: int
) -> dict[str, str]:
    """The settings the gateway puts on every ClickHouse query.

    `max_rows` is enforced as it is for PostgreSQL sources: the client gets the first
    `max_rows` rows and a notice, not an error. So ClickHouse is asked for `max_rows + 1` rows
    with `result_overflow_mode = 'break'`, and the executor cuts at `max_rows` and reports the
    result as truncated when more arrived. `break` alone would not do: it stops at block
    granularity and silently (with max_result_rows=11, a 100-row block comes back whole), so
    only the one extra row tells the gateway the result was cut. `throw` would fail the whole
    query with code 396 instead of returning the rows. The overshoot is at most one block
    (max_block_size rows, 65536 by default), bounded by max_memory_usage.
    """
    settings = {
        "readonly": "1",
        "max_rows_to_read": str(max_rows_to_read),
        "max_memory_usage": str(max_memory_usage),
    }
    if limits.statement_timeout_ms is not None:
        # Whole seconds: old servers (18.x) take an integer. Round up so a limit is never
        # stricter than configured, and never 0, which would mean "no limit".
        settings["max_execution_time"] = str(max(1, math.ceil(limits.statement_timeout_ms / 1000)))
    if limits.max_rows is not None:
        settings["max_result_rows"] = str(limits.max_rows + 1)
        settings["result_overflow_mode"] = "break"
    return settings


def _row_cap(settings: dict[str, str]) -> int | None:
    """The rows the client may get: one less than the max_result_rows of `query_settings`."""
    limit = int(settings.get("max_result_rows", "0"))  # 0: no limit, as in ClickHouse
    if settings.get("result_overflow_mode") == "break" and limit > 0:
        return limit - 1
    return None


class ClickHouseError(Exception):
    """An error reported by ClickHouse, with its numeric code, or code 0 when the failure was
    not ClickHouse's (a connection error, an unreadable answer)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"ClickHouse error {code}: {message}")
        self.code = code
        self.message = message


# New servers and chDB: "Code: 164. DB::Exception: text. (READONLY) (version 24.1)".
# Old servers (18.x): "Code: 164, e.displayText() = DB::Exception: text, e.what() = DB::Exception".
_ERROR = re.compile(
    r"Code: (?P<code>\d+)[.,] (?:e\.displayText\(\) = )?(?:DB::Exception: )?(?P<message>.*?)"
    r"(?:, e\.what\(\) = DB::Exception)?(?: \(version [^)]*\))?\s*$",
    re.S,
)


def parse_error(text: str, *, secrets: tuple[str, ...] = ()) -> ClickHouseError:
    """A ClickHouseError from ClickHouse's exception text, with any secret blanked out."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    match = _ERROR.search(text.strip())
    if match is None:
        return ClickHouseError(0, text.strip()[:1000])
    return ClickHouseError(int(match["code"]), match["message"].strip())


@dataclass
class Result:
    names: list[str]
    types: list[str]
    rows: list[list[str | None]] = field(default_factory=list)
    # More rows than max_rows came back and the rest were cut: the gateway sends a notice.
    truncated: bool = False


_UNESCAPE = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\", "'": "'"}


def _unescape(value: str) -> str | None:
    if value == "\\N":
        return None
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m[1], m[1]), value)


def _split(line: str) -> list[str | None]:
    return [_unescape(value) for value in line.split("\t")]


def parse_tsv(lines: list[str], cap: int | None = None) -> Result:
    """Parse TabSeparatedWithNamesAndTypes output, one line per item (newline stripped), keeping
    at most `cap` rows."""
    if len(lines) < 2:
        raise ClickHouseError(0, "ClickHouse answer has no names and types header")
    names = [name or "" for name in _split(lines[0])]
    types = [type_ or "" for type_ in _split(lines[1])]
    body = lines[2:]
    truncated = cap is not None and len(body) > cap
    rows = [_split(line) for line in (body[:cap] if truncated else body)]
    if any(len(row) != len(names) for row in rows):
        raise ClickHouseError(0, "ClickHouse answer has rows of the wrong width")
    return Result(names, types, rows, truncated)


class HttpExecutor:
    """A ClickHouse server over HTTP, from a URL such as
    `http://user:pass@host:8123/?database=posthog`. The credentials are kept as Secrets and
    sent in an Authorization header; they never appear in a repr or an error."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("ClickHouse url must start with http:// or https://")
        self._https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (8443 if self._https else 8123)
        self._user = Secret(unquote(parts.username or "default"))
        self._password = Secret(unquote(parts.password or ""))
        # URL parameters of the source (database=...) come first; the gateway's settings
        # are applied after them and win.
        self._params = dict(parse_qsl(parts.query))
        # Credentials given as URL parameters are credentials too.
        if "user" in self._params:
            self._user = Secret(self._params.pop("user"))
        if "password" in self._params:
            self._password = Secret(self._params.pop("password"))
        self.connect_timeout = connect_timeout

    def __repr__(self) -> str:
        return f"HttpExecutor(host={self.host!r}, port={self.port})"

    async def execute(self, sql: str, settings: dict[str, str]) -> Result:
        """Run `sql` with `settings` (from `query_settings`) in a worker thread."""
        return await asyncio.to_thread(self._execute, sql, settings)

    def _execute(self, sql: str, settings: dict[str, str]) -> Result:
        # The gateway's settings replace any of the same name from the source URL. A dict holds
        # each key once, so the query string never repeats one (ClickHouse would take the last).
        params = {**self._params, **settings}
        # wait_end_of_query: the server buffers the result and only then sends the status, so
        # an error (a limit hit midway) is always an HTTP 500, never text after a 200 header.
        params |= {"default_format": FORMAT, "wait_end_of_query": "1"}
        timeout = float(settings.get("max_execution_time", 300)) + self.connect_timeout
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout)
        secrets = (self._password.reveal(),)
        try:
            token = f"{self._user.reveal()}:{self._password.reveal()}".encode()
            headers = {
                "Authorization": "Basic " + base64.b64encode(token).decode(),
                "Content-Type": "text/plain; charset=UTF-8",
            }
            conn.request("POST", "/?" + urlencode(params), body=sql.encode(), headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise parse_error(response.read().decode(errors="replace"), secrets=secrets)
            # Header lines, then at most cap + 1 rows: one more than the cap says "truncated".
            cap = _row_cap(settings)
            lines: list[str] = []
            for line in iter(response.readline, b""):
                lines.append(line.decode().removesuffix("\n"))
                if cap is not None and len(lines) > cap + 2:
                    break
            return parse_tsv(lines, cap)
        except ClickHouseError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            # Connection errors name the host, never the credentials; blank them anyway.
            raise parse_error(f"{type(exc).__name__}: {exc}", secrets=secrets) from None
        finally:
            conn.close()


class ChdbExecutor:
    """Embedded chDB on a data directory, in-process.

    chDB runs one embedded server per process, on one data directory: opening a second
    directory in the same process, or a directory that another process has open, fails with
    code 36 (measured with chDB 4.4). So a gateway process serves at most one chDB source, with
    one ChdbExecutor shared by every session; its queries are serialized.

    Trap: after a query fails, chDB (4.x here) returns that query's partial output in front of
    the next query's result. So after every failure the executor runs a sentinel query until its
    answer is exactly the sentinel, which drains the leftover before any real query runs.
    """

    _SENTINEL_SQL = "SELECT 'metahog-sentinel' AS s"
    _SENTINEL = "s\nString\nmetahog-sentinel\n"

    def __init__(self, path: str) -> None:
        import chdb.session  # chDB is optional: only sources of this kind need it

        self.path = path
        try:
            self._session = chdb.session.Session(path)
        except Exception as exc:
            error = parse_error(str(exc))
            raise ClickHouseError(
                error.code,
                f"cannot open chDB data directory {path}: {error.message or 'in use'} (a chDB"
                " directory can be open in one process at a time, one directory per process)",
            ) from None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChdbExecutor(path={self.path!r})"

    def close(self) -> None:
        self._session.close()

    async def execute(self, sql: str, settings: dict[str, str]) -> Result:
        return await asyncio.to_thread(self._execute, sql, settings)

    def _execute(self, sql: str, settings: dict[str, str]) -> Result:
        clause = ", ".join(f"{name} = {_literal(value)}" for name, value in settings.items())
        # The query is wrapped, not just followed by the clause: a SETTINGS clause after
        # `SELECT ... UNION ALL SELECT ...` binds only the last SELECT of the union (measured:
        # max_result_rows=5 let 11 rows through), and after `INSERT ... VALUES` it is read as
        # data. Wrapped, the clause is the outermost query's and covers all of it, and anything
        # that is not a query fails to parse. The newlines keep a trailing `--` comment from
        # swallowing the parenthesis.
        text = f"SELECT * FROM (\n{sql.rstrip().removesuffix(';')}\n) SETTINGS {clause}"
        with self._lock:
            try:
                output = self._session.query(text, FORMAT).bytes().decode()
            except Exception as exc:
                self._drain()
                raise parse_error(str(exc)) from None
        # Split on "\n" only: TSV escapes it in values, but not \x0b, \x1c or \u2028, which
        # str.splitlines would also split on.
        return parse_tsv(output.removesuffix("\n").split("\n"), _row_cap(settings))

    def _drain(self) -> None:
        for _ in range(3):
            try:
                if self._session.query(self._SENTINEL_SQL, FORMAT).bytes() == (
                    self._SENTINEL.encode()
                ):
                    return
            except Exception:
                pass
        raise ClickHouseError(0, "chDB session is in a bad state after a failed query")


def _literal(value: str) -> str:
    """A settings value as ClickHouse SQL: numbers as they are, anything else quoted."""
    if re.fullmatch(r"\d+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
