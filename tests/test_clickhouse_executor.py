"""The ClickHouse executor against real ClickHouse: embedded chDB in-process, and a real
`clickhouse-server` (Debian's package) over HTTP, started by the fixture on a free port.

Every query goes through `query_settings`, as the gateway will run it. The queries read
`system.numbers` rather than `numbers()`, because old servers forbid table functions under
readonly=1."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gateway.backends.clickhouse.executor import (
    MEMORY_LIMIT_EXCEEDED,
    READONLY,
    TIMEOUT_EXCEEDED,
    TOO_MANY_ROWS,
    TOO_MANY_ROWS_OR_BYTES,
    ChdbExecutor,
    ClickHouseError,
    HttpExecutor,
    query_settings,
)
from gateway.config import Limits
from gateway.embedded.clickhouse import LocalClickHouse, find_server

PASSWORD = "ch-secret-pw-7731"  # not a real secret; the tests check it never leaks

LIMITS = Limits(max_rows=100, statement_timeout_ms=1000)


def settings(**overrides: str) -> dict[str, str]:
    return query_settings(LIMITS, max_rows_to_read=1_000_000, max_memory_usage=1 << 30) | overrides


def run(executor, sql: str, **overrides: str):
    return asyncio.run(executor.execute(sql, settings(**overrides)))


def error(executor, sql: str, **overrides: str) -> ClickHouseError:
    with pytest.raises(ClickHouseError) as info:
        run(executor, sql, **overrides)
    return info.value


SETUP = [
    "CREATE TABLE events (id UInt32, name String, score Nullable(Float64), day Date)"
    " ENGINE = MergeTree ORDER BY id",
    "INSERT INTO events VALUES (1, 'tab\\there', 1.5, '2024-03-01'), (2, 'b', NULL, '1970-01-02')",
]


@pytest.fixture(scope="module")
def chdb_executor(tmp_path_factory) -> Iterator[ChdbExecutor]:
    pytest.importorskip("chdb")
    path = str(tmp_path_factory.mktemp("chdb"))
    executor = ChdbExecutor(path)
    for sql in SETUP:
        executor._session.query(sql)  # fixture data, written before the executor's settings
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalClickHouse]:
    if find_server() is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    ch = LocalClickHouse(password=PASSWORD).start()
    try:
        for sql in SETUP:
            ch.query(
                sql.replace("ENGINE = MergeTree ORDER BY id", "ENGINE = MergeTree() ORDER BY id")
            )
        yield ch
    finally:
        ch.stop()


@pytest.fixture(params=["chdb", "http"])
def executor(request):
    if request.param == "chdb":
        return request.getfixturevalue("chdb_executor")
    return HttpExecutor(request.getfixturevalue("server").url + "?database=default")


def test_query_settings():
    assert query_settings(
        Limits(max_rows=10, statement_timeout_ms=1500), max_rows_to_read=5, max_memory_usage=6
    ) == {
        "readonly": "1",
        "max_rows_to_read": "5",
        "max_memory_usage": "6",
        "max_execution_time": "2",
        "max_result_rows": "11",
        "result_overflow_mode": "break",
    }
    assert (
        query_settings(Limits(statement_timeout_ms=1), max_rows_to_read=1, max_memory_usage=1)[
            "max_execution_time"
        ]
        == "1"
    )


def test_select_names_types_values(executor):
    result = run(executor, "SELECT id, name, score, day FROM events ORDER BY id")
    assert result.names == ["id", "name", "score", "day"]
    assert result.types == ["UInt32", "String", "Nullable(Float64)", "Date"]
    assert result.rows == [["1", "tab\there", "1.5", "2024-03-01"], ["2", "b", None, "1970-01-02"]]
    # Separators that TSV leaves unescaped stay inside the value.
    result = run(executor, "SELECT 'a\x0bb\x1cc\u2028d' AS v, '' AS e")
    assert result.rows == [["a\x0bb\x1cc\u2028d", ""]]
    result = run(executor, "SELECT number FROM system.numbers LIMIT 0")
    assert (result.names, result.types, result.rows) == (["number"], ["UInt64"], [])


def count(executor) -> list[list[str | None]]:
    return run(executor, "SELECT count() FROM events").rows


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO events VALUES (3, 'c', 0, '2024-01-01')",
        "CREATE TABLE other (a UInt8) ENGINE = Memory",
        "DROP TABLE events",
    ],
)
def test_writes_fail(executor, sql):
    # Over HTTP, readonly=1 refuses them (164); chDB's wrapper `SELECT * FROM (...)` does not
    # even parse them (62). Either way nothing is written.
    code = error(executor, sql).code
    assert code == (READONLY if isinstance(executor, HttpExecutor) else 62)
    assert count(executor) == [["2"]]
    assert run(executor, "SELECT count() FROM system.tables WHERE name = 'other'").rows == [["0"]]


def test_settings_are_in_effect(executor):
    # max_result_rows is not listed: ClickHouse resets the result limits inside subqueries, and
    # chDB's wrapper makes this query one; test_max_result_rows shows it in effect.
    result = run(
        executor,
        "SELECT name, value FROM system.settings WHERE name IN"
        " ('readonly', 'max_execution_time', 'max_rows_to_read') ORDER BY name",
    )
    assert result.rows == [
        ["max_execution_time", "1"],
        ["max_rows_to_read", "1000000"],
        ["readonly", "1"],
    ]


def cut_at_max_rows(executor, sql: str) -> None:
    """`sql` returns more than max_rows (100) rows: the client gets exactly 100, marked cut."""
    result = run(executor, sql)
    assert len(result.rows) == 100 and result.truncated


def test_union_is_limited_as_a_whole(executor):
    # chDB: a SETTINGS clause appended after a UNION would bind its last SELECT only.
    cut_at_max_rows(
        executor, "SELECT 1 AS n UNION ALL SELECT number FROM system.numbers LIMIT 1000"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SET max_result_rows = 0",
        "SET readonly = 0",
        "SELECT number FROM system.numbers LIMIT 1000 SETTINGS max_result_rows = 0",
        "SELECT number FROM system.numbers LIMIT 1000 SETTINGS readonly = 0",
        "SELECT * FROM (SELECT number FROM system.numbers LIMIT 1000 SETTINGS max_result_rows = 0)",
    ],
)
def test_query_cannot_lift_limits(executor, sql):
    # Either ClickHouse refuses the setting change (164, or 62 where chDB's wrapper does not
    # parse a SET), or the gateway's limit still applies.
    try:
        cut_at_max_rows(executor, sql)
    except ClickHouseError as err:
        assert err.code in (READONLY, 62)
    # ... and the session is not changed for the next query.
    cut_at_max_rows(executor, "SELECT number FROM system.numbers LIMIT 1000")
    assert run(executor, "SELECT value FROM system.settings WHERE name = 'readonly'").rows == [
        ["1"]
    ]


def test_max_result_rows(executor):
    # Exactly max_rows is not cut; one more is, to max_rows, as are results far larger (where
    # ClickHouse's `break` overshoots by whole blocks).
    result = run(executor, "SELECT number FROM system.numbers LIMIT 100")
    assert len(result.rows) == 100 and not result.truncated
    result = run(executor, "SELECT number FROM system.numbers LIMIT 101")
    assert result.rows == [[str(n)] for n in range(100)] and result.truncated
    cut_at_max_rows(executor, "SELECT number FROM system.numbers LIMIT 500000")
    # Without the gateway's cap in the settings, the same query runs whole.
    result = run(executor, "SELECT number FROM system.numbers LIMIT 101", max_result_rows="0")
    assert len(result.rows) == 101 and not result.truncated


def test_result_overflow_throw(executor):
    # If a gateway ever asks for `throw`, the error comes through with its code.
    err = error(
        executor, "SELECT number FROM system.numbers LIMIT 500", result_overflow_mode="throw"
    )
    assert err.code == TOO_MANY_ROWS_OR_BYTES


def test_max_rows_to_read(executor):
    err = error(
        executor,
        "SELECT count() FROM (SELECT number FROM system.numbers LIMIT 500000)",
        max_rows_to_read="100000",
    )
    assert err.code == TOO_MANY_ROWS


def test_max_memory_usage(executor):
    err = error(
        executor,
        "SELECT length(groupArray(number)) FROM (SELECT number FROM system.numbers LIMIT 200000)",
        max_memory_usage="1000000",
    )
    assert err.code == MEMORY_LIMIT_EXCEEDED


def test_max_execution_time(executor):
    start = time.monotonic()
    # One row per block, so the server checks its time limit between rows.
    err = error(
        executor, "SELECT sleepEachRow(0.5) FROM system.numbers LIMIT 10", max_block_size="1"
    )
    assert err.code == TIMEOUT_EXCEEDED
    assert time.monotonic() - start < 4


def test_failed_query_leaves_nothing_behind(chdb_executor):
    # chDB returns a failed query's partial output in front of the next result unless the
    # executor drains it: a throwIf that fails after three one-row blocks leaves output behind.
    err = error(
        chdb_executor,
        "SELECT throwIf(number = 3) AS t FROM system.numbers LIMIT 10",
        max_block_size="1",
    )
    assert err.code == 395
    result = run(chdb_executor, "SELECT 7 AS x")
    assert (result.names, result.types, result.rows) == (["x"], ["UInt8"], [["7"]])
    error(
        chdb_executor,
        "SELECT number FROM system.numbers LIMIT 1000",
        max_result_rows="1",
        result_overflow_mode="throw",
    )
    result = run(chdb_executor, "SELECT 8 AS y")
    assert (result.names, result.types, result.rows) == (["y"], ["UInt8"], [["8"]])


def test_secrets_do_not_leak(server):
    good = HttpExecutor(server.url)
    assert PASSWORD not in repr(good)
    err = error(good, "INSERT INTO events VALUES (3, 'c', 0, '2024-01-01')")
    assert PASSWORD not in str(err) and PASSWORD not in repr(err)
    wrong = HttpExecutor(f"http://metahog:{PASSWORD}-wrong@127.0.0.1:{server.http_port}/")
    err = error(wrong, "SELECT 1")
    assert err.code == 193  # wrong password
    assert PASSWORD not in str(err) and PASSWORD not in repr(wrong)
    # The password sent in a URL parameter is a credential too.
    param = HttpExecutor(f"http://127.0.0.1:{server.http_port}/?user=metahog&password={PASSWORD}")
    assert run(param, "SELECT 1 AS one").rows == [["1"]]
    assert PASSWORD not in repr(param)
    closed = HttpExecutor(f"http://metahog:{PASSWORD}@127.0.0.1:1/")
    err = error(closed, "SELECT 1")
    assert err.code == 0 and PASSWORD not in str(err)


def test_chdb_directory_is_one_process_only(chdb_executor, tmp_path):
    # Another directory in this process, or this directory from another process, is refused.
    with pytest.raises(ClickHouseError, match="one process at a time") as info:
        ChdbExecutor(str(tmp_path))
    assert info.value.code == 36
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.backends.clickhouse.executor import ChdbExecutor\n"
            f"ChdbExecutor({chdb_executor.path!r})",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode != 0 and "one process at a time" in other.stderr
    # The executor that has it open still works.
    assert run(chdb_executor, "SELECT count() FROM events").rows == [["2"]]
