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
needs anyway. Values are `str` (decoded with surrogateescape, so a String that is not UTF-8
keeps its bytes), or None for NULL; scalars are TSV-unescaped, while Array, Tuple and Map
fields stay exactly as ClickHouse printed them, which is what the encoders in `types` read.

Both executors stream: `stream(sql, settings, query_id=...)` yields Results of a few thousand
rows (at most ~CHUNK_BYTES of text each), read by a worker thread that waits while the
consumer is QUEUE_CHUNKS Results behind, so memory stays flat however long the result.
`execute` collects a stream. `cancel(query_id)` stops a running query on the backend, and a
stream left early (or failed) is stopped there too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import math
import re
import select
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast
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
_ESCAPE = re.compile(r"\\(.)", re.S)
_COMPOUND = ("Array", "Tuple", "Map", "Nested")
_WRAPPERS = ("Nullable", "LowCardinality", "SimpleAggregateFunction")


def _unescape(value: str) -> str | None:
    if value == "\\N":
        return None
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: _UNESCAPE.get(m[1], m[1]), value)


def _split(line: str) -> list[str | None]:
    return [_unescape(value) for value in line.split("\t")]


def is_compound(clickhouse_type: str) -> bool:
    """Whether values of this type are Array, Tuple or Map text (also inside Nullable and
    LowCardinality), which the encoders in `types` read in ClickHouse's quoted form: such a
    field is passed on raw, since unescaping it as a TSV scalar would lose quotes and
    backslashes."""
    text = clickhouse_type.strip()
    while True:
        name, paren, rest = text.partition("(")
        name = name.strip()
        if name in _COMPOUND:
            return True
        if name not in _WRAPPERS or not paren:
            return False
        # SimpleAggregateFunction(f, T): the type is the last argument.
        text = rest.rstrip().removesuffix(")")
        if name == "SimpleAggregateFunction":
            text = text.split(",", 1)[-1]


class _RowParser:
    """Turns complete TSV lines of one result into rows: scalars unescaped, compound fields
    raw, `\\N` as None. Lines without a backslash (most of them) need no per-field work."""

    def __init__(self, types: list[str]) -> None:
        self.width = len(types)
        self.raw = [is_compound(type_) for type_ in types]
        self.any_raw = any(self.raw)

    def parse(self, text: str) -> list[list[str | None]]:
        """Rows of `text`: whole lines, each ending with a newline."""
        if not text:
            return []
        lines = text.split("\n")
        lines.pop()  # the empty string after the last newline
        # A sanity check on the answer (a cut row, an error text read as rows), as one C-level
        # count rather than a width check per row.
        if text.count("\t") != len(lines) * (self.width - 1):
            raise ClickHouseError(0, "ClickHouse answer has rows of the wrong width")
        # A str list is a (str | None) list that happens to hold no None yet.
        rows = cast(list[list[str | None]], [line.split("\t") for line in lines])
        if "\\" in text:
            for index, line in enumerate(lines):
                if "\\" in line:
                    rows[index] = self._escaped(line)
        return rows

    def _escaped(self, line: str) -> list[str | None]:
        fields = line.split("\t")
        if len(fields) != self.width:
            raise ClickHouseError(0, "ClickHouse answer has rows of the wrong width")
        if not self.any_raw:
            return [_unescape(value) for value in fields]
        return [
            (None if value == "\\N" else value) if raw else _unescape(value)
            for value, raw in zip(fields, self.raw, strict=True)
        ]


def _decode(data: bytes) -> str:
    # surrogateescape: a String that is not UTF-8 keeps its bytes, for the encoders to decide
    # (text becomes U+FFFD, FixedString's bytea gets the original bytes).
    return data.decode("utf-8", "surrogateescape")


def parse_tsv(lines: list[str], cap: int | None = None) -> Result:
    """Parse TabSeparatedWithNamesAndTypes output, one line per item (newline stripped), keeping
    at most `cap` rows."""
    if len(lines) < 2:
        raise ClickHouseError(0, "ClickHouse answer has no names and types header")
    names = [name or "" for name in _split(lines[0])]
    types = [type_ or "" for type_ in _split(lines[1])]
    body = lines[2:]
    truncated = cap is not None and len(body) > cap
    body = body[:cap] if truncated else body
    rows = _RowParser(types).parse("".join(line + "\n" for line in body))
    if len(names) != len(types) or any(len(row) != len(names) for row in rows):
        raise ClickHouseError(0, "ClickHouse answer has rows of the wrong width")
    return Result(names, types, rows, truncated)


