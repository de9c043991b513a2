"""What the console's commands are, for hints; and the check of commands without arguments."""

from __future__ import annotations

from gateway.protocol.errors import SYNTAX_ERROR, PgError

USAGE = "SHOW SESSIONS, SHOW SOURCES, SHOW STATS, SHOW CONFIG, RELOAD, CANCEL <session id>"


def no_arguments(name: str, arguments: list[str]) -> None:
    if arguments:
        raise PgError(SYNTAX_ERROR, f"{name} takes no arguments", hint=f"Commands: {USAGE}.")
