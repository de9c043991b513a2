"""A pool of backend connections per PostgreSQL source, reused across client sessions.

A client session holds one connection for its lifetime (session pooling): named prepared
statements, cursors and transactions then behave exactly as on a direct connection. Between
clients the connection is reset with DISCARD ALL, which returns every setting to the read-only
values given at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from gateway.backends.postgres.connection import BackendConnection, read_only_options
from gateway.config import SourceConfig
from gateway.protocol.errors import TOO_MANY_CONNECTIONS, PgError

log = logging.getLogger(__name__)


class PostgresPool:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self._idle: deque[BackendConnection] = deque()
        self._slots = asyncio.Semaphore(source.pool_size)
        self._options = read_only_options(source.statement_timeout_ms)
        self.in_use = 0

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def acquire(self) -> BackendConnection:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.source.pool_timeout)
        except TimeoutError:
            raise PgError(
                TOO_MANY_CONNECTIONS,
                f'no backend connection to source "{self.source.name}" became free within '
                f"{self.source.pool_timeout:g}s (pool_size {self.source.pool_size})",
                severity="FATAL",
            ) from None
        try:
            while self._idle:
                connection = self._idle.pop()
                if (
                    not connection.broken
                    and not connection.writer.is_closing()
                    and not connection.reader.at_eof()
                ):
                    self.in_use += 1
                    return connection
                connection.close()
            connection = await BackendConnection.open(self.source.backend, self._options)
            self.in_use += 1
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: BackendConnection) -> None:
        """Reset and keep the connection, or close it if it cannot be trusted."""
        self.in_use -= 1
        try:
            if not connection.broken:
                try:
                    await asyncio.wait_for(connection.reset(), 10)
                except (OSError, TimeoutError, asyncio.IncompleteReadError, PgError) as exc:
                    log.info("dropping backend connection after failed reset: %s", exc)
                    connection.broken = True
            if connection.broken:
                connection.close()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