# ---------------------------------------------------------------------------- streaming

# A Result holds the rows of at most CHUNK_BYTES of TSV (thousands of rows): as Python lists
# and strs that is about 10x the text, so QUEUE_CHUNKS parsed ahead keep a stream's memory to a
# few MB, however long the result.
CHUNK_BYTES = 1 << 18
QUEUE_CHUNKS = 2
_QUERY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def _check_query_id(query_id: str) -> str:
    # The id is spliced into KILL QUERY's SQL text (and chDB's marker comment): allow only
    # characters that need no quoting.
    if not _QUERY_ID.fullmatch(query_id):
        raise ValueError(f"invalid query_id {query_id!r}: use letters, digits and _.:-")
    return query_id


class _Stopped(Exception):
    """The consumer has gone: the worker stops reading."""


class _Sink:
    """Hands Results from a worker thread to the event loop with back-pressure: the worker
    blocks (on a semaphore, not the loop) while QUEUE_CHUNKS Results wait unread."""

    _DONE = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.slots = threading.Semaphore(QUEUE_CHUNKS)
        self.stopped = threading.Event()

    def put(self, item: Result) -> None:
        while not self.slots.acquire(timeout=0.5):
            if self.stopped.is_set():
                raise _Stopped
        if self.stopped.is_set():
            raise _Stopped
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def finish(self, error: BaseException | None) -> None:
        # Never blocks: the final item does not take a slot.
        item = self._DONE if error is None else error
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening
            pass

    async def get(self) -> Result | None:
        item = await self.queue.get()
        if item is self._DONE:
            return None
        if isinstance(item, BaseException):
            raise item
        self.slots.release()
        assert isinstance(item, Result)
        return item


class _Chunker:
    """Cuts a result into Results of whole rows at the row cap; shared by both executors."""

    def __init__(self, sink: _Sink, settings: dict[str, str]) -> None:
        self.sink = sink
        self.cap = _row_cap(settings)
        self.sent = 0
        self.names: list[str] = []
        self.types: list[str] = []
        self.parser: _RowParser | None = None
        self.done = False  # the cap was reached: read no further

    def header(self, names_line: bytes, types_line: bytes) -> None:
        self.names = [name or "" for name in _split(_decode(names_line))]
        self.types = [type_ or "" for type_ in _split(_decode(types_line))]
        if len(self.names) != len(self.types):
            raise ClickHouseError(0, "ClickHouse answer has a malformed header")
        self.parser = _RowParser(self.types)

    def rows(self, data: bytes) -> None:
        """Send the rows of `data` (whole lines) in Results of at most about CHUNK_BYTES of
        text; the first row past the cap ends the result."""
        if self.parser is None:
            raise ClickHouseError(0, "ClickHouse answer has no names and types header")
        start = 0
        while start < len(data) and not self.done:
            end = len(data)
            if end - start > CHUNK_BYTES:  # a whole chDB block is up to ~1 MB: cut it
                end = data.rfind(b"\n", start, start + CHUNK_BYTES) + 1
                if end <= start:  # one row longer than CHUNK_BYTES
                    end = data.index(b"\n", start) + 1
            self._send(data[start:end])
            start = end

    def _send(self, data: bytes) -> None:
        assert self.parser is not None
        rows = self.parser.parse(_decode(data))
        truncated = False
        if self.cap is not None and self.sent + len(rows) > self.cap:
            del rows[self.cap - self.sent :]
            truncated = self.done = True
        self.sent += len(rows)
        if rows or truncated:
            self.sink.put(Result(self.names, self.types, rows, truncated))

    def end(self) -> None:
        if self.parser is None:
            raise ClickHouseError(0, "ClickHouse answer has no names and types header")
        if self.sent == 0 and not self.done:  # at least one Result, even for no rows
            self.sink.put(Result(self.names, self.types, []))


