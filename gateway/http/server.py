"""The HTTP listener. It owns the socket and the aiohttp application; each endpoint family lives
in a module of its own with an `install(app, gateway)` function, listed in `ENDPOINTS`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.http import direct_query, health, metrics, source_admin

if TYPE_CHECKING:
    from gateway.server import Gateway

log = logging.getLogger(__name__)

# The gateway an endpoint serves, as its handlers find it: `request.app[GATEWAY]`.
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")

Installer = Callable[[web.Application, "Gateway"], None]
ENDPOINTS: tuple[Installer, ...] = (
    health.install,
    metrics.install,
    direct_query.install,
    source_admin.install,
)


def build_app(gateway: Gateway) -> web.Application:
    app = web.Application(client_max_size=1024**2)
    app[GATEWAY] = gateway
    for install in ENDPOINTS:
        install(app, gateway)
    return app


class HttpServer:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None and self._runner.addresses
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        config = self.gateway.config.http
        # A client that hangs up cancels its handler, and so the statement it was waiting for:
        # the API's session then stops it on its backend, as a wire client leaving would.
        self._runner = web.AppRunner(
            build_app(self.gateway), access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, config.host, config.port, reuse_address=True)
        await self._site.start()
        log.info("HTTP listening on %s:%d", config.host, self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
