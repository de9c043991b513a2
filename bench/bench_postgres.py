#!/usr/bin/env python3
"""MetaHog against PostgreSQL directly and pgbouncer: throughput, stream time, proxy CPU and
memory.

One run starts a throw-away PostgreSQL cluster (gateway.embedded.postgres.LocalPostgres), loads
it with `pgbench -i`, puts pgbouncer (session pooling) and MetaHog (`python -m gateway serve`) in
front of it, and measures on the same cluster:

  1. `pgbench -S -M simple`   direct / pgbouncer / MetaHog: TPS
  2. `pgbench -S -M prepared` direct / pgbouncer / MetaHog: TPS
  3. a large SELECT, and the same as COPY TO STDOUT, streamed through psql to /dev/null: time

For each proxy run it records the proxy's CPU time (/proc/PID/stat) and samples its resident
memory (/proc/PID/status). It then times the guard (`Guard().check`) per statement: statements
new to it, new literals in a known statement, exact repeats. The Markdown report is printed and
written to bench/results/latest.md. With --profile, py-spy samples MetaHog during its runs.

    python bench/bench_postgres.py [--duration S] [--clients N] [--rows N] [--profile] [--help]

Everything it starts (cluster, pgbouncer, gateway, py-spy) is stopped on exit, on Ctrl-C and
SIGTERM too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gateway.embedded.postgres import LocalPostgres, free_port  # noqa: E402
from gateway.routing.guard import Guard  # noqa: E402

RESULTS = REPO / "bench" / "results"
DATABASE = "bench"
USER = "bench"
PASSWORD = "bench-pw"  # a throw-away cluster's; not a secret
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
UNPRIVILEGED = "postgres"

DIRECT, PGBOUNCER_TARGET, METAHOG = "direct", "pgbouncer", "MetaHog"


class BenchError(RuntimeError):
    pass


# --- resource sampling -----------------------------------------------------------------------
def proc_status_kib(pid: int, key: str) -> int | None:
    """VmRSS / VmHWM of a process in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """User and system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of proc(5); the split above starts at field 3.
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds for its whole life; measurements are
    time windows over the samples."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss is None:
                return
            self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.interval)

    def window(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in list(self.samples) if start <= t <= end]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@dataclass
class Usage:
    """What a proxy process used during one measurement."""

    rss_before: int | None = None
    rss_peak: int | None = None
    rss_after: int | None = None
    hwm: int | None = None
    samples: list[int] = field(default_factory=list)
    cpu: float | None = None  # seconds, user + system
    system: float = 0.0  # seconds of system time within `cpu`
    wall: float = 0.0


class CleanupStack(contextlib.ExitStack):
    """An ExitStack whose clean-up a second Ctrl-C (or SIGTERM) cannot cut short."""

    def __exit__(self, *exc_info: object) -> bool:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,
                                                                         signal.SIGTERM)}
        try:
            return super().__exit__(*exc_info)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# --- processes -------------------------------------------------------------------------------
def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{what} exited ({process.returncode}):\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what} did not listen on port {port}:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10,
                 sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Proxy:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    sampler: RssSampler


def start_pgbouncer(pg: LocalPostgres, stack: contextlib.ExitStack, pool_size: int,
                    pool_mode: str) -> Proxy:
    """pgbouncer refuses to run as root: as root it runs as the cluster's unprivileged user, from
    a directory that user owns."""
    directory = Path(tempfile.mkdtemp(prefix="metahog-bench-pgbouncer-"))
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    port = free_port()
    (directory / "userlist.txt").write_text(f'"{USER}" "{PASSWORD}"\n')
    (directory / "pgbouncer.ini").write_text(
        f"""
