"""The PostgreSQL data path: the client's messages go to its backend connection, and the
backend's messages come back unchanged.

Both directions are asyncio protocols on the two sockets, so data is handled in the callback
that receives it, with no task switch per message, and pipelined clients keep their pipelining.
Each direction walks message headers only; rows are never decoded. Back-pressure is the
transports' own: when one side's send buffer fills, the other side stops reading.

The client side stops every statement text (Query and Parse) at the guard. A rejected statement
is not answered locally: the relay sends the backend a *sentinel* instead, a statement that
fails to parse and carries a per-session marker. The backend then fails the batch exactly where
the rejected statement stood: it skips to the next Sync, marks an open transaction failed, and
reports the true transaction status in ReadyForQuery. The backend side swaps the sentinel's
error for the guard's. Ordering, error recovery and the transaction state thus stay
PostgreSQL's own.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.backends.postgres.connection import BackendConnection
from gateway.limits import SessionLimits
from gateway.ops.observe import StatementTracker, command_rows, error_fields
from gateway.protocol import messages
from gateway.protocol.errors import (
    FEATURE_NOT_SUPPORTED,
    PROTOCOL_VIOLATION,
    QUERY_CANCELED,
    PgError,
    ProtocolViolation,
    notice,
)
from gateway.protocol.framing import ConnectionClosed, decode_cstring

log = logging.getLogger(__name__)

_unpack_length = struct.Struct("!I").unpack_from

# Frontend messages forwarded as they are: they refer only to statements that already passed
# the guard at Parse time. Execute and Close are forwarded too, after the limits have seen them.
_FORWARDED = frozenset(b"DH")
_SYNC = ord("S")
# Copy-in messages outside copy-in mode are ignored by PostgreSQL; the gateway never enters
# copy-in mode, so it drops them rather than forwarding them.
_COPY_IN = frozenset(b"dcf")
# Backend messages the relay must look at; everything else passes untouched. CommandComplete
# carries the row count a statement's record reports: one message per statement, not per row.
_WATCHED = frozenset(b"ZESGWC")
# With a row limit, rows (DataRow, CopyData) and CommandComplete are counted and may be cut.
_WATCHED_WITH_ROW_LIMIT = _WATCHED | frozenset(b"DdC")

_READ_SIZE = 256 * 1024


@dataclass
class Rejection:
    # The sentinel's own marker: the backend's error for it quotes the sentinel text.
    marker: bytes
    error: PgError


class ClientChannel:
    """What the relay needs from the client side: streams, limits and the text codec."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        user: str,
        max_message_size: int,
        codec: str = "utf-8",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.user = user
        self.max_message_size = max_message_size
        self.codec = codec


StatementCheck = Callable[[str], PgError | None]