async def _stream(
    produce: Callable[[_Sink], None], on_abandon: Callable[[], Awaitable[None]]
) -> AsyncIterator[Result]:
    """Run `produce` in a thread of its own (a long stream must not hold one of the default
    executor's few threads) and yield what it sends. If the consumer leaves before the end
    (aclose, a cancelled task), `on_abandon` stops the query on the backend."""
    sink = _Sink(asyncio.get_running_loop())

    def work() -> None:
        try:
            produce(sink)
        except _Stopped:
            sink.finish(None)
        except ClickHouseError as exc:
            sink.finish(exc)
        except Exception as exc:
            sink.finish(ClickHouseError(0, f"{type(exc).__name__}: {exc}"))
        else:
            sink.finish(None)

    thread = threading.Thread(target=work, name="metahog-clickhouse-stream", daemon=True)
    thread.start()
    ended = False  # the worker has sent its last item: the result, or its error
    try:
        while True:
            try:
                item = await sink.get()
            except ClickHouseError:
                ended = True
                raise
            if item is None:
                ended = True
                break
            yield item
    finally:
        if not ended:
            sink.stopped.set()
            for _ in range(QUEUE_CHUNKS):
                sink.slots.release()  # a worker blocked in put() wakes and sees the stop
            if thread.is_alive():  # else the query has ended already
                await on_abandon()
        # The worker ends promptly once stopped (its query was killed); waiting for it keeps
        # the backend connection from outliving the stream.
        await asyncio.to_thread(thread.join, 30)


class _Executor:
    async def execute(
        self, sql: str, settings: dict[str, str], *, query_id: str | None = None
    ) -> Result:
        """The whole result at once: `stream` collected."""
        result: Result | None = None
        async for chunk in self.stream(sql, settings, query_id=query_id or uuid.uuid4().hex):
            if result is None:
                result = Result(chunk.names, chunk.types, [])
            result.rows.extend(chunk.rows)
            result.truncated = result.truncated or chunk.truncated
        assert result is not None  # stream yields at least one Result
        return result

    def stream(self, sql: str, settings: dict[str, str], *, query_id: str) -> AsyncIterator[Result]:
        raise NotImplementedError

    async def cancel(self, query_id: str) -> None:
        raise NotImplementedError


# The last lines of a 200 answer when the query failed after the server began sending: old
# servers "Code: 395, e.displayText() = DB::Exception: ..., e.what() = DB::Exception", new ones
# "Code: 395. DB::Exception: ... (version ...)".
_TRAILING_ERROR = re.compile(
    rb"Code: \d+[.,] .*(?:, e\.what\(\) = DB::Exception|\(version [^)\n]*\))\s*", re.S
)
_ERROR_WINDOW = 1 << 16  # an error text is shorter than this


def _error_start(data: bytes, end: int) -> int:
    """Where, in `data[:end]`, the trailing error text might begin: the first line starting
    with "Code: " within the last _ERROR_WINDOW bytes, or `end`. The lines from there on are
    held back until more data shows they are rows, or the end of the answer shows they are
    the error."""
    start = max(0, end - _ERROR_WINDOW)
    if start == 0 and data.startswith(b"Code: "):
        return 0
    found = data.find(b"\nCode: ", max(0, start - 1), end)
    return end if found < 0 else found + 1


def _trailing_error(data: bytes) -> int | None:
    """The offset of an error text that makes up the whole rest of `data`, if any. The last
    line starting with "Code: " that begins such a text wins, so rows that merely look like
    errors are never swallowed into it."""
    pos = len(data)
    while pos > 0:
        found = data.rfind(b"\nCode: ", 0, pos)
        offset = found + 1 if found >= 0 else 0
        if (found >= 0 or data.startswith(b"Code: ")) and _TRAILING_ERROR.fullmatch(data, offset):
            return offset
        pos = found
    return None


def _readable(sock: socket.socket | None) -> bool:
    """Whether data is there to read now, without waiting."""
    if sock is None:
        return False
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
    if pending is not None and pending():
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def server_address(url: str) -> tuple[str, int]:
    """The host and port a ClickHouse HTTP URL names; the port defaults by scheme."""
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or (8443 if parts.scheme == "https" else 8123)


