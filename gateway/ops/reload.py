"""Applying a new config to a running gateway, as the difference between the old and the new.

New sessions see the new config; open sessions keep what they started with (their source's pool
and data source, their user's limits), so a reload never breaks a running statement. A source
that was removed stops taking new sessions at once; its pool closes each connection as its
session gives it back. A changed source is a removed one and an added one under the same name.

A reload is all or nothing: the config is parsed and every added source started before anything
is swapped in, and a failure leaves the old config in force.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.backends.postgres.pool import PostgresPool
from gateway.config import Config, ConfigError, SourceConfig

if TYPE_CHECKING:
    from gateway.server import Gateway

log = logging.getLogger(__name__)

# Under server.state_dir: the running gateway's process id, and the outcome of its last reload
# (for `metahog reload`, which signals the process and waits for the outcome).
PID_FILE = "metahog.pid"
RELOAD_STATUS_FILE = "reload-status.json"
# How often the watched files' modification times are looked at, in seconds.
WATCH_INTERVAL = 1.0


@dataclass(frozen=True)
class SourceChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    def summary(self) -> str:
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("added", self.added),
                ("removed", self.removed),
                ("changed", self.changed),
            )
            if names
        ]
        return "; ".join(parts) or "no source changed"


def source_changes(old: Config, new: Config) -> SourceChanges:
    return SourceChanges(
        added=tuple(name for name in new.sources if name not in old.sources),
        removed=tuple(name for name in old.sources if name not in new.sources),
        changed=tuple(
            name
            for name, source in new.sources.items()
            if name in old.sources and old.sources[name] != source
        ),
    )


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """Settings a running gateway cannot take over: it keeps the old ones until restarted."""
    keys = []
    for key in ("host", "port", "state_dir"):
        if getattr(old.server, key) != getattr(new.server, key):
            keys.append(f"server.{key}")
    for section in ("audit", "logging"):
        if getattr(old, section) != getattr(new, section):
            keys.append(f"[{section}]")
    if old.catalog.dsn != new.catalog.dsn:
        keys.append("catalog.dsn")
    if (old.http.host, old.http.port) != (new.http.host, new.http.port):
        keys.append("http.host/http.port")
    return keys


async def apply(gateway: Gateway, new: Config) -> SourceChanges:
    """Make `new` the gateway's config, or raise ConfigError and change nothing."""
    old = gateway.config
    changes = source_changes(old, new)
    config = _in_force(old, new)
    try:
        tls = gateway.load_tls(config)
    except (OSError, ValueError) as exc:
        files = f"{new.server.tls_cert} and {new.server.tls_key}"
        raise ConfigError(f"server.tls_cert/tls_key: cannot load {files}: {exc}") from None
    catalogs = gateway.catalogs
    saved = (dict(gateway.pools), dict(gateway.data_sources), dict(catalogs.shadows))
    try:
        for name in (*changes.removed, *changes.changed):
            _withdraw(gateway, name)
        for name in (*changes.added, *changes.changed):
            await _start_source(gateway, name, new.sources[name])
    except Exception as exc:
        _close_new_pools(gateway.pools.values(), saved[0].values())
        _restore(gateway.pools, saved[0])
        _restore(gateway.data_sources, saved[1])
        _restore(catalogs.shadows, saved[2])
        message = exc.args[0] if isinstance(exc, ConfigError) and exc.args else str(exc)
        raise ConfigError(f"a source cannot start: {message}") from None
    for name in (*changes.removed, *changes.changed):
        pool = saved[0].get(name)
        if pool is not None:
            pool.close()
    for key in restart_only_changes(old, new):
        log.warning("reload: %s changed; it takes effect when the gateway restarts", key)
    gateway.tls = tls
    gateway.config = catalogs.config = config
    return changes


def _in_force(old: Config, new: Config) -> Config:
    """The new config, with the old values of what only a restart changes: the config the
    gateway then runs with, as SHOW CONFIG shows it."""
    server = replace(
        new.server, host=old.server.host, port=old.server.port, state_dir=old.server.state_dir
    )
    http = replace(new.http, host=old.http.host, port=old.http.port)
    catalog = replace(new.catalog, dsn=old.catalog.dsn)
    return replace(
        new, server=server, http=http, catalog=catalog, audit=old.audit, logging=old.logging
    )


def _withdraw(gateway: Gateway, name: str) -> None:
    gateway.pools.pop(name, None)
    gateway.catalogs.remove_source(name)


async def _start_source(gateway: Gateway, name: str, source: SourceConfig) -> None:
    if source.kind == "postgres":
        gateway.pools[name] = PostgresPool(source)
    else:
        await gateway.catalogs.add_source(name, source)


def _close_new_pools(current: Iterable[PostgresPool], kept: Iterable[PostgresPool]) -> None:
    kept_ids = {id(pool) for pool in kept}
    for pool in current:
        if id(pool) not in kept_ids:
            pool.close()


def _restore(target: dict, saved: dict) -> None:
    target.clear()
    target.update(saved)


# --- the outcome, for `metahog reload` -------------------------------------------------------
@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    message: str
    finished: float  # time.time()

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "message": self.message, "finished": self.finished})

    @classmethod
    def from_json(cls, text: str) -> ReloadOutcome:
        raw = json.loads(text)
        return cls(bool(raw["ok"]), str(raw["message"]), float(raw["finished"]))


def record_outcome(state_dir: Path, outcome: ReloadOutcome) -> None:
    """Replace the status file in one step, so a reader never sees half of it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = state_dir / f".{RELOAD_STATUS_FILE}.{os.getpid()}"
        temporary.write_text(outcome.to_json())
        temporary.replace(state_dir / RELOAD_STATUS_FILE)
    except OSError as exc:
        log.warning("cannot record the reload outcome in %s: %s", state_dir, exc)


def read_outcome(state_dir: Path) -> ReloadOutcome | None:
    try:
        return ReloadOutcome.from_json((state_dir / RELOAD_STATUS_FILE).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- watching the config's files -------------------------------------------------------------
def _signature(paths: Iterable[Path]) -> tuple[tuple[int, int] | None, ...]:
    signature = []
    for path in paths:
        try:
            status = path.stat()
            signature.append((status.st_mtime_ns, status.st_size))
        except OSError:
            signature.append(None)
    return tuple(signature)


async def watch_files(gateway: Gateway) -> None:
    """Reload when a file of the config changes. A change is acted on once the file has kept
    still for one interval, so an editor's save in several writes makes one reload."""
    seen = _signature(gateway.config.watch_paths)
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        paths = gateway.config.watch_paths
        current = _signature(paths)
        if current == seen:
            continue
        await asyncio.sleep(WATCH_INTERVAL / 4)
        if _signature(paths) != current:
            continue  # still being written
        log.info("reload: a config file changed")
        try:
            await gateway.reload()
        except ConfigError:
            pass  # logged and recorded by reload; the next change tries again
        seen = _signature(gateway.config.watch_paths)


def describe_outcome(error: ConfigError | None, changes: SourceChanges | None) -> ReloadOutcome:
    if error is not None:
        return ReloadOutcome(False, f"config not reloaded: {error}", time.time())
    assert changes is not None
    return ReloadOutcome(True, f"config reloaded: {changes.summary()}", time.time())


# --- the process id, for `metahog reload` ------------------------------------------------------
def write_pid_file(state_dir: Path) -> Path | None:
    path = state_dir / PID_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        log.warning("cannot write the pid file %s: %s", path, exc)
        return None
    return path


def remove_pid_file(path: Path | None) -> None:
    # Only this process's own file: a second gateway on the same state_dir may own it now.
    try:
        if path is not None and path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
