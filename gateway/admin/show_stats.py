"""SHOW STATS: per source, the statements run since start-up, read from the gateway's metrics
as /metrics exposes them (gateway/ops/metrics.py): the console and /metrics never disagree."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from gateway.admin.result import Result
from gateway.admin.usage import no_arguments

if TYPE_CHECKING:
    from gateway.server import Gateway

COLUMNS = ("source", "statements", "errors", "rejected", "rows", "bytes", "avg_duration_ms")

# Per source, the /metrics samples each column adds up: (sample name, outcome label or None).
_COLUMNS = {
    ("metahog_statements_total", None): "statements",
    ("metahog_statements_total", "error"): "errors",
    ("metahog_statements_total", "rejected"): "rejected",
    ("metahog_rows_total", None): "rows",
    ("metahog_result_bytes_total", None): "bytes",
    ("metahog_statement_duration_seconds_sum", None): "seconds",
}


async def run(gateway: Gateway, arguments: list[str]) -> Result:
    no_arguments("SHOW STATS", arguments)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in gateway.metrics.registry.collect():
        for sample in family.samples:
            source = sample.labels.get("source")
            if source is None:
                continue
            for key in {(sample.name, None), (sample.name, sample.labels.get("outcome"))}:
                column = _COLUMNS.get(key)
                if column is not None:
                    totals[source][column] += sample.value
    rows = []
    for source in sorted(totals):
        counts = totals[source]
        statements = int(counts["statements"])
        average = counts["seconds"] * 1000 / statements if statements else 0.0
        rows.append(
            (
                source,
                statements,
                int(counts["errors"]),
                int(counts["rejected"]),
                int(counts["rows"]),
                int(counts["bytes"]),
                f"{average:.3f}",
            )
        )
    return Result(COLUMNS, rows)
