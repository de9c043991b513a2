"""SHOW SOURCES: each source's kind, health (does it answer now: gateway/ops/readiness.py) and
pool (connections at most, in use, idle, and sessions waiting for one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.admin.result import Result
from gateway.admin.usage import no_arguments
from gateway.ops.readiness import check_sources

if TYPE_CHECKING:
    from gateway.server import Gateway

COLUMNS = ("name", "kind", "health", "pool_size", "in_use", "idle", "waiting")


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    no_arguments("SHOW SOURCES", arguments)
    failures = await check_sources(gateway)
    rows = []
    for name, source in gateway.config.sources.items():
        pool = gateway.pools.get(name)
        reason = failures.get(name)
        rows.append(
            (
                name,
                source.kind,
                "ok" if reason is None else f"failed: {reason}",
                source.pool_size,
                pool.in_use if pool else 0,
                pool.idle_count if pool else 0,
                pool.waiting if pool else 0,
            )
        )
    return Result(COLUMNS, rows)