[databases]
{DATABASE} = host=127.0.0.1 port={pg.port} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {directory}/userlist.txt
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = {pool_size * 4 + 20}
server_tls_sslmode = disable
client_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits
logfile = {directory}/pgbouncer.log
log_connections = 0
log_disconnections = 0
"""
    )
    run_as: dict = {}
    if os.geteuid() == 0:
        owner = pwd.getpwnam(UNPRIVILEGED)
        for path in (directory, *directory.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        # Popen(user=...) does what runuser does, but the child is pgbouncer itself, whose PID
        # the sampler needs.
        run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    log = directory / "pgbouncer.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [PGBOUNCER, str(directory / "pgbouncer.ini")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
        )
    stack.callback(stop_process, process)
    wait_for_port(port, process, log, "pgbouncer")
    sampler = RssSampler(process.pid)
    stack.callback(sampler.stop)
    return Proxy(PGBOUNCER_TARGET, port, process, log, sampler)


def start_metahog(pg: LocalPostgres, stack: contextlib.ExitStack, pool_size: int) -> Proxy:
    directory = Path(tempfile.mkdtemp(prefix="metahog-bench-gw-"))
    stack.callback(shutil.rmtree, directory, ignore_errors=True)
    port = free_port()
    config = directory / "metahog.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
tls = "off"
state_dir = "state"

[[users]]
name = "{USER}"
password = "{PASSWORD}"

[sources.{DATABASE}]
kind = "postgres"
dsn = "{pg.dsn(USER, PASSWORD, DATABASE, sslmode='disable')}"
pool_size = {pool_size}
statement_timeout = "10min"
"""
    )
    log = directory / "gateway.log"
    with open(log, "wb") as out:
        # Its own session: Ctrl-C reaches this script, whose clean-up stops the gateway.
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config),
             "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    stack.callback(stop_process, process)
    wait_for_port(port, process, log, "MetaHog")
    sampler = RssSampler(process.pid)
    stack.callback(sampler.stop)
    return Proxy(METAHOG, port, process, log, sampler)


def client_env() -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": PASSWORD, "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "10", "PGAPPNAME": "metahog-bench"}


# --- profiling -------------------------------------------------------------------------------
class Profiler:
    """py-spy attached to the gateway for the length of one measurement (--profile)."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        output.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--idle", "--rate", "200",
             "--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        time.sleep(0.5)  # attached before the clients start

    def stop(self) -> None:
        # py-spy writes its output when interrupted.
        stop_process(self.process, timeout=30, sig=signal.SIGINT)


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Where the samples of py-spy's collapsed stacks fall: each sample is attributed to its
    innermost gateway frame (with its line) and the frame actually running."""
    try:
        text = path.read_text()
    except OSError:
        return [f"(no profile written to {path})"]
    places: dict[str, int] = {}
    total = loop = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        if frames[-1].startswith(("Runner.run (asyncio/runners.py", "run (asyncio/runners.py")):
            loop += count  # waiting for events, or in uvloop's C code
            continue
        ours = [frame for frame in frames if "gateway/" in frame]
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        place = f"{ours[-1]} → {leaf}" if ours and ours[-1] != frames[-1] else (
            ours[-1] if ours else leaf)
        places[place] = places.get(place, 0) + count
    if not total:
        return ["(empty profile)"]
    ranked = sorted(places.items(), key=lambda item: -item[1])[:top]
    return [
        f"{total} samples at 200 Hz of wall-clock time, in {path.name}. "
        f"{100 * loop / total:.0f}% in the event loop itself (idle, or uvloop's C code).",
        "",
        "| share | innermost gateway frame → running frame |",
        "|---|---|",
        *(f"| {100 * n / total:.1f}% | `{place}` |" for place, n in ranked),
    ]


# --- measurements ----------------------------------------------------------------------------
@dataclass
class Result:
    workload: str
    target: str
    value: float | None  # TPS, or seconds for streams
    unit: str  # "tps" or "s"
    detail: str = ""
    error: str | None = None
    transactions: int = 0
    usage: Usage | None = None  # of the proxy that was measured, if any
    profile: list[str] = field(default_factory=list)


def measure(proxy: Proxy | None, run: Callable[[], Result], profile: Path | None = None) -> Result:
    if proxy is None:
        return run()
    profiler = Profiler(proxy.process.pid, profile) if profile else None
    usage = Usage(rss_before=proc_status_kib(proxy.process.pid, "VmRSS"))
    cpu_before = cpu_seconds(proxy.process.pid)
    start = time.monotonic()
    try:
        result = run()
    finally:
        if profiler:
            profiler.stop()
    end = time.monotonic()
    cpu_after = cpu_seconds(proxy.process.pid)
    time.sleep(0.05)
    usage.wall = end - start
    usage.samples = proxy.sampler.window(start, end)
    usage.rss_peak = max(usage.samples, default=None)
    usage.rss_after = proc_status_kib(proxy.process.pid, "VmRSS")
    usage.hwm = proc_status_kib(proxy.process.pid, "VmHWM")
    if cpu_before is not None and cpu_after is not None:
        usage.cpu = sum(cpu_after) - sum(cpu_before)
        usage.system = cpu_after[1] - cpu_before[1]
    result.usage = usage
    if profile:
        result.profile = summarize_profile(profile)
    return result


