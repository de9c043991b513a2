"""A deterministic product-analytics dataset, loadable into PostgreSQL and into ClickHouse.

Three tables, generated from `random.Random(SEED)` so that every run and every target holds the
same rows:

- `events`: one row per tracked event, PostHog-style, with `properties` holding a JSON object
  (`$browser`, `$current_url`, `$os`, `price`, a nested `plan` object; keys are sometimes
  missing and sometimes JSON null).
- `persons`: one row per user, `email` sometimes NULL, `properties` a JSON object.
- `orders`: numbers of every kind (numeric(10,2), integer, a nullable double), dates, a text
  array and a boolean.

Type choices, per target:

| column kind | PostgreSQL  | ClickHouse (chDB)     | ClickHouse 18.16 (`legacy`) |
| ----------- | ----------- | --------------------- | --------------------------- |
| JSON        | jsonb       | String                | String                      |
| timestamp   | timestamptz | DateTime('UTC')       | DateTime('UTC')             |
| money       | numeric(10,2) | Decimal(10, 2)      | Decimal(10, 2)              |
| boolean     | boolean     | Bool                  | UInt8                       |
| text array  | text[]      | Array(String)         | Array(String)               |

Timestamps are whole seconds, so DateTime (seconds) loses nothing and works on every
ClickHouse version; PostgreSQL prints them as `2024-03-01 12:34:56+00` with TimeZone UTC, as the
gateway prints DateTime. ClickHouse 18.16 has no Bool: there `is_gift` is UInt8, which the
gateway maps to int2 and prints as 0/1 where PostgreSQL prints t/f, so a comparison on that
server must treat `is_gift` (and projections of it) as 0/1 == f/t. Queries that test it with
`WHERE is_gift` or `is_gift = true` behave the same on both.

The JSON texts are written compactly (`{"a":1}`); jsonb re-prints objects as `{"a": 1}` with
its own key order, so only leaf values (`->>`) compare equal as text across the targets.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal

from gateway.backends.clickhouse.schema import ColumnSchema, TableSchema

SEED = 20240301
PERSON_COUNT = 300
EVENT_COUNT = 3000
ORDER_COUNT = 2000
BATCH = 500
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SPAN_SECONDS = 182 * 86400

BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
OPERATING_SYSTEMS = ("Mac OS X", "Windows", "Linux", "iOS", "Android")
EVENT_NAMES = (
    "$pageview",
    "$pageview",
    "$pageview",
    "$autocapture",
    "$pageleave",
    "signed_up",
    "purchase",
)
PATHS = ("/", "/pricing", "/docs", "/blog/launch", "/checkout", "/Pricing", "/docs/sql_guide")
STATUSES = ("pending", "paid", "paid", "shipped", "refunded", "cancelled")
TAGS = ("sale", "new", "gift", "bulk", "vip")
PLANS = ("free", "pro", "enterprise")
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "IN")


def _columns(*pairs: tuple[str, str]) -> tuple[ColumnSchema, ...]:
    return tuple(ColumnSchema(name, kind) for name, kind in pairs)


# The ClickHouse side (chDB variant), as the translator sees it.
TABLES: dict[str, TableSchema] = {
    "events": TableSchema(
        "events",
        _columns(
            ("uuid", "UUID"),
            ("event", "String"),
            ("distinct_id", "String"),
            ("timestamp", "DateTime('UTC')"),
            ("properties", "String"),
        ),
    ),
    "persons": TableSchema(
        "persons",
        _columns(
            ("id", "Int32"),
            ("distinct_id", "String"),
            ("created_at", "DateTime('UTC')"),
            ("email", "Nullable(String)"),
            ("properties", "String"),
        ),
    ),
    "orders": TableSchema(
        "orders",
        _columns(
            ("order_id", "Int32"),
            ("distinct_id", "String"),
            ("amount", "Decimal(10, 2)"),
            ("quantity", "Int32"),
            ("discount", "Nullable(Float64)"),
            ("order_date", "Date"),
            ("status", "String"),
            ("tags", "Array(String)"),
            ("is_gift", "Bool"),
        ),
    ),
}

_PG_TYPES = {
    "UUID": "uuid",
    "String": "text",
    "Nullable(String)": "text",
    "DateTime('UTC')": "timestamptz",
    "Int32": "integer",
    "Decimal(10, 2)": "numeric(10,2)",
    "Nullable(Float64)": "double precision",
    "Date": "date",
    "Array(String)": "text[]",
    "Bool": "boolean",
}
_JSON_COLUMNS = {"properties"}


# ---------------------------------------------------------------------------- generation


def _timestamp(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(seconds=rng.randrange(SPAN_SECONDS))


def _maybe(rng: random.Random, value: object, missing: float, null: float) -> object:
    """`value`, or a marker to leave the key out, or JSON null."""
    roll = rng.random()
    if roll < missing:
        return _MISSING
    if roll < missing + null:
        return None
    return value


_MISSING = object()


def _json(pairs: dict[str, object]) -> str:
    kept = {key: value for key, value in pairs.items() if value is not _MISSING}
    return json.dumps(kept, separators=(",", ":"))


def _person_ids() -> list[str]:
    return [f"user_{index:04d}" for index in range(PERSON_COUNT)]


def persons() -> list[tuple]:
    rng = random.Random(SEED)
    rows = []
    for index, distinct_id in enumerate(_person_ids()):
        email = None if rng.random() < 0.15 else f"{distinct_id}@example.com"
        if email and rng.random() < 0.2:
            email = email.upper()  # mixed case, for lower()/ILIKE queries
        properties = _json(
            {
                "plan": _maybe(rng, rng.choice(PLANS), 0.1, 0.05),
                "country": _maybe(rng, rng.choice(COUNTRIES), 0.05, 0.0),
                "age": _maybe(rng, rng.randint(18, 70), 0.3, 0.05),
                "beta": _maybe(rng, rng.random() < 0.5, 0.5, 0.0),
            }
        )
        rows.append((index + 1, distinct_id, _timestamp(rng), email, properties))
    return rows


def events() -> list[tuple]:
    rng = random.Random(SEED + 1)
    people = _person_ids()
    rows = []
    for _ in range(EVENT_COUNT):
        name = rng.choice(EVENT_NAMES)
        distinct_id = (
            rng.choice(people) if rng.random() < 0.85 else f"anon_{rng.randrange(500):03d}"
        )
        price: object = _MISSING
        if name == "purchase":
            price = _maybe(
                rng, rng.choice((round(rng.uniform(1, 500), 2), rng.randint(1, 99))), 0.1, 0.1
            )
        properties = _json(
            {
                "$browser": _maybe(rng, rng.choice(BROWSERS), 0.1, 0.05),
                "$os": _maybe(rng, rng.choice(OPERATING_SYSTEMS), 0.1, 0.0),
                "$current_url": "https://shop.example.com" + rng.choice(PATHS),
                "price": price,
                "nested": _maybe(
                    rng, {"plan": rng.choice(PLANS), "seats": rng.randint(1, 20)}, 0.5, 0.1
                ),
                "utm_source": _maybe(
                    rng, rng.choice(("google", "newsletter", "twitter")), 0.6, 0.2
                ),
            }
        )
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        rows.append((str(event_id), name, distinct_id, _timestamp(rng), properties))
    return rows


def orders() -> list[tuple]:
    rng = random.Random(SEED + 2)
    people = _person_ids()
    rows = []
    for order_id in range(1, ORDER_COUNT + 1):
        amount = Decimal(rng.randrange(100, 100000)) / 100
        discount = None if rng.random() < 0.3 else rng.choice((0.05, 0.1, 0.15, 0.2, 0.25, 0.5))
        order_date = START.date() + dt.timedelta(days=rng.randrange(182))
        tags = sorted(rng.sample(TAGS, rng.randint(0, 3)))
        rows.append(
            (
                order_id,
                rng.choice(people),
                amount,
                rng.randint(1, 10),
                discount,
                order_date,
                rng.choice(STATUSES),
                tags,
                rng.random() < 0.2,
            )
        )
    return rows


GENERATORS = {"events": events, "persons": persons, "orders": orders}


# ---------------------------------------------------------------------------- SQL text


def _pg_literal(value: object, column: str) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}+00'"
    if isinstance(value, dt.date):
        return f"'{value:%Y-%m-%d}'"
    if isinstance(value, list):
        return "ARRAY[" + ",".join(_pg_literal(item, column) for item in value) + "]::text[]"
    if isinstance(value, int | Decimal | float):
        return str(value)
    text = "'" + str(value).replace("'", "''") + "'"
    return text + "::jsonb" if column in _JSON_COLUMNS else text


def _ch_literal(value: object, legacy: bool) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("1" if value else "0") if legacy else ("true" if value else "false")
    if isinstance(value, dt.datetime):
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, dt.date):
        return f"'{value:%Y-%m-%d}'"
    if isinstance(value, list):
        return "[" + ",".join(_ch_literal(item, legacy) for item in value) + "]"
    if isinstance(value, int | Decimal | float):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _batches(rows: Sequence[tuple]) -> Iterator[Sequence[tuple]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def postgres_sql() -> str:
    """DDL and INSERTs for PostgreSQL, one script (psql or one simple-query message)."""
    parts = []
    for name, table in TABLES.items():
        columns = ", ".join(
            f'"{c.name}" {"jsonb" if c.name in _JSON_COLUMNS else _PG_TYPES[c.clickhouse_type]}'
            for c in table.columns
        )
        parts.append(f"CREATE TABLE {name} ({columns});")
        names = [c.name for c in table.columns]
        for batch in _batches(GENERATORS[name]()):
            values = ",\n".join(
                "(" + ", ".join(_pg_literal(v, n) for v, n in zip(row, names, strict=True)) + ")"
                for row in batch
            )
            parts.append(f"INSERT INTO {name} VALUES\n{values};")
        parts.append(f"ANALYZE {name};")
    return "\n".join(parts)


def clickhouse_statements(legacy: bool = False) -> list[str]:
    """DDL and INSERTs for ClickHouse, one statement per string (ClickHouse runs one per query).

    `legacy=True` is the ClickHouse 18.16 variant: UInt8 instead of Bool."""
    statements = []
    for name, table in TABLES.items():
        columns = ", ".join(
            f"`{c.name}` {'UInt8' if legacy and c.clickhouse_type == 'Bool' else c.clickhouse_type}"
            for c in table.columns
        )
        key = table.columns[0].name
        statements.append(f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree() ORDER BY `{key}`")
        for batch in _batches(GENERATORS[name]()):
            values = ",\n".join(
                "(" + ", ".join(_ch_literal(v, legacy) for v in row) + ")" for row in batch
            )
            statements.append(f"INSERT INTO {name} VALUES\n{values}")
    return statements
