"""A session the gateway opens to itself, for the HTTP API.

The API does not execute queries of its own: it runs a real `ClientSession` over an in-process
socket pair, logged in as the token's user, and speaks the extended protocol to it. So a
statement from the API takes the wire protocol's one path (routing, privileges, the guard,
limits, translation, observation), and the API can never drift from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.protocol import messages
from gateway.protocol.framing import ConnectionClosed, read_message
from gateway.protocol.startup import StartupRequest
from gateway.session import ClientSession

if TYPE_CHECKING:
    from gateway.server import Gateway

APPLICATION_NAME = "metahog-http-api"
# The relay and the federated session both warn with this text when a max_rows limit cut a result.
_CUT_WARNING = "result cut to "
_STREAM_LIMIT = 2**20
# PostgreSQL's own bound on a message; the session's rows come from the sources, not a client.
_MAX_MESSAGE = 2**30
_ENDED = {"C": "08006", "M": "the session ended unexpectedly", "S": "FATAL"}


class SessionError(Exception):
    """An ErrorResponse from the session: the statement (or the login) failed."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.sqlstate = fields.get("C", "XX000")
        self.message = fields.get("M", "unknown error")
        self.fatal = fields.get("S") in ("FATAL", "PANIC")
        super().__init__(self.message)


@dataclass
class QueryResult:
    names: list[str] = field(default_factory=list)
    type_oids: list[int] = field(default_factory=list)
    # Values in text format, as the session sent them; None is NULL.
    rows: list[list[bytes | None]] = field(default_factory=list)
    # More rows exist than were returned: max_rows was reached, or a gateway limit cut the result.
    has_more: bool = False


class InternalSession:
    """`async with InternalSession(gateway, user, database, peer) as session:` logs in (raising
    SessionError when the user may not use the database, or it does not exist), then
    `await session.query(sql, max_rows)` runs statements one at a time."""

    def __init__(self, gateway: Gateway, user: str, database: str, peer: str) -> None:
        self.gateway = gateway
        self.login = StartupRequest(user, database, {"application_name": APPLICATION_NAME})
        self.peer = peer
        self._task: asyncio.Task[None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> InternalSession:
        ours, theirs = socket.socketpair()
        try:
            session_reader, session_writer = await asyncio.open_connection(
                sock=theirs, limit=_STREAM_LIMIT
            )
            self._reader, self._writer = await asyncio.open_connection(
                sock=ours, limit=_STREAM_LIMIT
            )
        except BaseException:
            ours.close()
            theirs.close()
            raise
        session = ClientSession(
            self.gateway, session_reader, session_writer, login=self.login, peer=self.peer
        )
        self._task = asyncio.create_task(session.run())
        try:
            await self._until_ready()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(messages.Terminate.build())
            with contextlib.suppress(OSError):
                await self._writer.drain()
            self._writer.close()
        if self._task is not None:
            # The session ends on Terminate; one stuck in a backend call is cancelled, which
            # closes its backend connection rather than returning it to the pool half-used.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5)
            except asyncio.CancelledError:
                self._task.cancel()
                raise
            except Exception:
                self._task.cancel()

    async def query(self, sql: str, max_rows: int = 0) -> QueryResult:
        """Run one statement with the extended protocol; at most `max_rows` rows (0: all)."""
        assert self._writer is not None
        # One row more than asked for tells whether there are more: PortalSuspended alone
        # cannot, as it comes whenever the count is reached.
        fetch = max_rows + 1 if max_rows else 0
        self._writer.write(
            messages.Parse.build(statement=b"", query=sql.encode(), param_types=[])
            + messages.Bind.build(
                portal=b"", statement=b"", param_formats=[], params=[], result_formats=[]
            )
            + messages.Describe.build(kind=ord("P"), name=b"")
            + messages.Execute.build(portal=b"", max_rows=fetch)
            + messages.Sync.build()
        )
        await self._writer.drain()
        result = QueryResult()
        error: SessionError | None = None
        while True:
            try:
                tag, payload = await self._read()
            except SessionError:
                # A FATAL error ends the session before ReadyForQuery: report the error itself.
                raise error or SessionError(_ENDED) from None
            if tag == b"T":
                fields = messages.RowDescription.parse(payload).fields
                result.names = [f.name.decode("utf-8", "replace") for f in fields]
                result.type_oids = [f.type_oid for f in fields]
            elif tag == b"D":
                result.rows.append(messages.parse_data_row(payload))
            elif tag == b"N":
                notice = messages.parse_fields(messages.NoticeResponse.parse(payload))
                if notice.get("M", "").startswith(_CUT_WARNING):
                    result.has_more = True
            elif tag == b"E":
                error = SessionError(messages.parse_fields(messages.ErrorResponse.parse(payload)))
            elif tag == b"Z":
                if error is not None:
                    raise error
                if max_rows and len(result.rows) > max_rows:
                    del result.rows[max_rows:]
                    result.has_more = True
                return result

    async def _until_ready(self) -> None:
        while True:
            tag, payload = await self._read()
            if tag == b"E":
                raise SessionError(messages.parse_fields(messages.ErrorResponse.parse(payload)))
            if tag == b"Z":
                return

    async def _read(self) -> tuple[bytes, bytes]:
        assert self._reader is not None
        try:
            return await read_message(self._reader, _MAX_MESSAGE)
        except ConnectionClosed:
            raise SessionError(_ENDED) from None
