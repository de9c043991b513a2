"""Routing on non-PostgreSQL sources: which statements read the source, and where each output
column of a data query comes from."""

from __future__ import annotations

import pytest

from gateway.protocol.errors import PgError
from gateway.routing.guard import Guard
from gateway.routing.router import Target, result_origins, route
from tests.differential.dataset import TABLES
from tests.differential.queries import QUERIES

GUARD = Guard("postgres")


def _tree(sql: str):
    verdict = GUARD.classify(sql)
    assert verdict.allowed, verdict.error
    return verdict.statements[0], verdict.texts[0]


@pytest.mark.parametrize(
    "sql, target",
    [
        ("select 1", Target.CATALOG),
        ("select * from pg_class", Target.CATALOG),
        ("select relname from pg_class where relname = 'events'", Target.CATALOG),
        ("show search_path", Target.CATALOG),
        ("select * from events", Target.DATA),
        ('select * from "public"."events"', Target.DATA),
        ("with x as (select 1) select * from x, orders", Target.DATA),
        ("select (select count(*) from persons)", Target.DATA),
        ("select * from generate_series(1, 3)", Target.CATALOG),
    ],
)
def test_route(sql, target):
    tree, text = _tree(sql)
    assert route(tree, text, TABLES, GUARD.tokenize) is target


@pytest.mark.parametrize(
    "sql, sqlstate",
    [
        ("select * from events, pg_class", "0A000"),
        ("select * from events join nowhere on true", "42P01"),
        ("declare c cursor for select * from events", "0A000"),
        ("explain select * from public.orders", "0A000"),
    ],
)
def test_route_refusals(sql, sqlstate):
    tree, text = _tree(sql)
    with pytest.raises(PgError) as info:
        route(tree, text, TABLES, GUARD.tokenize)
    assert info.value.sqlstate == sqlstate


def test_result_origins_of_plain_columns():
    tree, _ = _tree(
        "select o.amount, p.email as mail, count(*), status from orders o"
        " join persons p on p.distinct_id = o.distinct_id group by 1, 2, 4"
    )
    assert result_origins(tree, TABLES) == [
        ("orders", "amount"),
        ("persons", "email"),
        None,
        ("orders", "status"),
    ]
    tree, _ = _tree("select * from persons")
    assert result_origins(tree, TABLES) == [("persons", c.name) for c in TABLES["persons"].columns]
    tree, _ = _tree("select event from events union all select status from orders")
    assert result_origins(tree, TABLES) is None


def test_result_origins_never_fail_on_the_corpus():
    for query in QUERIES:
        tree, _ = _tree(query.sql)
        origins = result_origins(tree, TABLES)
        assert origins is None or isinstance(origins, list)
