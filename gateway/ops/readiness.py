"""Readiness: does every configured source answer? Each is asked something cheap, all at once,
each within a few seconds: a PostgreSQL source (and the shadow catalog of any other source) a
`SELECT 1` on a connection of its own, outside the pool, so a busy pool does not look like a
dead source; a ClickHouse server a `SELECT 1`; a PostHog project its last schema read, since
every query there counts against the project's API rate limit.

The reasons given never contain a secret: every secret of the config is masked in them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from gateway.config import Config, Limits
from gateway.ops.masking import config_secrets, mask
from gateway.protocol import messages
from gateway.protocol.errors import PgError

if TYPE_CHECKING:
    from gateway.server import Gateway

CHECK_TIMEOUT = 3.0


async def check_sources(gateway: Gateway, timeout: float = CHECK_TIMEOUT) -> dict[str, str | None]:
    """Per configured source: None when it answers, else why not."""
    names = list(gateway.config.sources)
    results = await asyncio.gather(*(_check_within(gateway, name, timeout) for name in names))
    return {
        name: _masked(reason, gateway.config) for name, reason in zip(names, results, strict=True)
    }


async def _check_within(gateway: Gateway, name: str, timeout: float) -> str | None:
    try:
        async with asyncio.timeout(timeout):
            return await _check(gateway, name)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except PgError as error:
        return error.message
    except Exception as exc:  # a readiness probe reports, it never fails
        return f"{type(exc).__name__}: {exc}"


async def _check(gateway: Gateway, name: str) -> str | None:
    source = gateway.data_sources.get(name)
    if source is not None:
        unavailable = getattr(source, "unavailable", None)
        if unavailable is not None:
            return f"unreachable: {unavailable}"
        executor = getattr(source, "executor", None)
        if executor is not None:  # ClickHouse
            settings = source.settings(Limits(), None)  # type: ignore[attr-defined]
            await executor.execute("SELECT 1", settings)
    pool = gateway.pools.get(name)
    if pool is None:
        return "not started"
    # The pool's own way in, so a source behind an SSH tunnel is checked through it.
    connection = await pool.open_connection()
    try:
        errors = await connection.run([messages.Query.build(query=b"SELECT 1")], ready_count=1)
    finally:
        connection.close()
    if errors:
        return errors[0].message
    return None


def _masked(reason: str | None, config: Config) -> str | None:
    return None if reason is None else mask(reason, config_secrets(config))
