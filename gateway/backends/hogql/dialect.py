"""PostgreSQL-dialect queries as HogQL.

HogQL is ClickHouse SQL plus PostHog's own syntax, and PostHog runs it on ClickHouse; so the
ClickHouse translation (`translate.to_clickhouse`, with its corrections for PostgreSQL's result
semantics) does nearly all the work. HogQL's differences are small, and each is one entry here:

- Property access. PostgreSQL reads a JSON column with `->>` / `->` / `#>>` / `#>`; HogQL with
  a dotted path, `properties.$browser`, `properties.a.b`, which PostHog compiles to its own
  (materialized-column aware) extraction. An arrow chain with constant keys on a JSON column of
  the source (`HogQLSource.json_columns`) becomes such a path.
- Lazy joins. `person.properties ->> 'email'` on events names no table of the query in
  PostgreSQL; in HogQL it is `person.properties.email`, which PostHog joins for the query.
  So a `person.` qualifier that is not a table or alias of the query is kept as HogQL's.
- Settings. HogQL takes no SETTINGS; the ClickHouse translation's settings (join_use_nulls for
  outer joins) are dropped: PostHog runs HogQL with its own.

The arrow chains are marked before translation with a function the ClickHouse translation
does not know (it keeps unknown functions as written) and rendered as paths after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping

from sqlglot import exp

from gateway.backends.clickhouse.schema import TableSchema
from gateway.protocol.errors import PgError
from gateway.routing.router import identifier_name
from gateway.routing.translate import Translation, to_clickhouse

MARKER = "metahog_hogql_property"
_ARROWS = (exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar)
# Tables PostHog joins on demand when a query names them through a field of its FROM table.
LAZY_TABLES = frozenset({"person", "pdi", "session", "poe"})
_BARE_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def to_hogql(
    tree: exp.Expression,
    tables: Mapping[str, TableSchema],
    json_columns: Collection[str],
    time_zone: str = "UTC",
    check: Callable[[str], PgError | None] | None = None,
) -> Translation:
    """The HogQL of a guarded PostgreSQL-dialect query. `check` sees the ClickHouse SQL before
    the property paths are written (the ClickHouse guard: a translation never adds a table
    function or a write, and HogQL paths are not ClickHouse syntax)."""
    tree = tree.copy()
    _mark_properties(tree, json_columns)
    translation = to_clickhouse(tree, tables, time_zone)
    if check is not None:
        error = check(translation.sql)
        if error is not None:
            raise error
    return Translation(
        sql=render_properties(translation.sql),
        column_types=translation.column_types,
        settings={},
        # PostgreSQL names an arrow expression "?column?"; the ClickHouse translation named
        # the output after the marker it saw.
        column_names=tuple(
            "?column?" if name == MARKER else name for name in translation.column_names
        ),
    )


def _arrow_keys(node: exp.Expression) -> tuple[exp.Expression, list[str]] | None:
    """The base and constant keys of a chain of JSON arrows, or None if a key is not constant
    text (array indexes and computed keys stay ClickHouse JSON functions)."""
    keys: list[str] = []
    while isinstance(node, _ARROWS):
        path = node.expression
        if isinstance(path, exp.JSONPath):
            steps = [p for p in path.expressions if not isinstance(p, exp.JSONPathRoot)]
            if not all(isinstance(p, exp.JSONPathKey) and isinstance(p.this, str) for p in steps):
                return None
            step_keys = [p.this for p in steps]
        elif isinstance(path, exp.Literal) and path.is_string:
            text = path.this.strip()
            if not (text.startswith("{") and text.endswith("}")):
                return None
            step_keys = [p.strip().strip('"') for p in text[1:-1].split(",") if p.strip()]
            if any(re.fullmatch(r"-?\d+", key) for key in step_keys):
                return None
        else:
            return None
        keys[:0] = step_keys
        node = node.this
    return node, keys


def _source_names(tree: exp.Expression) -> set[str]:
    names = set()
    for table in tree.find_all(exp.Table):
        names.add(identifier_name(table.args.get("this")))
        if table.alias:
            names.add(table.alias)
    for subquery in tree.find_all(exp.Subquery, exp.CTE):
        if subquery.alias:
            names.add(subquery.alias)
    return names


def _mark_properties(tree: exp.Expression, json_columns: Collection[str]) -> None:
    sources = _source_names(tree)
    # Outermost arrows first: a chain is replaced whole, its inner arrows with it.
    for node in list(tree.find_all(*_ARROWS, bfs=True)):
        if not _attached(node, tree):
            continue
        found = _arrow_keys(node)
        if found is None:
            continue
        base, keys = found
        if not isinstance(base, exp.Column) or not keys:
            continue
        qualifier = identifier_name(base.args.get("table")) if base.table else ""
        name = identifier_name(base.args.get("this"))
        if qualifier in LAZY_TABLES and qualifier not in sources:
            # A lazy join's field: kept as text, since the PostgreSQL qualifier names no table.
            first: exp.Expression = exp.Literal.string(f"{qualifier}.{name}")
        elif name in json_columns:
            first = base.copy()
        else:
            continue
        marked = exp.Anonymous(
            this=MARKER, expressions=[first, *(exp.Literal.string(k) for k in keys)]
        )
        node.replace(marked)


def _attached(node: exp.Expression, root: exp.Expression) -> bool:
    while node.parent is not None:
        node = node.parent
    return node is root


def key_text(key: str) -> str:
    """One step of a HogQL property path: bare when HogQL reads it as an identifier."""
    if _BARE_KEY.fullmatch(key):
        return key
    return "`" + key.replace("\\", "\\\\").replace("`", "\\`") + "`"


def render_properties(sql: str) -> str:
    """ClickHouse SQL with the translation's property markers written as HogQL paths."""
    out: list[str] = []
    pos = 0
    call = MARKER + "("
    while True:
        start = sql.find(call, pos)
        if start < 0:
            out.append(sql[pos:])
            return "".join(out)
        out.append(sql[pos:start])
        args, pos = _arguments(sql, start + len(call))
        base, *keys = args
        if base.startswith("'"):
            base = _unquote(base)
        out.append(".".join([base, *(key_text(_unquote(k)) for k in keys)]))


def _arguments(sql: str, pos: int) -> tuple[list[str], int]:
    """The marker's arguments (a column reference or string literals) up to its `)`."""
    args: list[str] = []
    current: list[str] = []
    while True:
        char = sql[pos]
        if char == "'":
            end = pos + 1
            while sql[end] != "'":
                end += 2 if sql[end] == "\\" else 1
            current.append(sql[pos : end + 1])
            pos = end + 1
            continue
        if char in ",)":
            args.append("".join(current).strip())
            current = []
            pos += 1
            if char == ")":
                return args, pos
            continue
        current.append(char)
        pos += 1


def _unquote(literal: str) -> str:
    """A ClickHouse string literal's text: `\\x` escapes, and `''` for a quote."""
    body = literal[1:-1]
    return re.sub(
        r"\\(.)|''", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m[1], m[1] or "'"), body
    )
