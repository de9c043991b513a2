"""CANCEL <session id>: cancel that session's running statement, as a CancelRequest with its
key would. The session itself stays open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.admin.result import Result
from gateway.admin.usage import USAGE
from gateway.protocol.errors import SYNTAX_ERROR, PgError

if TYPE_CHECKING:
    from gateway.server import Gateway

UNDEFINED_OBJECT = "42704"


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    if len(arguments) != 1 or not arguments[0].isdigit():
        raise PgError(
            SYNTAX_ERROR, "CANCEL takes one session id (SHOW SESSIONS lists them)", hint=USAGE
        )
    pid = int(arguments[0])
    session = gateway._sessions.get(pid)
    if session is None:
        raise PgError(UNDEFINED_OBJECT, f"no session with id {pid}")
    await session.cancel()
    return Result(tag="CANCEL")
