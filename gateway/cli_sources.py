"""`metahog source add/list/test/schema/remove` and `metahog keys rotate/generate`: the source
registry from the command line (the logic is in gateway/sources/manage.py).

Exit codes: 0 done; 1 the operation failed (validation, an unknown source, a name taken), with a
one-line reason on stderr; 2 a usage or config error. Secrets are only ever read from standard
input or a prompt, never from the command line, where `ps` and shell history would show them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from gateway.cli_config import add_config_option
from gateway.config import ConfigError
from gateway.sources import manage
from gateway.sources.keys import KEYS_ENV, new_key
from gateway.sources.validate import DEFAULT_TIMEOUT, ValidationFailed, read_source_schema

DEFAULT_PORTS = {"postgres": 5432, "clickhouse": 8123}


class UsageError(Exception):
    """The command line does not describe a source; exit code 2."""


def register(commands: Any) -> None:
    """Add the `source` and `keys` commands to the `metahog` parser's subcommands."""
    source = commands.add_parser(
        "source",
        help="manage the source registry",
        description=(
            "Manage sources kept in the source registry (next to the config, secrets encrypted), "
            "which the gateway serves beside the config's own [sources.NAME]."
        ),
    )
    sub = source.add_subparsers(dest="source_command", metavar="COMMAND", required=True)
    _add_parser(sub)
    listing = _command(sub, "list", _list, "list every source, without secrets")
    listing.add_argument("--json", action="store_true", help="one JSON object per source")
    test = _command(sub, "test", _test, "connect to a source and run a trivial query")
    test.add_argument("name")
    _timeout(test)
    schema = _command(sub, "schema", _schema, "show a source's tables and column types")
    schema.add_argument("name")
    schema.add_argument("--json", action="store_true", help="print JSON")
    _timeout(schema)
    remove = _command(sub, "remove", _remove, "remove a registry source")
    remove.add_argument("name")

    keys = commands.add_parser(
        "keys",
        help="manage the keys that encrypt the source registry",
        description=(
            f"The registry's secrets are encrypted with Fernet keys from {KEYS_ENV} (comma-"
            "separated, newest first) or the key file ([registry] key_file, default metahog.key "
            "next to the config, mode 0600)."
        ),
    )
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    _command(
        keys_sub,
        "rotate",
        _rotate,
        "re-encrypt every secret with a new key",
        description=(
            "With a key file: add a new key, re-encrypt every registry secret with it, then drop "
            f"the old keys. With {KEYS_ENV}: re-encrypt with its first key (put a new one first, "
            "from `metahog keys generate`); the other keys can then be removed from it."
        ),
    )
    generate = keys_sub.add_parser(
        "generate", help="print a new Fernet key", description="Print a new Fernet key."
    )
    generate.set_defaults(handler=_generate)


def _command(
    sub: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str, **kwargs: Any
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, help=help, description=kwargs.pop("description", help[0].upper() + help[1:] + ".")
    )
    add_config_option(parser, "the TOML config, which locates the registry (default: %(default)s)")
    parser.set_defaults(handler=_guarded(handler))
    return parser


def _timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the source (default: %(default)s)",
    )


