"""The console's commands, by their words; each lives in a module of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gateway.admin import cancel, reload, show_config, show_sessions, show_sources, show_stats
from gateway.admin.result import Result
from gateway.admin.usage import USAGE
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, SYNTAX_ERROR, PgError

if TYPE_CHECKING:
    from gateway.server import Gateway

Command = Callable[["Gateway", list[str]], Awaitable[Result]]

COMMANDS: dict[tuple[str, ...], Command] = {
    ("SHOW", "SESSIONS"): show_sessions.run,
    ("SHOW", "SOURCES"): show_sources.run,
    ("SHOW", "STATS"): show_stats.run,
    ("SHOW", "CONFIG"): show_config.run,
    ("RELOAD",): reload.run,
    ("CANCEL",): cancel.run,
}
# What SQL begins with: refused as SQL (0A000), not as a misspelt command (42601).
_SQL_WORDS = frozenset(
    "SELECT WITH VALUES TABLE INSERT UPDATE DELETE BEGIN START COMMIT ROLLBACK SET EXPLAIN"
    " CREATE DROP ALTER COPY".split()
)


async def run_command(gateway: Gateway, text: str) -> bytes:
    words = text.split()
    upper = [word.upper() for word in words]
    for length in (2, 1):
        command = COMMANDS.get(tuple(upper[:length]))
        if command is not None:
            result = await command(gateway, words[length:])
            return result.encode()
    if upper[0] in _SQL_WORDS:
        raise PgError(
            FEATURE_NOT_SUPPORTED,
            "the admin console runs console commands, not SQL",
            hint=f"Commands: {USAGE}. Connect to a source's database to run SQL.",
        )
    raise PgError(
        SYNTAX_ERROR, f"unknown admin console command: {text}", hint=f"Commands: {USAGE}."
    )
