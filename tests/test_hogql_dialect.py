"""PostgreSQL to HogQL, and PostHog's JSON values as ClickHouse text: no server needed."""

from __future__ import annotations

import pytest
import sqlglot

from gateway.backends.clickhouse.schema import ColumnSchema, TableSchema
from gateway.backends.clickhouse.types import pg_type
from gateway.backends.hogql.dialect import key_text, render_properties, to_hogql
from gateway.backends.hogql.schema import read_schema
from gateway.backends.hogql.source import ALL_ROWS, HogQLTranslation, _outer_limit
from gateway.backends.hogql.values import converter
from gateway.protocol.errors import PgError

EVENTS = TableSchema(
    "events",
    tuple(
        ColumnSchema(name, f"Nullable({kind})")
        for name, kind in [
            ("uuid", "String"),
            ("event", "String"),
            ("timestamp", "DateTime64(6, 'UTC')"),
            ("properties", "String"),
        ]
    ),
)


def hogql(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="postgres")
    return to_hogql(tree, {"events": EVENTS}, {"properties"}).sql


@pytest.mark.parametrize(
    "postgres, expected",
    [
        ("select properties->>'$browser' from events", "events.properties.$browser"),
        ("select properties->'a'->>'b' from events", "events.properties.a.b"),
        ("select properties #>> '{a,my key}' from events", "events.properties.a.`my key`"),
        ("select e.properties->>'$os' from events e", "e.properties.$os"),
        ("select person.properties->>'email' from events", "person.properties.email"),
    ],
)
def test_json_arrows_are_property_paths(postgres, expected):
    assert expected in hogql(postgres)


def test_arrows_that_are_not_paths_stay_json_functions():
    # An array index and a key on a column that is not JSON have no property path.
    assert "JSONExtract" in hogql("select properties->0->>'a' from events")
    assert "JSON" in hogql("select event::jsonb->>'a' from events")


def test_output_names_are_postgres_names():
    tree = sqlglot.parse_one(
        "select properties->>'$browser', count(*) from events group by 1", read="postgres"
    )
    assert to_hogql(tree, {"events": EVENTS}, {"properties"}).column_names == (
        "?column?",
        "count",
    )


def test_render_keeps_string_literals_and_quotes_keys():
    sql = "SELECT metahog_hogql_property(e.properties, 'it''s', 'a\\'b'), 'x, y' FROM e"
    assert render_properties(sql) == "SELECT e.properties.`it's`.`a'b`, 'x, y' FROM e"
    assert key_text("$browser") == "$browser" and key_text("a`b") == "`a\\`b`"


def test_outer_limit_and_offset_become_pages():
    limit, offset, body = _outer_limit(
        sqlglot.parse_one("select event from events order by 1 limit 700 offset 20")
    )
    assert (limit, offset) == (700, 20)
    assert body.args.get("limit") is None
    with pytest.raises(PgError):
        _outer_limit(sqlglot.parse_one("select 1 from events limit (select 2)"))
    fetch = sqlglot.parse_one("select 1 from events offset 3 fetch first 4 rows only", "postgres")
    assert _outer_limit(fetch)[:2] == (4, 3)
    every = sqlglot.parse_one("select 1 from events limit all", read="postgres")
    assert _outer_limit(every)[0] == ALL_ROWS
    union = HogQLTranslation(sql="", column_types=(), body="SELECT 1 UNION ALL SELECT 2")
    union = HogQLTranslation(**{**union.__dict__, "appendable": False})
    assert union.page(10, 5) == "SELECT * FROM (SELECT 1 UNION ALL SELECT 2) LIMIT 10 OFFSET 5"


@pytest.mark.parametrize(
    "clickhouse_type, value, text",
    [
        ("DateTime64(6, 'UTC')", "2024-03-01T12:34:56.789000-08:00", "2024-03-01 20:34:56.789000"),
        ("DateTime('Europe/Paris')", "2024-03-01T12:00:00Z", "2024-03-01 13:00:00"),
        ("Date", "2024-03-01", "2024-03-01"),
        ("Nullable(String)", None, None),
        ("Bool", True, "true"),
        ("Float64", 1e-05, "1e-05"),
        ("Array(String)", ["a'b", "c"], "['a\\'b','c']"),
        ("Array(Nullable(Int64))", [1, None], "[1,NULL]"),
        ("Tuple(String, Int64)", ["x", 2], "('x',2)"),
        ("Map(String, Array(Int64))", {"k": [1]}, "{'k':[1]}"),
        ("String", {"a": 1}, '{"a":1}'),
    ],
)
def test_json_values_as_clickhouse_text(clickhouse_type, value, text):
    assert converter(clickhouse_type)(value) == text
    if text is not None:
        pg_type(clickhouse_type).text(text)  # the ClickHouse encoders read it


def test_database_schema_feeds_the_catalog():
    schema = read_schema(
        {
            "tables": {
                "events": {
                    "type": "posthog",
                    "id": "events",
                    "name": "events",
                    "fields": {
                        "uuid": {
                            "name": "uuid",
                            "hogql_value": "uuid",
                            "type": "string",
                            "schema_valid": True,
                        },
                        "properties": {
                            "name": "properties",
                            "hogql_value": "properties",
                            "type": "json",
                            "schema_valid": True,
                        },
                        "elements": {
                            "name": "elements",
                            "hogql_value": "elements",
                            "type": "array",
                            "schema_valid": True,
                        },
                        "person": {
                            "name": "person",
                            "hogql_value": "person",
                            "type": "lazy_table",
                            "schema_valid": True,
                        },
                    },
                },
                "stripe_charges": {
                    "type": "data_warehouse",
                    "id": "x",
                    "name": "stripe_charges",
                    "fields": {
                        "amount": {
                            "name": "amount",
                            "hogql_value": "amount",
                            "type": "decimal",
                            "schema_valid": True,
                        }
                    },
                },
            },
            "joins": [],
        }
    )
    events, charges = schema.tables
    assert [(c.name, c.clickhouse_type) for c in events.columns] == [
        ("uuid", "Nullable(String)"),
        ("properties", "Nullable(String)"),
        ("elements", "Array(String)"),
    ]
    assert charges.name == "stripe_charges"
    assert schema.json_columns == {"properties"}
