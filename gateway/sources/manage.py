"""What `metahog source ...` and the HTTP API do with sources: list, find, add, remove, rotate keys.

Every operation starts from the config file's path: the TOML names the registry (`[registry]`,
default `sources.json` next to it), and its own `[sources.NAME]` tables sit side by side with the
registry's. A registry source may not take the name of a config source (nor, as the config's
parser says, the admin console's).

These are plain functions. File access is blocking but short (a lock, a read, an atomic
replace); an event loop calling them from a request handler may run them in a thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import (
    Config,
    SourceConfig,
    _parse_source,
    load_config,
)
from gateway.sources.keys import KeysUnavailable
from gateway.sources.registry import Registry, RegistryError, split_password
from gateway.sources.validate import DEFAULT_TIMEOUT, validate_source

ORIGIN_CONFIG = "config"
ORIGIN_REGISTRY = "registry"
# A name that is a database name clients can type without quoting.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")


class SourceError(Exception):
    """An operation on sources cannot be done (a name taken, an unknown source, an unreadable
    registry); the message says why and never shows a secret."""


@dataclass(frozen=True)
class SourceEntry:
    """One source as `source list` shows it: never a secret."""

    name: str
    kind: str
    origin: str  # ORIGIN_CONFIG or ORIGIN_REGISTRY
    target: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "origin": self.origin, "target": self.target}


def describe_target(source: SourceConfig) -> str:
    """Where a source's data is, without its secrets."""
    if source.backend is not None:
        address = source.backend
        target = f"{address.user}@{address.host}:{address.port}/{address.database}"
        schema = f" schema {source.schema}" if source.schema else ""
        return f"{target}{schema} sslmode={address.sslmode}"
    if source.clickhouse is not None:
        if source.clickhouse.url is not None:
            return split_password(source.clickhouse.url.reveal())[0]
        return f"chdb:{source.clickhouse.path}"
    assert source.hogql is not None
    auth = " (passthrough)" if source.hogql.passthrough else ""
    return f"{source.hogql.host} project {source.hogql.project_id}{auth}"


def _config(config_path: Path) -> Config:
    """The TOML config alone; a ConfigError (an invalid config) goes to the caller as it is."""
    return load_config(config_path)


def _registry(config: Config) -> Registry:
    return Registry(config.registry)


def parse_source_table(config: Config, name: str, table: dict[str, Any]) -> SourceConfig:
    """A registry table as a SourceConfig, checked by the config's own parser (which raises a
    ConfigError naming the bad key)."""
    base_dir = config.path.parent if config.path is not None else Path(".")
    return _parse_source(name, table, base_dir)


def list_sources(config_path: Path) -> list[SourceEntry]:
    """Config sources, then registry sources, each by name; needs no key."""
    config = _config(config_path)
    entries = [
        SourceEntry(name, source.kind, ORIGIN_CONFIG, describe_target(source))
        for name, source in sorted(config.sources.items())
    ]
    try:
        tables = _registry(config).public_tables()
    except RegistryError as exc:
        raise SourceError(str(exc)) from None
    for name, table in sorted(tables.items()):
        source = parse_source_table(config, name, table)
        entries.append(SourceEntry(name, source.kind, ORIGIN_REGISTRY, describe_target(source)))
    return entries


def find_source(config_path: Path, name: str) -> tuple[SourceConfig, str]:
    """A source of the config or the registry, with its secrets, and its origin."""
    config = _config(config_path)
    if name in config.sources:
        return config.sources[name], ORIGIN_CONFIG
    try:
        tables = _registry(config).tables()
    except (RegistryError, KeysUnavailable) as exc:
        raise SourceError(str(exc)) from None
    if name not in tables:
        raise SourceError(f"no source named {name!r} in the config or the registry")
    return parse_source_table(config, name, tables[name]), ORIGIN_REGISTRY


def check_new_name(config: Config, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise SourceError(
            f"invalid source name {name!r}: letters, digits, _ and -, starting with a letter or _"
        )
    if name in config.sources:
        raise SourceError(
            f"source {name!r} is defined in the config ([sources.{name}] in {config.path})"
        )


async def add_source(
    config_path: Path, name: str, table: dict[str, Any], *, timeout: float = DEFAULT_TIMEOUT
) -> SourceConfig:
    """Check the table, connect with its credentials (raising
    `gateway.sources.validate.ValidationFailed` with the reason when that fails), and only then
    store it, its secrets encrypted. A running gateway picks it up when it sees the registry
    file change."""
    config = _config(config_path)
    check_new_name(config, name)
    if name in _registry(config).records():
        raise SourceError(f"source {name!r} is already in the registry")
    source = parse_source_table(config, name, table)
    await validate_source(source, timeout)
    try:
        _registry(config).add(name, table)
    except (RegistryError, KeysUnavailable) as exc:
        raise SourceError(str(exc)) from None
    return source


def remove_source(config_path: Path, name: str) -> None:
    """Remove a registry source. Sessions using it end as they would at a reload."""
    config = _config(config_path)
    if name in config.sources:
        raise SourceError(
            f"source {name!r} is defined in the config, not the registry: edit {config.path}"
        )
    try:
        _registry(config).remove(name)
    except RegistryError as exc:
        raise SourceError(str(exc)) from None


def rotate_keys(config_path: Path) -> int:
    """Re-encrypt every registry secret with a new key (see Registry.rotate); returns how many
    secrets were re-encrypted."""
    config = _config(config_path)
    try:
        return _registry(config).rotate()
    except (RegistryError, KeysUnavailable) as exc:
        raise SourceError(str(exc)) from None