def run_pgbench(workload: str, target: str, port: int, mode: str, args: argparse.Namespace,
                duration: float | None = None) -> Result:
    command = [
        "pgbench", "-n", "-S", "-M", mode, "-c", str(args.clients), "-j", str(args.jobs),
        "-T", str(int(duration or args.duration)), "-h", "127.0.0.1", "-p", str(port),
        "-U", USER, DATABASE,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=client_env())
    out = completed.stdout + completed.stderr

    def number(pattern: str) -> str | None:
        match = re.search(pattern, completed.stdout, re.M)
        return match.group(1) if match else None

    tps = number(r"^tps = ([\d.]+)")
    latency = number(r"^latency average = ([\d.]+) ms")
    failed = number(r"^number of failed transactions: (\d+)")
    processed = number(r"^number of transactions actually processed: (\d+)")
    error = None
    if completed.returncode != 0 or tps is None:
        last = " | ".join(out.strip().splitlines()[-3:])
        error = f"pgbench exited {completed.returncode}: {last}"
    elif failed and int(failed):
        error = f"{failed} failed transactions"
    return Result(
        workload, target, float(tps) if tps else None, "tps",
        detail=f"latency {latency} ms" if latency else "", error=error,
        transactions=int(processed or 0),
    )


def run_stream(workload: str, target: str, port: int, sql: str, repeat: int) -> Result:
    command = [
        "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
        "-U", USER, "-d", DATABASE, "-c", sql,
    ]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        completed = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=client_env(),
        )
        elapsed = time.perf_counter() - start
        if completed.returncode != 0:
            return Result(workload, target, None, "s",
                          error=f"psql exited {completed.returncode}: {completed.stderr.strip()}")
        times.append(elapsed)
    return Result(
        workload, target, statistics.median(times), "s",
        detail="runs " + ", ".join(f"{t:.2f}" for t in times), transactions=repeat,
    )


# --- guard -----------------------------------------------------------------------------------
# Templates: {n} is a literal, {a} part of an identifier. Texts that differ in {a} are different
# statements to the guard (a full parse); texts that differ only in {n} have one shape, which a
# guard that masks literals in its cache key checks without parsing again.
DT_QUERY = """SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN \
'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner{a}"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','t','s','')
  AND c.relname OPERATOR(pg_catalog.~) '^(t{n}.*)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;"""  # psql 15's query for \dt t1*, as `psql -E` shows it

JOIN_QUERY = (
    "SELECT a.aid, a.abalance, b.bbalance, t.tbalance AS tb{a} FROM pgbench_accounts a "
    "JOIN pgbench_branches b ON b.bid = a.bid JOIN pgbench_tellers t ON t.bid = b.bid "
    "WHERE a.aid BETWEEN {n} AND {n} + 100 AND t.tid % 2 = 0 ORDER BY a.aid LIMIT 50"
)

GUARD_CASES = [
    # name, template, how many distinct texts per round
    ("pgbench -S SELECT", "SELECT abalance FROM pgbench_accounts AS x{a} WHERE aid = {n};", 2000),
    ("3-table join", JOIN_QUERY, 600),
    ("psql \\dt catalog query", DT_QUERY, 200),
]


@dataclass
class GuardCost:
    name: str
    chars: int
    miss_us: list[float] = field(default_factory=list)  # one figure per round
    literal_us: list[float] = field(default_factory=list)
    hit_us: list[float] = field(default_factory=list)