class PostgresRelay:
    def __init__(
        self,
        client: ClientChannel,
        backend: BackendConnection,
        check: StatementCheck,
        limits: SessionLimits | None = None,
        gateway_timeout_ms: int | None = None,
        tracker: StatementTracker | None = None,
    ) -> None:
        self.client = client
        self.backend = backend
        self.check = check
        self.limits = limits
        self.tracker = tracker
        # Bytes received from the backend, and where the last ReadyForQuery ended in them: a
        # statement's answer is what lies between two ReadyForQuery messages.
        self._received = 0
        self._answered = 0
        self._ready_at = 0
        self._max_rows = limits.limits.max_rows if limits else None
        self._watched_tags = _WATCHED if self._max_rows is None else _WATCHED_WITH_ROW_LIMIT
        self._rows = 0
        self._rows_cut = False
        # A statement timeout stricter than the backend's own: the gateway times it and cancels.
        self._gateway_timeout = gateway_timeout_ms / 1000 if gateway_timeout_ms else None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        self._background: set[asyncio.Task[None]] = set()
        self._marker = f"metahog_rejected_{secrets.token_hex(8)}"
        self._marker_bytes = self._marker.encode()
        self._rejections: deque[Rejection] = deque()
        self._rejection_count = 0
        self._sync_points_sent = 0
        self._ready_seen = 0
        self._client_gone = False
        self._idle = asyncio.Event()
        self._idle.set()
        # The gateway's last message for a client whose stream is mid-message: see
        # _send_last_to_client.
        self._last_message: bytes | None = None
        self.fatal: PgError | None = None
        self._outbox: list[bytes | memoryview] = []
        self._client_pending = b""
        self._backend_pending = b""
        # Bytes still to come of a backend message that is forwarded unread.
        self._passthrough = 0
        self._client_done: asyncio.Future[None]
        self._backend_done: asyncio.Future[None]

    @property
    def _backend_mid_message(self) -> bool:
        """The backend stream stopped inside a message: partly buffered or partly forwarded."""
        return bool(self._backend_pending) or self._passthrough > 0

    @property
    def busy(self) -> bool:
        return self._sync_points_sent > self._ready_seen

    # --- session ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until the client leaves or the backend fails. The backend connection is left
        at a message boundary and idle, or marked broken."""
        loop = asyncio.get_running_loop()
        self._client_done = loop.create_future()
        self._backend_done = loop.create_future()
        client_transport = self.client.writer.transport
        backend_transport = self.backend.writer.transport
        client_protocol = client_transport.get_protocol()
        backend_protocol = backend_transport.get_protocol()
        # Bytes the stream readers already hold (pipelined behind start-up) come first.
        client_leftover = _take_buffered(self.client.reader)
        backend_leftover = _take_buffered(self.backend.reader)
        for transport, side in (
            (
                client_transport,
                _Side(self._on_client_data, self._on_client_lost, backend_transport),
            ),
            (
                backend_transport,
                _Side(self._on_backend_data, self._on_backend_lost, client_transport),
            ),
        ):
            side.connection_made(transport)
            transport.set_protocol(side)
        if backend_leftover:
            self._on_backend_data(backend_leftover)
        if client_leftover:
            self._on_client_data(client_leftover)
        if self.client.reader.at_eof():
            self._on_client_lost(None)
        if self.backend.reader.at_eof():
            self._on_backend_lost(None)
        try:
            done, _ = await asyncio.wait(
                {self._client_done, self._backend_done}, return_when=asyncio.FIRST_COMPLETED
            )
            if self._client_done in done:
                error = self._client_done.exception()
                if isinstance(error, PgError):
                    self._send_last_to_client(error.encode())
                else:
                    if error is not None and not isinstance(error, ConnectionClosed):
                        log.error("client side of the relay failed", exc_info=error)
                        self.backend.broken = True
                    self._client_gone = True
                await self._settle_backend()
            else:
                self._client_gone_after(self._backend_done.exception())
        finally:
            backend_transport.resume_reading()
            backend_transport.set_protocol(backend_protocol)
            client_transport.set_protocol(client_protocol)
            if self._backend_mid_message:
                self.backend.broken = True
            for side in (self._client_done, self._backend_done):
                if side.done() and not side.cancelled():
                    side.exception()  # retrieved: the outcome was handled above
            self._statement_finished()

    def _client_gone_after(self, error: BaseException | None) -> None:
        """The backend failed or ended the session: tell the client why, once."""
        self.backend.broken = True
        if isinstance(error, PgError):
            self._send_to_client(error.encode())
        else:
            log.info("backend connection lost: %s", error)
            self._send_to_client(
                PgError("08006", "the connection to the source was lost", severity="FATAL").encode()
            )
        self._flush_client()
        self._client_gone = True

    async def _settle_backend(self) -> None:
        """The client is gone: stop its running query and let the backend finish answering."""
        if self.busy:
            await self.backend.cancel()
        try:
            await asyncio.wait_for(self._wait_idle(), 10)
        except TimeoutError:
            self.backend.broken = True
        if self._backend_mid_message:
            self.backend.broken = True

    async def _wait_idle(self) -> None:
        while self.busy and not self._backend_done.done():
            self._idle.clear()
            waiter = asyncio.ensure_future(self._idle.wait())
            try:
                await asyncio.wait(
                    {waiter, self._backend_done}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                # Also when the wait itself times out: a forgotten waiter outlives the relay.
                waiter.cancel()
        if self._backend_done.done():
            self.backend.broken = True

    async def cancel(self) -> None:
        """A CancelRequest with this session's key arrived."""
        if self.busy:
            await self.backend.cancel()

    def _send_to_client(self, data: bytes | memoryview) -> None:
        """Queue data for the client; `_flush_client` writes the queue in one call, so that one
        backend read costs one socket write however many messages it held."""
        if not self._client_gone:
            self._outbox.append(data)

    def _flush_client(self) -> None:
        if self._outbox:
            if not self._client_gone:
                self.client.writer.writelines(self._outbox)
            self._outbox.clear()

    def _send_last_to_client(self, data: bytes) -> None:
        """Send a final message, then nothing more. While the backend pump is half-way through
        forwarding a message, writing now would land inside it and corrupt the client's framing
        (a FATAL error amid a DataRow): the pump sends it at the end of that message instead."""
        if self._passthrough:
            self._last_message = data
            return
        self._send_to_client(data)
        self._flush_client()
        self._client_gone = True

    def _client_at_boundary(self) -> None:
        if self._last_message is not None:
            self._send_to_client(self._last_message)
            self._last_message = None
            self._flush_client()
            self._client_gone = True

    # --- client to backend -----------------------------------------------------------------
    def _on_client_data(self, data: bytes) -> None:
        if self._client_done.done():
            return
        try:
            self._client_data(data)
        except BaseException as exc:
            self._client_done.set_exception(exc)

    def _on_client_lost(self, exc: Exception | None) -> None:
        if self._client_done.done():
            return
        if self._client_pending:
            error: BaseException = ProtocolViolation(
                "incomplete message from client: connection closed mid-message"
            )
        else:
            error = ConnectionClosed()
        self._client_done.set_exception(error)

    def _client_data(self, data: bytes) -> None:
        max_size = self.client.max_message_size
        if self._client_pending:
            data = self._client_pending + data
        out = bytearray()
        pos, size = 0, len(data)
        try:
            while size - pos >= 5:
                tag = data[pos]
                (length,) = _unpack_length(data, pos + 1)
                if length < 4:
                    raise ProtocolViolation(f"invalid message length {length}")
                if length > max_size:
                    raise ProtocolViolation(
                        f"message of {length} bytes exceeds the limit of {max_size}"
                    )
                end = pos + 1 + length
                if end > size:
                    break
                if tag in _FORWARDED:
                    out += data[pos:end]
                    self.backend.unsynced = True
                elif tag == _SYNC:
                    out += data[pos:end]
                    self._sync_point_sent()
                    self.backend.unsynced = False
                elif tag == 0x45:  # Execute
                    out += self._execute(data[pos:end])
                elif tag == 0x42:  # Bind
                    out += self._bind(data[pos:end])
                elif tag == 0x43:  # Close
                    out += self._close(data[pos:end])
                elif tag == 0x51:  # Query
                    out += self._query(data[pos + 5 : end])
                elif tag == 0x50:  # Parse
                    out += self._parse(data[pos:end])
                elif tag == 0x46:  # FunctionCall
                    out += self._reject_simple(
                        PgError(FEATURE_NOT_SUPPORTED, "the FunctionCall message is not supported")
                    )
                elif tag == 0x58:  # Terminate
                    raise ConnectionClosed()
                elif tag in _COPY_IN:
                    pass
                else:
                    raise ProtocolViolation(f"invalid frontend message type {tag}")
                pos = end
        finally:
            # What was read before a Terminate or a bad message still reaches the backend, as
            # it would reach PostgreSQL, which reads messages one by one.
            if out:
                self.backend.writer.write(out)
        self._client_pending = data[pos:]

    def _decode(self, raw: bytes) -> str:
        return decode_cstring(raw, self.client.codec)

    def _query(self, payload: bytes) -> bytes:
        text = self._decode(payload)
        if self.tracker is not None:
            self.tracker.query(text)
        error = self.check(text)
        if error is None and self.limits is not None:
            error = self.limits.admit_query()
        if error is not None:
            return self._reject_simple(error)
        self._sync_point_sent()
        self.backend.unsynced = False
        return messages.simple_message(b"Q", payload)

    def _parse(self, message: bytes) -> bytes:
        try:
            parsed = messages.Parse.parse(message[5:])
        except messages.MalformedMessage as exc:
            raise ProtocolViolation(str(exc)) from None
        text = self._decode(parsed.query + b"\0")
        if self.tracker is not None:
            self.tracker.parse(parsed.statement, text)
        error = self.check(text)
        if error is None and self.limits is not None:
            error = self.limits.admit_statement(parsed.statement)
        self.backend.unsynced = True
        if error is None:
            return message
        return self._reject_extended(error)

    def _execute(self, message: bytes) -> bytes:
        self.backend.unsynced = True
        if self.tracker is not None:
            self.tracker.execute(message[5 : message.find(b"\0", 5)])
        error = self.limits.admit_query() if self.limits is not None else None
        return message if error is None else self._reject_extended(error)

    def _bind(self, message: bytes) -> bytes:
        self.backend.unsynced = True
        if self.tracker is not None:
            portal_end = message.find(b"\0", 5)
            statement_end = message.find(b"\0", portal_end + 1)
            if 0 < portal_end < statement_end:
                self.tracker.bind(message[5:portal_end], message[portal_end + 1 : statement_end])
        if self.limits is None or message[5] == 0:  # the unnamed portal is not counted
            return message
        end = message.find(b"\0", 5)
        if end < 0:
            raise ProtocolViolation("malformed Bind message")
        error = self.limits.admit_portal(message[5:end])
        return message if error is None else self._reject_extended(error)

    def _close(self, message: bytes) -> bytes:
        self.backend.unsynced = True
        if self.tracker is not None:
            self.tracker.close(message[5:6], message[6:-1])
        if self.limits is not None:
            if message[5:6] == b"S":
                self.limits.closed_statement(message[6:-1])
            elif message[5:6] == b"P":
                self.limits.closed_portal(message[6:-1])
        return message

    def _reject_extended(self, error: PgError) -> bytes:
        if self.tracker is not None:
            self.tracker.rejected(error)
        # A Parse that fails makes the backend skip the rest of the batch up to Sync.
        return messages.Parse.build(statement=b"", query=self._sentinel(error), param_types=[])

    def _reject_simple(self, error: PgError) -> bytes:
        if self.tracker is not None:
            self.tracker.rejected(error)
        query = self._sentinel(error)
        self._sync_point_sent()
        return messages.Query.build(query=query)

    def _sync_point_sent(self) -> None:
        self._sync_points_sent += 1
        if self.tracker is not None:
            self.tracker.sync()
        if self._gateway_timeout is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self._gateway_timeout, self._statement_timed_out
            )

    def _statement_timed_out(self) -> None:
        self._timer = None
        if self.busy:
            self._timed_out = True
            task = asyncio.ensure_future(self.backend.cancel())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _sentinel(self, error: PgError) -> bytes:
        """The text of a new sentinel, numbered so that its error names exactly this rejection.
        Counting ReadyForQuery messages cannot tell which rejection an error belongs to: after
        an extended-protocol error the backend skips everything up to Sync, including a Query
        (which then sends no ReadyForQuery) and other sentinels (which then send no error)."""
        self._rejection_count += 1
        # Fixed width, so that no marker is a prefix of another.
        marker = b"%s_%010d" % (self._marker_bytes, self._rejection_count)
        self._rejections.append(Rejection(marker, error))
        return marker

    # --- backend to client -----------------------------------------------------------------
    def _on_backend_data(self, data: bytes) -> None:
        if self._backend_done.done():
            return
        try:
            self._backend_data(data)
        except BaseException as exc:
            self._backend_done.set_exception(exc)

    def _on_backend_lost(self, exc: Exception | None) -> None:
        if not self._backend_done.done():
            self._backend_done.set_exception(ConnectionError("backend closed the connection"))

    def _backend_data(self, data: bytes) -> None:
        self._received += len(data)
        passthrough = self._passthrough
        if passthrough:
            if len(data) <= passthrough:
                passthrough -= len(data)
                self._passthrough = passthrough
                self._send_to_client(data)
                if not passthrough:
                    self._client_at_boundary()
                    self._note_idle()
                self._flush_client()
                return
            self._send_to_client(memoryview(data)[:passthrough])
            data = data[passthrough:]
            passthrough = self._passthrough = 0
            self._client_at_boundary()
        if self._backend_pending:
            data = self._backend_pending + data
        # Where `data` starts among all bytes received.
        base = self._received - len(data)
        watched = self._watched_tags
        view = memoryview(data)
        run_start = pos = 0
        size = len(data)
        while size - pos >= 5:
            tag = data[pos]
            end = pos + 1 + _unpack_length(data, pos + 1)[0]
            if tag not in watched:
                if end > size:
                    # Forward what has arrived; the rest of this message follows unread.
                    passthrough = end - size
                    pos = size
                    break
                pos = end
                continue
            if end > size:
                break
            if run_start < pos:
                self._send_to_client(view[run_start:pos])
            if tag == 0x5A:
                self._ready_at = base + end
            self._watched(tag, data[pos:end])
            pos = run_start = end
            if self.fatal is not None:
                # Nothing after the violation reaches the client: its answer is the error.
                break
        if run_start < pos:
            self._send_to_client(view[run_start:pos])
        self._backend_pending = data[pos:]
        self._passthrough = passthrough
        self._flush_client()
        if self.fatal is not None:
            raise self.fatal
        self._note_idle()

    def _note_idle(self) -> None:
        if not self.busy and not self._backend_mid_message:
            self._idle.set()

    def _watched(self, tag: int, message: bytes) -> None:
        if tag == 0x44 or tag == 0x64:  # DataRow, CopyData (watched only with a row limit)
            self._rows += 1
            if self._rows > self._max_rows:  # type: ignore[operator]
                self._rows_cut = True
            else:
                self._send_to_client(message)
        elif tag == 0x43:  # CommandComplete
            cut = self._rows_cut
            self._send_to_client(self._command_complete(message))
            if self.tracker is not None:
                self.tracker.complete((self._max_rows or 0) if cut else command_rows(message[5:]))
        elif tag == 0x5A:  # ReadyForQuery
            self._ready_seen += 1
            self.backend.status = message[5:6]
            self._rows, self._rows_cut = 0, False
            self._send_to_client(message)
            if self.tracker is not None:
                self.tracker.ready(self._ready_at - self._answered)
                self._answered = self._ready_at
            if self.limits is not None and self.backend.status == b"I":
                self.limits.transaction_ended()
            if not self.busy:
                self._statement_finished()
        elif tag == 0x45:  # ErrorResponse
            self._rows, self._rows_cut = 0, False
            error = self._error(message)
            self._send_to_client(error)
            if self.tracker is not None:
                self.tracker.error(*error_fields(error[5:]))
        elif tag == 0x53:  # ParameterStatus
            self._parameter_status(message)
        else:  # CopyInResponse / CopyBothResponse: never allowed through the gateway
            self.backend.writer.write(messages.CopyFail.build(message=b"COPY FROM is not allowed"))

    def _command_complete(self, message: bytes) -> bytes:
        cut, self._rows, self._rows_cut = self._rows_cut, 0, False
        if not cut:
            return message
        # "SELECT 5000" becomes "SELECT 100": the client is told how many rows it got, and why.
        words = message[5:-1].split(b" ")
        words[-1] = str(self._max_rows).encode()
        warning = notice(
            f"result cut to {self._max_rows} rows: max_rows limit of the gateway",
            severity="WARNING",
            sqlstate="01000",
        )
        return warning + messages.simple_message(b"C", b" ".join(words) + b"\0")

    def _statement_finished(self) -> None:
        if self.limits is not None:
            self.limits.finished()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timed_out = False

    def _error(self, message: bytes) -> bytes:
        if self._timed_out and b"C57014\0" in message:
            return PgError(QUERY_CANCELED, "canceling statement due to statement timeout").encode()
        if self._marker_bytes not in message:
            return message
        # Answers come in order: sentinels queued before this one were skipped by the backend.
        while self._rejections:
            rejection = self._rejections.popleft()
            if rejection.marker in message:
                return rejection.error.encode()
        return PgError(PROTOCOL_VIOLATION, "statement rejected by the gateway").encode()

    def _parameter_status(self, message: bytes) -> None:
        status = messages.ParameterStatus.parse(message[5:])
        name = status.name.decode()
        value = status.value.decode("utf-8", "replace")
        self.backend.parameters[name] = value
        violation = unsafe_parameter(name, value)
        if violation is not None:
            self.fatal = violation
            return
        if name == "client_encoding":
            # unsafe_parameter() has refused encodings without a codec.
            self.client.codec = python_codec(value) or self.client.codec
        self._send_to_client(client_parameter_status(name, value, self.client.user))


