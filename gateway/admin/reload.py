"""RELOAD: re-read the config now (Gateway.reload). What changed comes back as a notice; an
invalid config is an error (F0000, config_file_error), and the old config stays in force."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.admin.result import Result
from gateway.admin.usage import no_arguments
from gateway.config import ConfigError
from gateway.protocol.errors import PgError

if TYPE_CHECKING:
    from gateway.server import Gateway

CONFIG_FILE_ERROR = "F0000"


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    no_arguments("RELOAD", arguments)
    try:
        message = await gateway.reload()
    except ConfigError as error:
        raise PgError(
            CONFIG_FILE_ERROR,
            f"config not reloaded: {error}",
            detail="The old config stays in force.",
        ) from None
    return Result(("result",), [(message,)], tag="RELOAD")
