"""The listening gateway: sockets, TLS material, source pools and the cancel-key registry."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import signal
import sys
from collections.abc import Callable

from gateway.backends.postgres.pool import PostgresPool
from gateway.catalog.manager import CatalogManager
from gateway.config import Config
from gateway.federation import DataSource
from gateway.http.server import HttpServer
from gateway.limits import QueryActivity
from gateway.protocol import tls as tls_files
from gateway.protocol.errors import TOO_MANY_CONNECTIONS, PgError
from gateway.protocol.startup import TlsSettings
from gateway.routing.guard import Guard
from gateway.session import ClientSession, new_cancel_key

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.tls = self._load_tls()
        self.pools = {
            name: PostgresPool(source)
            for name, source in config.sources.items()
            if source.kind == "postgres"
        }
        # Sources that are not PostgreSQL: their data, and a shadow catalog each (see
        # gateway/catalog); their pools hold connections to the shadow catalogs.
        self.data_sources: dict[str, DataSource] = {}
        self.catalogs = CatalogManager(config, self)
        self.guard = Guard("postgres")
        self.activity = QueryActivity()
        self._sessions: dict[int, ClientSession] = {}
        self._connections = 0
        self._server: asyncio.Server | None = None
        self.http = HttpServer(self) if config.http.enabled else None
        # Cancel tasks run detached from any session; keep them referenced until done.
        self._background: set[asyncio.Future[None]] = set()

    def _load_tls(self) -> TlsSettings | None:
        server = self.config.server
        if server.tls == "off":
            return None
        if server.tls_cert and server.tls_key:
            cert, key = server.tls_cert, server.tls_key
        else:
            cert, key = tls_files.ensure_self_signed(server.state_dir / "tls", server.host)
        return TlsSettings(cert, key, tls_files.server_context(cert, key))

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        server = self.config.server
        await self.catalogs.start()
        self._server = await asyncio.start_server(
            self._handle, server.host, server.port, limit=2**20, reuse_address=True
        )
        log.info("listening on %s:%d", server.host, self.port)
        if self.http is not None:
            await self.http.start()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.http is not None:
            await self.http.close()
        for pool in self.pools.values():
            pool.close()
        await self.catalogs.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        try:
            if self._connections > self.config.server.max_client_connections:
                writer.write(
                    PgError(
                        TOO_MANY_CONNECTIONS, "sorry, too many clients already", severity="FATAL"
                    ).encode()
                )
                await writer.drain()
                writer.close()
                return
            await ClientSession(self, reader, writer).run()
        except asyncio.CancelledError:
            # The event loop is shutting down. Nothing awaits this task, and asyncio's stream
            # server reports a cancelled handler as an error, so the session just ends here.
            writer.close()
        except Exception:
            log.exception("session failed")
            writer.close()
        finally:
            self._connections -= 1

    # --- cancel keys -----------------------------------------------------------------------
    def register(self, session: ClientSession) -> tuple[int, int]:
        pid, secret = new_cancel_key(self._sessions)
        self._sessions[pid] = session
        return pid, secret

    def forget(self, session: ClientSession) -> None:
        if self._sessions.get(session.pid) is session:
            del self._sessions[session.pid]

    def cancel(self, pid: int, secret: int) -> None:
        """Cancel the running query of the session holding this key, if the secret matches."""
        session = self._sessions.get(pid)
        if session is None or not hmac.compare_digest(
            session.secret.to_bytes(4, "big"), secret.to_bytes(4, "big")
        ):
            log.info("ignored cancel request with an unknown key")
            return
        task = asyncio.ensure_future(session.cancel())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def serve_until_signalled(config: Config, banner: Callable[[int], str]) -> int:
    """Run a gateway until SIGINT or SIGTERM, then close it cleanly."""
    gateway = Gateway(config)
    await gateway.start()
    # What start-up allocated lives for the whole run: freezing it keeps every full collection
    # from rescanning it. Rows in flight are many small short-lived objects; a larger first
    # generation collects them less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    print(banner(gateway.port), file=sys.stderr, flush=True)
    if gateway.http is not None:
        print(
            f"metahog HTTP on {config.http.host}:{gateway.http.port}", file=sys.stderr, flush=True
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(gateway.serve_forever())
    await stop.wait()
    serving.cancel()
    await gateway.close()
    return 0
