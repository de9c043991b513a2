"""`metahog demo`: the gateway in front of three embedded sources, with generated data.

- `events`: an embedded ClickHouse (chDB) with PostHog's event tables (events, persons,
  person_distinct_id2), a million events by default, generated inside ClickHouse in seconds;
- `posthog`: PostHog's app tables (posthog_team, posthog_person, ...) in an embedded PostgreSQL;
- `app`: a small shop (customers, orders) in the same PostgreSQL, whose customers' distinct_id
  joins to events.distinct_id.

It needs no configuration and no external service, only PostgreSQL's server binaries (Debian:
`apt-get install postgresql`) and chDB (a dependency of the package). Everything lives in one
data directory that is kept, so a second run only starts the servers: a few seconds.

The shadow catalog of `events` lives in the demo's own PostgreSQL, through a `[catalog] dsn`
role with CREATEDB and CREATEROLE, rather than in a private catalog cluster: the demo already
runs a cluster, and a second one would cost another initdb on the first run and another server
start on every run. The backend roles get fresh random passwords at every start (set over the
superuser's Unix socket), so nothing secret is stored and nobody else on the machine can log in
to the demo cluster with a known password; only the gateway's own demo user is fixed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gateway.config import parse_config
from gateway.demo_data import (
    DEFAULT_EVENTS,
    person_count,
    postgres_anchor,
    posthog_sql,
    shop_sql,
)
from gateway.embedded.postgres import LocalPostgres, find_bindir
from gateway.server import serve_until_signalled

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
READER_ROLE = "metahog_reader"
CATALOG_ROLE = "metahog_catalog"
DATABASES = ("app", "posthog", "events")
# Bumped when the generated data changes shape, so that an older data directory is rebuilt.
DATASET_FORMAT = 2


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        # The embedded server runs as the unprivileged postgres user, who cannot enter /root.
        return Path("/var/lib/metahog/demo")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "metahog" / "demo"


@dataclass(frozen=True)
class Layout:
    """Where each part of the demo lives inside its data directory."""

    root: Path

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def chdb(self) -> Path:
        return self.root / "events.chdb"

    @property
    def state(self) -> Path:
        return self.root / "gateway"

    @property
    def marker(self) -> Path:
        # Written last, once both engines hold their data: without it the data is rebuilt.
        return self.root / "dataset.json"

    def dataset(self) -> dict[str, object] | None:
        try:
            info = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT:
            return None
        return info


class ProgressBar:
    """A one-line bar on a terminal; on anything else, a line per step (logs stay readable)."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()

    def update(self, done: int) -> None:
        width = 30
        filled = width * done // self.total
        bar = "#" * filled + "-" * (width - filled)
        line = (
            f"  {self.label} [{bar}] {100 * done // self.total:3d}%  {done:,}/{self.total:,}"
            f"  {time.monotonic() - self.started:.1f} s"
        )
        if self.tty:
            self.stream.write("\r" + line)
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def pip_postgres_bindir() -> Path | None:
    """The server binaries of the `pgserver` wheel (PostgreSQL 16), when it is installed."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        bindir = Path(location) / "pginstall" / "bin"
        if (bindir / "initdb").exists():
            return bindir
    return None


def _find_server_binaries() -> None:
    """The system's PostgreSQL if there is one; else pgserver's binaries, put on PATH where
    LocalPostgres looks for them (found by `which initdb`)."""
    try:
        find_bindir()
        return
    except RuntimeError:
        bindir = pip_postgres_bindir()
        if bindir is None:
            raise RuntimeError(
                "no PostgreSQL server binaries found: install them (Debian: apt-get install "
                "postgresql), or pip install pgserver"
            ) from None
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    _say(f"no system PostgreSQL: using pgserver's binaries in {bindir}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load_postgres(cluster: LocalPostgres, persons: int, generated_at: str) -> None:
    """(Re)create the `app` and `posthog` databases and the demo's roles."""
    cluster.start()
    cluster.psql(
        f"""
        DROP DATABASE IF EXISTS app WITH (FORCE);
        DROP DATABASE IF EXISTS posthog WITH (FORCE);
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
            CREATE ROLE {READER_ROLE} LOGIN;
          END IF;
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{CATALOG_ROLE}') THEN
            CREATE ROLE {CATALOG_ROLE} LOGIN CREATEDB CREATEROLE;
          END IF;
        END $$;
        CREATE DATABASE app;
        CREATE DATABASE posthog;
        """
    )
    grant = f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_ROLE};"
    cluster.psql(shop_sql() + grant, "app")
    cluster.psql(posthog_sql(persons, postgres_anchor(generated_at)) + grant, "posthog")


