"""Keeps each non-PostgreSQL source's shadow catalog in step with the source.

At start-up the manager finds the catalog server (the configured one, or a private cluster it
starts under the state directory), reads every ClickHouse source's tables and mirrors them;
then it refreshes them on a schedule, and on demand when a query names a table the source
reports as unknown. A source that cannot be reached at start-up keeps the mirror of its last
successful refresh, and is retried on the schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.backends.clickhouse.executor import ClickHouseError
from gateway.backends.clickhouse.schema import TableSchema
from gateway.backends.clickhouse.source import ClickHouseSource, close_embedded
from gateway.backends.hogql.source import HogQLSource
from gateway.backends.postgres.pool import PostgresPool
from gateway.catalog.private import PrivateCatalogServer
from gateway.catalog.shadow import ShadowCatalog
from gateway.config import BackendAddress, Config, SourceConfig

if TYPE_CHECKING:
    from gateway.server import Gateway
    from gateway.sources.ssh import SshTunnel


class StartupError(Exception):
    """The gateway cannot start with this config; the message says why, naming the source."""


log = logging.getLogger(__name__)


class CatalogManager:
    def __init__(self, config: Config, gateway: Gateway) -> None:
        self.config = config
        self.gateway = gateway
        self.shadows: dict[str, ShadowCatalog] = {}
        self._private: PrivateCatalogServer | None = None
        self._admin: BackendAddress | None = None  # the catalog server, once started
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Task[bool]] = {}
        # Passthrough sources without a key of their own: the view of the latest user whose
        # key PostHog accepted, which reads the schema.
        self._readers: dict[str, HogQLSource] = {}
        # SSH tunnels of ClickHouse sources. Sessions of a source that a reload removed may
        # still use its tunnel, so tunnels close with the gateway.
        self._tunnels: list[SshTunnel] = []

    @property
    def sources(self) -> list[str]:
        return [
            name for name, s in self.config.sources.items() if s.kind in ("clickhouse", "hogql")
        ]

    async def start(self) -> None:
        for name in self.sources:
            await self.add_source(name, self.config.sources[name])

    async def add_source(self, name: str, source_config: SourceConfig) -> None:
        """Start serving one ClickHouse or HogQL source: its data source, its shadow catalog and
        the pool of connections to that catalog. At start-up, and when a reload adds it."""
        admin = await self._admin_address()
        source_config = await self._through_tunnel(name, source_config)
        try:
            source: ClickHouseSource | HogQLSource = (
                HogQLSource(source_config)
                if source_config.kind == "hogql"
                else ClickHouseSource(source_config)
            )
        except ClickHouseError as exc:
            raise StartupError(f"source {name}: {exc.message}") from None
        source.on_stale = lambda name=name: self.refresh_soon(name)
        shadow = ShadowCatalog(admin, name)
        self.gateway.data_sources[name] = source
        self.shadows[name] = shadow
        self._readers.pop(name, None)
        if source.reads_own_schema:
            await self.refresh(name, create=True)
        else:
            # A passthrough source without a key of its own: its users' keys read the
            # schema when they log in (`logged_in`); until then the last mirror stays.
            await self._sync_existing(name)
        home = replace(
            source_config, kind="postgres", backend=shadow.reader, clickhouse=None, hogql=None
        )
        self.gateway.pools[name] = PostgresPool(home)
        if self._task is None:
            self._task = asyncio.create_task(self._refresh_forever())

    async def _through_tunnel(self, name: str, source_config: SourceConfig) -> SourceConfig:
        """A ClickHouse server behind an SSH server: the source as reached through its tunnel.
        An SSH server that is down now is retried by every later connection through the
        tunnel, so the source starts as unreachable rather than stopping the gateway."""
        if source_config.ssh is None:
            return source_config
        from gateway.sources.ssh import TunnelError, tunnel_for

        tunnel = tunnel_for(source_config)
        assert tunnel is not None
        self._tunnels.append(tunnel)
        try:
            await tunnel.start()
        except TunnelError as exc:
            log.error("source %s: %s", name, exc.message)
        return tunnel.tunneled_source(source_config)

    def remove_source(self, name: str) -> None:
        """Stop serving a source to new sessions. Sessions that hold it keep it; its mirror stays
        in the catalog server for a source added again under the same name."""
        self.shadows.pop(name, None)
        self._readers.pop(name, None)
        self.gateway.data_sources.pop(name, None)

    async def _admin_address(self) -> BackendAddress:
        if self._admin is None:
            self._admin = await self._start_catalog_server()
        return self._admin

    async def _start_catalog_server(self) -> BackendAddress:
        if self.config.catalog.dsn is not None:
            return self.config.catalog.dsn
        directory = self.config.server.state_dir / "catalog"
        try:
            self._private = await asyncio.to_thread(PrivateCatalogServer.start_in, directory)
        except (RuntimeError, OSError) as exc:
            raise StartupError(f"the private catalog cluster did not start: {exc}") from None
        return self._private.admin

    async def _sync_existing(self, name: str) -> None:
        try:
            await self.shadows[name].sync_existing()
        except Exception as catalog_error:
            raise StartupError(
                f"source {name}: its shadow catalog is unreachable: {catalog_error}"
            ) from None

    async def logged_in(self, name: str, view: HogQLSource) -> None:
        """A user of a passthrough source logged in with a key PostHog accepted. A source
        without a key of its own reads its schema with the latest such key: now, if it was never
        read (the session must see the tables), or in the background when it is due."""
        if view.reads_own_schema:
            return
        self._readers[name] = view
        read_at = view.schema_read_at
        if read_at is None:
            await self.refresh(name)
        elif time.monotonic() - read_at > self.config.catalog.refresh_interval_s:
            self.refresh_soon(name)

    async def refresh(self, name: str, *, create: bool = False) -> bool:
        """Mirror the source's tables now. False (and a logged reason) if that failed."""
        if name not in self.shadows:
            return False  # removed by a reload
        source = self._readers.get(name) or self.gateway.data_sources[name]
        if not source.reads_own_schema and name not in self._readers:
            return False  # no key to read it with yet
        shadow = self.shadows[name]
        try:
            tables = await source.refresh()
        except Exception as exc:
            log.error("source %s: cannot read its tables: %s", name, exc)
            if create:
                try:
                    await shadow.sync_existing()
                except Exception as catalog_error:
                    raise StartupError(
                        f"source {name}: its shadow catalog is unreachable too: {catalog_error}"
                    ) from None
                # The source still owns the tables its mirror shows: queries over them must go
                # to the source (and fail there while it is down), never read the empty mirror.
                if not source.tables:
                    source.tables = {
                        table: TableSchema(table, ()) for table in await shadow.mirrored_names()
                    }
                    source.unavailable = str(exc)
            return False
        try:
            await shadow.sync(tables)
            source.attributes = await shadow.attributes()
        except Exception as exc:
            log.error("source %s: cannot refresh its shadow catalog: %s", name, exc)
            return False
        log.info("source %s: shadow catalog holds %d tables", name, len(tables))
        return True

    def refresh_soon(self, name: str) -> None:
        """Refresh one source's mirror in the background, once at a time."""
        if name in self._pending:
            return
        task = asyncio.create_task(self.refresh(name))
        self._pending[name] = task
        task.add_done_callback(lambda _: self._pending.pop(name, None))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.catalog.refresh_interval_s)
            for name in self.sources:
                await self.refresh(name)

    async def close(self) -> None:
        for tunnel in self._tunnels:
            tunnel.close()
        if self._task is not None:
            self._task.cancel()
        close_embedded()
        if self._private is not None:
            await asyncio.to_thread(self._private.stop)
