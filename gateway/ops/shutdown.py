"""Graceful shutdown (SIGTERM, SIGINT): stop listening, let running statements finish until the
deadline (`[server] shutdown_timeout`), then cancel them on their backends.

Every session is ended the way PostgreSQL ends it on a shutdown: a FATAL 57P01 "terminating
connection due to administrator command", sent when it is idle, so no answer is cut in two.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from gateway.protocol.errors import ADMIN_SHUTDOWN, PgError

if TYPE_CHECKING:
    from gateway.server import Gateway
    from gateway.session import ClientSession

log = logging.getLogger(__name__)

# After the deadline: how long cancelled statements have to report their cancellation before
# their sessions are closed regardless.
CANCEL_GRACE = 5.0
_POLL = 0.05

TERMINATING = PgError(
    ADMIN_SHUTDOWN, "terminating connection due to administrator command", severity="FATAL"
)


def is_idle(session: ClientSession) -> bool:
    # A session that does not report its state is treated as busy: it is never cut short
    # before the deadline.
    return getattr(session, "state", "active") != "active"


def end_if_idle(session: ClientSession) -> None:
    if is_idle(session):
        terminate(session)


def terminate(session: ClientSession) -> None:
    """End a session: tell its client why, then close the connection. The session's task then
    sees the end of its input and gives its backend connection back."""
    writer = session.writer
    if writer.is_closing():
        return
    writer.write(TERMINATING.encode())
    writer.close()


async def drain(gateway: Gateway, timeout: float, hurry: asyncio.Event) -> None:
    """Wait for the gateway's sessions to end, ending each as soon as it is idle; at the deadline
    (or when `hurry` is set: a second signal) cancel the statements still running."""
    deadline = time.monotonic() + timeout
    log.info(
        "shutting down: %d sessions open, running statements may finish within %gs",
        len(gateway._sessions),
        timeout,
    )
    if not await _end_idle_sessions(gateway, deadline, hurry):
        running = list(gateway._sessions.values())
        log.warning("shutdown deadline reached: cancelling %d running statements", len(running))
        await asyncio.gather(
            *(asyncio.wait_for(session.cancel(), CANCEL_GRACE) for session in running),
            return_exceptions=True,
        )
        if not await _end_idle_sessions(gateway, time.monotonic() + CANCEL_GRACE, None):
            for session in list(gateway._sessions.values()):
                terminate(session)
    await _connections_closed(gateway, time.monotonic() + CANCEL_GRACE)


async def _end_idle_sessions(
    gateway: Gateway, deadline: float, hurry: asyncio.Event | None
) -> bool:
    """True when every session ended before the deadline."""
    while True:
        for session in list(gateway._sessions.values()):
            end_if_idle(session)
        if not gateway._sessions:
            return True
        if time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
            return False
        await asyncio.sleep(_POLL)


async def _connections_closed(gateway: Gateway, deadline: float) -> None:
    """Let the sessions' tasks finish, so their backend connections are given back and closed
    cleanly rather than dropped with the event loop."""
    while gateway.connections and time.monotonic() < deadline:
        await asyncio.sleep(_POLL)
