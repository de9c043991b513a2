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
from typing import TYPE_CHECKING

from gateway.backends.postgres.connection import BackendConnection, read_only_options
from gateway.config import SourceConfig
from gateway.protocol.errors import TOO_MANY_CONNECTIONS, PgError

if TYPE_CHECKING:
    from gateway.sources.ssh import SshTunnel

log = logging.getLogger(__name__)


def _tunnel(source: SourceConfig) -> SshTunnel | None:
    if source.ssh is None:
        return None
    # Imported only when used: asyncssh takes about 0.3 s to import.
    from gateway.sources.ssh import tunnel_for

    return tunnel_for(source)


class PostgresPool:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self._idle: deque[BackendConnection] = deque()
        self._slots = asyncio.Semaphore(source.pool_size)
        self._options = read_only_options(source.statement_timeout_ms, source.schema)
        # A source behind an SSH server is reached through a local tunnel (sources/ssh.py).
        self.tunnel = _tunnel(source)
        self._address = (
            self.tunnel.tunneled_address(source.backend) if self.tunnel else source.backend
        )
        self.in_use = 0
        # A closed pool (its source was removed by a reload) keeps serving the sessions that
        # hold its connections; each is closed when they give it back.
        self.closed = False
        self.waiting = 0  # sessions waiting for a connection

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    async def acquire(self) -> BackendConnection:
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.source.pool_timeout)
        except TimeoutError:
            raise PgError(
                TOO_MANY_CONNECTIONS,
                f'no backend connection to source "{self.source.name}" became free within '
                f"{self.source.pool_timeout:g}s (pool_size {self.source.pool_size})",
                severity="FATAL",
            ) from None
        finally:
            self.waiting -= 1
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
            connection = await self.open_connection()
            self.in_use += 1
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def open_connection(self) -> BackendConnection:
        """A new connection to the source, outside the pool (through its SSH tunnel, if any)."""
        if self.tunnel is not None:
            await self.tunnel.start()
        return await BackendConnection.open(self._address, self._options)

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
            if connection.broken or self.closed:
                connection.close()
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()
            self._close_tunnel_if_done()

    def close(self) -> None:
        self.closed = True
        while self._idle:
            self._idle.pop().close()
        self._close_tunnel_if_done()

    def _close_tunnel_if_done(self) -> None:
        # Sessions still holding connections keep the tunnel they run through.
        if self.closed and self.in_use == 0 and self.tunnel is not None:
            self.tunnel.close()
