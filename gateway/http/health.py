"""Liveness: `/healthz` answers as long as the process's event loop runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from gateway.server import Gateway


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def install(app: web.Application, gateway: Gateway) -> None:
    app.router.add_get("/healthz", healthz)
