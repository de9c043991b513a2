"""A PostHog source: its tables (from DatabaseSchemaQuery) and the path from a guarded
PostgreSQL-dialect query, or a HogQL one passed through, to rows from PostHog's Query API.

Row caps are made explicit. PostHog gives a HogQL query without LIMIT 100 rows and never more
than 50,000 per query, silently. So the gateway takes the outer LIMIT and OFFSET off the
PostgreSQL query and asks for what the client wants: `default_limit` rows when it gave no
LIMIT, else its LIMIT, fetched in pages of at most `max_limit` rows (LIMIT/OFFSET on the
translated query), each streamed as it arrives. Pages of a query without a total ORDER BY may
overlap or miss rows, as any LIMIT/OFFSET paging does.

Each page is one PostHog query with an id of its own; the session's query id maps to the page
running now, so a CancelRequest or a statement timeout cancels it (DELETE), and so does a
stream left early (a client that went away).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from gateway.backends.clickhouse.executor import ClickHouseError, Result
from gateway.backends.clickhouse.schema import TableSchema
from gateway.backends.hogql.client import PostHogClient, QueryCancelled
from gateway.backends.hogql.dialect import to_hogql
from gateway.backends.hogql.schema import read_schema
from gateway.backends.hogql.values import converter
from gateway.config import Limits, SourceConfig
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, PgError
from gateway.routing.guard import Guard
from gateway.routing.translate import Translation
from gateway.secret import Secret

log = logging.getLogger(__name__)

QUERY_CANCELLED = 394  # ClickHouse's code, which the session maps to 57014 with its reason


@dataclass(frozen=True)
class HogQLTranslation(Translation):
    """A translation whose `sql` is the HogQL of the whole result, and which knows how to ask
    for one page of it."""

    # The query without its outer LIMIT/OFFSET, and whether LIMIT can be appended to it (a
    # plain SELECT) or it must be wrapped (a UNION).
    body: str = ""
    appendable: bool = True
    limit: int | None = None  # None: the client gave no LIMIT; ALL_ROWS: LIMIT ALL
    offset: int = 0
    # HogQL passed through as written: PostHog applies its own LIMIT rules.
    passthrough: bool = False

    def page(self, count: int, offset: int) -> str:
        query = self.body if self.appendable else f"SELECT * FROM ({self.body})"
        return f"{query} LIMIT {count} OFFSET {offset}"


@dataclass
class _SharedState:
    """What a source's sessions share whichever API key they query with: the tables read from
    PostHog, the mirror's attribute numbers, and the keys PostHog recently accepted."""

    tables: dict[str, TableSchema] = field(default_factory=dict)
    json_columns: frozenset[str] = frozenset({"properties"})
    attributes: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    unavailable: str | None = None
    on_stale: Callable[[], None] | None = None
    read_at: float | None = None  # time.monotonic() of the last successful schema read
    # sha256 of a personal API key -> when PostHog's acceptance of it stops being trusted.
    accepted_keys: dict[bytes, float] = field(default_factory=dict)


# How long a personal API key that PostHog accepted lets its user connect without asking again:
# BI tools open many connections, and each check is a PostHog query. A revoked key stops
# working for new connections within this time, and at once for queries.
KEY_TRUST_SECONDS = 60.0


@dataclass
class _Running:
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    posthog_id: str | None = None


def _shared_attribute(name: str) -> property:
    return property(
        lambda self: getattr(self._shared, name),
        lambda self, value: setattr(self._shared, name, value),
    )


