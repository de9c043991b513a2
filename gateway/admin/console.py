"""The console's session: after start-up, simple queries are read as console commands.

Only the simple query protocol is answered, as in pgbouncer's console: an extended-protocol
message gets 0A000 and the rest of its batch is skipped up to Sync. Errors of a command are
reported and the session goes on.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from gateway.admin.commands import run_command
from gateway.config import UserConfig
from gateway.protocol import messages
from gateway.protocol.errors import (
    FEATURE_NOT_SUPPORTED,
    INSUFFICIENT_PRIVILEGE,
    PROTOCOL_VIOLATION,
    PgError,
)
from gateway.protocol.framing import decode_cstring, read_message

if TYPE_CHECKING:
    from gateway.session import ClientSession

log = logging.getLogger(__name__)

_EXTENDED = frozenset(b"PBEDHCdcf")
_IDLE = messages.ReadyForQuery.build(status=ord("I"))


def check_admin(user: UserConfig | None) -> None:
    if user is None or not user.admin:
        raise PgError(
            INSUFFICIENT_PRIVILEGE,
            'permission denied for database "metahog"',
            detail="Only users with admin = true may use the admin console.",
            severity="FATAL",
        )


class AdminConsole:
    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self._skipping = False  # an extended-protocol batch was refused: skip to its Sync

    async def run(self) -> None:
        session = self.session
        max_size = session.gateway.config.server.max_message_size
        while True:
            tag, payload = await read_message(session.reader, max_size)
            if tag == b"Q":
                self._skipping = False
                await self._query(payload)
            elif tag == b"S":
                self._skipping = False
                session.writer.write(_IDLE)
            elif tag == b"X":
                return
            elif tag[0] in _EXTENDED:
                if not self._skipping:
                    self._skipping = True
                    session.writer.write(
                        PgError(
                            FEATURE_NOT_SUPPORTED,
                            "the admin console answers the simple query protocol only",
                        ).encode()
                    )
            else:
                raise PgError(
                    PROTOCOL_VIOLATION, f"invalid frontend message type {tag[0]}", severity="FATAL"
                )
            await session.writer.drain()

    async def _query(self, payload: bytes) -> None:
        session = self.session
        text = decode_cstring(payload, "utf-8", "UTF8")
        commands = [part.strip() for part in text.split(";") if part.strip()]
        if not commands:
            session.writer.write(messages.EmptyQueryResponse.build())
        session.state, session.current_statement = "active", text
        session.statement_started = time.monotonic()
        try:
            for command in commands:
                log.info("admin console: %s: %s", session.user, command)
                try:
                    session.writer.write(await run_command(session.gateway, command))
                except PgError as error:
                    session.writer.write(error.encode())
                    break
        finally:
            session.state, session.current_statement = "idle", None
            session.statement_started = None
        session.writer.write(_IDLE)
