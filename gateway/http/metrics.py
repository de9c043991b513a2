"""`/metrics`: the gateway's Prometheus metrics (gateway/ops/metrics.py), in the text format."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.ops.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from gateway.server import Gateway


def install(app: web.Application, gateway: Gateway) -> None:
    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=gateway.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app.router.add_get("/metrics", metrics)
