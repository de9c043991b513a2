"""Prometheus metrics of one gateway, named `metahog_*`, in a registry of its own (never the
process-global one). Statements are counted (`count`, called by observe.py) into plain
dictionaries: the event loop is the only writer, and a few dictionary updates per statement cost
a fraction of prometheus-client's locked label lookups. The registry's collector turns them into
metric families when scraped, and reads what is a state rather than an event (open sessions,
pool connections) from the gateway itself.

Labels carry only names from the config (source, user) and codes (SQLSTATE, outcome): never
statement text, client addresses or anything secret.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.server import Gateway

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
)  # fmt: skip
WAIT_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30)

# Auth outcomes of client sessions.
AUTH_OK, AUTH_FAILED, AUTH_REFUSED, AUTH_ABANDONED = "ok", "failed", "refused", "abandoned"


class Histogram:
    """Observations counted per bucket (upper bounds inclusive, as Prometheus's `le`)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, int]]:
        cumulative, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return cumulative


class _SourceStats:
    __slots__ = ("bytes", "duration", "pool_wait", "rows", "timeouts")

    def __init__(self) -> None:
        self.duration = Histogram(LATENCY_BUCKETS)
        self.pool_wait = Histogram(WAIT_BUCKETS)
        self.rows = 0
        self.bytes = 0
        self.timeouts = 0


class GatewayMetrics:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.statements: Counter[tuple[str, str, str]] = Counter()  # source, user, outcome
        self.rejections: Counter[tuple[str, str]] = Counter()  # source, reason
        self.errors: Counter[tuple[str, str]] = Counter()  # source, sqlstate
        self.sessions: Counter[tuple[str, str]] = Counter()  # tls, auth
        self.cancels: Counter[str] = Counter()  # matched, unknown
        self.sources: dict[str, _SourceStats] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(self))

    def count(
        self,
        source: str | None,
        user: str | None,
        reason: str | None,
        sqlstate: str | None,
        timed_out: bool,
        duration: float,
        rows: int,
        nbytes: int,
    ) -> None:
        """Count one statement (for gateway.ops.observe.Observer). It runs once per
        statement on the relay's path, so it does plain dictionary and integer work only.
        `reason` is set when the gateway refused the statement."""
        source = source or ""
        if reason is not None:
            outcome = "rejected"
        else:
            outcome = "error" if sqlstate else "ok"
        key = (source, user or "", outcome)
        statements = self.statements
        statements[key] = statements.get(key, 0) + 1
        stats = self.sources.get(source) or self._source(source)
        histogram = stats.duration  # Histogram.observe, inline: this runs once per statement
        histogram.counts[bisect_left(histogram.bounds, duration)] += 1
        histogram.total += duration
        stats.rows += rows
        stats.bytes += nbytes
        if sqlstate is not None:
            self.errors[source, sqlstate] += 1
            if reason is not None:
                self.rejections[source, reason] += 1
            if timed_out:
                stats.timeouts += 1

    def session(self, tls: bool, auth: str) -> None:
        self.sessions["true" if tls else "false", auth] += 1

    def cancel(self, matched: bool) -> None:
        self.cancels["matched" if matched else "unknown"] += 1

    def waited(self, source: str, seconds: float) -> None:
        self._source(source).pool_wait.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _source(self, name: str) -> _SourceStats:
        stats = self.sources.get(name)
        if stats is None:
            stats = self.sources[name] = _SourceStats()
        return stats


class _Families(Collector):
    """The metric families, built when scraped."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield _counter(
            "metahog_client_sessions",
            "Client connections that started a session, by TLS and authentication outcome "
            "(ok; failed: wrong password or unknown user; refused: not allowed to connect; "
            "abandoned: left before authenticating).",
            ["tls", "auth"],
            m.sessions,
        )
        yield _gauge(
            "metahog_client_sessions_open",
            "Client sessions open (authenticated).",
            len(m.gateway._sessions),
        )
        yield _counter(
            "metahog_statements",
            "Statements run, by source, user and outcome (ok, error, rejected by the gateway).",
            ["source", "user", "outcome"],
            m.statements,
        )
        yield _counter(
            "metahog_guard_rejections",
            "Statements the gateway refused (read-only guard or limits), by source and reason "
            "(the SQLSTATE of the refusal).",
            ["source", "reason"],
            m.rejections,
        )
        yield _counter(
            "metahog_errors",
            "Statements that ended in an error, by source and SQLSTATE.",
            ["source", "sqlstate"],
            m.errors,
        )
        yield _counter(
            "metahog_cancel_requests",
            "CancelRequests received, by whether their key matched a session.",
            ["result"],
            {(result,): count for result, count in m.cancels.items()},
        )
        sources = sorted(m.sources.items())
        for name, doc, field in (
            ("metahog_rows", "Rows returned to clients, by source.", "rows"),
            ("metahog_result_bytes", "Protocol bytes returned for statements.", "bytes"),
            ("metahog_statement_timeouts", "Statements cancelled by a timeout.", "timeouts"),
        ):
            counts = {(source,): getattr(stats, field) for source, stats in sources}
            yield _counter(name, f"{doc} By source.", ["source"], counts)
        for name, doc, field in (
            (
                "metahog_statement_duration_seconds",
                "Statement latency, from the first message to ReadyForQuery, by source.",
                "duration",
            ),
            (
                "metahog_pool_wait_seconds",
                "Time a session waited for a backend connection from its source's pool.",
                "pool_wait",
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=["source"])
            for source, stats in sources:
                histogram: Histogram = getattr(stats, field)
                family.add_metric([source], histogram.buckets(), histogram.total)
            yield family
        yield from _pool_families(m.gateway)


def _pool_families(gateway: Gateway) -> Iterator[Metric]:
    connections = GaugeMetricFamily(
        "metahog_pool_connections",
        "Backend connections of each source's pool, by state (in_use, idle).",
        labels=["source", "state"],
    )
    size = GaugeMetricFamily(
        "metahog_pool_size",
        "Backend connections a source's pool opens at most.",
        labels=["source"],
    )
    for name, pool in list(gateway.pools.items()):
        connections.add_metric([name, "in_use"], pool.in_use)
        connections.add_metric([name, "idle"], pool.idle_count)
        size.add_metric([name], pool.source.pool_size)
    yield connections
    yield size


def _counter(name: str, doc: str, labels: list[str], counts: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, count in sorted(counts.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], count)
    return family


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family
