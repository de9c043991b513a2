"""SHOW CONFIG: the effective config as key/value rows. Every secret is a `Secret`, shown as
`***` (a DSN's password too: a DSN is kept as its parts), so nothing here can reveal one."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from gateway.admin.result import Result
from gateway.admin.usage import no_arguments
from gateway.secret import Secret

if TYPE_CHECKING:
    from gateway.server import Gateway

COLUMNS = ("key", "value")


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    no_arguments("SHOW CONFIG", arguments)
    config = gateway.config
    rows: list[tuple[str, str]] = []
    for field in dataclasses.fields(config):
        _flatten(field.name, getattr(config, field.name), rows)
    return Result(COLUMNS, rows)


def _flatten(key: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, Secret):
        rows.append((key, "***" if value else ""))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _flatten(f"{key}.{field.name}", getattr(value, field.name), rows)
    elif isinstance(value, dict):
        for name, item in value.items():
            _flatten(f"{key}.{name}", item, rows)
    elif isinstance(value, (list, tuple)) and any(dataclasses.is_dataclass(item) for item in value):
        for index, item in enumerate(value):
            _flatten(f"{key}[{index}]", item, rows)
    else:
        rows.append((key, _text(value)))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    return str(value)