class HttpExecutor(_Executor):
    """A ClickHouse server over HTTP, from a URL such as
    `http://user:pass@host:8123/?database=posthog`. The credentials are kept as Secrets and
    sent in an Authorization header; they never appear in a repr or an error.

    Results stream: the worker reads the body as the server sends it. The server is not asked
    to buffer the result (`wait_end_of_query=1`): on the 18.16 server a 10M-row result then
    takes 1.4 s to its first byte and 2.0 s in all, against 0.03 s and 0.95 s streamed, and
    the server spools it to disk meanwhile. The price: an error after the server has sent
    its first buffer (about 1 MB) arrives as the text "Code: NNN ..." after the rows of a 200
    answer. The executor holds back lines that may be that text until the answer ends, and
    raises it as a ClickHouseError. (A last String value that is itself a whole ClickHouse
    exception text, ending as one does, would be read as an error too.)"""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("ClickHouse url must start with http:// or https://")
        self._https = parts.scheme == "https"
        self.host, self.port = server_address(url)
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
        self._live: dict[str, http.client.HTTPConnection] = {}
        self._live_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpExecutor(host={self.host!r}, port={self.port})"

    def stream(self, sql: str, settings: dict[str, str], *, query_id: str) -> AsyncIterator[Result]:
        """Run `sql` with `settings` (from `query_settings`) as `query_id`, and yield its rows
        in Results of up to ~1 MB of text."""
        _check_query_id(query_id)
        return _stream(
            lambda sink: self._produce(sql, settings, query_id, sink),
            lambda: self._abandon(query_id),
        )

    def _post(self, sql: str, params: dict[str, str], timeout: float) -> http.client.HTTPResponse:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout)
        token = f"{self._user.reveal()}:{self._password.reveal()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(token).decode(),
            "Content-Type": "text/plain; charset=UTF-8",
        }
        query_id = params.get("query_id")
        if query_id is not None:
            with self._live_lock:
                self._live[query_id] = conn
        try:
            conn.request("POST", "/?" + urlencode(params), body=sql.encode(), headers=headers)
            return conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def _produce(self, sql: str, settings: dict[str, str], query_id: str, sink: _Sink) -> None:
        # The gateway's settings replace any of the same name from the source URL. A dict holds
        # each key once, so the query string never repeats one (ClickHouse would take the last).
        params = {**self._params, **settings, "default_format": FORMAT, "query_id": query_id}
        timeout = float(settings.get("max_execution_time", 300)) + self.connect_timeout
        secrets = (self._password.reveal(),)
        response: http.client.HTTPResponse | None = None
        try:
            response = self._post(sql, params, timeout)
            if response.status != 200:
                raise parse_error(_decode(response.read()), secrets=secrets)
            with self._live_lock:
                live = self._live.get(query_id)
            response_sock = live.sock if live is not None else None
            self._read(response, response_sock, _Chunker(sink, settings), secrets)
        except (ClickHouseError, _Stopped):
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if sink.stopped.is_set():
                raise _Stopped from None  # the socket was shut down by the abandoning side
            # Connection errors name the host, never the credentials; blank them anyway.
            raise parse_error(f"{type(exc).__name__}: {exc}", secrets=secrets) from None
        finally:
            with self._live_lock:
                conn = self._live.pop(query_id, None)
            if conn is not None:
                conn.close()

    @staticmethod
    def _read(
        response: http.client.HTTPResponse,
        sock: socket.socket | None,
        chunker: _Chunker,
        secrets: tuple[str, ...],
    ) -> None:
        pending = b""  # a partial line, or lines that may be a trailing error text
        eof = False
        while not chunker.done and not eof:
            # read1 returns what has arrived, but at most one HTTP chunk, and the 18.16 server
            # sends 4 KB chunks: 178 rows a Result in a measured 1M-row stream, 7,400 Results.
            # So read on while more has arrived, up to CHUNK_BYTES, and only then parse: rows
            # still go out as soon as the server pauses.
            blocks = [response.read1(CHUNK_BYTES)]
            size = len(blocks[0])
            eof = not size
            while not eof and size < CHUNK_BYTES and _readable(sock):
                block = response.read1(CHUNK_BYTES - size)
                eof = not block
                blocks.append(block)
                size += len(block)
            if not size:
                break
            pending += b"".join(blocks)
            end = pending.rfind(b"\n") + 1
            if chunker.parser is None:
                if pending.count(b"\n", 0, end) < 2:
                    continue
                names, types, _ = pending.split(b"\n", 2)
                if names.startswith(b"Code: ") and _trailing_error(pending) == 0:
                    continue  # an error text in place of the header: wait for its end
                chunker.header(names, types)
                pending = pending[len(names) + len(types) + 2 :]
                end = pending.rfind(b"\n") + 1
            if b"Code: " in pending:
                end = _error_start(pending, end)
            if end:
                chunker.rows(pending[:end])
                pending = pending[end:]
        if chunker.done:
            return  # the cap is reached; the caller closes the connection, which ends the query
        error_at = _trailing_error(pending)
        if error_at is not None:
            if chunker.parser is not None:
                chunker.rows(pending[:error_at])
            raise parse_error(_decode(pending[error_at:]), secrets=secrets)
        if chunker.parser is None:
            raise ClickHouseError(0, "ClickHouse answer has no names and types header")
        if pending and not pending.endswith(b"\n"):
            raise ClickHouseError(0, "ClickHouse answer ended in the middle of a row")
        chunker.rows(pending)
        chunker.end()

    async def _abandon(self, query_id: str) -> None:
        # Unblock the worker's read at once, then make sure the server stops the query: a
        # closed connection alone is noticed only when the server next writes.
        with self._live_lock:
            conn = self._live.get(query_id)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(ClickHouseError):
            await self.cancel(query_id)

    async def cancel(self, query_id: str) -> None:
        """Stop the query sent as `query_id`, on the server: `KILL QUERY ... SYNC` on a
        connection of its own, which returns once the query has stopped. The request is the
        gateway's, with no readonly setting (18.16 accepts KILL QUERY under readonly=1 as
        well; a user limited to its own queries can kill them)."""
        _check_query_id(query_id)
        await asyncio.to_thread(self._kill, query_id)

    def _kill(self, query_id: str) -> None:
        params = {**self._params, "default_format": "TabSeparated"}
        sql = f"KILL QUERY WHERE query_id = '{query_id}' SYNC"
        secrets = (self._password.reveal(),)
        try:
            response = self._post(sql, params, self.connect_timeout + 30)
            body = response.read()
            if response.status != 200:
                raise parse_error(_decode(body), secrets=secrets)
        except (OSError, http.client.HTTPException) as exc:
            raise parse_error(f"{type(exc).__name__}: {exc}", secrets=secrets) from None


