"""Rows per second of a ClickHouse result through MetaHog's ClickHouse path, against chDB read
in-process by plain Python, measured in one run.

Measurements (each one function in MEASUREMENTS; a new one is one more decorated function):

- reference: the same query through chDB in this process, `conn.query(sql, "TabSeparated")`
  on a connection to the same data directory, its bytes decoded as UTF-8 and split into lines
  and fields: Python rows of `str`, no type conversion, no unescaping (no value here has an
  escape). The least a Python program can do to hold ClickHouse's rows.
- chdb-text / chdb-binary: `ChdbExecutor.stream` (wrapped query with the gateway's settings,
  a worker thread, back-pressure, TSV parsing with unescaping and the row cap) and, per
  chunk, `RowEncoder.data_rows` in text or binary format: the DataRow bytes the gateway would
  write to the client socket, without the socket.
- http-text: the same through `HttpExecutor` against a throw-away Debian clickhouse-server
  18.16 (when installed): a different engine, so its ratio to the reference is indicative only.
- encode-text / encode-binary: `RowEncoder.data_rows` alone on rows already parsed (in
  batches of 10,000), for the per-row encoding cost.

With `--gc-freeze`, `gc.freeze()` runs once after set-up, as a server can after start-up: the
objects alive then are no longer rescanned by every full collection.

    python bench/bench_clickhouse.py                 # 1M rows, median of 3
    python bench/bench_clickhouse.py --rows 200000 --repeat 1 --skip http-text
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.backends.clickhouse.executor import (
    ChdbExecutor,
    HttpExecutor,
    Result,
    query_settings,
)
from gateway.backends.clickhouse.rows import RowEncoder
from gateway.backends.clickhouse.types import pg_type
from gateway.config import Limits

# Five typical columns: UInt64 (numeric), String, Float64, Date, Int32. system.numbers, not
# numbers(): the old server refuses table functions under readonly=1.
QUERY = (
    "SELECT number AS n, toString(number) AS s, number * 1.5 AS f,"
    " toDate('2024-01-01') + number % 100 AS d, toInt32(number % 1000) AS i"
    " FROM system.numbers LIMIT {rows}"
)


@dataclass
class Context:
    rows: int
    sql: str
    chdb: ChdbExecutor
    chdb_conn: Any  # a chdb.connect() connection on the executor's directory
    http: HttpExecutor | None = None
    settings: dict[str, str] = field(default_factory=dict)
    parsed: Result | None = None  # rows for encode-only
    gateway: GatewayUnderTest | None = None  # started on first use


Measurement = Callable[[Context], int]  # returns the rows it handled
MEASUREMENTS: dict[str, tuple[str, Measurement]] = {}


def measurement(name: str, description: str) -> Callable[[Measurement], Measurement]:
    def register(function: Measurement) -> Measurement:
        MEASUREMENTS[name] = (description, function)
        return function

    return register


@measurement("reference", "chDB in-process, TabSeparated bytes split into Python rows")
def reference(ctx: Context) -> int:
    data = ctx.chdb_conn.query(ctx.sql, "TabSeparated").bytes()
    rows = [line.split("\t") for line in data.decode().split("\n")[:-1]]
    return len(rows)


@measurement("reference-nogc", "the reference with the garbage collector off while it splits")
def reference_nogc(ctx: Context) -> int:
    # A million live lists make the cyclic GC rescan them again and again: this is the
    # reference without that cost, the fastest plain Python gets.
    gc.disable()
    try:
        return reference(ctx)
    finally:
        gc.enable()


def _through(executor: ChdbExecutor | HttpExecutor, ctx: Context, fmt: int) -> int:
    async def run() -> int:
        count = 0
        encoder: RowEncoder | None = None
        stream = executor.stream(ctx.sql, ctx.settings, query_id=uuid.uuid4().hex)
        async for chunk in stream:
            if encoder is None:
                encoder = RowEncoder([pg_type(t) for t in chunk.types], [fmt])
            encoder.data_rows(chunk.rows)
            count += len(chunk.rows)
        return count

    return asyncio.run(run())


@measurement("chdb-text", "ChdbExecutor.stream + RowEncoder, text format")
def chdb_text(ctx: Context) -> int:
    return _through(ctx.chdb, ctx, 0)


@measurement("chdb-binary", "ChdbExecutor.stream + RowEncoder, binary format")
def chdb_binary(ctx: Context) -> int:
    return _through(ctx.chdb, ctx, 1)


@measurement("http-text", "HttpExecutor.stream (clickhouse-server 18.16) + RowEncoder, text")
def http_text(ctx: Context) -> int:
    if ctx.http is None:
        raise Skipped("clickhouse-server is not installed")
    return _through(ctx.http, ctx, 0)


def _encode_only(ctx: Context, fmt: int) -> int:
    if ctx.parsed is None:
        ctx.parsed = asyncio.run(ctx.chdb.execute(ctx.sql, ctx.settings))
    encoder = RowEncoder([pg_type(t) for t in ctx.parsed.types], [fmt])
    rows = ctx.parsed.rows
    for start in range(0, len(rows), 10000):  # in chunks, as the stream delivers them
        encoder.data_rows(rows[start : start + 10000])
    return len(rows)


@measurement("encode-text", "RowEncoder.data_rows alone, text, rows already parsed")
def encode_text(ctx: Context) -> int:
    return _encode_only(ctx, 0)


@measurement("encode-binary", "RowEncoder.data_rows alone, binary, rows already parsed")
def encode_binary(ctx: Context) -> int:
    return _encode_only(ctx, 1)


class Skipped(Exception):
    pass


class GatewayUnderTest:
    """A `metahog serve` process with a chDB source whose view `bench_rows` is the benchmark
    query. chDB opens a directory in one process only, so the gateway gets a directory of its
    own, filled by a subprocess. TLS is off: the figure is the gateway's, not the cipher's."""

    def __init__(self, sql: str) -> None:
        import socket
        import subprocess

        from gateway.embedded.postgres import free_port

        self.directory = Path(tempfile.mkdtemp(prefix="metahog-bench-gw-"))
        self.directory.chmod(0o711)  # the private catalog cluster runs as `postgres`
        data = self.directory / "chdb"
        script = (
            "import sys, chdb.session\n"
            "s = chdb.session.Session(sys.argv[1])\n"
            "s.query(sys.argv[2])\n"
            "s.close()\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(data), f"CREATE VIEW bench_rows AS {sql}"],
            check=True,
        )
        self.port = free_port()
        config = self.directory / "metahog.toml"
        config.write_text(
            f'[server]\nport = {self.port}\ntls = "off"\nstate_dir = "state"\n\n'
            '[[users]]\nname = "bench"\npassword = "bench"\n\n'
            f'[sources.bench]\nkind = "clickhouse"\npath = "{data}"\n'
            'statement_timeout = "10min"\n'
        )
        self.log = open(self.directory / "gateway.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _through_gateway(ctx: Context, binary: bool) -> int:
    import psycopg
    from psycopg.types.string import TextLoader

    if ctx.gateway is None:
        ctx.gateway = GatewayUnderTest(ctx.sql)
    dsn = f"host=127.0.0.1 port={ctx.gateway.port} dbname=bench user=bench password=bench"
    with psycopg.connect(dsn, sslmode="disable") as conn:
        # Every column read as str, as the reference holds it: the client's own decoding
        # (Decimal, date) is not the gateway's cost.
        for oid in ("int2", "int4", "int8", "numeric", "float4", "float8", "date"):
            conn.adapters.register_loader(oid, TextLoader)
        cur = conn.cursor(binary=binary)
        cur.execute("select * from bench_rows")
        return len(cur.fetchall())


@measurement("gateway-text", "a psycopg client through a `metahog serve` process, text format")
def gateway_text(ctx: Context) -> int:
    return _through_gateway(ctx, binary=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--skip", action="append", default=[], choices=sorted(MEASUREMENTS))
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after set-up")
    args = parser.parse_args()

    ctx_args: dict[str, Any] = {}
    directory = tempfile.mkdtemp(prefix="metahog-bench-chdb-")
    executor = ChdbExecutor(directory)  # first: chDB opens one directory per process
    import chdb

    server = None
    if "http-text" not in args.skip:
        from gateway.embedded.clickhouse import LocalClickHouse, find_server

        if find_server() is not None:
            server = LocalClickHouse().start()
            ctx_args["http"] = HttpExecutor(server.url)
    settings = query_settings(
        Limits(statement_timeout_ms=600_000), max_rows_to_read=0, max_memory_usage=0
    )
    ctx = Context(
        rows=args.rows,
        sql=QUERY.format(rows=args.rows),
        chdb=executor,
        chdb_conn=chdb.connect(directory),
        settings=settings,
        **ctx_args,
    )
    figures: dict[str, float] = {}
    if args.gc_freeze:
        gc.freeze()
    try:
        print(f"{args.rows:,} rows: {ctx.sql}")
        print(f"load average {os.getloadavg()[0]:.2f}, gc.freeze: {args.gc_freeze}\n")
        print(f"| measurement | rows/s | vs reference | µs/row | what |\n|{'---|' * 5}")
        for name, (description, function) in MEASUREMENTS.items():
            if name in args.skip:
                continue
            times = []
            try:
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    count = function(ctx)
                    times.append(time.perf_counter() - start)
                    assert count == args.rows, (name, count)
            except Skipped as reason:
                print(f"| {name} | skipped: {reason} | | | {description} |")
                continue
            seconds = statistics.median(times)
            figures[name] = args.rows / seconds
            ratio = (
                f"{figures[name] / figures['reference']:.2f}x" if "reference" in figures else "-"
            )
            print(
                f"| {name} | {figures[name]:,.0f} | {ratio} | {seconds / args.rows * 1e6:.2f} |"
                f" {description} |",
                flush=True,
            )
    finally:
        if ctx.gateway is not None:
            ctx.gateway.stop()
        ctx.chdb_conn.close()
        executor.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
