"""The shape of a ClickHouse source's tables, as the catalog and the translator see them.

`read_schema(executor)` reads it from the system tables of the executor's current database.
It works on every server the gateway meets, from Debian's clickhouse-server 18.16 to chDB 4.x:

- 18.16's system.columns has no `position` column, and its system.tables no `comment` column.
  So the reader first asks which of those columns exist. Without `position`, the order is the
  order in which system.columns lists a table's columns, which is their definition order
  (checked on 18.16); with it, the order is `position`.
- Every query is a plain SELECT on system tables with `query_settings`, so it runs under
  readonly=1 on both executors, and no ClickHouse identifier is ever spliced into SQL: the
  database is `currentDatabase()` and the names only travel as data.
- The `.inner.` / `.inner_id.` tables that hold a materialized view's data are left out: they
  are storage, not something a user names in a query (the view itself is listed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.backends.clickhouse.executor import Result, query_settings
from gateway.config import Limits

_INNER_PREFIXES = (".inner.", ".inner_id.")


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    clickhouse_type: str  # as system.columns spells it, e.g. "Nullable(Decimal(10, 2))"
    comment: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[ColumnSchema, ...]
    comment: str = ""

    def column(self, name: str) -> ColumnSchema | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None


class SchemaExecutor(Protocol):
    """What `read_schema` needs: HttpExecutor and ChdbExecutor both fit."""

    async def execute(self, sql: str, settings: dict[str, str]) -> Result: ...


def _settings() -> dict[str, str]:
    # Generous limits: system.columns of a big server is still far below them, and a schema
    # read must not be cut short like a user's query would be.
    return query_settings(
        Limits(statement_timeout_ms=120_000),
        max_rows_to_read=100_000_000,
        max_memory_usage=4 << 30,
    )


async def _rows(executor: SchemaExecutor, sql: str) -> list[list[str | None]]:
    return (await executor.execute(sql, _settings())).rows


async def _system_columns(executor: SchemaExecutor) -> set[tuple[str, str]]:
    """(table, column) pairs of system.tables and system.columns that this server has."""
    rows = await _rows(
        executor,
        "SELECT table, name FROM system.columns"
        " WHERE database = 'system' AND table IN ('tables', 'columns')",
    )
    return {(str(table), str(name)) for table, name in rows}


async def _tables(executor: SchemaExecutor, has_comment: bool) -> list[tuple[str, str]]:
    comment = "comment" if has_comment else "''"
    rows = await _rows(
        executor,
        f"SELECT name, {comment} FROM system.tables WHERE database = currentDatabase()",
    )
    return [
        (str(name), comment or "")
        for name, comment in rows
        if not str(name).startswith(_INNER_PREFIXES)
    ]


async def _columns(executor: SchemaExecutor, has_position: bool) -> dict[str, list[ColumnSchema]]:
    position = "position" if has_position else "0"
    rows = await _rows(
        executor,
        f"SELECT table, name, type, comment, {position} FROM system.columns"
        " WHERE database = currentDatabase()",
    )
    # A stable sort: without `position` every key is 0 and the listed order stays.
    rows.sort(key=lambda row: (str(row[0]), int(row[4] or 0)))
    columns: dict[str, list[ColumnSchema]] = {}
    for table, name, type_, comment, _ in rows:
        columns.setdefault(str(table), []).append(
            ColumnSchema(str(name), str(type_), comment or "")
        )
    return columns


def _assemble(
    tables: Iterable[tuple[str, str]], columns: dict[str, list[ColumnSchema]]
) -> list[TableSchema]:
    return [
        TableSchema(name, tuple(columns.get(name, ())), comment) for name, comment in sorted(tables)
    ]


async def read_schema(executor: SchemaExecutor) -> list[TableSchema]:
    """The tables and views of the executor's current database, sorted by name, each with its
    columns in definition order, their ClickHouse types and comments."""
    available = await _system_columns(executor)
    tables = await _tables(executor, ("tables", "comment") in available)
    columns = await _columns(executor, ("columns", "position") in available)
    return _assemble(tables, columns)