class ChdbExecutor(_Executor):
    """Embedded chDB on a data directory, in-process.

    chDB runs one embedded server per process, on one data directory: opening a second
    directory in the same process, or a directory that another process has open, fails with
    code 36 (measured with chDB 4.4). So a gateway process serves at most one chDB source, with
    one ChdbExecutor shared by every session. Several connections to that one directory work
    side by side (chdb.connect on the same path; the same server, so `system.processes` lists
    them all): each running query has one, taken from an idle list or opened (about 1 ms).

    Queries stream with `send_query`, one ClickHouse block per fetch (the header is repeated
    in every fetch and dropped). A fetch releases the GIL while ClickHouse computes.

    Trap: after a query fails or is killed, chDB (4.4 here) returns that query's partial output
    (e.g. its header) in front of the next result on the same connection. So a connection
    whose query did not end cleanly is closed, never reused.

    Cancellation: `StreamingResult.cancel()` waits for a running fetch to end (a 60 s
    aggregation cannot be interrupted by it), so `cancel` runs `KILL QUERY ... SYNC` on a
    connection kept for that. chDB has no query_id parameter: the wrapper starts with a comment
    naming the query_id, and KILL matches the query text's start, which only the gateway
    writes."""

    MAX_CONNECTIONS = 8  # queries run at once; more wait for a connection

    def __init__(self, path: str) -> None:
        try:
            import chdb  # chDB is optional: only sources of this kind need it
            import chdb.session
        except ImportError:
            raise ClickHouseError(
                0, "a ClickHouse source with a `path` needs chDB: pip install chdb"
            ) from None

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
        self._connect = lambda: chdb.connect(path)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        self._killer = self._connect()
        self._kill_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChdbExecutor(path={self.path!r})"

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._killer.close()
        self._session.close()

    def stream(self, sql: str, settings: dict[str, str], *, query_id: str) -> AsyncIterator[Result]:
        """Run `sql` with `settings` as `query_id` and yield its rows, one or more blocks per
        Result."""
        _check_query_id(query_id)
        return _stream(
            lambda sink: self._produce(sql, settings, query_id, sink),
            lambda: self._abandon(query_id),
        )

    @staticmethod
    def _marker(query_id: str) -> str:
        return f"/* metahog query_id={query_id} */"

    def _wrap(self, sql: str, settings: dict[str, str], query_id: str) -> str:
        clause = ", ".join(f"{name} = {_literal(value)}" for name, value in settings.items())
        # The query is wrapped, not just followed by the clause: a SETTINGS clause after
        # `SELECT ... UNION ALL SELECT ...` binds only the last SELECT of the union (measured:
        # max_result_rows=5 let 11 rows through), and after `INSERT ... VALUES` it is read as
        # data. Wrapped, the clause is the outermost query's and covers all of it, and anything
        # that is not a query fails to parse. The newlines keep a trailing `--` comment from
        # swallowing the parenthesis.
        body = sql.rstrip().removesuffix(";")
        settings_clause = f" SETTINGS {clause}" if clause else ""
        return f"{self._marker(query_id)}\nSELECT * FROM (\n{body}\n){settings_clause}"

    def _produce(self, sql: str, settings: dict[str, str], query_id: str, sink: _Sink) -> None:
        text = self._wrap(sql, settings, query_id)
        chunker = _Chunker(sink, settings)
        while not self._slots.acquire(timeout=0.5):
            if sink.stopped.is_set():
                raise _Stopped
        conn = None
        clean = False
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            if sink.stopped.is_set():
                raise _Stopped
            try:
                result = conn.send_query(text, FORMAT)
                # The raw fetch: StreamingResult.fetch() ends the stream at the first chunk
                # with no rows, so for an empty result it never shows the header, which the
                # raw chunk carries.
                fetch = conn._conn.streaming_fetch_result
                ended = False
                try:
                    while not chunker.done:
                        chunk = fetch(result._result)
                        data = chunk.bytes() if chunk is not None else b""
                        if not data:
                            ended = True
                            break
                        names, types, body = data.split(b"\n", 2)
                        if chunker.parser is None:
                            chunker.header(names, types)
                        chunker.rows(body)
                finally:
                    result._exhausted = True  # what fetch() records; cancel() then only cleans
                    if not ended:
                        # The cap cut the result, the consumer left or the query failed.
                        result._exhausted = False
                        with contextlib.suppress(Exception):
                            result.cancel()
                clean = ended
            except (ClickHouseError, _Stopped):
                raise
            except Exception as exc:
                if sink.stopped.is_set():
                    raise _Stopped from None  # killed because the consumer left
                raise parse_error(str(exc).removeprefix("Streaming query failed: ")) from None
            chunker.end()
        finally:
            if conn is not None:
                if clean:
                    with self._lock:
                        self._idle.append(conn)
                else:
                    conn.close()
            self._slots.release()

    async def _abandon(self, query_id: str) -> None:
        # The worker may be inside a fetch that only KILL interrupts.
        with contextlib.suppress(ClickHouseError):
            await self.cancel(query_id)

    async def cancel(self, query_id: str) -> None:
        """Stop the query run as `query_id`: KILL QUERY ... SYNC on the executor's own
        connection (no readonly: the gateway's request), matching the marker comment that
        starts the query's text."""
        marker = self._marker(_check_query_id(query_id))
        await asyncio.to_thread(self._kill, marker)

    def _kill(self, marker: str) -> None:
        sql = f"KILL QUERY WHERE startsWith(query, '{marker}') SYNC"
        with self._kill_lock:
            try:
                self._killer.query(sql, "TabSeparated")
            except Exception as exc:
                # A failed query leaves output behind on its connection (see the class notes).
                self._killer.close()
                self._killer = self._connect()
                raise parse_error(str(exc)) from None


def _literal(value: str) -> str:
    """A settings value as ClickHouse SQL: numbers as they are, anything else quoted."""
    if re.fullmatch(r"\d+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