def time_guard(scale: float, rounds: int = 3) -> list[GuardCost]:
    """Microseconds per `Guard.check`, each tier timed on a fresh guard per round:
    miss (statements new to the guard), literal (one statement, a new literal each time: what
    pgbench -S sends in simple mode), hit (the same text again)."""
    Guard().check("SELECT 1")  # sqlglot's lazy set-up is not part of any statement's cost

    def per_call(guard: Guard, texts: list[str]) -> float:
        start = time.perf_counter()
        for text in texts:
            guard.check(text)
        return 1e6 * (time.perf_counter() - start) / len(texts)

    costs = []
    for name, template, count in GUARD_CASES:
        count = max(20, int(count * scale))
        cost = GuardCost(name, len(template.format(a=1, n=1000)))
        error = Guard().check(template.format(a=1, n=1000))
        if error is not None:
            raise BenchError(f"the guard rejects the {name} statement: {error}")
        for round_ in range(rounds):
            base = 1000 + 10 * round_ * count
            cost.miss_us.append(per_call(
                Guard(cache_size=count + 10),
                [template.format(a=base + i, n=base + i) for i in range(count)],
            ))
            guard = Guard(cache_size=count + 10)
            guard.check(template.format(a=0, n=0))
            cost.literal_us.append(per_call(
                guard, [template.format(a=0, n=base + i) for i in range(count)]
            ))
            cost.hit_us.append(per_call(guard, [template.format(a=0, n=0)] * (count * 10)))
        costs.append(cost)
    return costs


# --- report ----------------------------------------------------------------------------------
def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def fmt_value(result: Result) -> str:
    if result.value is None:
        return f"error: {result.error}"
    text = f"{result.value:,.0f} tps" if result.unit == "tps" else f"{result.value:.2f} s"
    if result.error:
        text += f" ({result.error})"
    return text


def throughput_ratio(result: Result, base: Result | None) -> str:
    """MetaHog's (or pgbouncer's) throughput relative to `base`: above 1 is faster."""
    if base is None or result.value is None or base.value is None or not base.value:
        return "-"
    ratio = result.value / base.value if result.unit == "tps" else base.value / result.value
    return f"{ratio:.2f}x"


