"""`metahog token create`: a bearer token for the HTTP API, printed once, with the config entry
that stores its digest."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.cli_config import load_or_report
from gateway.http.tokens import digest, new_token


def register(commands: Any) -> None:
    """Add the `token` command to the `metahog` parser's subcommands."""
    token = commands.add_parser(
        "token", help="manage HTTP API tokens", description="Manage HTTP API bearer tokens."
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = token_commands.add_parser(
        "create",
        help="print a new bearer token and its [[http.tokens]] entry",
        description=(
            "Print a new bearer token for USER, once, and the [[http.tokens]] entry to paste into "
            "the config. The config keeps only the token's SHA-256 digest; a lost token cannot "
            "be recovered, only replaced. With --config, USER must be one of its [[users]]."
        ),
    )
    create.add_argument("user", help="the [[users]] name the token acts as")
    create.add_argument(
        "--admin", action="store_true", help="the token may also add and remove sources"
    )
    create.add_argument("--config", "-c", help="check USER against this config file")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    if args.config:
        config = load_or_report(args.config)
        if config is None:
            return 2
        if config.user(args.user) is None:
            print(f"metahog: no user {args.user!r} in {args.config}", file=sys.stderr)
            return 1
    token = new_token()
    print(token)
    print("metahog: the first line is the token, shown only now", file=sys.stderr)
    admin = "true" if args.admin else "false"
    print(f'\n[[http.tokens]]\nuser = "{args.user}"\nsha256 = "{digest(token)}"\nadmin = {admin}')
    return 0