# Settings the backend must keep for the session to stay safe, and why.
_REQUIRED_PARAMETERS = {
    # The guard reads backslashes in string literals as PostgreSQL does with this setting on;
    # with it off, the two could disagree about where a string ends.
    "standard_conforming_strings": "on",
    # The database-level half of read-only enforcement.
    "default_transaction_read_only": "on",
}


def _undecodable_encoding(value: str) -> PgError:
    return PgError(
        PROTOCOL_VIOLATION,
        f"client_encoding {value} cannot be checked by MetaHog; the session is closed",
        severity="FATAL",
    )


def unsafe_parameter(name: str, value: str) -> PgError | None:
    """A FATAL error when a backend reports a setting that makes the session unsafe."""
    if name == "client_encoding" and python_codec(value) is None:
        return _undecodable_encoding(value)
    required = _REQUIRED_PARAMETERS.get(name)
    if required is None or value == required:
        return None
    return PgError(
        PROTOCOL_VIOLATION,
        f"the source's session reported {name}={value}, which MetaHog does not allow; "
        "the session is closed",
        severity="FATAL",
    )


# Parameters whose backend values describe the gateway's own login, not the client's.
def client_parameter_status(name: str, value: str, user: str) -> bytes:
    if name == "is_superuser":
        value = "off"
    elif name == "session_authorization":
        value = user
    return messages.ParameterStatus.build(name=name.encode(), value=value.encode())


