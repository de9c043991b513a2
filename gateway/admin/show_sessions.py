"""SHOW SESSIONS: every open session (its id is the BackendKeyData process id), with what it is
running now and for how long."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.admin.result import Result
from gateway.admin.usage import no_arguments

if TYPE_CHECKING:
    from gateway.server import Gateway

COLUMNS = (
    "id",
    "user",
    "database",
    "state",
    "application_name",
    "client_addr",
    "tls",
    "statement",
    "duration",
)


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    no_arguments("SHOW SESSIONS", arguments)
    now = time.monotonic()
    rows = []
    for pid, session in sorted(gateway._sessions.items()):
        started = getattr(session, "statement_started", None)
        state = getattr(session, "state", "idle")
        rows.append(
            (
                pid,
                getattr(session, "user", None),
                getattr(session, "source", None),
                state,
                getattr(session, "application_name", ""),
                session.peer,
                "on" if getattr(session, "tls", False) else "off",
                getattr(session, "current_statement", None),
                # Seconds the current statement has run, as pg_stat_activity's now() - query_start.
                f"{now - started:.3f}" if started is not None and state == "active" else None,
            )
        )
    return Result(COLUMNS, rows)
