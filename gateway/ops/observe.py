"""Statement observation: every statement that reaches the guard is reported once, wherever it
ran (the PostgreSQL relay, a federated session, the HTTP API), as one `StatementRecord`. The
gateway's `Observer` hands each record to its sinks: the metrics and the audit log.

A session's statements are followed by a `StatementTracker`. Its unit is what ends in one
ReadyForQuery: a simple Query message, or an extended-protocol batch up to its Sync. Such a unit
is recorded when it ran a statement (a Query or an Execute) or failed; a batch that only
prepares a statement (Parse, Describe, Sync) is not a statement run and is recorded only when it
fails. Client messages build the newest unit while the backend's answers complete the oldest:
the relay pipelines, and answers come back in order.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.protocol import messages
from gateway.protocol.errors import PgError

if TYPE_CHECKING:
    from gateway.ops.metrics import GatewayMetrics

log = logging.getLogger(__name__)

ALLOWED, REJECTED = "allowed", "rejected"
QUERY_CANCELED = "57014"
CONNECTION_FAILURE = "08006"
# Names kept for prepared statements and portals, per session: the relay's limits bound them
# already; this bound only keeps a session without limits from growing the map for ever.
_MAX_NAMES = 4096


@dataclass(slots=True)
class StatementRecord:
    time: float  # when it started, seconds since the epoch
    session: int  # the session's id: its BackendKeyData process id
    user: str | None
    source: str | None
    application_name: str
    client: str  # the client's address, host:port
    statement: str
    verdict: str  # ALLOWED or REJECTED (by the guard or the gateway's limits)
    reason: str | None  # a rejection's SQLSTATE
    sqlstate: str | None  # the first error's SQLSTATE; None when it succeeded
    rows: int
    bytes: int  # protocol bytes returned to the client
    duration: float  # seconds
    timed_out: bool = False  # cancelled by a statement timeout

    @property
    def outcome(self) -> str:
        if self.verdict == REJECTED:
            return "rejected"
        return "error" if self.sqlstate else "ok"


Sink = Callable[[StatementRecord], None]


class Observer:
    """The gateway's one place where statements' outcomes arrive: the counter counts each, and
    the sinks (the audit log) get each as a record."""

    def __init__(self, counter: GatewayMetrics | None = None) -> None:
        self.counter = counter
        self._sinks: list[Sink] = []

    @property
    def wants_records(self) -> bool:
        return bool(self._sinks)

    def add(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def report(self, record: StatementRecord) -> None:
        if self.counter is not None:
            self.counter.count(
                record.source,
                record.user,
                record.reason if record.verdict == REJECTED else None,
                record.sqlstate,
                record.timed_out,
                record.duration,
                record.rows,
                record.bytes,
            )
        self.deliver(record)

    def deliver(self, record: StatementRecord) -> None:
        """Hand a record to the sinks only (its statement is counted already)."""
        for sink in self._sinks:
            try:
                sink(record)
            except Exception:
                # Observation must never fail the statement it observes.
                log.exception("a statement sink failed")


@dataclass(slots=True)
class SessionIdentity:
    """Who runs a session's statements, as every record of the session names them."""

    session: int
    user: str | None
    source: str | None
    application_name: str = ""
    client: str = ""


class Activity(Protocol):
    """What a session shows about its current statement (the admin console reads it)."""

    state: str  # "idle" | "active"
    current_statement: str | None
    statement_started: float | None  # time.monotonic()


class _Unit:
    """One sync point's statements. A plain class with slots: one is made per statement, on
    the relay's hottest path."""

    __slots__ = ("parsed", "reason", "rows", "sqlstate", "started", "texts", "timed_out")

    def __init__(self, started: float) -> None:
        self.started = started  # time.monotonic()
        self.texts: list[str] = []  # of its Query or Execute messages
        self.parsed: list[str] | None = None  # Parse texts, shown when nothing ran
        self.reason: str | None = None
        self.sqlstate: str | None = None
        self.timed_out = False
        self.rows = 0

    def text(self) -> str:
        texts = self.texts or self.parsed or ()
        return texts[0] if len(texts) == 1 else ";\n".join(texts)