# PostgreSQL client encodings the relay can decode for the guard. In each, a byte below 0x80 is
# always the ASCII character (the client-only encodings where that fails are refused by the
# guard). SQL_ASCII is read byte for byte, as the server does.
_CODECS = {
    "UTF8": "utf-8",
    "SQL_ASCII": "latin-1",
    "LATIN1": "latin-1",
    "LATIN2": "iso8859-2",
    "LATIN3": "iso8859-3",
    "LATIN4": "iso8859-4",
    "LATIN5": "iso8859-9",
    "LATIN6": "iso8859-10",
    "LATIN7": "iso8859-13",
    "LATIN8": "iso8859-14",
    "LATIN9": "iso8859-15",
    "LATIN10": "iso8859-16",
    "ISO_8859_5": "iso8859-5",
    "ISO_8859_6": "iso8859-6",
    "ISO_8859_7": "iso8859-7",
    "ISO_8859_8": "iso8859-8",
    "WIN866": "cp866",
    "WIN874": "cp874",
    "WIN1250": "cp1250",
    "WIN1251": "cp1251",
    "WIN1252": "cp1252",
    "WIN1253": "cp1253",
    "WIN1254": "cp1254",
    "WIN1255": "cp1255",
    "WIN1256": "cp1256",
    "WIN1257": "cp1257",
    "WIN1258": "cp1258",
    "KOI8R": "koi8-r",
    "KOI8U": "koi8-u",
    "EUC_JP": "euc_jp",
    "EUC_KR": "euc_kr",
    "EUC_CN": "gb2312",
    "EUC_JIS_2004": "euc_jis_2004",
}