def report(args: argparse.Namespace, versions: dict[str, str], results: list[Result],
           guard: list[GuardCost]) -> str:
    lines = [
        "# MetaHog vs PostgreSQL vs pgbouncer",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "- versions: " + "; ".join(f"{name} {version}" for name, version in versions.items()),
        f"- pgbench -n -S: scale {args.scale}, -c {args.clients} -j {args.jobs}, "
        f"{args.duration:g} s per run, sslmode=disable, TCP to 127.0.0.1",
        f"- pgbouncer pool_mode={args.pool_mode}, default_pool_size {args.clients + 2}; "
        f"MetaHog tls=off, pool_size {args.clients + 2}",
        f"- load average (1 min) at the start {args.load_start:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f}: anything else running on the machine skews the figures",
        f"- streams: {args.rows:,} rows through `psql -X -At` to /dev/null, median of "
        f"{args.repeat} runs",
        *(["- **py-spy was attached to MetaHog (--profile): its figures are not comparable**"]
          if args.profile else []),
        "",
        "Ratios are throughput relative to the baseline (TPS / TPS, or time(base) / time): "
        "1.00x is as fast, below 1 slower. Proxy CPU is the proxy process's user+system time "
        "over the run (100% = one core); per transaction for pgbench, per run for streams. "
        "RSS is the proxy's VmRSS sampled every 20 ms.",
        "",
        "| workload | target | result | vs direct | vs pgbouncer | detail | proxy CPU "
        "| proxy RSS before → peak → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_workload: dict[str, dict[str, Result]] = {}
    for result in results:
        by_workload.setdefault(result.workload, {})[result.target] = result
    for workload, targets in by_workload.items():
        for target in (DIRECT, PGBOUNCER_TARGET, METAHOG):
            result = targets.get(target)
            if result is None:
                continue
            vs_direct = throughput_ratio(result, targets.get(DIRECT)) if target != DIRECT else ""
            vs_bouncer = (
                throughput_ratio(result, targets.get(PGBOUNCER_TARGET)) if target == METAHOG else ""
            )
            lines.append(
                f"| {workload} | {target} | {fmt_value(result)} | {vs_direct} | {vs_bouncer} "
                f"| {result.detail} | {cpu_line(result)} | {memory_line(result.usage)} |"
            )
    streams = [r for r in results if r.target == METAHOG and r.unit == "s" and r.usage]
    if streams:
        lines += ["", "MetaHog's RSS while streaming (flat: the relay buffers no result set):", ""]
        for result in streams:
            usage = result.usage
            assert usage is not None
            if usage.samples:
                lines.append(
                    f"- {result.workload}: min {mib(min(usage.samples))}, max "
                    f"{mib(max(usage.samples))} over {len(usage.samples)} samples; at 0/25/50/75/"
                    f"100% of the runs: {trajectory(usage.samples)}; process VmHWM "
                    f"{mib(usage.hwm)}"
                )
    if guard:
        lines += [
            "",
            "## Guard cost per statement (`Guard().check(text)`, in this process)",
            "",
            "Median of 3 rounds, range in brackets. *miss*: statements new to the guard "
            "(tokenized, parsed with sqlglot, tree walked). *new literal*: one statement with a "
            "different literal each time, as pgbench -S sends in simple mode (a guard that "
            "caches by shape only tokenizes). *hit*: the same text again.",
            "",
            "| statement | chars | miss (µs) | new literal (µs) | hit (µs) |",
            "|---|---|---|---|---|",
            *(f"| {g.name} | {g.chars} | {spread(g.miss_us, '.0f')} "
              f"| {spread(g.literal_us, '.0f')} | {spread(g.hit_us, '.2f')} |" for g in guard),
        ]
    profiled = [r for r in results if r.profile]
    if profiled:
        lines += ["", "## Where MetaHog's time goes (py-spy)"]
        for result in profiled:
            lines += ["", f"### {result.workload}", "", *result.profile]
    return "\n".join(lines) + "\n"


def spread(values: list[float], spec: str) -> str:
    return (f"{statistics.median(values):{spec}} "
            f"[{min(values):{spec}}-{max(values):{spec}}]")


def cpu_line(result: Result) -> str:
    usage = result.usage
    if usage is None or usage.cpu is None or not usage.wall:
        return "-"
    share = f"{100 * usage.cpu / usage.wall:.0f}%"
    if result.unit == "tps" and result.transactions:
        per = 1e6 / result.transactions
        return (f"{share}, {per * usage.cpu:.0f} µs/txn ({per * (usage.cpu - usage.system):.0f} "
                f"user + {per * usage.system:.0f} sys)")
    if result.unit == "s" and result.transactions:
        per = 1 / result.transactions
        return (f"{share}, {per * usage.cpu:.2f} s/run ({per * (usage.cpu - usage.system):.2f} "
                f"user + {per * usage.system:.2f} sys)")
    return share


def memory_line(usage: Usage | None) -> str:
    if usage is None:
        return "-"
    return f"{mib(usage.rss_before)} → {mib(usage.rss_peak)} → {mib(usage.rss_after)}"


def trajectory(values: list[int], points: int = 5) -> str:
    """The samples at evenly spaced moments of the run, first and last included."""
    if not values:
        return ""
    picks = [values[round(i * (len(values) - 1) / (points - 1))] for i in range(points)]
    return ", ".join(f"{v / 1024:.1f}" for v in picks) + " MiB"


# --- main ------------------------------------------------------------------------------------
def tool_version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    words = out.strip().splitlines()[0].split() if out.strip() else ["?"]
    return next((w for w in words if w[:1].isdigit()), words[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per pgbench run")
    parser.add_argument("--clients", type=int, default=8, help="pgbench -c")
    parser.add_argument("--jobs", type=int, default=2, help="pgbench -j")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -i -s")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the streamed query")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stream (median)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of direct pgbench first")
    parser.add_argument("--pool-mode", choices=["session", "transaction"], default="session",
                        help="pgbouncer pool_mode (transaction mode cannot run -M prepared "
                             "before pgbouncer 1.21)")
    parser.add_argument("--guard-scale", type=float, default=1.0,
                        help="scales the number of statements timed for the guard")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["simple", "prepared", "stream", "copy", "guard"],
                        help="leave a measurement out (repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="attach py-spy to MetaHog during its runs and summarize where the "
                             "time goes (slows it down; pip install py-spy)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.load_start = os.getloadavg()[0]
    if args.profile and not shutil.which("py-spy"):
        log("--profile needs py-spy: pip install py-spy")
        return 2
    # SIGTERM ends the run like Ctrl-C, through the clean-up below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results: list[Result] = []
    guard: list[GuardCost] = []
    versions = {
        "PostgreSQL": "?",
        "pgbouncer": tool_version([PGBOUNCER, "--version"]),
        "pgbench": tool_version(["pgbench", "--version"]),
        "psql": tool_version(["psql", "--version"]),
    }
    try:
        with CleanupStack() as stack:
            log("starting PostgreSQL")
            pg = LocalPostgres(settings={"max_connections": str(args.clients * 3 + 40)})
            stack.callback(pg.stop)
            pg.start()
            versions["PostgreSQL"] = pg.psql("SHOW server_version").split()[0]
            prepare_database(pg, args.scale)
            pool_size = args.clients + 2
            bouncer = start_pgbouncer(pg, stack, pool_size, args.pool_mode)
            gateway = start_metahog(pg, stack, pool_size)
            log(f"cluster :{pg.port}, pgbouncer :{bouncer.port} (pid {bouncer.process.pid}), "
                f"MetaHog :{gateway.port} (pid {gateway.process.pid})")
            targets = {DIRECT: (pg.port, None), PGBOUNCER_TARGET: (bouncer.port, bouncer),
                       METAHOG: (gateway.port, gateway)}

            def profile_path(workload: str, target: str) -> Path | None:
                if not args.profile or target != METAHOG:
                    return None
                slug = re.sub(r"[^a-z0-9]+", "-", workload.lower()).strip("-")
                return args.output.parent / f"profile-{slug}.txt"

            if args.warmup > 0:
                log(f"warm-up: {args.warmup:g} s of pgbench -S direct")
                run_pgbench("warm-up", DIRECT, pg.port, "simple", args, duration=args.warmup)
            for mode in ("simple", "prepared"):
                if mode in args.skip:
                    continue
                workload = f"pgbench -S -M {mode}"
                for target, (port, proxy) in targets.items():
                    log(f"{workload} → {target}")
                    result = measure(
                        proxy,
                        lambda port=port, target=target, mode=mode, workload=workload:
                        run_pgbench(workload, target, port, mode, args),
                        profile_path(workload, target),
                    )
                    results.append(result)
                    log(f"   {fmt_value(result)}  {cpu_line(result)}")
            query = f"select g, md5(g::text) from generate_series(1, {args.rows}) g"
            streams = [
                ("stream", f"{args.rows:,}-row SELECT", query),
                ("copy", f"{args.rows:,}-row COPY TO STDOUT", f"copy ({query}) to stdout"),
            ]
            for key, workload, sql in streams:
                if key in args.skip:
                    continue
                for target, (port, proxy) in targets.items():
                    log(f"{workload} → {target}")
                    result = measure(
                        proxy,
                        lambda port=port, target=target, workload=workload, sql=sql:
                        run_stream(workload, target, port, sql, args.repeat),
                        profile_path(workload, target),
                    )
                    results.append(result)
                    log(f"   {fmt_value(result)}  {cpu_line(result)}")
            for proxy in (bouncer, gateway):
                if proxy.process.poll() is not None:
                    log(f"{proxy.name} exited early ({proxy.process.returncode}):\n"
                        f"{tail(proxy.log)}")
            gateway_log = tail(gateway.log, 10)
            if gateway_log.strip():
                log(f"MetaHog's log ends with:\n{gateway_log}")
            log("stopping the servers")
        if "guard" not in args.skip:
            log("timing the guard")
            guard = time_guard(args.guard_scale)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        return 130
    except BenchError as exc:
        log(f"failed: {exc}")
        return 1
    text = report(args, versions, results, guard)
    print()
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    log(f"written to {args.output}")
    return 0


def prepare_database(pg: LocalPostgres, scale: int) -> None:
    log(f"pgbench -i -s {scale}")
    pg.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'; CREATE DATABASE {DATABASE};")
    completed = subprocess.run(
        ["pgbench", "-i", "-q", "-s", str(scale), "-h", pg.socket_dir, "-p", str(pg.port),
         "-U", "postgres", DATABASE],
        capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise BenchError(f"pgbench -i failed: {completed.stderr.strip()}")
    pg.psql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {USER}; VACUUM ANALYZE;", DATABASE)
    # Warm the buffers so that no target pays for the first reads.
    pg.psql("SELECT count(*) FROM pgbench_accounts; SELECT count(*) FROM pgbench_accounts "
            "WHERE aid > 0 AND abalance = 0;", DATABASE)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
