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
from gateway.config import Config, ConfigError, load_effective_config
from gateway.federation import DataSource
from gateway.http.server import HttpServer
from gateway.limits import QueryActivity
from gateway.ops import logging as ops_logging
from gateway.ops import reload as reload_ops
from gateway.ops import shutdown as shutdown_ops
from gateway.ops.audit import AuditLog
from gateway.ops.masking import SecretsOf
from gateway.ops.metrics import AUTH_REFUSED, GatewayMetrics
from gateway.ops.observe import Observer
from gateway.protocol import tls as tls_files
from gateway.protocol.errors import CANNOT_CONNECT_NOW, TOO_MANY_CONNECTIONS, PgError
from gateway.protocol.startup import TlsSettings
from gateway.routing.guard import Guard
from gateway.session import ClientSession, new_cancel_key

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.tls = self.load_tls(config)
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
        # Every statement is counted by the metrics and, when configured, recorded in the audit
        # log.
        self.metrics = GatewayMetrics(self)
        self.observer = Observer(counter=self.metrics)
        self.audit = AuditLog(config.audit) if config.audit.path is not None else None
        # Log lines mask the running config's secrets, a reloaded config's included.
        ops_logging.mask_secrets_of(SecretsOf(lambda: self.config))
        if self.audit is not None:
            self.observer.add(self.audit.write)
        self._sessions: dict[int, ClientSession] = {}
        self._connections = 0
        self._server: asyncio.Server | None = None
        self.http = HttpServer(self) if config.http.enabled else None
        # Cancel tasks run detached from any session; keep them referenced until done.
        self._background: set[asyncio.Future[None]] = set()
        self._reload_lock = asyncio.Lock()
        # Set when a shutdown began: sessions still authenticating are turned away.
        self.draining = False

    def load_tls(self, config: Config) -> TlsSettings | None:
        server = config.server
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
        if self.audit is not None:
            self.audit.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        try:
            if self._connections > self.config.server.max_client_connections:
                self.metrics.session(tls=False, auth=AUTH_REFUSED)  # refused before any TLS
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

    @property
    def connections(self) -> int:
        return self._connections

    # --- reload and shutdown ---------------------------------------------------------------
    async def reload(self) -> str:
        """Re-read the config and apply it (gateway/ops/reload.py); returns what changed. An
        invalid config raises ConfigError and the old one stays in force. The outcome is logged
        and recorded under state_dir for `metahog reload`."""
        async with self._reload_lock:
            changes, error = None, None
            try:
                if self.config.path is None:
                    raise ConfigError("the gateway was not started from a config file")
                changes = await reload_ops.apply(self, load_effective_config(self.config.path))
            except ConfigError as exc:
                error = exc
            outcome = reload_ops.describe_outcome(error, changes)
            reload_ops.record_outcome(self.config.server.state_dir, outcome)
            if error is not None:
                log.error("%s; the old config stays in force", outcome.message)
                raise error
            log.info("%s", outcome.message)
            return outcome.message

    def reload_soon(self) -> None:
        """Reload in the background (SIGHUP); the outcome is logged."""
        task = asyncio.ensure_future(self._reload_quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
        except ConfigError:
            pass  # logged by reload

    async def shutdown(self, hurry: asyncio.Event) -> None:
        """Stop listening, let running statements finish (gateway/ops/shutdown.py), close."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        await shutdown_ops.drain(self, self.config.server.shutdown_timeout, hurry)
        await self.close()

    # --- cancel keys -----------------------------------------------------------------------
    def register(self, session: ClientSession) -> tuple[int, int]:
        if self.draining:
            raise PgError(
                CANNOT_CONNECT_NOW, "the database system is shutting down", severity="FATAL"
            )
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
            self.metrics.cancel(matched=False)
            return
        self.metrics.cancel(matched=True)
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
    # A second SIGTERM or SIGINT cuts the shutdown's wait short.
    stop, hurry = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: hurry.set() if stop.is_set() else stop.set())
    loop.add_signal_handler(signal.SIGHUP, gateway.reload_soon)
    pid_file = reload_ops.write_pid_file(config.server.state_dir)
    serving = asyncio.create_task(gateway.serve_forever())
    watching = asyncio.create_task(reload_ops.watch_files(gateway))
    try:
        await stop.wait()
        watching.cancel()
        await gateway.shutdown(hurry)
        serving.cancel()
    finally:
        reload_ops.remove_pid_file(pid_file)
    log.info("shut down")
    return 0
