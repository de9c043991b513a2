"""`metahog demo` starts on an embedded PostgreSQL, answers clients, and stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from gateway.embedded.postgres import free_port


def start_demo(port: int, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if "Press Ctrl-C" in line:
            return "".join(seen)
    raise AssertionError(f"demo did not start: {''.join(seen)}")


def test_demo_serves_and_restarts_from_its_data_dir():
    parent = Path(tempfile.mkdtemp(prefix="metahog-demo-"))
    parent.chmod(0o755)  # the embedded server runs as an unprivileged user
    data_dir = parent / "demo"
    port = free_port()
    process = start_demo(port, data_dir)
    try:
        banner = wait_ready(process)
        assert f"port={port} dbname=app user=demo" in banner
        dsn = f"host=127.0.0.1 port={port} dbname=app user=demo password=demo sslmode=require"
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select count(*) from customers").fetchone() == (5000,)
            joined = conn.execute(
                "select count(*) from orders o join customers c on c.id = o.customer_id"
            ).fetchone()
            assert joined == (20000,)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    started = time.monotonic()
    again = start_demo(port, data_dir)
    try:
        banner = wait_ready(again)
        assert "loading the shop dataset" not in banner
        assert time.monotonic() - started < 30
    finally:
        again.send_signal(signal.SIGINT)
        assert again.wait(60) == 0
