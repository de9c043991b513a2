"""SSH tunnels to sources in private networks.

A tunnel is a local listener on 127.0.0.1 whose connections are forwarded, over one asyncssh
connection, to the source's host and port. The source's address is rewritten to the listener
(`tunneled_address`), so everything that connects to the source (the relay's pool, asyncpg
validation, schema reading) works unchanged.

The listener's port is bound once, when the tunnel is made, and never changes; the SSH
connection behind it is opened on first use and reopened whenever it has dropped, so a
restarted bastion costs the connections that were open through it, not the source.

The SSH server's host key is checked against the configured known_hosts file: there is no
trust-on-first-use, and a server with an unknown key is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import asyncssh

from gateway.backends.clickhouse.executor import server_address
from gateway.config import BackendAddress, SourceConfig, SshConfig
from gateway.protocol.errors import SQLCLIENT_UNABLE_TO_ESTABLISH, PgError
from gateway.secret import Secret

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
# Keepalives notice a silently dead SSH server (a dropped NAT entry, a rebooted bastion).
_KEEPALIVE_INTERVAL = 15.0
_KEEPALIVE_COUNT_MAX = 3


def tunnel_for(source: SourceConfig) -> SshTunnel | None:
    """The tunnel a source is reached through, not yet started; None without `ssh`."""
    if source.ssh is None:
        return None
    if source.backend is not None:
        return SshTunnel(source.ssh, source.backend.host, source.backend.port)
    assert source.clickhouse is not None and source.clickhouse.url is not None
    return SshTunnel(source.ssh, *server_address(source.clickhouse.url.reveal()))


class TunnelError(PgError):
    """The SSH server could not be reached or refused us; the message says which and why."""

    def __init__(self, message: str) -> None:
        super().__init__(SQLCLIENT_UNABLE_TO_ESTABLISH, message, severity="FATAL")


class SshTunnel:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` through the SSH server."""

    def __init__(self, config: SshConfig, target_host: str, target_port: int) -> None:
        self.config = config
        self.target = (target_host, target_port)
        # Bound now, so the rewritten address is known before the event loop serves it.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self._socket.setblocking(False)
        self.port: int = self._socket.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._connection: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def describe(self) -> str:
        return f"{self.config.user}@{self.config.host}:{self.config.port}"

    def tunneled_address(self, address: BackendAddress) -> BackendAddress:
        return replace(address, host="127.0.0.1", port=self.port)

    def tunneled_source(self, source: SourceConfig) -> SourceConfig:
        """The source as reached through this tunnel: its PostgreSQL address, or its ClickHouse
        URL (with the same scheme, credentials and path), rewritten to the local listener."""
        if source.backend is not None:
            return replace(source, backend=self.tunneled_address(source.backend))
        assert source.clickhouse is not None and source.clickhouse.url is not None
        parts = urlsplit(source.clickhouse.url.reveal())
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        url = urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}"))
        return replace(source, clickhouse=replace(source.clickhouse, url=Secret(url)))

    async def start(self) -> None:
        """Serve the listener (once) and make sure the SSH connection is up: raises TunnelError
        with the reason when it cannot be."""
        if self._server is None:
            self._server = await asyncio.start_server(self._forward, sock=self._socket)
        await self.connection()

    async def connection(self) -> asyncssh.SSHClientConnection:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connection is not None and not self._connection.is_closed():
                return self._connection
            if self._connection is not None:
                log.info("SSH connection to %s dropped; reconnecting", self.describe)
            self._connection = await self._connect()
            return self._connection

    async def _connect(self) -> asyncssh.SSHClientConnection:
        config = self.config
        try:
            return await asyncssh.connect(
                config.host,
                config.port,
                username=config.user,
                client_keys=[str(config.key_file)],
                known_hosts=str(config.known_hosts),
                # Only the configured key: never an agent's or ~/.ssh's.
                agent_path=None,
                password=None,
                kbdint_auth=False,
                # No ~/.ssh/config: the source's settings alone decide.
                config=(),
                connect_timeout=config.connect_timeout,
                login_timeout=config.connect_timeout,
                keepalive_interval=_KEEPALIVE_INTERVAL,
                keepalive_count_max=_KEEPALIVE_COUNT_MAX,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise TunnelError(
                f"SSH server {self.describe}: host key not verified against "
                f"{config.known_hosts}: {exc.reason}"
            ) from None
        except asyncssh.PermissionDenied:
            raise TunnelError(
                f"SSH server {self.describe}: authentication with key {config.key_file} was refused"
            ) from None
        except asyncssh.KeyImportError as exc:
            raise TunnelError(
                f"SSH server {self.describe}: cannot use key {config.key_file}: {exc}"
            ) from None
        except OSError as exc:
            if exc.filename:  # the key file or known_hosts
                reason = f"cannot read {exc.filename}: {exc.strerror}"
            else:
                reason = f"cannot connect: {exc.strerror or exc}"
            raise TunnelError(f"SSH server {self.describe}: {reason}") from None
        except (asyncssh.Error, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise TunnelError(f"SSH server {self.describe}: {reason}") from None

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            connection = await self.connection()
            remote_reader, remote_writer = await connection.open_connection(*self.target)
        except (TunnelError, asyncssh.Error, OSError) as exc:
            log.warning("SSH tunnel %s to %s:%d: %s", self.describe, *self.target, exc)
            writer.close()
            self._pipes.discard(task)
            return
        try:
            await asyncio.gather(
                _pipe(reader, remote_writer), _pipe(remote_reader, writer), return_exceptions=True
            )
        finally:
            writer.close()
            remote_writer.close()
            self._pipes.discard(task)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        else:
            self._socket.close()
        for task in list(self._pipes):
            task.cancel()
        if self._connection is not None:
            self._connection.close()


async def _pipe(source: asyncio.StreamReader | asyncssh.SSHReader, sink) -> None:
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, asyncssh.Error):
        pass
    finally:
        with contextlib.suppress(OSError, asyncssh.Error):
            if sink.can_write_eof():
                sink.write_eof()