class HogQLSource:
    def __init__(
        self,
        config: SourceConfig,
        *,
        api_key: Secret | None = None,
        shared: _SharedState | None = None,
    ) -> None:
        assert config.hogql is not None
        self.config = config
        self.target = config.hogql
        self.name = config.name
        self.client = PostHogClient(
            self.target.host,
            self.target.project_id,
            api_key or self.target.api_key,
            source=config.name,
            max_retries=self.target.max_retries,
            max_retry_wait=self.target.max_retry_wait,
            key_owner="your password" if api_key else "the source's api_key",
        )
        self._shared = shared or _SharedState()
        self._guard = Guard("clickhouse")
        self._running: dict[str, _Running] = {}
        self._background: set[asyncio.Future[None]] = set()

    def __repr__(self) -> str:
        return f"HogQLSource({self.name!r}, {self.client!r})"

    # The schema and the mirror's attribute numbers belong to the source, not to one key: a
    # session's view (`with_key`) sees every refresh.
    tables = _shared_attribute("tables")
    json_columns = _shared_attribute("json_columns")
    attributes = _shared_attribute("attributes")
    unavailable = _shared_attribute("unavailable")
    on_stale = _shared_attribute("on_stale")

    @property
    def schema_read_at(self) -> float | None:
        return self._shared.read_at

    @property
    def reads_own_schema(self) -> bool:
        """Whether the source has a key of its own to read the schema with. A passthrough
        source without `api_key` reads it with its users' keys, when they log in."""
        return bool(self.target.api_key.reveal())

    # --- auth = "passthrough" -----------------------------------------------------------
    def with_key(self, api_key: Secret) -> HogQLSource:
        """The source as one session sees it: the shared schema, queried with the session's
        own personal API key."""
        return HogQLSource(self.config, api_key=api_key, shared=self._shared)

    async def accept_key(self, api_key: Secret) -> HogQLSource:
        """The source queried with a user's personal API key, once PostHog has accepted that
        key for this project: a trivial query proves both the key and its access. Raises the
        PgError PostHog's answer maps to (28000 refused, 42501 no access, 08006 unreachable)."""
        view = self.with_key(api_key)
        digest = hashlib.sha256(api_key.reveal().encode()).digest()
        now = time.monotonic()
        accepted = self._shared.accepted_keys
        if accepted.get(digest, 0.0) > now:
            return view
        await view.client.run({"kind": "HogQLQuery", "query": "SELECT 1"}, query_id=_new_id())
        for known, until in list(accepted.items()):
            if until <= now:
                del accepted[known]
        accepted[digest] = now + KEY_TRUST_SECONDS
        return view

    @property
    def dialect(self) -> str:
        """The dialect data queries are written in when the session says nothing else."""
        return self.target.dialect

    async def refresh(self) -> list[TableSchema]:
        response = await self.client.run({"kind": "DatabaseSchemaQuery"}, query_id=_new_id())
        schema = read_schema(response)
        self.tables = {table.name: table for table in schema.tables}
        self.json_columns = schema.json_columns | {"properties"}
        self.unavailable = None
        self._shared.read_at = time.monotonic()
        return schema.tables

    # --- translation ------------------------------------------------------------------
    def translate(
        self, tree: exp.Expression, time_zone: str = "UTC", cache_key: Hashable = None
    ) -> HogQLTranslation:
        """The HogQL for a guarded PostgreSQL-dialect query. (HogQL the client wrote goes
        through `passthrough` instead.) Translations are not cached: a PostHog query costs
        far more than its translation."""
        if self.unavailable is not None:
            raise PgError("08006", f'source "{self.name}" is unreachable: {self.unavailable}')
        limit, offset, body_tree = _outer_limit(tree)
        try:
            translation = to_hogql(
                body_tree, self.tables, self.json_columns, time_zone, self._guard.check
            )
        except PgError:
            raise
        except Exception as exc:
            log.exception("translation to HogQL failed")
            raise PgError(
                FEATURE_NOT_SUPPORTED, f"this query cannot be translated to HogQL: {exc}"
            ) from None
        return HogQLTranslation(
            sql=translation.sql,
            column_types=translation.column_types,
            settings={},
            column_names=translation.column_names,
            body=translation.sql,
            appendable=isinstance(body_tree, exp.Select),
            limit=limit,
            offset=offset,
        )

    def passthrough(self, text: str) -> HogQLTranslation:
        """HogQL as the client wrote it (`SET metahog.dialect = 'hogql'`, or the source's
        dialect). PostHog parses it; it runs only SELECTs, so nothing here can write."""
        query = text.strip().rstrip(";").strip()
        if not query:
            raise PgError("42601", "empty HogQL query")
        if ";" in query and not _quoted_semicolons_only(query):
            raise PgError("42601", "cannot run multiple HogQL statements in one query")
        if _PARAMETER.search(query):
            raise PgError(
                FEATURE_NOT_SUPPORTED,
                "HogQL sent as written takes no bound parameters",
                hint="Write the values into the query, or use the PostgreSQL dialect.",
            )
        # PostHog's guards plus ours: HogQL is ClickHouse SQL with property paths, so the
        # ClickHouse guard judges it (writes, table functions, SETTINGS, FORMAT, INTO OUTFILE).
        # `$` starts property names, which sqlglot's tokenizer cannot read: for the check
        # only, such names are quoted; the text sent is the client's.
        error = self._guard.check(_PROPERTY_NAME.sub(r".`\1`", query))
        if error is not None:
            raise error
        return HogQLTranslation(sql=query, column_types=(), body=query, passthrough=True)

    # --- running ------------------------------------------------------------------------
    async def stream(
        self, translation: Translation, limits: Limits, query_id: str
    ) -> AsyncIterator[Result]:
        assert isinstance(translation, HogQLTranslation)
        running = _Running()
        self._running[query_id] = running
        try:
            if translation.passthrough:
                yield await self._query(translation.body, running, limits.max_rows)
                return
            async for result in self._pages(translation, limits, running):
                yield result
        except QueryCancelled:
            raise ClickHouseError(QUERY_CANCELLED, "query cancelled") from None
        finally:
            del self._running[query_id]
            if running.posthog_id is not None:
                # Left before the page arrived (the client went away, the stream was closed):
                # PostHog would go on computing it for nobody.
                self._cancel_soon(running.posthog_id)

    async def _pages(
        self, translation: HogQLTranslation, limits: Limits, running: _Running
    ) -> AsyncIterator[Result]:
        wanted: float = self.target.default_limit
        if translation.limit == ALL_ROWS:
            wanted = math.inf  # asked for explicitly: every row, a page at a time
        elif translation.limit is not None:
            wanted = translation.limit
        cap = limits.max_rows
        if cap is not None and wanted > cap:
            wanted = cap + 1  # one more tells the client its result was cut
        fetched = 0
        first = True
        while first or fetched < wanted:
            count = int(min(self.target.max_limit, wanted - fetched))
            sql = translation.page(count, translation.offset + fetched)
            result = await self._query(sql, running, None)
            got = len(result.rows)
            if cap is not None and fetched + got > cap:
                result.rows = result.rows[: cap - fetched]
                result.truncated = True
                yield result
                return
            fetched += got
            first = False
            yield result
            if got < count or got == 0:
                return

    async def _query(self, sql: str, running: _Running, max_rows: int | None) -> Result:
        running.posthog_id = _new_id()
        query = {"kind": "HogQLQuery", "query": sql}
        response = await self.client.run(
            query, query_id=running.posthog_id, cancelled=running.cancelled
        )
        running.posthog_id = None
        result = _result(response)
        if max_rows is not None and len(result.rows) > max_rows:
            result.rows = result.rows[:max_rows]
            result.truncated = True
        return result

    async def describe(self, translation: Translation, limits: Limits) -> Result:
        """The result's names and types: the query with LIMIT 0."""
        assert isinstance(translation, HogQLTranslation)
        running = _Running()
        try:
            if translation.passthrough:
                sql = f"SELECT * FROM ({translation.body}) LIMIT 0"
            else:
                sql = translation.page(0, 0)
            return await self._query(sql, running, None)
        except QueryCancelled:
            raise ClickHouseError(QUERY_CANCELLED, "query cancelled") from None

    async def cancel(self, query_id: str) -> None:
        running = self._running.get(query_id)
        if running is None:
            return
        running.cancelled.set()
        if running.posthog_id is not None:
            posthog_id, running.posthog_id = running.posthog_id, None
            # Shielded: the caller (a session whose client left) may itself be cancelled
            # before the request starts, which would drop the DELETE with it.
            await asyncio.shield(self._cancel_soon(posthog_id))

    def _cancel_soon(self, posthog_id: str) -> asyncio.Future[None]:
        task = asyncio.ensure_future(self.client.cancel(posthog_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def close(self) -> None:
        pass


def _new_id() -> str:
    return uuid.uuid4().hex


ALL_ROWS = -1  # LIMIT ALL (or NULL): every row, paged


def _literal_count(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    value = node.expression if isinstance(node, exp.Limit | exp.Offset) else node
    if isinstance(value, exp.Null) or (isinstance(value, exp.Var) and value.name.upper() == "ALL"):
        return ALL_ROWS
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    raise PgError(FEATURE_NOT_SUPPORTED, f"{what} must be a constant on PostHog sources")


def _outer_limit(tree: exp.Expression) -> tuple[int | None, int, exp.Expression]:
    """The query's outer LIMIT (or FETCH FIRST) and OFFSET, and the query without them."""
    limit_node, offset_node = tree.args.get("limit"), tree.args.get("offset")
    if limit_node is None and offset_node is None:
        return None, 0, tree
    if isinstance(limit_node, exp.Fetch):
        options = limit_node.args.get("limit_options")
        if options is not None and (options.args.get("with_ties") or options.args.get("percent")):
            raise PgError(FEATURE_NOT_SUPPORTED, "FETCH ... WITH TIES or PERCENT on PostHog")
        count = limit_node.args.get("count")
        limit = 1 if count is None else _literal_count(count, "FETCH FIRST")
    else:
        limit = _literal_count(limit_node, "LIMIT")
    offset = _literal_count(offset_node, "OFFSET") or 0
    if offset == ALL_ROWS:
        raise PgError(FEATURE_NOT_SUPPORTED, "OFFSET must be a number on PostHog sources")
    body = tree.copy()
    body.set("limit", None)
    body.set("offset", None)
    return limit, offset, body


_PROPERTY_NAME = re.compile(r"\.(\$[A-Za-z0-9_$]*)")
_PARAMETER = re.compile(r"(?<![\w.$'`\"])\$\d+\b")  # $1, as a driver binds it


def _quoted_semicolons_only(query: str) -> bool:
    """Whether every `;` of the text is inside a string literal or quoted name."""
    quote: str | None = None
    escaped = False
    for char in query:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == ";":
            return False
    return True


def _result(response: dict[str, Any]) -> Result:
    names = [str(name) for name in response.get("columns") or []]
    raw_types = response.get("types") or []
    types: list[str] = []
    for index in range(len(names)):
        entry = raw_types[index] if index < len(raw_types) else "String"
        # PostHog sends [name, type] pairs (clickhouse-driver's column types); plain strings
        # are accepted too.
        types.append(str(entry[1] if isinstance(entry, list | tuple) else entry))
    convert = [converter(t) for t in types]
    rows: list[list[str | None]] = []
    for row in response.get("results") or []:
        rows.append([fn(value) for fn, value in zip(convert, row, strict=True)])
    return Result(names=names, types=types, rows=rows)
