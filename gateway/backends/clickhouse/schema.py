"""The shape of a ClickHouse source's tables, as the catalog and the translator see them."""

from __future__ import annotations

from dataclasses import dataclass


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
