"""`metahog reload`: make the running gateway re-read its config, and report the outcome.

The config is checked here first: an invalid one is reported at once and the gateway is not
disturbed. Otherwise the gateway (found by the pid file in its state_dir) gets SIGHUP, and the
outcome it records there (gateway/ops/reload.py) is what this command reports: a source that
cannot start is only found out by the gateway itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from gateway.cli_config import add_config_option, load_or_report
from gateway.ops.reload import PID_FILE, RELOAD_STATUS_FILE, read_outcome, read_pid

# How long to wait for the gateway's outcome, in seconds: starting an added source may take a
# while (its schema is read).
WAIT = 60.0


def register(commands: Any) -> None:
    """Add the `reload` command to the `metahog` parser's subcommands."""
    reload = commands.add_parser(
        "reload",
        help="make the running gateway re-read its config",
        description=(
            "Check the config, then make the gateway running with it re-read it (as SIGHUP "
            "does) and print the outcome. An invalid config leaves the running one in force. "
            "Exit status 0: reloaded; 1: the gateway refused it or did not answer; 2: invalid."
        ),
    )
    add_config_option(reload)
    reload.set_defaults(handler=_reload)


def _reload(args: argparse.Namespace) -> int:
    config = load_or_report(args.config, "invalid config, not reloaded")
    if config is None:
        return 2
    state_dir = config.server.state_dir
    pid = read_pid(state_dir)
    if pid is None:
        print(f"metahog: no running gateway found (no pid file in {state_dir})", file=sys.stderr)
        return 1
    if not _is_gateway(pid):
        print(
            f"metahog: process {pid} of {state_dir / PID_FILE} is not a running gateway",
            file=sys.stderr,
        )
        return 1
    before = read_outcome(state_dir)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"metahog: the gateway (pid {pid}) is not running", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"metahog: not allowed to signal the gateway (pid {pid})", file=sys.stderr)
        return 1
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        outcome = read_outcome(state_dir)
        if outcome is not None and outcome != before:
            print(f"metahog: {outcome.message}", file=sys.stdout if outcome.ok else sys.stderr)
            return 0 if outcome.ok else 1
        time.sleep(0.1)
    print(
        f"metahog: the gateway (pid {pid}) did not report within {WAIT:g}s "
        f"({state_dir / RELOAD_STATUS_FILE}); see its log",
        file=sys.stderr,
    )
    return 1


def _is_gateway(pid: int) -> bool:
    """A pid file left by a gateway that died may name another process by now: that one must
    not get SIGHUP (which would end most programs). Where /proc tells, check what it runs."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no such process, unless /proc is not mounted
    except OSError:
        return True
    return b"gateway" in command or b"metahog" in command
