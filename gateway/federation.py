"""The session of a client whose source is not PostgreSQL (ClickHouse; later PostHog).

Such a session has two backends. Its *home* is a connection to the source's shadow catalog, a
real PostgreSQL database whose empty tables mirror the source's tables: every statement that
reads none of the source's tables goes there (catalog queries of psql, JDBC, BI tools, SET,
SHOW, BEGIN/COMMIT, `SELECT 1`), so PostgreSQL itself answers them, with its own semantics.
Statements that read the source's tables are translated and run on the source, and their rows
are encoded here.

Messages are handled one at a time, in order, so the client sees answers in the order it asked.
A forwarded extended-protocol message is followed by a Flush and its answer is read before the
next message is handled. The home connection's transaction status is the session's: when a
data statement fails inside a transaction block, the home transaction is failed too (with a
statement that cannot parse), so ReadyForQuery, ROLLBACK and `current transaction is aborted`
behave exactly as in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from collections.abc import AsyncIterator, Awaitable, Hashable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from sqlglot import exp

from gateway.backends.clickhouse.executor import ClickHouseError, Result
from gateway.backends.clickhouse.rows import RowEncoder
from gateway.backends.clickhouse.schema import TableSchema
from gateway.backends.clickhouse.source import to_pg_error
from gateway.backends.clickhouse.types import PgType, pg_type
from gateway.backends.postgres.connection import BackendConnection
from gateway.backends.postgres.relay import unsafe_parameter
from gateway.config import Limits
from gateway.limits import SessionLimits
from gateway.ops.observe import StatementTracker, command_rows, error_fields
from gateway.protocol import messages
from gateway.protocol.errors import (
    FEATURE_NOT_SUPPORTED,
    PROGRAM_LIMIT_EXCEEDED,
    PROTOCOL_VIOLATION,
    QUERY_CANCELED,
    PgError,
    ProtocolViolation,
    notice,
)
from gateway.protocol.framing import decode_cstring, read_message
from gateway.routing import params
from gateway.routing.guard import Guard
from gateway.routing.router import Target, data_tables, result_origins, route
from gateway.routing.translate import Translation

log = logging.getLogger(__name__)

IN_FAILED_TRANSACTION = "25P02"
DUPLICATE_PREPARED_STATEMENT = "42P05"
UNDEFINED_PREPARED_STATEMENT = "26000"
UNDEFINED_CURSOR = "34000"
DUPLICATE_CURSOR = "42P03"
# Rows an Execute-with-a-row-count portal may buffer (see _run_data).
FETCH_BUFFER_ROWS = 1_000_000

# What ends the answer to each forwarded extended-protocol message.
_ANSWER_ENDS = {
    b"P": frozenset(b"1E"),
    b"B": frozenset(b"2E"),
    b"C": frozenset(b"3E"),
    b"D": frozenset(b"TnE"),
    b"E": frozenset(b"CsIE"),
}


class DataSource(Protocol):
    """What the session needs from a source that is not PostgreSQL."""

    name: str
    tables: dict[str, TableSchema]

    def translate(
        self, tree: exp.Expression, time_zone: str = "UTC", cache_key: Hashable = None
    ) -> Translation: ...

    def stream(
        self, translation: Translation, limits: Limits, query_id: str
    ) -> AsyncIterator[Result]: ...

    async def describe(self, translation: Translation, limits: Limits) -> Result: ...

    async def cancel(self, query_id: str) -> None: ...


@dataclass
class DataStatement:
    tree: exp.Expression
    param_types: list[int]
    text: str = ""
    columns: list[tuple[str, PgType]] | None = None  # learned on the first Describe
    # Per output column, the mirror table's OID and the column's attnum, or (0, 0).
    origins: list[tuple[int, int]] = field(default_factory=list)
    # The source's own dialect, sent as written (HogQL): no tree to bind into.
    written: Translation | None = None


@dataclass
class DataPortal:
    statement: DataStatement
    translation: Translation
    result_formats: list[int]
    # Rows already fetched and not yet sent, for an Execute with a row count.
    pending: list[list[str | None]] | None = None
    sent: int = 0
    truncated: bool = False
    columns: list[tuple[str, PgType]] | None = None


@dataclass
class _Names:
    """Names of prepared statements or portals and where each lives."""

    data: dict[bytes, object] = field(default_factory=dict)
    catalog: set[bytes] = field(default_factory=set)

    def __contains__(self, name: bytes) -> bool:
        return name in self.data or name in self.catalog

    def forget(self, name: bytes) -> None:
        self.data.pop(name, None)
        self.catalog.discard(name)


class FederatedSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        home: BackendConnection,
        source: DataSource,
        guard: Guard,
        limits: SessionLimits,
        *,
        max_message_size: int,
        tracker: StatementTracker | None = None,
    ) -> None:
        self.tracker = tracker
        # Bytes sent to the client, and where the last ReadyForQuery ended in them.
        self._sent = 0
        self._answered = 0
        self.reader = reader
        self.writer = writer
        self.home = home
        self.source = source
        self.guard = guard
        self.limits = limits
        self.max_message_size = max_message_size
        self.statements = _Names()
        self.portals = _Names()
        # After an error in an extended-protocol batch, messages are skipped until Sync.
        self.skipping = False
        self._marker = f"metahog_failed_{secrets.token_hex(8)}"
        self._query_id: str | None = None
        self._cancelled = False
        self._timed_out = False
        self._background: set[asyncio.Future[None]] = set()

    @property
    def home_unsynced(self) -> bool:
        """Messages went to the home connection since its last Sync."""
        return self.home.unsynced

    @home_unsynced.setter
    def home_unsynced(self, value: bool) -> None:
        self.home.unsynced = value

    # --- session loop ----------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            tag, payload = await read_message(self.reader, self.max_message_size)
            if tag == b"X":
                return
            try:
                await self._reporting_errors(self._dispatch(tag, payload))
            except (ConnectionError, OSError, asyncio.IncompleteReadError):
                raise
            except Exception:
                # The home connection may be mid-answer: the session cannot go on safely.
                log.exception("session failed on a %r message", tag)
                self.home.broken = True
                raise PgError(
                    "XX000",
                    "internal error in the gateway; the session is closed",
                    severity="FATAL",
                ) from None
            if self.writer.transport.get_write_buffer_size() > 256 * 1024:
                await self.writer.drain()

    async def _dispatch(self, tag: bytes, payload: bytes) -> None:
        if tag == b"Q":
            await self._simple_query(self._text(payload))
            return
        if tag == b"S":
            await self._sync()
            return
        if tag == b"H":
            await self.writer.drain()
            return
        if tag in b"dcf":  # copy-in data outside copy-in mode: ignored, as PostgreSQL does
            return
        if tag not in b"PBDEC":
            if tag == b"F":
                raise PgError(FEATURE_NOT_SUPPORTED, "the FunctionCall message is not supported")
            raise ProtocolViolation(f"invalid frontend message type {tag[0]}")
        if self.skipping:
            return
        if tag == b"P":
            await self._parse(payload)
        elif tag == b"B":
            await self._bind(payload)
        elif tag == b"D":
            await self._describe(payload)
        elif tag == b"E":
            await self._execute(payload)
        else:
            await self._close(payload)

    def _text(self, payload: bytes) -> str:
        # Sessions on these sources are UTF8 only (see _check_transaction).
        return decode_cstring(payload, "utf-8", "UTF8")

    def _send(self, data: bytes) -> None:
        self._sent += len(data)
        self.writer.write(data)

    def _rejected(self, error: PgError) -> PgError:
        """The guard or the limits refuse a statement: the error to raise, noted as such."""
        if self.tracker is not None:
            self.tracker.rejected(error)
        return error

    async def _reporting_errors(self, step: Awaitable[None]) -> None:
        """Run a step; an error of the statement (not FATAL) is reported as PostgreSQL would
        report it, and the session goes on."""
        try:
            await step
        except ClickHouseError as exc:
            await self._fail(to_pg_error(exc))
        except PgError as error:
            if error.fatal:
                raise
            await self._fail(error)

    async def _fail(self, error: PgError) -> None:
        """Report an error the way PostgreSQL would: the home transaction fails with it, and an
        extended-protocol batch is skipped up to its Sync."""
        encoded = error.encode()
        self._send(encoded)
        if self.tracker is not None:
            self.tracker.error(*error_fields(encoded[5:]))
        if self.home.status == b"T" or self.home_unsynced:
            await self._fail_home()
        self.skipping = True

    async def _fail_home(self) -> None:
        """Fail the home connection's transaction (or pending batch) with a statement that
        cannot parse; its error is the gateway's own and is not shown."""
        self.home.writer.write(
            messages.Parse.build(statement=b"", query=self._marker.encode(), param_types=[])
            + messages.Flush.build()
        )
        self.home_unsynced = True
        while True:
            tag, payload = await self.home.read_message()
            if tag == b"E":
                return
            self._home_async(tag, payload)

    # --- simple query ------------------------------------------------------------------------
    async def _simple_query(self, text: str) -> None:
        self.skipping = False
        if self.tracker is not None:
            self.tracker.query(text)
        await self._reporting_errors(self._run_statements(text))
        await self._sync()

    async def _run_statements(self, text: str) -> None:
        written = await self._written_translation(text)
        if written is not None:
            self._check_transaction()
            portal = DataPortal(DataStatement(exp.Select(), [], text=text), written, [])
            await self._run_data(portal, 0, describe=True)
            return
        verdict = self.guard.classify(text)
        if verdict.error is not None:
            raise self._rejected(verdict.error)
        if not any(tree is not None for tree in verdict.statements):
            if self.home.status == b"E":
                self._send(messages.EmptyQueryResponse.build())
            else:
                await self._home_query(text)
            return
        for tree, statement in zip(verdict.statements, verdict.texts, strict=True):
            if tree is None:
                continue
            target = route(tree, statement, self.source.tables, self.guard.tokenize)
            if target is Target.CATALOG:
                if not await self._home_query(statement):
                    return
            else:
                self._check_transaction()
                statement_ = DataStatement(tree, [], origins=self._origins(tree))
                translation = self.source.translate(tree, self._time_zone, statement)
                portal = DataPortal(statement_, translation, [])
                await self._run_data(portal, 0, describe=True)

    async def _dialect(self) -> str:
        """The dialect of this session's data queries: `SET metahog.dialect = 'hogql'` (a
        placeholder variable that PostgreSQL keeps for the home session, so SET LOCAL, RESET
        and ROLLBACK behave as in PostgreSQL), else the source's default. Only sources that
        take another dialect (`passthrough`) ask; a failed transaction keeps the default."""
        default = getattr(self.source, "dialect", "postgres")
        if not hasattr(self.source, "passthrough") or self.home.status == b"E":
            return default
        value = await self._home_value("SELECT current_setting('metahog.dialect', true)")
        return value if value in ("postgres", "hogql") else default

    async def _home_value(self, query: str) -> str | None:
        """The first value of a query run at home for the gateway, not the client."""
        await self._sync_home()
        self.home.writer.write(messages.Query.build(query=query.encode()))
        value: str | None = None
        while True:
            tag, payload = await self.home.read_message()
            if tag == b"Z":
                self.home.status = payload[:1]
                return value
            if tag == b"D" and value is None:
                (length,) = struct.unpack_from("!i", payload, 2)
                value = payload[6 : 6 + length].decode() if length >= 0 else None
            elif tag in b"SN":
                self._home_async(tag, payload)

    async def _written_translation(self, text: str) -> Translation | None:
        """When the session's dialect is the source's own (HogQL), the text to run as written.
        Statements that parse as PostgreSQL and read none of the source's tables (SET, SHOW,
        catalog queries of psql and BI tools) still go home: None for those, as for every
        statement in the PostgreSQL dialect. The text goes to the source only, never to
        PostgreSQL, and the source checks it with the ClickHouse guard."""
        if await self._dialect() != "hogql":
            return None
        verdict = self.guard.classify(text)
        if verdict.error is not None and verdict.error.sqlstate != "42601":
            raise self._rejected(verdict.error)  # PostgreSQL the guard refuses stays refused
        if verdict.error is None:
            trees = [
                (tree, statement)
                for tree, statement in zip(verdict.statements, verdict.texts, strict=True)
                if tree is not None
            ]
            try:
                if all(
                    route(tree, statement, self.source.tables, self.guard.tokenize)
                    is Target.CATALOG
                    for tree, statement in trees
                ):
                    return None
            except PgError:
                pass  # not a query PostgreSQL would run on the source: HogQL's to judge
        return self.source.passthrough(text)  # type: ignore[attr-defined]

    async def _home_query(self, text: str) -> bool:
        """Run one statement on the home connection, relaying its answer. False if it failed."""
        await self._sync_home()
        self.home.writer.write(messages.Query.build(query=text.encode()))
        failed = False
        while True:
            tag, payload = await self.home.read_message()
            if tag == b"Z":
                self.home.status = payload[:1]
                return not failed
            if tag == b"E":
                failed = True
            self._relay(tag, payload)

    def _relay(self, tag: bytes, payload: bytes) -> None:
        if tag in b"SK":
            self._home_async(tag, payload)
        elif self.tracker is not None:
            if tag == b"C":
                self.tracker.complete(command_rows(payload))
            elif tag == b"E":
                self.tracker.error(*error_fields(payload))
        self._send(messages.simple_message(tag, payload))

    def _home_async(self, tag: bytes, payload: bytes) -> None:
        if tag == b"S":
            self.home.absorb(tag, payload)
            status = messages.ParameterStatus.parse(payload)
            violation = unsafe_parameter(
                status.name.decode(), status.value.decode("utf-8", "replace")
            )
            if violation is not None:
                self.home.broken = True
                raise violation

    def _check_transaction(self) -> None:
        if self.home.status == b"E":
            raise PgError(
                IN_FAILED_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        if self.home.parameters.get("client_encoding", "UTF8").upper() not in ("UTF8", "UTF-8"):
            raise PgError(
                FEATURE_NOT_SUPPORTED,
                f'source "{self.source.name}" supports client_encoding UTF8 only',
            )

    # --- Sync ------------------------------------------------------------------------------
    async def _sync(self) -> None:
        self.skipping = False
        if self.tracker is not None:
            self.tracker.sync()
        await self._sync_home()
        self.limits.finished()
        if self.home.status == b"I":
            self.limits.transaction_ended()
            self._drop_transaction_portals()
        self._send(messages.ReadyForQuery.build(status=self.home.status[0]))
        if self.tracker is not None:
            self.tracker.ready(self._sent - self._answered)
            self._answered = self._sent
        await self.writer.drain()

    async def _sync_home(self) -> None:
        if not self.home_unsynced:
            return
        self.home_unsynced = False
        self.home.writer.write(messages.Sync.build())
        while True:
            tag, payload = await self.home.read_message()
            if tag == b"Z":
                self.home.status = payload[:1]
                return
            if tag == b"E" and self._marker.encode() in payload:
                continue
            self._relay(tag, payload)

    def _drop_transaction_portals(self) -> None:
        for name in list(self.portals.data):
            if name:
                del self.portals.data[name]

    # --- extended protocol -------------------------------------------------------------------
    async def _forward(self, message: bytes, kind: bytes) -> bool:
        """Forward one extended-protocol message home and relay its answer. False if the answer
        was an error, after which the home connection skips to Sync, as the session does."""
        self.home.writer.write(message + messages.Flush.build())
        self.home_unsynced = True
        ends = _ANSWER_ENDS[kind]
        while True:
            tag, payload = await self.home.read_message()
            self._relay(tag, payload)
            if tag[0] in ends:
                if tag == b"E":
                    self.skipping = True
                    return False
                return True

    async def _parse(self, payload: bytes) -> None:
        try:
            parsed = messages.Parse.parse(payload)
        except messages.MalformedMessage as exc:
            raise ProtocolViolation(str(exc)) from None
        name = parsed.statement
        text = self._text(parsed.query + b"\0")
        if self.tracker is not None:
            self.tracker.parse(name, text)
        written = await self._written_translation(text)
        verdict = self.guard.classify(text) if written is None else None
        if verdict is not None and verdict.error is not None:
            raise self._rejected(verdict.error)
        if name and name in self.statements:
            raise PgError(
                DUPLICATE_PREPARED_STATEMENT,
                f'prepared statement "{name.decode(errors="replace")}" already exists',
            )
        error = self.limits.admit_statement(name)
        if error is not None:
            raise self._rejected(error)
        if written is not None:
            self.statements.forget(name)
            self.statements.data[name] = DataStatement(
                exp.Select(), list(parsed.param_types), text=text, written=written
            )
            self._send(messages.ParseComplete.build())
            return
        assert verdict is not None
        trees = [tree for tree in verdict.statements if tree is not None]
        if len(trees) > 1:
            raise PgError("42601", "cannot insert multiple commands into a prepared statement")
        target = Target.CATALOG
        if trees:
            target = route(trees[0], verdict.texts[0], self.source.tables, self.guard.tokenize)
        self.statements.forget(name)
        if target is Target.CATALOG:
            if await self._forward(messages.simple_message(b"P", payload), b"P"):
                self.statements.catalog.add(name)
            return
        tree = trees[0]
        tables = data_tables(tree, self.source.tables)
        types = params.infer_types(tree, list(parsed.param_types), tables)
        self.statements.data[name] = DataStatement(
            tree, types, text=text, origins=self._origins(tree)
        )
        self._send(messages.ParseComplete.build())

    async def _bind(self, payload: bytes) -> None:
        try:
            bound = messages.Bind.parse(payload)
        except messages.MalformedMessage as exc:
            raise ProtocolViolation(str(exc)) from None
        statement = self.statements.data.get(bound.statement)
        if self.tracker is not None:
            self.tracker.bind(bound.portal, bound.statement)
        if bound.portal and bound.portal in self.portals:
            raise PgError(
                DUPLICATE_CURSOR,
                f'portal "{bound.portal.decode(errors="replace")}" already exists',
            )
        error = self.limits.admit_portal(bound.portal)
        if error is not None:
            raise self._rejected(error)
        self.portals.forget(bound.portal)
        if statement is None:
            if bound.statement not in self.statements.catalog:
                raise PgError(
                    UNDEFINED_PREPARED_STATEMENT,
                    f'prepared statement "{bound.statement.decode(errors="replace")}" '
                    "does not exist",
                )
            if await self._forward(messages.simple_message(b"B", payload), b"B"):
                self.portals.catalog.add(bound.portal)
            return
        values = [p.data if p.length >= 0 else None for p in bound.params]
        if statement.written is not None:
            if values:
                raise PgError(
                    FEATURE_NOT_SUPPORTED,
                    "HogQL sent as written takes no bound parameters",
                    hint="Write the values into the query, or use the PostgreSQL dialect.",
                )
            self.portals.data[bound.portal] = DataPortal(
                statement, statement.written, list(bound.result_formats)
            )
            self._send(messages.BindComplete.build())
            return
        tree = params.bind(statement.tree, statement.param_types, bound.param_formats, values)
        key = (statement.text, tuple(statement.param_types), tuple(bound.param_formats), *values)
        translation = self.source.translate(tree, self._time_zone, key)
        formats = list(bound.result_formats)
        self.portals.data[bound.portal] = DataPortal(statement, translation, formats)
        self._send(messages.BindComplete.build())

    async def _describe(self, payload: bytes) -> None:
        kind, name = payload[:1], payload[1:-1]
        if kind not in (b"S", b"P") or not payload.endswith(b"\0"):
            raise ProtocolViolation("invalid DESCRIBE message subtype")
        if kind == b"S":
            statement = self.statements.data.get(name)
            if statement is None:
                await self._describe_home(payload, name in self.statements.catalog, "statement")
                return
            self._send(messages.ParameterDescription.build(types=statement.param_types))
            columns = await self._statement_columns(statement)
            self._send(_row_description(columns, [], statement.origins))
            return
        portal = self.portals.data.get(name)
        if portal is None:
            await self._describe_home(payload, name in self.portals.catalog, "portal")
            return
        columns = await self._portal_columns(portal)
        self._send(_row_description(columns, portal.result_formats, portal.statement.origins))

    async def _describe_home(self, payload: bytes, known: bool, what: str) -> None:
        if not known:
            code = UNDEFINED_PREPARED_STATEMENT if what == "statement" else UNDEFINED_CURSOR
            name = payload[1:-1].decode(errors="replace")
            label = "prepared statement" if what == "statement" else "portal"
            raise PgError(code, f'{label} "{name}" does not exist')
        await self._forward(messages.simple_message(b"D", payload), b"D")

    async def _statement_columns(self, statement: DataStatement) -> list[tuple[str, PgType]]:
        if statement.columns is None and statement.written is not None:
            result = await self.source.describe(statement.written, self._limits)
            statement.columns = _columns(result, statement.written, self._time_zone)
        if statement.columns is None:
            probes = params.probe_values(statement.param_types)
            tree = params.bind(statement.tree, statement.param_types, [], probes)
            translation = self.source.translate(tree, self._time_zone)
            result = await self.source.describe(translation, self._limits)
            statement.columns = _columns(result, translation, self._time_zone)
        return statement.columns

    async def _portal_columns(self, portal: DataPortal) -> list[tuple[str, PgType]]:
        if portal.columns is None:
            result = await self.source.describe(portal.translation, self._limits)
            portal.columns = _columns(result, portal.translation, self._time_zone)
        return portal.columns

    async def _execute(self, payload: bytes) -> None:
        try:
            execute = messages.Execute.parse(payload)
        except messages.MalformedMessage as exc:
            raise ProtocolViolation(str(exc)) from None
        if self.tracker is not None:
            self.tracker.execute(execute.portal)
        portal = self.portals.data.get(execute.portal)
        if portal is None:
            if execute.portal not in self.portals.catalog:
                raise PgError(
                    UNDEFINED_CURSOR,
                    f'portal "{execute.portal.decode(errors="replace")}" does not exist',
                )
            await self._forward(messages.simple_message(b"E", payload), b"E")
            return
        self._check_transaction()
        await self._run_data(portal, execute.max_rows, describe=False)

    async def _close(self, payload: bytes) -> None:
        kind, name = payload[:1], payload[1:-1]
        names = self.statements if kind == b"S" else self.portals
        if kind not in (b"S", b"P"):
            raise ProtocolViolation("invalid CLOSE message subtype")
        if self.tracker is not None:
            self.tracker.close(kind, name)
        if name in names.catalog:
            names.forget(name)
            await self._forward(messages.simple_message(b"C", payload), b"C")
            return
        names.forget(name)
        if kind == b"S":
            self.limits.closed_statement(name)
        else:
            self.limits.closed_portal(name)
        self._send(messages.CloseComplete.build())

    # --- running on the source -----------------------------------------------------------
    def _origins(self, tree: exp.Expression) -> list[tuple[int, int]]:
        """Where each output column comes from, as PostgreSQL reports it: the (mirror) table's
        OID and the column's number for a plain column, else (0, 0)."""
        try:
            origins = result_origins(tree, self.source.tables)
        except Exception:  # metadata only: a query must never fail for want of it
            log.exception("cannot tell where the result columns come from")
            return []
        if origins is None:
            return []
        attributes = getattr(self.source, "attributes", {})
        return [attributes.get(origin, (0, 0)) if origin else (0, 0) for origin in origins]

    @property
    def _time_zone(self) -> str:
        """The session's TimeZone, as the home connection last reported it."""
        return self.home.parameters.get("TimeZone", "UTC")

    @property
    def _limits(self) -> Limits:
        return self.limits.limits

    async def _run_data(self, portal: DataPortal, max_rows: int, *, describe: bool) -> None:
        """Run a data portal, or continue a suspended one, sending its rows."""
        error = self.limits.admit_query()
        if error is not None:
            raise self._rejected(error)
        if portal.pending is None:
            if max_rows > 0:
                # A row count means the client fetches in pieces (a JDBC fetch size): fetch the
                # whole (max_rows-capped) result once and hand it out piece by piece.
                rows: list[list[str | None]] = []
                async with aclosing(self._stream(portal)) as results:
                    async for result in results:
                        if portal.columns is None:
                            portal.columns = _columns(result, portal.translation, self._time_zone)
                        rows.extend(result.rows)
                        portal.truncated = portal.truncated or result.truncated
                        if len(rows) > FETCH_BUFFER_ROWS:
                            raise PgError(
                                PROGRAM_LIMIT_EXCEEDED,
                                "a result fetched in pieces is held by the gateway, up to "
                                f"{FETCH_BUFFER_ROWS} rows; this one has more",
                                hint="Add a LIMIT, or fetch it without a fetch size.",
                            )
                portal.pending = rows
            else:
                await self._stream_all(portal, describe)
                return
        await self._send_pending(portal, max_rows, describe)

    async def _stream(self, portal: DataPortal) -> AsyncIterator[Result]:
        query_id = secrets.token_hex(16)
        self._query_id = query_id
        self._cancelled = self._timed_out = False
        timeout = self._limits.statement_timeout_ms
        timer = (
            asyncio.get_running_loop().call_later(timeout / 1000, self._time_out)
            if timeout
            else None
        )
        watchdog = asyncio.ensure_future(self._watch_client(query_id))
        try:
            stream = self.source.stream(portal.translation, self._limits, query_id)
            async with aclosing(stream) as results:
                async for result in results:
                    yield result
        except ClickHouseError as exc:
            if self._cancelled or self._timed_out:
                raise self._cancel_error() from None
            raise to_pg_error(exc) from None
        finally:
            watchdog.cancel()
            if timer is not None:
                timer.cancel()
            self._query_id = None
        if self._cancelled or self._timed_out:
            raise self._cancel_error()

    async def _watch_client(self, query_id: str) -> None:
        """While a query runs at the source the session reads nothing from the client, so a
        client that leaves would go unnoticed until the first row: look for its end of stream
        (StreamReader has no public flag for an EOF behind buffered bytes) and stop the query."""
        while not getattr(self.reader, "_eof", False) and not self.writer.is_closing():
            await asyncio.sleep(0.25)
        if self._query_id == query_id:
            log.info("client left during a query: cancelling it at the source")
            self._cancelled = True
            await self.source.cancel(query_id)

    def _cancel_error(self) -> PgError:
        reason = "statement timeout" if self._timed_out else "user request"
        return PgError(QUERY_CANCELED, f"canceling statement due to {reason}")

    def _time_out(self) -> None:
        if self._query_id is not None:
            self._timed_out = True
            task = asyncio.ensure_future(self.source.cancel(self._query_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def cancel(self) -> None:
        """A CancelRequest with this session's key arrived."""
        if self._query_id is not None:
            self._cancelled = True
            await self.source.cancel(self._query_id)
        else:
            # A catalog statement may be running at home; a cancel that finds the home
            # connection idle is ignored by PostgreSQL.
            await self.home.cancel()

    async def _stream_all(self, portal: DataPortal, describe: bool) -> None:
        count = 0
        truncated = False
        encoder: RowEncoder | None = None
        async with aclosing(self._stream(portal)) as results:
            async for result in results:
                if encoder is None:
                    columns = _columns(result, portal.translation, self._time_zone)
                    portal.columns = columns
                    if describe:
                        self._send(
                            _row_description(
                                columns, portal.result_formats, portal.statement.origins
                            )
                        )
                    encoder = RowEncoder(
                        [pg for _, pg in columns], _formats(portal.result_formats, len(columns))
                    )
                if result.rows:
                    self._send(encoder.data_rows(result.rows))
                    count += len(result.rows)
                    await self.writer.drain()
                truncated = truncated or result.truncated
        self._complete(count, truncated)

    async def _send_pending(self, portal: DataPortal, max_rows: int, describe: bool) -> None:
        assert portal.pending is not None and portal.columns is not None
        if describe:
            self._send(
                _row_description(portal.columns, portal.result_formats, portal.statement.origins)
            )
        encoder = RowEncoder(
            [pg for _, pg in portal.columns],
            _formats(portal.result_formats, len(portal.columns)),
        )
        end = len(portal.pending) if max_rows <= 0 else portal.sent + max_rows
        rows = portal.pending[portal.sent : end]
        portal.sent += len(rows)
        if rows:
            self._send(encoder.data_rows(rows))
        if portal.sent < len(portal.pending):
            self._send(messages.PortalSuspended.build())
            return
        self._complete(portal.sent, portal.truncated)

    def _complete(self, count: int, truncated: bool) -> None:
        if self.tracker is not None:
            self.tracker.complete(count)
        if truncated:
            self._send(
                notice(
                    f"result cut to {count} rows: max_rows limit of the gateway",
                    severity="WARNING",
                    sqlstate="01000",
                )
            )
        self._send(messages.CommandComplete.build(tag=b"SELECT %d" % count))


def _columns(
    result: Result, translation: Translation, time_zone: str = "UTC"
) -> list[tuple[str, PgType]]:
    """Each result column's name (PostgreSQL's, where the translation knows it) and type (the
    translation's override, else ClickHouse's, mapped)."""
    overrides = list(translation.column_types)
    names = list(translation.column_names)
    columns = []
    for index, (name, ch_type) in enumerate(zip(result.names, result.types, strict=True)):
        override = overrides[index] if index < len(overrides) else None
        pg_name = names[index] if index < len(names) else name
        columns.append((pg_name, pg_type(override or ch_type, time_zone)))
    return columns


def _formats(formats: list[int], count: int) -> list[int]:
    if not formats:
        return [0] * count
    if len(formats) == 1:
        return formats * count
    if len(formats) != count:
        raise PgError(
            PROTOCOL_VIOLATION,
            f"bind message has {len(formats)} result formats but query has {count} columns",
        )
    return formats


def _row_description(
    columns: list[tuple[str, PgType]], formats: list[int], origins: list[tuple[int, int]]
) -> bytes:
    codes = _formats(formats, len(columns))
    if len(origins) != len(columns):
        origins = [(0, 0)] * len(columns)
    return messages.RowDescription.build(
        fields=[
            {
                "name": name.encode(),
                "table_oid": table_oid,
                "column": attnum,
                "type_oid": pg.oid,
                "type_size": pg.size,
                "type_modifier": pg.typmod,
                "format": code,
            }
            for (name, pg), code, (table_oid, attnum) in zip(columns, codes, origins, strict=True)
        ]
    )