def _add_parser(sub: Any) -> None:
    add = _command(
        sub,
        "add",
        _add,
        "validate a source's credentials, then add it to the registry",
        description=(
            "Connect to the source with the given credentials and, only if that works, store it "
            "in the registry with its secrets encrypted. A running gateway serves it (database "
            "NAME) once it sees the registry change. The password (hogql: the personal API key) "
            "comes from standard input with --password-stdin, or a prompt; a connection string "
            "(postgresql://... or a ClickHouse http(s):// URL, which may carry the password) from "
            "standard input with --dsn-stdin."
        ),
    )
    add.add_argument("name", help="the source's name: the database clients connect to")
    add.add_argument("--kind", choices=("postgres", "clickhouse", "hogql"))
    add.add_argument("--host", help="server host (hogql: the PostHog URL, https://us.posthog.com)")
    add.add_argument("--port", type=int, help="server port (default 5432; clickhouse: 8123)")
    add.add_argument("--database", help="database (clickhouse: the default database)")
    add.add_argument("--user", help="user name")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (hogql: the personal API key) from standard input",
    )
    add.add_argument(
        "--dsn-stdin", action="store_true", help="read a connection string from standard input"
    )
    add.add_argument("--schema", help="postgres: the schema clients see (search_path)")
    add.add_argument(
        "--sslmode",
        choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        help="postgres: TLS to the server (default prefer)",
    )
    add.add_argument("--path", help="clickhouse: an embedded chDB data directory instead of a URL")
    add.add_argument("--project-id", type=int, help="hogql: the PostHog project id")
    add.add_argument(
        "--auth", choices=("api_key", "passthrough"), help="hogql: whose key queries PostHog"
    )
    add.add_argument(
        "--ssh-host", help="postgres, clickhouse: reach the server through this SSH server"
    )
    add.add_argument("--ssh-port", type=int, help="SSH port (default 22)")
    add.add_argument("--ssh-user", help="SSH user")
    add.add_argument("--ssh-key", help="SSH private key file")
    add.add_argument("--ssh-known-hosts", help="known_hosts file holding the SSH server's key")
    _timeout(add)


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """One place that turns failures into a one-line reason and an exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ConfigError, UsageError) as exc:
            _fail(f"invalid config: {exc}" if isinstance(exc, ConfigError) else str(exc))
            return 2
        except ValidationFailed as exc:
            _fail(f"source {getattr(args, 'name', '')}: {exc.reason}: {exc.message}")
            return 1
        except manage.SourceError as exc:
            _fail(str(exc))
            return 1
        finally:
            _close_embedded()

    return run


def _fail(message: str) -> None:
    print(f"metahog: {message}", file=sys.stderr)


def _close_embedded() -> None:
    # chDB must be closed before the process exits (see close_embedded); only if it was loaded.
    if "gateway.backends.clickhouse.source" in sys.modules:
        from gateway.backends.clickhouse.source import close_embedded

        close_embedded()


# --- source add -------------------------------------------------------------------------------
def _add(args: argparse.Namespace) -> int:
    table = build_table(args, sys.stdin)
    source = asyncio.run(
        manage.add_source(Path(args.config), args.name, table, timeout=args.timeout)
    )
    print(f"added source {args.name} ({source.kind}, {manage.describe_target(source)})")
    return 0


def build_table(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    """The `[sources.NAME]` table the command line describes, with its secrets in plaintext."""
    if args.dsn_stdin and args.password_stdin:
        raise UsageError("give --dsn-stdin or --password-stdin, not both")
    dsn = _read_line(stdin, "connection string") if args.dsn_stdin else None
    kind = args.kind or _kind_of(dsn)
    if kind is None:
        raise UsageError("--kind is required (or a connection string with --dsn-stdin)")
    if dsn is not None:
        if kind == "hogql":
            raise UsageError("a hogql source has no connection string: use --host and --project-id")
        for option in ("host", "port", "database", "user", "sslmode", "path"):
            if getattr(args, option) is not None:
                raise UsageError(f"--{option} and --dsn-stdin: the connection string says it")
    password = None
    if args.password_stdin:
        password = _read_line(stdin, "password")
    elif dsn is None and not (kind == "clickhouse" and args.path):
        password = _prompt(kind)
    if kind == "postgres":
        table: dict[str, Any] = {"kind": kind, "dsn": dsn or _postgres_dsn(args, password)}
        if args.schema:
            table["schema"] = args.schema
    elif kind == "clickhouse":
        table = {"kind": kind}
        if args.path:
            table["path"] = str(Path(args.path).resolve())
        else:
            table["url"] = dsn or _clickhouse_url(args, password)
    else:
        table = _hogql_table(args, password)
    _reject_unused(args, kind)
    if args.ssh_host:
        if kind == "clickhouse" and args.path:
            raise UsageError("--ssh-host needs a ClickHouse server (--host or a URL), not --path")
        table["ssh"] = _ssh_table(args)
    return table


def _read_line(stdin: TextIO, what: str) -> str:
    line = stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError(f"no {what} on standard input")
    return line


def _prompt(kind: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    what = "personal API key" if kind == "hogql" else "password"
    return getpass.getpass(f"{what} (empty for none): ") or None


def _kind_of(dsn: str | None) -> str | None:
    if dsn is None:
        return None
    scheme = urlsplit(dsn).scheme
    if scheme in ("postgres", "postgresql"):
        return "postgres"
    if scheme in ("http", "https"):
        return "clickhouse"
    raise UsageError("the connection string must be a postgresql:// or http(s):// URL")


def _netloc(args: argparse.Namespace, host: str | None, kind: str, password: str | None) -> str:
    if not host:
        raise UsageError(f"--host is required for kind {kind} (or --dsn-stdin)")
    host = f"[{host}]" if ":" in host else host
    user = quote(args.user or "", safe="")
    secret = f":{quote(password, safe='')}" if password else ""
    credentials = f"{user}{secret}@" if user or secret else ""
    return f"{credentials}{host}:{args.port or DEFAULT_PORTS[kind]}"


def _postgres_dsn(args: argparse.Namespace, password: str | None) -> str:
    if not args.user:
        raise UsageError("--user is required for kind postgres")
    query = {"sslmode": args.sslmode} if args.sslmode else {}
    host = args.host
    if host and host.startswith("/"):  # a Unix socket directory goes in the query
        query["host"], host = host, "localhost"
    database = quote(args.database or args.user, safe="")
    params = "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())
    return f"postgresql://{_netloc(args, host, 'postgres', password)}/{database}" + (
        f"?{params}" if params else ""
    )


def _clickhouse_url(args: argparse.Namespace, password: str | None) -> str:
    database = f"?database={quote(args.database, safe='')}" if args.database else ""
    return f"http://{_netloc(args, args.host, 'clickhouse', password)}/{database}"


def _hogql_table(args: argparse.Namespace, api_key: str | None) -> dict[str, Any]:
    if not args.host or args.project_id is None:
        raise UsageError("--host (the PostHog URL) and --project-id are required for kind hogql")
    table: dict[str, Any] = {"kind": "hogql", "host": args.host, "project_id": args.project_id}
    if api_key:
        table["api_key"] = api_key
    if args.auth:
        table["auth"] = args.auth
    return table


def _ssh_table(args: argparse.Namespace) -> dict[str, Any]:
    if not (args.ssh_user and args.ssh_key and args.ssh_known_hosts):
        raise UsageError("--ssh-host needs --ssh-user, --ssh-key and --ssh-known-hosts")
    table: dict[str, Any] = {
        "host": args.ssh_host,
        "user": args.ssh_user,
        "key_file": str(Path(args.ssh_key).resolve()),
        "known_hosts": str(Path(args.ssh_known_hosts).resolve()),
    }
    if args.ssh_port:
        table["port"] = args.ssh_port
    return table


_SSH_OPTIONS = ("ssh_host", "ssh_port", "ssh_user", "ssh_key", "ssh_known_hosts")
_OPTIONS_OF = {
    "postgres": {
        "schema",
        "sslmode",
        *_SSH_OPTIONS,
        "host",
        "port",
        "database",
        "user",
    },
    "clickhouse": {"path", "host", "port", "database", "user", *_SSH_OPTIONS},
    "hogql": {"host", "project_id", "auth"},
}


def _reject_unused(args: argparse.Namespace, kind: str) -> None:
    """An option the kind does not use is a mistake, not something to ignore silently."""
    for option in set().union(*_OPTIONS_OF.values()) - _OPTIONS_OF[kind]:
        if getattr(args, option) is not None:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} does not apply to kind {kind}")


# --- list, test, schema, remove -----------------------------------------------------------------
def _list(args: argparse.Namespace) -> int:
    entries = manage.list_sources(Path(args.config))
    if args.json:
        for entry in entries:
            print(json.dumps(entry.as_dict()))
        return 0
    rows = [("NAME", "KIND", "ORIGIN", "TARGET")] + [
        (e.name, e.kind, e.origin, e.target) for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )
    return 0


def _test(args: argparse.Namespace) -> int:
    from gateway.sources.validate import validate_source

    source, origin = manage.find_source(Path(args.config), args.name)
    asyncio.run(validate_source(source, args.timeout))
    print(f"source {args.name} ({origin}): ok, {manage.describe_target(source)}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    source, _ = manage.find_source(Path(args.config), args.name)
    tables = asyncio.run(read_source_schema(source, args.timeout))
    if args.json:
        print(
            json.dumps(
                [
                    {"table": t, "columns": [{"name": n, "type": ty} for n, ty in c]}
                    for t, c in tables
                ],
                indent=2,
            )
        )
        return 0
    for table, columns in tables:
        print(table)
        width = max((len(name) for name, _ in columns), default=0)
        for name, type_ in columns:
            print(f"  {name.ljust(width)}  {type_}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    manage.remove_source(Path(args.config), args.name)
    print(f"removed source {args.name}")
    return 0


# --- keys -------------------------------------------------------------------------------------
def _rotate(args: argparse.Namespace) -> int:
    count = manage.rotate_keys(Path(args.config))
    if KEYS_ENV in os.environ:
        print(
            f"re-encrypted {count} secrets with the first key of {KEYS_ENV};"
            " the other keys can now be removed from it"
        )
    else:
        print(f"re-encrypted {count} secrets with a new key; the old keys were removed")
    return 0


def _generate(args: argparse.Namespace) -> int:
    print(new_key().decode())
    return 0
