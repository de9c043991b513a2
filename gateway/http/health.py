"""Liveness: `/healthz` answers as long as the process's event loop runs. Readiness: `/readyz`
answers 200 when every configured source answers (gateway/ops/readiness.py), else 503 with each
source's status, and 503 from the moment a shutdown begins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.ops.readiness import check_sources

if TYPE_CHECKING:
    from gateway.server import Gateway


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def install(app: web.Application, gateway: Gateway) -> None:
    async def readyz(request: web.Request) -> web.Response:
        if gateway.draining:
            # Shutting down: load balancers must stop sending clients here before it exits.
            return web.json_response({"status": "draining", "sources": {}}, status=503)
        failures = await check_sources(gateway)
        ready = all(reason is None for reason in failures.values())
        sources = {
            name: {"status": "ok"} if reason is None else {"status": "failed", "reason": reason}
            for name, reason in failures.items()
        }
        return web.json_response(
            {"status": "ok" if ready else "failed", "sources": sources},
            status=200 if ready else 503,
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