def _generate(layout: Layout, cluster: LocalPostgres, events: int) -> None:
    """Build both datasets at once: ClickHouse in a subprocess, PostgreSQL in a thread."""
    started = time.monotonic()
    generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    persons = person_count(events)
    layout.marker.unlink(missing_ok=True)
    shutil.rmtree(layout.chdb, ignore_errors=True)
    _say(
        f"generating the demo data in {layout.root}: {events:,} events and {persons:,} persons"
        " (ClickHouse), the app and posthog databases (PostgreSQL) ..."
    )
    failure: list[BaseException] = []

    def load() -> None:
        try:
            _load_postgres(cluster, persons, generated_at)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    loader = threading.Thread(target=load, name="demo-postgres", daemon=True)
    loader.start()
    generator = subprocess.Popen(
        [sys.executable, "-m", "gateway.demo_data", str(layout.chdb), str(events), generated_at],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        bar = ProgressBar("events", events)
        assert generator.stdout is not None
        for line in generator.stdout:
            done, _, _total = line.partition(" ")
            bar.update(int(done))
        if generator.wait() != 0:
            raise RuntimeError(f"generating the events failed (exit {generator.returncode})")
        events_s = time.monotonic() - started
    finally:
        if generator.poll() is None:
            generator.kill()
            generator.wait()
        # Also when interrupted: the loader may be starting the cluster, and stopping it before
        # it is up would leave a server running.
        loader.join()
    if failure:
        raise RuntimeError(f"loading the PostgreSQL databases failed: {failure[0]}")
    layout.marker.write_text(
        json.dumps(
            {
                "format": DATASET_FORMAT,
                "events": events,
                "persons": persons,
                "generated_at": generated_at,
            }
        )
        + "\n"
    )
    _say(
        f"generated in {time.monotonic() - started:.1f} s (events: {events_s:.1f} s);"
        f" kept in {layout.root} for the next run"
    )


def _set_passwords(cluster: LocalPostgres) -> tuple[str, str]:
    reader, catalog = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    cluster.psql(
        f"ALTER ROLE {READER_ROLE} PASSWORD '{reader}';"
        f"ALTER ROLE {CATALOG_ROLE} PASSWORD '{catalog}';"
    )
    return reader, catalog


def demo_config(layout: Layout, cluster: LocalPostgres, port: int) -> dict[str, object]:
    """The gateway's configuration, as a parsed TOML document would give it."""
    reader, catalog = _set_passwords(cluster)
    sources: dict[str, object] = {
        name: {
            "kind": "postgres",
            "dsn": cluster.dsn(READER_ROLE, reader, name, sslmode="disable"),
        }
        for name in ("app", "posthog")
    }
    sources["events"] = {"kind": "clickhouse", "path": str(layout.chdb)}
    return {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "tls": "auto",
            "state_dir": str(layout.state),
        },
        "users": [{"name": DEMO_USER, "password": DEMO_PASSWORD}],
        "sources": sources,
        "catalog": {"dsn": cluster.dsn(CATALOG_ROLE, catalog, "postgres", sslmode="disable")},
    }


def run_demo(port: int, data_dir: Path | None, events: int | None = None) -> int:
    """Start (generating the data on the first run), serve until Ctrl-C, stop. Exit status."""
    from gateway.catalog.manager import StartupError

    layout = Layout((data_dir or default_data_dir()).absolute())
    layout.root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        layout.root.chmod(0o755)  # the embedded server's user must pass through it
    dataset = layout.dataset()
    stored = dataset.get("events") if dataset else None
    wanted = events or (stored if isinstance(stored, int) else DEFAULT_EVENTS)
    cluster: LocalPostgres | None = None
    try:
        _find_server_binaries()
        cluster = LocalPostgres(directory=layout.postgres)
        if dataset is None or stored != wanted:
            _generate(layout, cluster, wanted)
        else:
            _say(f"starting the demo from {layout.root} ({wanted:,} events) ...")
            cluster.start()
        config = parse_config(demo_config(layout, cluster, port))
        try:
            return asyncio.run(serve_until_signalled(config, _banner))
        finally:
            _close_chdb()
    except KeyboardInterrupt:
        _say("interrupted.")
        return 130
    except (StartupError, RuntimeError) as exc:
        _say(f"metahog demo: {exc}")
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        _say("stopped.")


def _close_chdb() -> None:
    """Close the embedded ClickHouse before the interpreter exits, also when the gateway never
    got to close it (see close_embedded)."""
    from gateway.backends.clickhouse.source import close_embedded

    close_embedded()


def connection_string(port: int, database: str) -> str:
    return (
        f"host=127.0.0.1 port={port} dbname={database} user={DEMO_USER} "
        f"password={DEMO_PASSWORD} sslmode=require"
    )


def _banner(port: int) -> str:
    lines = "\n".join(f'  {name:<8} psql "{connection_string(port, name)}"' for name in DATABASES)
    return (
        f"\nMetaHog demo is running on 127.0.0.1:{port}. Connect with:\n\n{lines}\n\n"
        "Try, in events:  select event, count(*) from events"
        " where timestamp > now() - interval '7 days' group by 1 order by 2 desc;\n"
        "    in app:      select country, count(*) from customers group by 1 order by 2 desc;\n"
        "    in posthog:  select name, api_token from posthog_team;\n"
        "Press Ctrl-C to stop."
    )
