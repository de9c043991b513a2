"""A PostHog project's tables, from its DatabaseSchemaQuery, as the catalog sees them.

PostHog describes each field with a HogQL type ("string", "datetime", "json", ...), not a
ClickHouse one. The shadow catalog and the translator read ClickHouse type names, so each
field type is given the ClickHouse type PostHog stores it as; every column is Nullable, since
the schema does not say which may be NULL (a property may be missing on any event).

Fields that are not columns are left out: lazy joins (events.person), virtual tables
(events.poe), field traversers and expressions. Queries still reach them in HogQL (see
`dialect`); the catalog only lists what a PostgreSQL client can select as a column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.backends.clickhouse.schema import ColumnSchema, TableSchema

# HogQL's serialized field types (DatabaseSerializedFieldType) as ClickHouse types.
FIELD_TYPES: dict[str, str] = {
    "integer": "Int64",
    "float": "Float64",
    "decimal": "Decimal(38, 10)",
    "string": "String",
    "json": "String",
    "datetime": "DateTime64(6, 'UTC')",
    "date": "Date",
    "boolean": "Bool",
    "array": "Array(String)",
}
# The table kinds a DatabaseSchemaQuery lists that hold rows a query can select.
TABLE_KINDS = frozenset({"posthog", "data_warehouse", "view", "materialized_view", "system"})


@dataclass(frozen=True)
class ProjectSchema:
    tables: list[TableSchema]
    # Names of the JSON columns (properties, person_properties, ...): HogQL reads their keys
    # as paths.
    json_columns: frozenset[str]


def read_schema(response: dict[str, Any]) -> ProjectSchema:
    raw_tables = response.get("tables")
    if not isinstance(raw_tables, dict):
        raise ValueError("the DatabaseSchemaQuery answer has no tables")
    tables: list[TableSchema] = []
    json_columns: set[str] = set()
    for key, table in sorted(raw_tables.items()):
        if not isinstance(table, dict) or table.get("type", "posthog") not in TABLE_KINDS:
            continue
        fields = table.get("fields")
        if not isinstance(fields, dict):
            continue
        columns = []
        for field_key, field in fields.items():
            if not isinstance(field, dict):
                continue
            kind = field.get("type")
            clickhouse = FIELD_TYPES.get(kind) if isinstance(kind, str) else None
            if clickhouse is None or field.get("schema_valid") is False:
                continue
            name = str(field.get("name") or field_key)
            if kind == "json":
                json_columns.add(name)
            # ClickHouse has no Nullable(Array(...)): an array is empty, never NULL.
            typed = clickhouse if kind == "array" else f"Nullable({clickhouse})"
            columns.append(ColumnSchema(name, typed, comment=f"PostHog type: {kind}"))
        if columns:
            tables.append(TableSchema(str(table.get("name") or key), tuple(columns)))
    return ProjectSchema(tables, frozenset(json_columns))
