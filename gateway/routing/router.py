"""Which backend answers a statement on a source that is not PostgreSQL.

Such a source has two halves: the data (ClickHouse, PostHog) and its shadow catalog, a real
PostgreSQL database holding empty tables that mirror the data's tables. A statement that reads
any of the source's tables is a *data* statement; everything else (catalog queries, `SELECT 1`,
SET, SHOW, transaction control) is a *catalog* statement, answered by PostgreSQL itself.

A data statement must not also read the catalog: the two halves live in different servers, so
such a query is refused rather than answered from the empty mirror tables. For the same reason
a statement that PostgreSQL would run over a mirror table without it being a query (a cursor,
EXPLAIN, PREPARE of a query naming a source table) is refused: it would silently read nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from gateway.backends.clickhouse.schema import TableSchema
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, PgError

UNDEFINED_TABLE = "42P01"
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})
# The schema the shadow catalog puts the source's tables in.
DATA_SCHEMA = "public"


class Target(enum.Enum):
    CATALOG = "catalog"
    DATA = "data"


def identifier_name(identifier: exp.Identifier | str | None) -> str:
    """A name as PostgreSQL resolves it: unquoted names fold to lower case."""
    if identifier is None:
        return ""
    if isinstance(identifier, str):
        return identifier
    return identifier.this if identifier.quoted else identifier.this.lower()


def route(
    tree: exp.Expression | None,
    text: str,
    tables: Mapping[str, TableSchema],
    tokenize: Callable[[str], list[Token]],
) -> Target:
    """The target of one guarded statement, whose source text is `text`."""
    if tree is None:
        return Target.CATALOG
    if not isinstance(tree, exp.Query | exp.Values):
        if _names_source_table(tree, tokenize(text), tables):
            raise PgError(
                FEATURE_NOT_SUPPORTED,
                "only queries (SELECT, WITH, VALUES, TABLE) can read this source's tables",
                hint="Cursors, EXPLAIN, PREPARE and COPY run on PostgreSQL sources only.",
            )
        return Target.CATALOG
    data, other = _referenced_tables(tree, tables)
    if not data:
        return Target.CATALOG
    for table in other:
        schema = identifier_name(table.args.get("db"))
        name = identifier_name(table.args.get("this"))
        if schema in CATALOG_SCHEMAS or (not schema and name.startswith("pg_")):
            raise PgError(
                FEATURE_NOT_SUPPORTED,
                f'a query cannot read both this source\'s tables and catalog relation "{name}"',
            )
        raise PgError(UNDEFINED_TABLE, f'relation "{_qualified(schema, name)}" does not exist')
    return Target.DATA


def data_tables(tree: exp.Expression, tables: Mapping[str, TableSchema]) -> list[TableSchema]:
    return [
        tables[identifier_name(t.args.get("this"))] for t in _referenced_tables(tree, tables)[0]
    ]


def _referenced_tables(
    tree: exp.Expression, tables: Mapping[str, TableSchema]
) -> tuple[list[exp.Table], list[exp.Table]]:
    """The tables a query reads, split into the source's and the others. CTE names are not
    tables; a function in FROM (generate_series) is not a table either."""
    ctes = {identifier_name(cte.args.get("alias").this) for cte in tree.find_all(exp.CTE)}
    data: list[exp.Table] = []
    other: list[exp.Table] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        schema = identifier_name(table.args.get("db"))
        name = identifier_name(table.this)
        if not schema and name in ctes:
            continue
        if schema in ("", DATA_SCHEMA) and name in tables:
            data.append(table)
        else:
            other.append(table)
    return data, other


def _names_source_table(
    tree: exp.Expression, tokens: list[Token], tables: Mapping[str, TableSchema]
) -> bool:
    if isinstance(tree, exp.Command):
        # sqlglot keeps the body of a command (EXPLAIN ..., DECLARE ...) as one string: look
        # at its words. Refusing a command that merely mentions a table's name is the safe
        # mistake.
        body_node = tree.args.get("expression")
        body = body_node.name if isinstance(body_node, exp.Expression) else str(body_node or "")
        words = {word.strip('"(),;.').lower() for word in body.replace(".", " ").split()}
        return bool(words & {name.lower() for name in tables})
    for token in tokens:
        if token.token_type == TokenType.VAR and token.text.lower() in tables:
            return True
        if token.token_type == TokenType.IDENTIFIER and token.text in tables:
            return True
    return False


def _qualified(schema: str, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def result_origins(
    tree: exp.Expression, tables: Mapping[str, TableSchema]
) -> list[tuple[str, str] | None] | None:
    """For each output column of a plain SELECT, the (table, column) it reads unchanged, or
    None for a computed one; None when the outputs cannot be told (set operations, a star over
    a subquery). PostgreSQL names that table and column in RowDescription."""
    if not isinstance(tree, exp.Select):
        return None
    aliases: dict[str, str] = {}
    in_from: list[str] = []
    for table in _from_tables(tree):
        name = identifier_name(table.this)
        if name not in tables:
            return None
        alias = table.args.get("alias")
        aliases[identifier_name(alias.this) if alias is not None else name] = name
        in_from.append(name)
    origins: list[tuple[str, str] | None] = []
    for projection in tree.expressions:
        if isinstance(projection, exp.Star):
            for name in in_from:
                origins.extend((name, column.name) for column in tables[name].columns)
            continue
        value = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(value, exp.Column) and isinstance(value.this, exp.Star):
            name = aliases.get(identifier_name(value.args.get("table")))
            if name is None:
                return None
            origins.extend((name, column.name) for column in tables[name].columns)
            continue
        origins.append(_column_origin(value, aliases, tables))
    return origins


def _from_tables(select: exp.Select) -> list[exp.Table]:
    clause = select.args.get("from_") or select.args.get("from")
    sources = [clause.this] if clause is not None else []
    sources += [join.this for join in select.args.get("joins") or []]
    if not all(
        isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier)
        for source in sources
    ):
        return [exp.Table(this=exp.to_identifier("?not-a-table"))]
    return sources


def _column_origin(
    value: exp.Expression, aliases: Mapping[str, str], tables: Mapping[str, TableSchema]
) -> tuple[str, str] | None:
    if not isinstance(value, exp.Column) or not isinstance(value.this, exp.Identifier):
        return None
    column = identifier_name(value.this)
    qualifier = value.args.get("table")
    if qualifier is not None:
        name = aliases.get(identifier_name(qualifier))
        return (name, column) if name and tables[name].column(column) else None
    owners = {name for name in aliases.values() if tables[name].column(column)}
    return (owners.pop(), column) if len(owners) == 1 else None
