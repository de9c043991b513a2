"""What the `metahog` commands share about their config: the `--config` option, and loading the
config with a one-line message (exit status 2) instead of a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import Config, ConfigError, load_effective_config

DEFAULT_CONFIG = "metahog.toml"


def add_config_option(
    parser: argparse.ArgumentParser, help: str = "path of the TOML config (default: %(default)s)"
) -> None:
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, help=help)


def load_or_report(path: str | Path, failure: str = "invalid config") -> Config | None:
    """The running config, or None after telling the user why not."""
    try:
        return load_effective_config(path)
    except ConfigError as exc:
        print(f"metahog: {failure}: {exc}", file=sys.stderr)
        return None