def python_codec(pg_encoding: str) -> str | None:
    """The Python codec for a client encoding the backend reports, or None when the relay
    cannot decode it the way the server does."""
    return _CODECS.get(pg_encoding.upper())


class _Side(asyncio.Protocol):
    """One socket of the relay. When this socket's send buffer fills, the peer socket stops
    reading until it drains: memory stays bounded whichever side is slow."""

    def __init__(
        self,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception | None], None],
        peer: asyncio.BaseTransport,
    ) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._peer = peer
        self._half_close = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._half_close = transport.get_extra_info("sslcontext") is None

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def eof_received(self) -> bool:
        self._on_lost(None)
        # Keep the write side of a half-closed TCP socket open, so that an error can still be
        # sent; TLS has no half-close.
        return self._half_close

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(exc)

    def pause_writing(self) -> None:
        if not self._peer.is_closing():
            self._peer.pause_reading()  # type: ignore[attr-defined]

    def resume_writing(self) -> None:
        if not self._peer.is_closing():
            self._peer.resume_reading()  # type: ignore[attr-defined]


def _take_buffered(reader: asyncio.StreamReader) -> bytes:
    """Take what a stream reader has buffered but nobody has read yet."""
    buffered: bytearray = reader._buffer  # type: ignore[attr-defined]
    data = bytes(buffered)
    buffered.clear()
    return data