class StatementTracker:
    """One session's statements, from the client's messages to the answers' ReadyForQuery."""

    def __init__(
        self, observer: Observer, identity: SessionIdentity, activity: Activity | None = None
    ) -> None:
        self.observer = observer
        self.identity = identity
        self.activity = activity
        self._open: _Unit | None = None  # built from client messages, not yet at a sync point
        self._sent: deque[_Unit] = deque()  # at a sync point, awaiting ReadyForQuery
        self._statements: OrderedDict[bytes, str] = OrderedDict()
        self._portals: OrderedDict[bytes, str] = OrderedDict()
        # Records carry wall-clock times; units keep only the monotonic clock, read once.
        self._wall_offset = time.time() - time.monotonic()
        self._unnamed_portal = ""

    # --- the client's side ---------------------------------------------------------------------
    def query(self, text: str) -> None:
        """A simple Query; it is a sync point too, and `sync` follows."""
        unit = self._unit()
        unit.texts.append(text)
        self._active(unit)

    def parse(self, name: bytes, text: str) -> None:
        unit = self._unit()
        if unit.parsed is None:
            unit.parsed = [text]
        else:
            unit.parsed.append(text)
        _remember(self._statements, name, text)

    # Bind, Execute, Sync, CommandComplete and ReadyForQuery come once per statement: these
    # methods inline their helpers, since each Python call there costs the relay throughput.
    def bind(self, portal: bytes, statement: bytes) -> None:
        if self._open is None:
            self._open = _Unit(time.monotonic())
        text = self._statements.get(statement)
        if text is not None:
            if portal:
                _remember(self._portals, portal, text)
            else:  # the unnamed portal, which most drivers bind every time
                self._unnamed_portal = text

    def execute(self, portal: bytes) -> None:
        unit = self._open
        if unit is None:
            unit = self._open = _Unit(time.monotonic())
        unit.texts.append(self._portals.get(portal, "") if portal else self._unnamed_portal)
        if self.activity is not None:
            self._active(unit)

    def close(self, kind: bytes, name: bytes) -> None:
        if kind == b"P" and not name:
            self._unnamed_portal = ""
        (self._statements if kind == b"S" else self._portals).pop(name, None)

    def rejected(self, error: PgError) -> None:
        """The gateway refused a statement of the unit being built (guard or limits)."""
        unit = self._unit()
        if unit.reason is None:
            unit.reason = error.sqlstate
        if unit.sqlstate is None:
            unit.sqlstate = error.sqlstate

    def sync(self) -> None:
        """A sync point (Sync, or a Query) was sent: a ReadyForQuery will answer it."""
        unit = self._open
        self._sent.append(unit if unit is not None else _Unit(time.monotonic()))
        self._open = None

    # --- the answers' side ---------------------------------------------------------------------
    def complete(self, rows: int) -> None:
        unit = self._sent[0] if self._sent else self._open
        if unit is not None:
            unit.rows += rows

    def error(self, sqlstate: str, timed_out: bool = False) -> None:
        unit = self._head()
        if unit is not None and unit.sqlstate is None:
            unit.sqlstate = sqlstate
            unit.timed_out = timed_out

    def ready(self, nbytes: int) -> None:
        """ReadyForQuery: the oldest unit is done; `nbytes` is what its answers took."""
        if not self._sent:
            return
        unit = self._sent.popleft()
        if unit.texts or unit.sqlstate is not None:
            # The common case, on the relay's hottest path: counted from plain values, and a
            # record made only when a sink (the audit log) wants one.
            duration = time.monotonic() - unit.started
            observer = self.observer
            if observer.counter is not None:
                identity = self.identity
                observer.counter.count(
                    identity.source,
                    identity.user,
                    unit.reason,
                    unit.sqlstate,
                    unit.timed_out,
                    duration,
                    unit.rows,
                    nbytes,
                )
            if observer.wants_records:
                observer.deliver(self._record(unit, nbytes, duration))
        activity = self.activity
        if activity is not None:
            following = self._sent[0] if self._sent else self._open
            if following is not None and following.texts:
                self._active(following)
            else:
                activity.state = "idle"
                activity.current_statement = None

    def end(self) -> None:
        """The session is over: statements still unanswered (the client or the source left
        mid-statement) are reported as failed with the connection."""
        units = [*self._sent, *([self._open] if self._open is not None else [])]
        self._sent.clear()
        self._open = None
        for unit in units:
            if unit.texts or unit.sqlstate is not None:
                unit.sqlstate = unit.sqlstate or CONNECTION_FAILURE
                self.observer.report(self._record(unit, 0, time.monotonic() - unit.started))

    def _record(self, unit: _Unit, nbytes: int, duration: float) -> StatementRecord:
        identity = self.identity
        return StatementRecord(
            time=unit.started + self._wall_offset,
            session=identity.session,
            user=identity.user,
            source=identity.source,
            application_name=identity.application_name,
            client=identity.client,
            statement=unit.text(),
            verdict=REJECTED if unit.reason is not None else ALLOWED,
            reason=unit.reason,
            sqlstate=unit.sqlstate,
            rows=unit.rows,
            bytes=nbytes,
            duration=duration,
            timed_out=unit.timed_out,
        )

    def _unit(self) -> _Unit:
        unit = self._open
        if unit is None:
            unit = self._open = _Unit(time.monotonic())
        return unit

    def _head(self) -> _Unit | None:
        return self._sent[0] if self._sent else self._open

    def _active(self, unit: _Unit) -> None:
        activity = self.activity
        if activity is not None and (activity.state != "active" or unit is self._head()):
            activity.state = "active"
            activity.current_statement = unit.text()
            activity.statement_started = unit.started


def _remember(names: OrderedDict[bytes, str], name: bytes, text: str) -> None:
    names[name] = text
    names.move_to_end(name)
    if len(names) > _MAX_NAMES:
        names.popitem(last=False)


def error_fields(payload: bytes) -> tuple[str, bool]:
    """The SQLSTATE of an ErrorResponse's payload, and whether it is a statement timeout."""
    fields = messages.parse_fields(messages.ErrorResponse.parse(payload))
    sqlstate = fields.get("C", "")
    return sqlstate, sqlstate == QUERY_CANCELED and "statement timeout" in fields.get("M", "")


def command_rows(tag: bytes) -> int:
    """The row count of a CommandComplete tag ("SELECT 5", "INSERT 0 1", "FETCH 3"), else 0."""
    count = tag.rstrip(b"\0").rpartition(b" ")[2]
    return int(count) if count.isdigit() else 0
