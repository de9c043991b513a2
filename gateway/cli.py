"""The `metahog` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from gateway import __version__, cli_ops, cli_sources, cli_tokens
from gateway.cli_config import add_config_option, load_or_report
from gateway.config import Config
from gateway.protocol.scram import make_verifier

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metahog",
        description=(
            "MetaHog: a read-only SQL gateway that speaks the PostgreSQL wire protocol. "
            "Clients connect with any Postgres driver; the database name picks the source."
        ),
    )
    parser.add_argument("--version", action="version", version=f"metahog {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway with the sources and users of a TOML config file.",
    )
    add_config_option(serve)
    serve.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: the config's [logging] level, else info)",
    )
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser(
        "demo",
        help="run the gateway on embedded ClickHouse and PostgreSQL with sample data",
        description=(
            "Start an embedded ClickHouse (chDB) with generated PostHog events (database "
            "'events'), an embedded PostgreSQL (the system's server binaries; on Debian: "
            "apt-get install postgresql) with PostHog's app tables ('posthog') and a small shop "
            "('app'), and the gateway in front of them. Needs no configuration; the data is "
            "generated on the first run and kept in --data-dir, so later runs start in seconds."
        ),
    )
    demo.add_argument("--port", type=int, default=6543, help="gateway port (default: %(default)s)")
    demo.add_argument(
        "--data-dir", help="where the embedded databases live (default: a per-user data directory)"
    )
    demo.add_argument(
        "--events",
        type=_positive_int,
        help=(
            "number of events to generate (default: the data directory's, or 1,000,000 on the "
            "first run); a different number rebuilds the data"
        ),
    )
    demo.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: %(default)s)",
    )
    demo.set_defaults(handler=_demo)

    user = commands.add_parser(
        "user", help="manage gateway users", description="Manage gateway users."
    )
    user_commands = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_commands.add_parser(
        "add",
        help="print a SCRAM-SHA-256 verifier for a new user",
        description=(
            "Print a [[users]] entry with a SCRAM-SHA-256 verifier, in PostgreSQL's format, to "
            "paste into the config. The password is read from a prompt, or from standard input "
            "with --password-stdin; it is never stored."
        ),
    )
    add.add_argument("name", help="the user name clients log in with")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument(
        "--iterations", type=int, default=4096, help="PBKDF2 iterations (default: %(default)s)"
    )
    add.set_defaults(handler=_user_add)
    cli_tokens.register(commands)
    cli_sources.register(commands)
    cli_ops.register(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return 2
    from gateway.ops import logging as ops_logging
    from gateway.ops.masking import SecretsOf

    ops_logging.configure(
        args.log_level or config.logging.level,
        config.logging.format,
        secrets=SecretsOf(lambda: config),
    )
    from gateway.catalog.manager import StartupError
    from gateway.server import serve_until_signalled

    _install_uvloop()
    try:
        return asyncio.run(serve_until_signalled(config, _banner_for(config)))
    except StartupError as exc:
        print(f"metahog: cannot start: {exc}", file=sys.stderr)
        return 1


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


def _banner_for(config: Config) -> Callable[[int], str]:
    sources = ", ".join(config.sources) or "none"
    return lambda port: f"metahog listening on {config.server.host}:{port} (sources: {sources})"


def _demo(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format=_LOG_FORMAT, stream=sys.stderr)
    from gateway.demo import run_demo

    _install_uvloop()
    return run_demo(args.port, Path(args.data_dir) if args.data_dir else None, args.events)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _user_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("metahog: passwords do not match", file=sys.stderr)
            return 1
    if not password:
        print("metahog: empty password", file=sys.stderr)
        return 1
    verifier = make_verifier(password, args.iterations).encode()
    print(f'[[users]]\nname = "{args.name}"\npassword = "{verifier}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
