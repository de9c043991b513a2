"""Large results stream through the gateway: every row arrives and memory stays flat."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from pathlib import Path

ROWS = 3_000_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_result_streams_with_flat_memory(gateway):
    pid = gateway.process.pid
    baseline = rss_kib(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    process = subprocess.Popen(
        [
            "psql",
            "-X",
            "-At",
            gateway.dsn(),
            "-c",
            f"select g, md5(g::text) from generate_series(1, {ROWS}) g",
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    lines = 0
    last = b""
    # Read slowly at first so the gateway must apply back-pressure instead of buffering.
    for _ in range(20):
        chunk = process.stdout.read(4096)
        lines += chunk.count(b"\n")
        time.sleep(0.05)
    while chunk := process.stdout.read(1 << 20):
        lines += chunk.count(b"\n")
        last = (last + chunk)[-100:]
    assert process.wait(120) == 0
    done.set()
    sampler.join()
    assert lines == ROWS
    expected_last = f"{ROWS}|{hashlib.md5(str(ROWS).encode()).hexdigest()}\n"
    assert last.endswith(expected_last.encode())
    # psql itself holds the whole result; the gateway must not.
    assert peak - baseline < 48 * 1024, f"gateway RSS grew by {(peak - baseline) // 1024} MiB"
