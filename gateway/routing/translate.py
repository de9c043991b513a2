"""PostgreSQL-dialect queries as ClickHouse SQL that returns what PostgreSQL would return.

sqlglot's ClickHouse generator makes the text run; it does not make the results match. PostgreSQL
divides integers as integers, returns NULL for sum() over no rows, rounds numeric half away from
zero, counts as bigint, and so on. Each such difference is one correction: a small named function
that rewrites one kind of node, registered in `CORRECTIONS` by node class, in the way sqlglot's
dialects list their TRANSFORMS. `STATEMENT_CORRECTIONS` are the few that reshape a whole SELECT.

Steps, on a copy of the caller's tree:
1. statement corrections ("public" schema, GROUP BY ordinals, DISTINCT ON);
2. qualify columns and annotate PostgreSQL types from the source's schema (ClickHouse type names,
   read by sqlglot's ClickHouse type parser), so each correction knows its operands' types;
   PostgreSQL's output names are taken here too (`Translation.column_names`);
3. expression corrections, children before parents, so a correction sees its operands already
   translated and typed;
4. interval outputs as PostgreSQL's interval text, then ClickHouse SQL from sqlglot.

Corrections build ClickHouse expressions from small ClickHouse-dialect templates (`_ch`), where
`_1`, `_2`, ... stand for the operands: a template reads as the ClickHouse it becomes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.time import format_time

from gateway.backends.clickhouse.schema import TableSchema
from gateway.backends.clickhouse.types import (
    JSONB_OVERRIDE,
    NUMERIC,
    TIMESTAMP_OVERRIDE,
    VARCHAR_OVERRIDE,
    pg_type,
)
from gateway.protocol.errors import FEATURE_NOT_SUPPORTED, PgError

DType = exp.DataType.Type

# PostgreSQL fills the missing side of an outer join with NULL; ClickHouse fills it with the
# type's default (0, '') unless join_use_nulls is on.
SETTINGS: Mapping[str, str] = {"join_use_nulls": "1"}
# ... and likewise the rolled-up keys of ROLLUP, CUBE and GROUPING SETS. Asked for only by such
# queries: ClickHouse before 22.x (such as Debian's 18.16) refuses the unknown setting.
GROUPING_SETTINGS: Mapping[str, str] = {"group_by_use_nulls": "1"}

# Scale used where PostgreSQL computes numeric results with a data-dependent scale (division,
# avg): enough digits for any later round(), in Decimal128 (38 digits, so up to 10^18 before the
# point), which every ClickHouse with Decimal has (Decimal256 came in 20.x).
WORKING_SCALE = 20


@dataclass(frozen=True)
class Translation:
    sql: str  # ClickHouse SQL, no trailing semicolon, no SETTINGS/FORMAT
    # Per output column, a ClickHouse type name to use instead of the one ClickHouse reports
    # (None: use ClickHouse's). The gateway encodes with types.pg_type(override).
    column_types: tuple[str | None, ...]
    # ClickHouse settings the translated query needs for PostgreSQL semantics.
    settings: Mapping[str, str] = field(default_factory=dict)
    # Per output column, the name PostgreSQL gives it (`count`, `?column?`, `date_trunc`), for
    # RowDescription; ClickHouse names unnamed outputs by their text (`toInt64(count())`).
    column_names: tuple[str, ...] = ()


def unsupported(construct: str) -> PgError:
    return PgError(FEATURE_NOT_SUPPORTED, f"{construct} is not supported on ClickHouse sources")


# ---------------------------------------------------------------------------- helpers


# Words followed by "(" in templates that are syntax or type names, not function calls.
_SYNTAX_WORDS = frozenset({"CAST", "IN", "NOT", "AND", "OR", "EXISTS", "SELECT", "FROM", "AS"})
_TYPE_WORDS = frozenset({"Nullable", "Decimal", "DateTime", "DateTime64", "Array", "Tuple"})
# Parametric aggregates, `f(params)(args)`, which sqlglot parses only under their own names.
_PARAMETRIC = frozenset({"quantileExactInclusive"})
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(")
_KEEP = "__keep_"


@functools.cache
def _template(text: str) -> exp.Expression:
    """A template's tree, with every function call kept exactly as written. sqlglot's ClickHouse
    parser maps functions it knows to its own nodes and writes them back its own way
    (toStartOfDay(x) comes out as dateTrunc('DAY', x), dateDiff('second', a, b) as
    DATE_DIFF(SECOND, a, b)), spellings that older ClickHouse servers do not know."""

    def keep(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.upper() in _SYNTAX_WORDS or name in _PARAMETRIC or name in _TYPE_WORDS:
            return match.group(0)
        return f"{_KEEP}{name}("

    tree = sqlglot.parse_one(_CALL.sub(keep, text), read="clickhouse")
    for call in tree.find_all(exp.Anonymous):
        if call.name.startswith(_KEEP):
            call.set("this", call.name.removeprefix(_KEEP))
    return tree


# The session's TimeZone while a statement is translated: PostgreSQL computes the calendar of a
# timestamptz (its day, its hour, date_trunc, ::date) in it.
_SESSION_ZONE: ContextVar[str] = ContextVar("session_zone", default="UTC")


def _session_zone_of(value: exp.Expression) -> exp.Literal | None:
    """The session's zone, as a literal, when `value` is a timestamptz whose calendar differs
    from UTC's there; None when ClickHouse's UTC calendar is already the session's."""
    zone = _SESSION_ZONE.get()
    if zone in ("UTC", "Etc/UTC") or not _is(value, {DType.TIMESTAMPTZ}):
        return None
    return exp.Literal.string(zone)


def _in_session_zone(value: exp.Expression) -> exp.Expression:
    """A timestamptz as wall-clock time in the session's zone, for calendar functions."""
    zone = _session_zone_of(value)
    if zone is None:
        return value
    return _ch("toTimeZone(_1, _2)", value, zone, type_=DType.TIMESTAMPTZ)


def _ch(text: str, *operands: exp.Expression, type_: str | DType | None = None) -> exp.Expression:
    """A ClickHouse expression from a template; `_1`, `_2`, ... are replaced by `operands`."""
    tree = _template(text).copy()
    if isinstance(tree, exp.Column) and re.fullmatch(r"_(\d+)", tree.name):
        tree = operands[int(tree.name[1:]) - 1].copy()
    for column in list(tree.find_all(exp.Column)):
        match = re.fullmatch(r"_(\d+)", column.name) if not column.table else None
        if match:
            column.replace(operands[int(match.group(1)) - 1].copy())
    for table in list(tree.find_all(exp.Table)):  # `FROM _1`: a query operand
        match = re.fullmatch(r"_(\d+)", table.name) if not table.db else None
        if match:
            table.replace(operands[int(match.group(1)) - 1].copy().subquery())
    if type_ is not None:
        tree.type = exp.DataType.build(type_) if isinstance(type_, str) else type_
    return tree


def _kind(node: exp.Expression) -> DType | None:
    while isinstance(node, exp.Paren):  # annotated before its contents were translated
        node = node.this
    kind = node.type
    return kind.this if isinstance(kind, exp.DataType) else None


def _is(node: exp.Expression, kinds: frozenset[DType] | set[DType]) -> bool:
    return _kind(node) in kinds


INTEGERS = frozenset(exp.DataType.INTEGER_TYPES) - {DType.BIT}
DECIMALS = frozenset(
    {
        DType.DECIMAL,
        DType.BIGDECIMAL,
        DType.DECIMAL32,
        DType.DECIMAL64,
        DType.DECIMAL128,
        DType.DECIMAL256,
        DType.MONEY,
    }
)
FLOATS = frozenset(exp.DataType.REAL_TYPES) - DECIMALS
EXACT = INTEGERS | DECIMALS
TIMESTAMPS = frozenset(
    {
        DType.TIMESTAMP,
        DType.TIMESTAMPTZ,
        DType.TIMESTAMPLTZ,
        DType.DATETIME,
        DType.DATETIME64,
        DType.TIMESTAMP_S,
        DType.TIMESTAMP_MS,
    }
)
DATES = frozenset({DType.DATE, DType.DATE32})
TEXTS = frozenset(exp.DataType.TEXT_TYPES)


def _scale(node: exp.Expression) -> int:
    while isinstance(node, exp.Paren):
        node = node.this
    kind = node.type
    if isinstance(kind, exp.DataType) and kind.this in DECIMALS and len(kind.expressions) == 2:
        return int(kind.expressions[1].name)
    return 0


def _wrap_outer(node: exp.Expression, template: str, type_: str | None = None) -> None:
    """Wrap the expression that carries `node`'s value: the node itself, or the FILTER or
    window around an aggregate (`toInt64(count(*)) OVER ()` would not parse)."""
    target = node
    while isinstance(target.parent, exp.Filter | exp.Window) and target.arg_key == "this":
        target = target.parent
    wrapper = _ch(template, exp.null(), type_=type_ or node.type)
    placeholder = wrapper.find(exp.Null)
    assert placeholder is not None
    target.replace(wrapper)
    placeholder.replace(target)


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Neg):
        inner = _literal_int(node.this)
        return None if inner is None else -inner
    return None


Correction = Callable[[exp.Expression], exp.Expression | None]


# ---------------------------------------------------------------------------- arithmetic


def integer_division(node: exp.Expression) -> exp.Expression | None:
    """PostgreSQL's int / int truncates toward zero; ClickHouse's `/` is float division."""
    assert isinstance(node, exp.Div)
    if _is(node.this, INTEGERS) and _is(node.expression, INTEGERS):
        return _ch("intDiv(_1, _2)", node.this, node.expression, type_=_wider(node))
    return None


_INTEGER_RANK = {DType.SMALLINT: 0, DType.INT: 1}


def _wider(node: exp.Binary) -> DType:
    """PostgreSQL's integer operators keep the wider operand's type (int4 / int4 is int4)."""
    ranks = [_INTEGER_RANK.get(_kind(o), 2) for o in (node.this, node.expression)]  # type: ignore[arg-type]
    return (DType.SMALLINT, DType.INT, DType.BIGINT)[max(ranks)]


def numeric_division(node: exp.Expression) -> exp.Expression | None:
    """numeric / x keeps at least 16 significant digits in PostgreSQL; ClickHouse keeps the
    dividend's scale (10.00 / 3 = 3.33). Divide at WORKING_SCALE instead."""
    assert isinstance(node, exp.Div)
    operands = (node.this, node.expression)
    if any(_is(o, DECIMALS) for o in operands) and all(_is(o, EXACT) for o in operands):
        return _ch(
            f"toDecimal128(_1, {WORKING_SCALE}) / _2",
            node.this,
            node.expression,
            type_=f"DECIMAL(38, {WORKING_SCALE})",
        )
    return None


def numeric_round(node: exp.Expression) -> exp.Expression | None:
    """round(numeric, n) rounds half away from zero to exactly n decimals. ClickHouse does so for
    Decimal only (floats round half to even), and keeps the input's scale."""
    assert isinstance(node, exp.Round)
    if not _is(node.this, EXACT):
        return None  # round(float8) is rint (half to even) in PostgreSQL too
    places = _literal_int(node.args.get("decimals")) or 0
    if places < 0:
        return _ch(f"round(_1, {places})", node.this, type_=node.type)
    scale = max(_scale(node.this), places)
    return _ch(
        f"CAST(round(toDecimal128(_1, {scale}), {places}) AS Nullable(Decimal(38, {places})))",
        node.this,
        type_=f"DECIMAL(38, {places})",
    )


def numeric_literal(node: exp.Expression) -> exp.Expression | None:
    """1.5 is numeric in PostgreSQL, Float64 in ClickHouse: 100.0 * count(*) / 3 must divide
    exactly. Fractions of ordered-set aggregates stay literals (ClickHouse wants constants)."""
    assert isinstance(node, exp.Literal)
    if node.is_string or not _is(node, DECIMALS):
        return None
    if isinstance(node.parent, exp.PercentileCont | exp.PercentileDisc):
        return None
    scale = _scale(node)
    return _ch(f"toDecimal128('{node.this}', {scale})", type_=node.type)


def uuid_order(node: exp.Expression) -> exp.Expression | None:
    """ORDER BY a uuid: PostgreSQL sorts its bytes; ClickHouse sorts UUID as two little-endian
    halves. The lowercase text sorts as the bytes do."""
    assert isinstance(node, exp.Ordered)
    if _is(node.this, {DType.UUID}):
        node.set("this", _ch("toString(_1)", node.this, type_=DType.TEXT))
    return None


# ---------------------------------------------------------------------------- aggregates


def count_as_bigint(node: exp.Expression) -> exp.Expression | None:
    """count() is UInt64 in ClickHouse (numeric to the gateway); PostgreSQL's is bigint."""
    _wrap_outer(node, "toInt64(NULL)")
    return None


def ranking_as_bigint(node: exp.Expression) -> exp.Expression | None:
    """row_number(), rank() and dense_rank() are UInt64 in ClickHouse, bigint in PostgreSQL."""
    _wrap_outer(node, "toInt64(NULL)")
    return None


def integer_result(node: exp.Expression) -> exp.Expression | None:
    """ntile(), grouping() and cardinality() are int4 in PostgreSQL, UInt64 in ClickHouse (which
    the gateway describes as numeric)."""
    _wrap_outer(node, "toInt32(NULL)", "INT")
    return None


def _or_null(name: str) -> Correction:
    def correction(node: exp.Expression) -> exp.Expression | None:
        if name == "sum" and _is(node.this, {DType.BIGINT}):
            # sum(bigint) is numeric in PostgreSQL (it cannot overflow); Int64 in ClickHouse.
            if isinstance(node.parent, exp.Filter | exp.Window):
                # Around the window or FILTER: `toDecimal128(x) OVER ()` would not parse.
                _wrap_outer(node, "toDecimal128(NULL, 0)", "DECIMAL(38, 0)")
                return _ch("sumOrNull(_1)", node.this, type_="DECIMAL(38, 0)")
            return _ch(
                "if(count(_1) = 0, NULL, toDecimal128(sum(_1), 0))",
                node.this,
                type_="DECIMAL(38, 0)",
            )
        if isinstance(node.parent, exp.Filter | exp.Window):
            # The -OrNull combinator (ClickHouse 19+): FILTER and OVER need one aggregate.
            return _ch(f"{name}OrNull(_1)", node.this, type_=node.type)
        if name == "sum" and _is(node.this, {DType.SMALLINT, DType.INT}):
            # sum(int4) is bigint in PostgreSQL; ClickHouse's sum of a literal 1 is UInt64.
            return _ch("if(count(_1) = 0, NULL, toInt64(sum(_1)))", node.this, type_=DType.BIGINT)
        return _ch(f"if(count(_1) = 0, NULL, {name}(_1))", node.this, type_=node.type)

    correction.__name__ = f"{name}_of_nothing_is_null"
    correction.__doc__ = (
        f"{name}() over no rows is NULL in PostgreSQL; ClickHouse returns the type's default."
    )
    return correction


def exact_average(node: exp.Expression) -> exp.Expression | None:
    """avg() of integers or numeric is numeric in PostgreSQL; ClickHouse's is Float64, which
    loses the exact value that a later round() needs. Average in Decimal instead."""
    assert isinstance(node, exp.Avg)
    if not _is(node.this, EXACT):
        return _or_null("avg")(node)
    if isinstance(node.parent, exp.Filter | exp.Window):
        # Over a window or with FILTER the sum and count cannot be split apart: average in
        # Float64, read back as a Decimal through PostgreSQL's 15 significant digits.
        _wrap_outer(
            node,
            f"toDecimal128(printf('%.15g', NULL), {WORKING_SCALE})",
            f"DECIMAL(38, {WORKING_SCALE})",
        )
        return _ch("avgOrNull(_1)", node.this, type_=DType.DOUBLE)
    return _ch(
        # greatest(): ClickHouse computes both branches of if(), and fails on a division by 0.
        f"if(count(_1) = 0, NULL, toDecimal128(sum(_1), {WORKING_SCALE}) / greatest(count(_1), 1))",
        node.this,
        type_=f"DECIMAL(38, {WORKING_SCALE})",
    )


def _order_key(order: exp.Expression) -> tuple[exp.Expression, exp.Expression, bool]:
    """(value, sort key, descending) of an aggregate's `x ORDER BY k` argument."""
    if isinstance(order, exp.Order):
        keys = order.expressions
        if len(keys) != 1:
            raise unsupported("an aggregate ORDER BY with several keys")
        key = keys[0]
        return order.this, key.this, bool(key.args.get("desc"))
    return order, order, False


def _filtered(node: exp.Expression, name: str) -> exp.Expression | None:
    """The FILTER (WHERE ...) condition on an aggregate that is rewritten as array functions
    (which FILTER cannot follow): the rewrite takes it with -If combinators instead."""
    parent = node.parent
    if isinstance(parent, exp.Window):
        raise unsupported(f"{name} as a window function")
    if isinstance(parent, exp.Filter):
        return parent.expression.this
    return None


def _finish(node: exp.Expression, result: exp.Expression) -> exp.Expression | None:
    """Put `result` where the aggregate was: over its FILTER, when it had one."""
    if isinstance(node.parent, exp.Filter):
        node.parent.replace(result)
        return None
    return result


def string_agg(node: exp.Expression) -> exp.Expression | None:
    """string_agg(x, sep [ORDER BY k]): NULLs skipped, NULL when nothing is left, in k order."""
    assert isinstance(node, exp.GroupConcat)
    value, key, desc = _order_key(node.this)
    separator = node.args.get("separator") or exp.Literal.string(",")
    sort = "arrayReverseSort" if desc else "arraySort"
    condition = _filtered(node, "string_agg")
    when, extra = ("If", ", _4") if condition is not None else ("", "")
    if isinstance(value, exp.Distinct):
        # PostgreSQL requires the ORDER BY of a DISTINCT aggregate to be its argument.
        template = (
            f"if(count{when}(_1{extra}) = 0, NULL,"
            f" arrayStringConcat({sort}(groupUniqArray{when}(_1{extra})), _3))"
        )
        value = value.expressions[0]
    else:
        template = (
            f"if(count{when}(_1{extra}) = 0, NULL, arrayStringConcat(arrayMap(t ->"
            f" tupleElement(t, 2), {sort}(t -> tupleElement(t, 1), arrayFilter(t ->"
            f" isNotNull(tupleElement(t, 2)), groupArray{when}(tuple(_2, _1){extra})))), _3))"
        )
    operands = [value, key, separator, *([condition] if condition is not None else [])]
    return _finish(node, _ch(template, *operands, type_=DType.TEXT))


def array_agg(node: exp.Expression) -> exp.Expression | None:
    """array_agg keeps NULLs (groupArray drops them: a one-element tuple keeps them) and orders
    by its ORDER BY. Known difference: over no rows PostgreSQL returns NULL, this `{}`
    (ClickHouse has no NULL arrays)."""
    assert isinstance(node, exp.ArrayAgg)
    value, key, desc = _order_key(node.this)
    sort = "arrayReverseSort" if desc else "arraySort"
    condition = _filtered(node, "array_agg")
    when, extra = ("If", ", _3") if condition is not None else ("", "")
    template = (
        f"arrayMap(t -> tupleElement(t, 2), {sort}(t -> tupleElement(t, 1),"
        f" groupArray{when}(tuple(_2, _1){extra})))"
    )
    operands = [value, key, *([condition] if condition is not None else [])]
    return _finish(node, _ch(template, *operands, type_=node.type))


def bool_and(node: exp.Expression) -> exp.Expression | None:
    """bool_and: ClickHouse has no LOGICAL_AND; the minimum of booleans is their AND."""
    return _or_null("min")(node)


def bool_or(node: exp.Expression) -> exp.Expression | None:
    """bool_or: the maximum of booleans is their OR."""
    return _or_null("max")(node)


def ordered_set_aggregate(node: exp.Expression) -> exp.Expression | None:
    """percentile_cont/percentile_disc(f) WITHIN GROUP (ORDER BY x)."""
    assert isinstance(node, exp.WithinGroup)
    function, order = node.this, node.expression
    if not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise unsupported("WITHIN GROUP with several keys")
    key = order.expressions[0]
    fraction = function.this
    if key.args.get("desc"):
        fraction = _ch("1 - _1", fraction)
    if isinstance(function, exp.PercentileCont):
        # Linear interpolation between the closest ranks, as PostgreSQL computes it.
        return _ch("quantileExactInclusive(_1)(_2)", fraction, key.this, type_=DType.DOUBLE)
    if isinstance(function, exp.PercentileDisc):
        if isinstance(node.parent, exp.Filter | exp.Window):
            raise unsupported("percentile_disc with FILTER or OVER")
        # The first value whose cumulative share reaches f.
        return _ch(
            "if(count(_2) = 0, NULL, arrayElement(arraySort(groupArray(_2)),"
            " toUInt64(greatest(ceil(_1 * count(_2)), 1))))",
            fraction,
            key.this,
            type_=key.this.type,
        )
    raise unsupported(f"{function.sql_name()} WITHIN GROUP")


def lag_lead(node: exp.Expression) -> exp.Expression | None:
    """lag/lead: ClickHouse's lagInFrame/leadInFrame see only the window frame and give the
    type's default past the edge; PostgreSQL sees the whole partition and gives NULL."""
    assert isinstance(node, exp.Lag | exp.Lead)
    window = node.parent
    if not isinstance(window, exp.Window):
        raise unsupported(f"{node.sql_name().lower()} without OVER")
    name = "lagInFrame" if isinstance(node, exp.Lag) else "leadInFrame"
    offset = node.args.get("offset") or exp.Literal.number(1)
    default = node.args.get("default")
    window.set(
        "spec",
        exp.WindowSpec(
            kind="ROWS",
            start="UNBOUNDED",
            start_side="PRECEDING",
            end="UNBOUNDED",
            end_side="FOLLOWING",
        ),
    )
    if default is None:
        return _ch(f"{name}(toNullable(_1), _2)", node.this, offset, type_=node.this.type)
    return _ch(f"{name}(_1, _2, _3)", node.this, offset, default, type_=node.this.type)


def in_subquery_nulls(node: exp.Expression) -> exp.Expression | None:
    """NOT (x IN (subquery)): in PostgreSQL, when x is not found and x or any subquery value is
    NULL, IN is NULL and so is NOT IN (no row passes). ClickHouse's IN is false there, so NOT IN
    lets the row through."""
    assert isinstance(node, exp.In)
    query = node.args.get("query")
    if query is None or not isinstance(node.parent, exp.Not):
        return None
    select = query.this if isinstance(query, exp.Subquery) else query
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return None
    named = select.copy()
    named.set("expressions", [exp.alias_(named.expressions[0].unalias(), "__in_value")])
    return _ch(
        "multiIf(_1 IN (_2), 1, (SELECT count() FROM _3) = 0, 0, isNull(_1) OR"
        " (SELECT countIf(isNull(__in_value)) FROM _3) > 0, NULL, 0)",
        node.this,
        select,
        named,
        type_=DType.BOOLEAN,
    )


# ---------------------------------------------------------------------------- text


def _rename(name: str, why: str) -> Correction:
    def correction(node: exp.Expression) -> exp.Expression | None:
        operands = [node.this, *([node.expression] if node.expression else [])]
        template = f"{name}(" + ", ".join(f"_{i + 1}" for i in range(len(operands))) + ")"
        return _ch(template, *operands, type_=node.type)

    correction.__name__ = f"utf8_{name}"
    correction.__doc__ = why
    return correction


_LEFT = (
    "substringUTF8(_1, 1, _2)",
    "substringUTF8(_1, 1, greatest(toInt64(lengthUTF8(_1)) + _2, 0))",
)
_RIGHT = (
    "substringUTF8(_1, greatest(toInt64(lengthUTF8(_1)) - _2 + 1, 1))",
    "substringUTF8(_1, 1 - _2)",
)


def _by_sign(node: exp.Expression, templates: tuple[str, str]) -> exp.Expression:
    # A literal count picks its form here: ClickHouse evaluates both branches of if().
    count = _literal_int(node.expression)
    if count is None:
        template = f"if(_2 >= 0, {templates[0]}, {templates[1]})"
    else:
        template = templates[0] if count >= 0 else templates[1]
    return _ch(template, node.this, node.expression, type_=DType.TEXT)


def left(node: exp.Expression) -> exp.Expression | None:
    """left(s, n): the first n characters, or all but the last -n. ClickHouse's `left` counts
    bytes (leftUTF8 came in 22.x): substringUTF8 works on every version."""
    return _by_sign(node, _LEFT)


def right(node: exp.Expression) -> exp.Expression | None:
    """right(s, n): the last n characters, or all but the first -n."""
    return _by_sign(node, _RIGHT)


def substring(node: exp.Expression) -> exp.Expression | None:
    """substring(s FROM a FOR n) takes characters a .. a+n-1, clipped at 1 (so FROM 0 FOR 2 is
    one character); ClickHouse's substring counts bytes and gives '' for offset 0."""
    assert isinstance(node, exp.Substring)
    start = node.args.get("start") or exp.Literal.number(1)
    length = node.args.get("length")
    if length is None:
        return _ch("substringUTF8(_1, greatest(_2, 1))", node.this, start, type_=DType.TEXT)
    return _ch(
        "substringUTF8(_1, greatest(_2, 1), greatest(_2 + _3 - greatest(_2, 1), 0))",
        node.this,
        start,
        length,
        type_=DType.TEXT,
    )


def position(node: exp.Expression) -> exp.Expression | None:
    """position(sub IN s) counts characters."""
    assert isinstance(node, exp.StrPosition)
    return _ch("positionUTF8(_1, _2)", node.this, node.args["substr"], type_=DType.INT)


def split_part(node: exp.Expression) -> exp.Expression | None:
    """split_part(s, d, n): ClickHouse has no split_part; a split array indexed the same way
    gives '' past the end, as PostgreSQL does, and counts from the end for negative n."""
    assert isinstance(node, exp.SplitPart)
    return _ch(
        "if(isNull(_1), NULL, arrayElement(splitByString(_2, _1), _3))",
        node.this,
        node.args["delimiter"],
        node.args["part_index"],
        type_=DType.TEXT,
    )


def like_escape(node: exp.Expression) -> exp.Expression | None:
    """LIKE ... ESCAPE 'c': ClickHouse accepts the clause but ignores it (backslash is its only
    escape), so a literal pattern is rewritten to backslash escapes."""
    assert isinstance(node, exp.Escape)
    like, escape = node.this, node.expression
    pattern = like.expression
    if not (isinstance(escape, exp.Literal) and isinstance(pattern, exp.Literal)):
        raise unsupported("LIKE with a non-literal ESCAPE")
    char, text, out = escape.this, pattern.this, []
    index = 0
    while index < len(text):
        current = text[index]
        if char and current == char and index + 1 < len(text):
            out.append("\\" + text[index + 1])
            index += 2
            continue
        out.append("\\\\" if current == "\\" else current)
        index += 1
    like.set("expression", exp.Literal.string("".join(out)))
    return like


# ---------------------------------------------------------------------------- json


def _json_keys(path: exp.Expression) -> list[exp.Expression]:
    """ClickHouse JSON function keys for a path: `->` and `->>` steps (sqlglot's JSONPath) or a
    `#>` / `#>>` text array ('{a,b}'). PostgreSQL counts array elements from 0, ClickHouse from
    1; both count from -1 backwards."""
    if isinstance(path, exp.Literal) and path.is_string:
        text = path.this.strip()
        if not (text.startswith("{") and text.endswith("}")):
            raise unsupported(f"JSON path {text!r}")
        # PostgreSQL reads a step as an array index when the value there is an array; here a
        # step that looks like a number is taken as one.
        parts: list[object] = [
            int(p) if re.fullmatch(r"-?\d+", p) else p
            for p in (p.strip().strip('"') for p in text[1:-1].split(","))
            if p
        ]
    elif isinstance(path, exp.JSONPath):
        parts = [p for p in path.expressions if not isinstance(p, exp.JSONPathRoot)]
    else:
        parts = [path]
    keys: list[exp.Expression] = []
    for part in parts:
        if isinstance(part, exp.JSONPathKey):
            part = part.name
        elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
            part = part.this
        elif isinstance(part, exp.Literal):
            part = int(part.this) if not part.is_string else part.this
        if isinstance(part, int):
            keys.append(exp.Literal.number(part + 1 if part >= 0 else part))
        elif isinstance(part, str):
            keys.append(exp.Literal.string(part))
        else:
            raise unsupported(f"JSON path step {part}")
    return keys


def _json_template(template: str, keys: list[exp.Expression]) -> str:
    placeholders = ", ".join(f"_{i + 2}" for i in range(len(keys)))
    return template.replace("KEYS", placeholders)


def json_arrow(node: exp.Expression) -> exp.Expression | None:
    """`j -> 'k'`, `j #> '{a,b}'`: the value's JSON text; NULL when the key is missing, `null`
    for JSON null."""
    keys = _json_keys(node.expression)
    template = _json_template("if(JSONHas(_1, KEYS), JSONExtractRaw(_1, KEYS), NULL)", keys)
    return _ch(template, node.this, *keys, type_=DType.JSONB)


def _json_text(value: exp.Expression, keys: list[exp.Expression]) -> exp.Expression:
    template = _json_template(
        "multiIf(JSONType(_1, KEYS) = 'Null', NULL, JSONType(_1, KEYS) = 'String',"
        " JSONExtractString(_1, KEYS), JSONExtractRaw(_1, KEYS))",
        keys,
    )
    return _ch(template, value, *keys, type_=DType.TEXT)


def json_has_key(node: exp.Expression) -> exp.Expression | None:
    """`j ? 'k'`: whether the object has the key (JSON null counts). ClickHouse reads `?` as a
    parameter."""
    return _ch("JSONHas(_1, _2)", node.this, node.expression, type_=DType.BOOLEAN)


def json_text_arrow(node: exp.Expression) -> exp.Expression | None:
    """`j ->> 'k'`, `j #>> '{a,b}'`: strings unquoted, other values as JSON text, NULL for a
    missing key or JSON null. ClickHouse's JSONExtractString gives '' for all of those and for
    numbers."""
    return _json_text(node.this, _json_keys(node.expression))


def json_extract_path_text(node: exp.Expression) -> exp.Expression | None:
    """jsonb_extract_path_text(j, 'a', 'b'), which sqlglot passes through by name."""
    value, *path = node.expressions
    if not path or not all(isinstance(p, exp.Literal) for p in path):
        raise unsupported(f"{node.name} with a non-literal path")
    keys = [k for p in path for k in _json_keys(exp.Literal.string("{" + p.name + "}"))]
    return _json_text(value, keys)


def cardinality(node: exp.Expression) -> exp.Expression | None:
    """cardinality(array): its element count as int4 (ClickHouse has length(), UInt64)."""
    return _ch("toInt32(length(_1))", *node.expressions[:1], type_=DType.INT)


# Functions sqlglot does not know, by their PostgreSQL name.
_ANONYMOUS: dict[str, Correction] = {
    "jsonb_extract_path_text": json_extract_path_text,
    "json_extract_path_text": json_extract_path_text,
    "cardinality": cardinality,
}


def by_name(node: exp.Expression) -> exp.Expression | None:
    """Dispatch for functions that sqlglot keeps as plain names."""
    correction = _ANONYMOUS.get(node.name.lower())
    return correction(node) if correction is not None else None


# ---------------------------------------------------------------------------- dates and times


# date_trunc units as the toStartOf* functions that every ClickHouse version has (dateTrunc came
# in 20.x). Weeks start on Monday in both.
_TRUNC_UNITS = {
    "second": "_1",  # DateTime holds whole seconds
    "minute": "toStartOfMinute(_1)",
    "hour": "toStartOfHour(_1)",
    "day": "toStartOfDay(_1)",
    "week": "toMonday(_1)",
    "month": "toStartOfMonth(_1)",
    "quarter": "toStartOfQuarter(_1)",
    "year": "toStartOfYear(_1)",
}


def date_trunc(node: exp.Expression) -> exp.Expression | None:
    """date_trunc returns a timestamp for every unit (ClickHouse's functions give Date for day
    and above), on a date argument too (read as midnight UTC)."""
    unit = node.args.get("unit")
    name = (unit.name if unit is not None else "").lower()
    if name not in _TRUNC_UNITS:
        raise unsupported(f"date_trunc('{name}')")
    kind = DType.TIMESTAMP if _is(node.this, {DType.TIMESTAMP}) else DType.TIMESTAMPTZ
    zone = _session_zone_of(node.this)
    if zone is not None:
        # The boundaries of the session zone's calendar: midnight in Berlin, not in UTC.
        start = _TRUNC_UNITS[name].replace("_1", "toTimeZone(_1, _2)")
        return _ch(f"toDateTime(toDateTime({start}, _2), 'UTC')", node.this, zone, type_=kind)
    start = _TRUNC_UNITS[name].replace("_1", "toDateTime(_1, 'UTC')")
    return _ch(f"toDateTime({start}, 'UTC')", node.this, type_=kind)


# PostgreSQL 14+ extract() returns numeric: whole numbers for these fields. (date_part() returns
# double precision, but sqlglot reads both as one node: this follows extract.)
_EXTRACT_FIELDS = {
    "year": "toYear(_1)",
    "month": "toMonth(_1)",
    "day": "toDayOfMonth(_1)",
    "hour": "toHour(_1)",
    "minute": "toMinute(_1)",
    "dow": "toDayOfWeek(_1) % 7",  # Sunday is 0 in PostgreSQL, 7 in ClickHouse
    "isodow": "toDayOfWeek(_1)",
    "doy": "toDayOfYear(_1)",
    "week": "toISOWeek(_1)",
    "quarter": "toQuarter(_1)",
    "isoyear": "toISOYear(_1)",
    "decade": "intDiv(toYear(_1), 10)",
    "century": "intDiv(toYear(_1) - 1, 100) + 1",
}
# ... and numeric with six decimals for these, on timestamps (whole seconds in DateTime).
_EXTRACT_MICRO_FIELDS = {
    "second": "toDecimal64(toSecond(_1), 6)",
    "epoch": "toDecimal64(toUnixTimestamp(_1), 6)",
}


def extract(node: exp.Expression) -> exp.Expression | None:
    """extract(field FROM x) / date_part: ClickHouse's EXTRACT knows few fields and numbers the
    days of the week differently."""
    assert isinstance(node, exp.Extract)
    name = node.this.name.lower()
    value = node.expression
    if _is(value, {DType.INTERVAL}):
        if name not in _INTERVAL_FIELDS:
            raise unsupported(f"extract({name}) from an interval")
        return _ch(_INTERVAL_FIELDS[name], value, type_="DECIMAL(18, 6)")
    if name == "epoch" and _is(value, DATES):
        return _ch("toInt64(toUnixTimestamp(toDateTime(_1, 'UTC')))", value, type_=DType.BIGINT)
    if name != "epoch":
        value = _in_session_zone(value)
    if name in _EXTRACT_MICRO_FIELDS and not _is(value, DATES):
        return _ch(_EXTRACT_MICRO_FIELDS[name], value, type_="DECIMAL(18, 6)")
    if name in _EXTRACT_FIELDS:
        return _ch(f"toDecimal64({_EXTRACT_FIELDS[name]}, 0)", value, type_="DECIMAL(18, 0)")
    raise unsupported(f"extract({name})")


def timestamp_difference(node: exp.Expression) -> exp.Expression | None:
    """timestamp - timestamp is an interval in PostgreSQL; ClickHouse has no interval values.
    The difference is kept as seconds, typed interval: extract() reads it, and an interval
    output is printed as PostgreSQL prints it (see interval_text)."""
    assert isinstance(node, exp.Sub)
    if _is(node.this, TIMESTAMPS) and _is(node.expression, TIMESTAMPS):
        return _ch("dateDiff('second', _2, _1)", node.this, node.expression, type_=DType.INTERVAL)
    return None


_INTERVAL_UNITS = {
    "SECOND": "Second",
    "MINUTE": "Minute",
    "HOUR": "Hour",
    "DAY": "Day",
    "WEEK": "Week",
    "MONTH": "Month",
    "QUARTER": "Quarter",
    "YEAR": "Year",
}


def interval_literal(node: exp.Expression) -> exp.Expression | None:
    """interval '7 days': sqlglot writes INTERVAL '7' DAYS, which ClickHouse before 22.x does
    not parse; toIntervalDay(7) reads the same on every version. Intervals of several units
    ('1 day 2 hours') have no ClickHouse value."""
    assert isinstance(node, exp.Interval)
    if isinstance(node.parent, exp.ExplodingGenerateSeries):
        return None  # generate_series reads its step itself
    amount, _, unit = f"{node.this.name} {node.text('unit')}".strip().partition(" ")
    name = _INTERVAL_UNITS.get(unit.strip().upper().removesuffix("S"))
    if name is None or not re.fullmatch(r"-?\d+", amount):
        raise unsupported(f"the interval {node.sql(dialect='postgres')}")
    return _ch(f"toInterval{name}({amount})", type_=DType.INTERVAL)


def date_plus_interval(node: exp.Expression) -> exp.Expression | None:
    """date +/- interval is a timestamp in PostgreSQL (date + interval '1 hour' keeps the
    hour); ClickHouse keeps a Date and drops it."""
    assert isinstance(node, exp.Add | exp.Sub)
    if not (_is(node.this, DATES) and _is(node.expression, {DType.INTERVAL})):
        return None
    operator = "+" if isinstance(node, exp.Add) else "-"
    return _ch(
        f"toDateTime(_1, 'UTC') {operator} _2",
        node.this,
        node.expression,
        type_=DType.TIMESTAMP,
    )


# extract(field FROM interval), on an interval held as seconds (days, no months).
_INTERVAL_FIELDS = {
    "epoch": "toDecimal64(_1, 6)",
    "day": "toDecimal64(intDiv(_1, 86400), 0)",
    "hour": "toDecimal64(intDiv(_1 % 86400, 3600), 0)",
    "minute": "toDecimal64(intDiv(_1 % 3600, 60), 0)",
    "second": "toDecimal64(_1 % 60, 6)",
}


def interval_text(value: exp.Expression) -> exp.Expression:
    """An interval of seconds as PostgreSQL prints one: `3 days 04:05:06`, `1 day`,
    `-1 days -02:00:00`, `00:00:00`."""
    return _ch(
        "if(isNull(_1), NULL, concat("
        "if(intDiv(_1, 86400) = 0, '', concat(toString(intDiv(_1, 86400)),"
        " if(intDiv(_1, 86400) = 1, ' day', ' days'))),"
        " if(intDiv(_1, 86400) != 0 AND _1 % 86400 != 0, ' ', ''),"
        " if(_1 % 86400 = 0 AND _1 != 0, '', concat(if(_1 < 0, '-', ''),"
        " leftPad(toString(intDiv(abs(_1) % 86400, 3600)), 2, '0'), ':',"
        " leftPad(toString(intDiv(abs(_1) % 3600, 60)), 2, '0'), ':',"
        " leftPad(toString(abs(_1) % 60), 2, '0')))))",
        value,
        type_=DType.TEXT,
    )


def current_date(node: exp.Expression) -> exp.Expression | None:
    """current_date is the session time zone's date (UTC here): ClickHouse's today()."""
    return _ch("today()", type_=DType.DATE)


def now(node: exp.Expression) -> exp.Expression | None:
    """now()/current_timestamp, spelt as every ClickHouse knows it (sqlglot writes
    CURRENT_TIMESTAMP()); the server runs in UTC. Whole seconds, where PostgreSQL's has
    microseconds: now64 would match but came in ClickHouse 20.x."""
    return _ch("now()", type_=DType.TIMESTAMPTZ)


# PostgreSQL to_char patterns as ClickHouse formatDateTime codes, longest first. Patterns that
# PostgreSQL pads to a fixed width (Month, Day) are here only with FM, which turns padding off.
_TO_CHAR = {
    "FMMonth": "%M",
    "FMDay": "%W",
    "HH24": "%H",
    "HH12": "%I",
    "YYYY": "%Y",
    "DDD": "%j",
    "Mon": "%b",
    "Dy": "%a",
    "US": "%f",
    "YY": "%y",
    "MM": "%m",
    "DD": "%d",
    "HH": "%I",
    "MI": "%i",
    "SS": "%S",
    "IW": "%V",
    "AM": "%p",
    "PM": "%p",
    "Q": "%Q",
}
_TO_CHAR_TOKENS = re.compile("|".join(map(re.escape, _TO_CHAR)) + r'|"[^"]*"|[A-Za-z]|.', re.S)


def _clickhouse_time_format(pattern: str) -> str:
    out = []
    for token in _TO_CHAR_TOKENS.findall(pattern):
        if token in _TO_CHAR:
            out.append(_TO_CHAR[token])
        elif token.startswith('"') and len(token) > 1:
            out.append(token[1:-1].replace("%", "%%"))
        elif token.isalpha():
            raise unsupported(f"to_char pattern {token!r} in {pattern!r}")
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def to_char(node: exp.Expression) -> exp.Expression | None:
    """to_char(timestamp, pattern): sqlglot maps the pattern through strftime codes into
    ClickHouse's, and gets minutes (%M is the month's name in ClickHouse) and day names wrong.
    The PostgreSQL pattern is recovered and mapped directly."""
    assert isinstance(node, exp.TimeToStr)
    pattern = node.args.get("format")
    if not isinstance(pattern, exp.Literal) or not _is(node.this, TIMESTAMPS | DATES):
        raise unsupported("to_char of this argument")
    original = (
        format_time(pattern.this, Postgres.INVERSE_TIME_MAPPING, Postgres.INVERSE_TIME_TRIE) or ""
    )
    text = _clickhouse_time_format(original).replace("'", "\\'")
    return _ch(
        f"formatDateTime(toDateTime(_1, 'UTC'), '{text}', 'UTC')", node.this, type_=DType.TEXT
    )


def at_time_zone(node: exp.Expression) -> exp.Expression | None:
    """timestamptz AT TIME ZONE z: the wall-clock time in z. ClickHouse keeps instants, so the
    wall clock is re-read as a UTC DateTime (its text then ends in +00 where PostgreSQL's
    timestamp has no offset)."""
    assert isinstance(node, exp.AtTimeZone)
    zone = node.args.get("zone")
    if not isinstance(zone, exp.Literal) or not _is(node.this, TIMESTAMPS | DATES):
        raise unsupported("AT TIME ZONE of this argument")
    return _ch(
        "toDateTime(toString(toTimeZone(toDateTime(_1, 'UTC'), _2)), 'UTC')",
        node.this,
        zone,
        type_=DType.TIMESTAMP,
    )


# ---------------------------------------------------------------------------- casts


def _to_integer(ch_type: str) -> Callable[[exp.Cast], exp.Expression]:
    def convert(node: exp.Cast) -> exp.Expression:
        # PostgreSQL rounds (numeric: half away from zero; float: half to even, as ClickHouse's
        # round does each); ClickHouse's CAST truncates.
        inner = "round(_1)" if _is(node.this, DECIMALS | FLOATS) else "_1"
        return _ch(f"CAST({inner} AS Nullable({ch_type}))", node.this, type_=node.to)

    return convert


def _to_numeric(node: exp.Cast) -> exp.Expression:
    params = node.to.expressions
    if len(params) == 2:
        precision, scale = (int(p.name) for p in params)
        # PostgreSQL rounds to the scale, half away from zero; ClickHouse truncates.
        source = _exact_source(node.this)
        return _ch(
            f"CAST(round({source}, {scale}) AS Nullable(Decimal({precision}, {scale})))",
            node.this,
            type_=node.to,
        )
    if _is(node.this, DECIMALS):
        return node.this  # numeric without a typmod keeps the value's own scale
    if _is(node.this, INTEGERS):
        return _ch("CAST(_1 AS Nullable(Decimal(38, 0)))", node.this, type_="DECIMAL(38, 0)")
    # ClickHouse's bare Decimal is Decimal(10, 0); PostgreSQL keeps every digit.
    return _ch(_exact_source(node.this), node.this, type_=f"DECIMAL(38, {WORKING_SCALE})")


def _exact_source(value: exp.Expression) -> str:
    """A template for `value` as a Decimal. PostgreSQL converts float8 to numeric through its
    text with 15 significant digits (504.81499999999994 becomes 504.815); ClickHouse's
    float-to-Decimal conversion truncates the binary value, so convert through the same text."""
    if _is(value, FLOATS):
        return f"toDecimal128(printf('%.15g', _1), {WORKING_SCALE})"
    if _is(value, TEXTS):
        return f"toDecimal128(_1, {WORKING_SCALE})"
    return "_1"


# How PostgreSQL prints a value as text where ClickHouse's toString differs, by source type.
_TEXT_TEMPLATES: tuple[tuple[frozenset[DType], str], ...] = (
    (frozenset({DType.TIMESTAMP}), "formatDateTime(_1, '%Y-%m-%d %H:%i:%S', 'UTC')"),
    (TIMESTAMPS, "concat(formatDateTime(_1, '%Y-%m-%d %H:%i:%S', 'UTC'), '+00')"),
    # toString drops a Decimal's trailing zeros; numeric's text keeps its scale.
    (DECIMALS, "toDecimalString(_1, {scale})"),
    (
        frozenset({DType.BOOLEAN}),
        "CASE WHEN _1 IS NULL THEN NULL WHEN _1 THEN 'true' ELSE 'false' END",
    ),
)


def _to_text(node: exp.Cast) -> exp.Expression:
    value = node.this
    template = next(
        (text for kinds, text in _TEXT_TEMPLATES if _is(value, kinds)),
        "CAST(_1 AS Nullable(String))",
    )
    text = _ch(template.format(scale=_scale(value)), value, type_=DType.TEXT)
    # ::varchar keeps its name in RowDescription (a length is not enforced).
    text.meta["varchar"] = node.to.this == DType.VARCHAR
    return text


def _to_timestamp(node: exp.Cast) -> exp.Expression:
    return _ch("CAST(_1 AS Nullable(DateTime('UTC')))", node.this, type_=node.to)


def _to_date(node: exp.Cast) -> exp.Expression | None:
    """timestamptz::date is the date in the session's zone."""
    zone = _session_zone_of(node.this)
    if zone is None:
        return None
    return _ch("toDate(toTimeZone(_1, _2))", node.this, zone, type_=node.to)


_CASTS: dict[DType, Callable[[exp.Cast], exp.Expression | None]] = {
    DType.DATE: _to_date,
    DType.SMALLINT: _to_integer("Int16"),
    DType.INT: _to_integer("Int32"),
    DType.BIGINT: _to_integer("Int64"),
    **dict.fromkeys(DECIMALS, _to_numeric),
    **dict.fromkeys(TEXTS, _to_text),
    DType.TIMESTAMPTZ: _to_timestamp,
    DType.TIMESTAMP: _to_timestamp,
}


def cast(node: exp.Expression) -> exp.Expression | None:
    """CAST / :: to integers, numeric, text and timestamps: PostgreSQL rounds where ClickHouse
    truncates, keeps numeric's digits where ClickHouse's bare Decimal has none, and prints
    timestamps, numerics and booleans differently."""
    assert isinstance(node, exp.Cast)
    convert = _CASTS.get(node.to.this)
    return convert(node) if convert is not None else None


# ---------------------------------------------------------------------------- statements


def group_by_ordinals(select: exp.Select) -> exp.Expression | None:
    """GROUP BY 1 names the first output column; ClickHouse 18.16 reads it as the constant 1
    (newer servers read positions only while enable_positional_arguments is on)."""
    group = select.args.get("group")
    if group is None:
        return None
    projections = select.expressions
    for item in list(group.expressions):
        number = _literal_int(item)
        if number is not None and 1 <= number <= len(projections):
            chosen = projections[number - 1]
            item.replace(chosen.this.copy() if isinstance(chosen, exp.Alias) else chosen.copy())
    return None


def distinct_on(select: exp.Select) -> exp.Expression | None:
    """DISTINCT ON (k) keeps the first row of each k in ORDER BY order: ClickHouse's LIMIT 1 BY k,
    which applies after ORDER BY. A LIMIT or OFFSET moves to a query around it (ClickHouse reads
    a subquery's rows in its order, as the gateway's executor also relies on)."""
    distinct = select.args.get("distinct")
    if distinct is None or distinct.args.get("on") is None:
        return None
    keys = distinct.args["on"]
    keys = keys.expressions if isinstance(keys, exp.Tuple) else [keys]
    select.set("distinct", None)
    limit, offset = select.args.get("limit"), select.args.get("offset")
    # Keys other than columns in parentheses: sqlglot's ClickHouse parser (the gateway's
    # ClickHouse guard) reads `LIMIT 1 BY a > 0` only as `LIMIT 1 BY (a > 0)`.
    keys = [k.copy() if isinstance(k, exp.Column) else exp.paren(k.copy()) for k in keys]
    select.set("limit", exp.Limit(expression=exp.Literal.number(1), expressions=keys))
    select.set("offset", None)
    if limit is None and offset is None:
        return None
    outer = exp.select("*")
    if select.parent is not None:
        select.replace(outer)
    outer.from_(select.subquery("distinct_on"), copy=False)
    outer.set("limit", limit)
    outer.set("offset", offset)
    return outer


def public_schema(select: exp.Select) -> exp.Expression | None:
    """BI tools write "public"."orders"; a ClickHouse source's tables have no schema, and a
    database named public is not the source's."""
    for table in select.find_all(exp.Table):
        if table.db.lower() == "public" and not table.catalog:
            table.set("db", None)
    for column in select.find_all(exp.Column):
        if column.db.lower() == "public" and not column.catalog:
            column.set("db", None)
    return None


def comma_join_as_cross_join(select: exp.Select) -> exp.Expression | None:
    """`FROM a, b` is a cross join in PostgreSQL; ClickHouse 18.16 refuses the comma form
    ("unknown combination of JOIN") and takes CROSS JOIN, which every version reads alike."""
    for join in select.args.get("joins") or []:
        if not join.args.get("kind") and not join.side and not join.args.get("on"):
            if not join.args.get("using"):
                join.set("kind", "CROSS")
    return None


# Run on every SELECT before types are inferred; one that puts a query around the SELECT
# returns it (the caller needs it when the SELECT was the whole statement).
STATEMENT_CORRECTIONS: tuple[Callable[[exp.Select], exp.Expression | None], ...] = (
    public_schema,
    comma_join_as_cross_join,
    group_by_ordinals,
    distinct_on,
)


def reject_placeholder(node: exp.Expression) -> exp.Expression | None:
    """Bind parameters are substituted by the gateway before translation."""
    raise unsupported("a bind parameter placeholder")


_SERIES_UNITS = {
    "SECOND": "second",
    "MINUTE": "minute",
    "HOUR": "hour",
    "DAY": "day",
    "WEEK": "week",
    "MONTH": "month",
    "YEAR": "year",
}


def _integer_series(
    start: exp.Expression, end: exp.Expression, step: exp.Expression
) -> exp.Expression:
    operands = (start, end, step)
    if not all(_is(v, INTEGERS) or _literal_int(v) is not None for v in operands):
        raise unsupported("generate_series over these types")
    bigint = any(_is(v, {DType.BIGINT}) for v in operands)
    return _ch(
        f"{'toInt64' if bigint else 'toInt32'}(arrayJoin(range(toInt64(_1), toInt64(_2) + 1,"
        " toInt64(_3))))",
        *operands,
        type_=DType.BIGINT if bigint else DType.INT,
    )


def _time_series(start: exp.Expression, end: exp.Expression, step: exp.Interval) -> exp.Expression:
    """Timestamps from start to end by a fixed step: date arguments are read as timestamptz
    (at midnight UTC), as PostgreSQL resolves generate_series(date, date, interval).

    Known difference: PostgreSQL adds each month step to the previous value, so from Jan 30 it
    goes Feb 29, Mar 29; this adds i months to the start (Mar 30). Series from days 1-28, as
    gap-filling by month uses, are the same."""
    amount, _, unit_text = f"{step.this.name} {step.text('unit')}".strip().partition(" ")
    count = int(amount) if amount.isdigit() else None
    unit = _SERIES_UNITS.get(unit_text.strip().upper().removesuffix("S"))
    if not count or unit is None:
        raise unsupported(f"generate_series with step {step.sql(dialect='postgres')}")
    # dateDiff counts unit boundaries, an upper bound of the steps for months and years (Jan 31
    # + 1 month is Feb 29): the filter drops what lands past the end.
    return _ch(
        "arrayJoin(arrayFilter(t -> t <= toDateTime(_2, 'UTC'), arrayMap(i -> toDateTime(_1,"
        f" 'UTC') + toInterval{unit.title()}(i * {count}), range(toUInt64(intDiv(greatest("
        f"dateDiff('{unit}', toDateTime(_1, 'UTC'), toDateTime(_2, 'UTC')), -1) + {count},"
        f" {count}))))))",
        start,
        end,
        type_=DType.TIMESTAMPTZ,
    )


def generate_series(node: exp.Expression) -> exp.Expression | None:
    """generate_series(a, b[, step]) of integers, or of dates/timestamps by an interval, in a
    SELECT list or in FROM (where PostgreSQL names the column after the alias:
    `FROM generate_series(1, 5) AS g` has column g)."""
    start, end = node.args["start"], node.args["end"]
    step = node.args.get("step") or exp.Literal.number(1)
    if isinstance(step, exp.Interval):
        series = _time_series(start, end, step)
    else:
        series = _integer_series(start, end, step)
    table = node.parent
    if not isinstance(table, exp.Table):
        return series
    alias = table.args.get("alias")
    columns = alias.columns if alias is not None else []
    name = columns[0].name if columns else (alias.name if alias is not None else "")
    name = name or "generate_series"
    source = exp.select(exp.alias_(series, name)).subquery(alias.name if alias else name)
    table.replace(source)
    return None


# ---------------------------------------------------------------------------- the table


CORRECTIONS: dict[type[exp.Expression], tuple[Correction, ...]] = {
    exp.Placeholder: (reject_placeholder,),
    exp.Parameter: (reject_placeholder,),
    exp.Literal: (numeric_literal,),
    exp.Ordered: (uuid_order,),
    exp.Div: (integer_division, numeric_division),
    exp.In: (in_subquery_nulls,),
    exp.Round: (numeric_round,),
    exp.Count: (count_as_bigint,),
    exp.RowNumber: (ranking_as_bigint,),
    exp.Rank: (ranking_as_bigint,),
    exp.DenseRank: (ranking_as_bigint,),
    exp.Ntile: (integer_result,),
    exp.Grouping: (integer_result,),
    exp.ArraySize: (integer_result,),
    exp.Sum: (_or_null("sum"),),
    exp.Min: (_or_null("min"),),
    exp.Max: (_or_null("max"),),
    exp.Avg: (exact_average,),
    exp.GroupConcat: (string_agg,),
    exp.ArrayAgg: (array_agg,),
    exp.LogicalAnd: (bool_and,),
    exp.LogicalOr: (bool_or,),
    exp.WithinGroup: (ordered_set_aggregate,),
    exp.Lag: (lag_lead,),
    exp.Lead: (lag_lead,),
    exp.Length: (
        _rename("lengthUTF8", "length() counts characters; ClickHouse's length counts bytes."),
    ),
    exp.Lower: (_rename("lowerUTF8", "lower() folds every letter; ClickHouse's only ASCII."),),
    exp.Upper: (_rename("upperUTF8", "upper() folds every letter; ClickHouse's only ASCII."),),
    exp.Left: (left,),
    exp.Right: (right,),
    exp.Substring: (substring,),
    exp.StrPosition: (position,),
    exp.SplitPart: (split_part,),
    exp.Escape: (like_escape,),
    exp.JSONExtract: (json_arrow,),
    exp.JSONExtractScalar: (json_text_arrow,),
    exp.JSONBExtract: (json_arrow,),
    exp.JSONBExtractScalar: (json_text_arrow,),
    exp.Anonymous: (by_name,),
    exp.JSONBContainsTopKey: (json_has_key,),
    exp.TimeToStr: (to_char,),
    exp.AtTimeZone: (at_time_zone,),
    exp.TimestampTrunc: (date_trunc,),
    exp.DateTrunc: (date_trunc,),
    exp.Extract: (extract,),
    exp.Interval: (interval_literal,),
    exp.Add: (date_plus_interval,),
    exp.Sub: (timestamp_difference, date_plus_interval),
    exp.CurrentDate: (current_date,),
    exp.CurrentTimestamp: (now,),
    exp.Cast: (cast,),
    exp.ExplodingGenerateSeries: (generate_series,),
}


# ---------------------------------------------------------------------------- output names

# The names PostgreSQL gives a cast's output, by target type (its pg_type.typname).
_TYPE_NAMES = {
    DType.INT: "int4",
    DType.BIGINT: "int8",
    DType.SMALLINT: "int2",
    DType.DOUBLE: "float8",
    DType.FLOAT: "float4",
    DType.DECIMAL: "numeric",
    DType.VARCHAR: "varchar",
    DType.CHAR: "bpchar",
    DType.TEXT: "text",
    DType.DATE: "date",
    DType.TIMESTAMP: "timestamp",
    DType.TIMESTAMPTZ: "timestamptz",
    DType.BOOLEAN: "bool",
    DType.JSON: "json",
    DType.JSONB: "jsonb",
    DType.UUID: "uuid",
    DType.INTERVAL: "interval",
}
# Functions that sqlglot's PostgreSQL generator spells differently from what PostgreSQL names.
_FUNCTION_NAMES: dict[type[exp.Expression], str] = {
    exp.Trim: "btrim",
    exp.CurrentTimestamp: "now",
    exp.CurrentDate: "current_date",
    exp.Extract: "extract",
    exp.StrPosition: "position",
    exp.Exists: "exists",
    exp.Array: "array",
    exp.ArraySize: "cardinality",
}
_NO_NAME = ("?column?", 0)


def _identifier_name(identifier: exp.Expression | str) -> str:
    if isinstance(identifier, exp.Identifier):
        return identifier.this if identifier.quoted else identifier.this.lower()
    return str(identifier).lower()


def _pg_name(node: exp.Expression) -> tuple[str, int]:
    """PostgreSQL's FigureColname: the name and how strongly it holds (2: a column or function
    name, 1: a type or CASE name, 0: none)."""
    if isinstance(node, exp.Alias):
        return _identifier_name(node.args["alias"]), 2
    if isinstance(node, exp.Column):
        return _identifier_name(node.this), 2
    if isinstance(node, exp.Paren | exp.Filter | exp.Window | exp.WithinGroup):
        return _pg_name(node.this)
    if isinstance(node, exp.Cast):
        name, strength = _pg_name(node.this)
        if strength > 1:
            return name, strength
        return _TYPE_NAMES.get(node.to.this, node.to.this.value.lower()), 1
    if isinstance(node, exp.Case):
        name, strength = _pg_name(node.args.get("default") or exp.null())
        return (name, strength) if strength > 1 else ("case", 1)
    if isinstance(node, exp.Subquery):
        selects = _outer_selects(node.this)
        return _pg_name(selects[0].expressions[0]) if selects else _NO_NAME
    if type(node) in _FUNCTION_NAMES:
        return _FUNCTION_NAMES[type(node)], 2
    if isinstance(node, exp.Anonymous):
        return node.name.lower(), 2
    if isinstance(node, exp.Func) and not isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\(", node.sql(dialect="postgres"))
        return (match.group(1).lower(), 2) if match else _NO_NAME
    return _NO_NAME


def _column_names(original: exp.Expression, qualified: exp.Expression) -> tuple[str, ...]:
    """Output names as PostgreSQL gives them, from the statement as written (a star from the
    qualified statement, where it is expanded to the table's columns)."""
    written, expanded = _outer_selects(original), _outer_selects(qualified)
    if not written:
        return ()
    projections = written[0].expressions
    if any(p.is_star for p in projections) and expanded:
        projections = expanded[0].expressions
    return tuple(_pg_name(p)[0] for p in projections)


# ---------------------------------------------------------------------------- driver


# PostgreSQL types by the OID the gateway gives a ClickHouse column (types.pg_type), so that
# inference sees the tables as the shadow catalog shows them (UInt32 is bigint, UInt64 numeric).
_PG_TYPE_NAMES = {
    16: "BOOLEAN",
    21: "SMALLINT",
    23: "INT",
    20: "BIGINT",
    700: "REAL",
    701: "DOUBLE PRECISION",
    25: "TEXT",
    1082: "DATE",
    1184: "TIMESTAMPTZ",
    2950: "UUID",
}


def _pg_column_type(clickhouse_type: str) -> str:
    mapped = pg_type(clickhouse_type)
    if mapped.oid in _PG_TYPE_NAMES:
        return _PG_TYPE_NAMES[mapped.oid]
    if mapped.oid == NUMERIC:
        if mapped.typmod < 0:
            return "DECIMAL"
        precision, scale = (mapped.typmod - 4) >> 16, (mapped.typmod - 4) & 0xFFFF
        return f"DECIMAL({precision}, {scale})"
    kind = exp.DataType.build(clickhouse_type, dialect="clickhouse")
    while kind.this == DType.LOWCARDINALITY and kind.expressions:
        kind = kind.expressions[0]
    return kind.sql("postgres")


def _schema(tables: Mapping[str, TableSchema]) -> dict[str, dict[str, str]]:
    """The tables as sqlglot reads PostgreSQL types, from ClickHouse type names."""
    return {
        name: {c.name: _pg_column_type(c.clickhouse_type) for c in table.columns}
        for name, table in tables.items()
    }


def _typed(tree: exp.Expression, tables: Mapping[str, TableSchema]) -> exp.Expression:
    schema = _schema(tables)
    original = tree.copy()
    try:
        tree = qualify(
            tree.copy(),
            schema=schema,
            dialect="postgres",
            quote_identifiers=False,
            validate_qualify_columns=False,
        )
    except (SqlglotError, KeyError, ValueError):
        tree = tree.copy()  # unknown tables: translate with whatever types annotation finds
    _drop_generated_aliases(original, tree)
    tree = annotate_types(tree, schema=schema, dialect="postgres")
    _numeric_types(tree)
    return tree


def _numeric_types(tree: exp.Expression) -> None:
    """PostgreSQL's types for numeric literals and arithmetic, where sqlglot's annotation
    differs: 1.5 is numeric (not double); numeric with an integer stays numeric; anything with a
    float is double precision."""
    for node in reversed(list(tree.walk(bfs=False))):
        if isinstance(node, exp.Literal) and not node.is_string and not node.is_int:
            text = node.this.lower()
            if "e" not in text:
                digits = text.replace(".", "").lstrip("-")
                scale = len(text.partition(".")[2])
                node.type = exp.DataType.build(f"DECIMAL({max(len(digits), scale, 1)}, {scale})")
        elif isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            node.type = _arithmetic_type(node) or node.type
        elif isinstance(node, exp.Paren | exp.Neg):
            node.type = node.this.type


def _arithmetic_type(node: exp.Binary) -> exp.DataType | None:
    left, right = node.this, node.expression
    if _is(left, FLOATS) or _is(right, FLOATS):
        return (
            exp.DataType.build("DOUBLE")
            if _is(left, EXACT | FLOATS) and _is(right, EXACT | FLOATS)
            else None
        )
    if not (_is(left, EXACT) and _is(right, EXACT)):
        return None
    if not (_is(left, DECIMALS) or _is(right, DECIMALS)):
        return None
    if isinstance(node, exp.Mul):
        scale = _scale(left) + _scale(right)
    elif isinstance(node, exp.Div):
        scale = WORKING_SCALE
    else:
        scale = max(_scale(left), _scale(right))
    return exp.DataType.build(f"DECIMAL(38, {scale})")


def _drop_generated_aliases(original: exp.Expression, tree: exp.Expression) -> None:
    """qualify names every output (`_col_0`, a JSON key, the column under a cast, `a.id AS id`
    and `b.id AS id` in a join), which can give two outputs one name, an error in ClickHouse.
    Outputs the query did not name stay unnamed (the gateway takes PostgreSQL's names from
    Translation.column_names), and ORDER BY references to a dropped name become the
    expression itself."""
    for before, after in zip(_outer_selects(original), _outer_selects(tree), strict=False):
        if len(before.expressions) == len(after.expressions):
            written = [isinstance(p, exp.Alias) for p in before.expressions]
        else:  # a star was expanded: keep the aliases the query wrote, by name
            names = {p.alias for p in before.expressions if isinstance(p, exp.Alias)}
            written = [isinstance(p, exp.Alias) and p.alias in names for p in after.expressions]
        dropped: dict[str, exp.Expression] = {}
        for kept, projection in zip(written, after.expressions, strict=True):
            if isinstance(projection, exp.Alias) and not kept:
                dropped.setdefault(projection.alias, projection.this)
                projection.replace(projection.this)
        order = after.args.get("order")
        for column in list(order.find_all(exp.Column)) if order and dropped else []:
            if not column.table and column.name in dropped:
                column.replace(dropped[column.name].copy())


def _outer_selects(tree: exp.Expression) -> list[exp.Select]:
    if isinstance(tree, exp.Select):
        return [tree]
    if isinstance(tree, exp.SetOperation):
        return _outer_selects(tree.left) + _outer_selects(tree.right)
    if isinstance(tree, exp.Subquery):
        return _outer_selects(tree.this)
    return []


def _column_types(tree: exp.Expression) -> tuple[str | None, ...]:
    """Boolean-valued outputs are UInt8 in ClickHouse, PostgreSQL sends bool; timestamps
    without time zone are DateTime in ClickHouse, which the gateway would send as timestamptz."""
    selects = _outer_selects(tree)
    if not selects:
        return ()
    return tuple("Bool" if _is(p, {DType.BOOLEAN}) else None for p in selects[0].expressions)


# PostgreSQL types ClickHouse has no counterpart for, named for the gateway's encoder.
_OUTPUT_OVERRIDES = {DType.TIMESTAMP: TIMESTAMP_OVERRIDE, DType.JSONB: JSONB_OVERRIDE}


def _timestamp_outputs(
    translated: exp.Expression, column_types: tuple[str | None, ...]
) -> tuple[str | None, ...]:
    """Outputs the corrections typed as timestamp without time zone (AT TIME ZONE, date +
    interval, date_trunc of those), varchar (::varchar) or jsonb (`->`): ClickHouse has
    DateTime and String only, which the gateway would send as timestamptz and text."""
    selects = _outer_selects(translated)
    if not selects:
        return column_types
    types = list(column_types) + [None] * (len(selects[0].expressions) - len(column_types))
    for index, projection in enumerate(selects[0].expressions):
        value = projection.unalias()
        kind = _kind(value)
        if types[index] is not None:
            continue
        if kind in _OUTPUT_OVERRIDES:
            types[index] = _OUTPUT_OVERRIDES[kind]
        elif value.meta.get("varchar"):
            # Only an explicit ::varchar: sqlglot types every string function VARCHAR.
            types[index] = VARCHAR_OVERRIDE
    return tuple(types)


def _interval_outputs(tree: exp.Expression) -> None:
    """Interval outputs are seconds inside the query; PostgreSQL sends their text."""
    for select in _outer_selects(tree):
        for projection in select.expressions:
            value = projection.unalias()
            if _is(value, {DType.INTERVAL}):
                value.replace(interval_text(value.copy()))


_INTEGER_OUTPUTS = {DType.SMALLINT: "toInt16", DType.INT: "toInt32", DType.BIGINT: "toInt64"}
# Expressions whose integer result ClickHouse widens or makes unsigned (1 is UInt8, abs() and
# CASE follow their values' types), and ClickHouse functions of the translation whose integer
# results are wider than PostgreSQL's.
_NARROWED = (
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Mod,
    exp.Neg,
    exp.Paren,
    exp.Abs,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Greatest,
    exp.Least,
    exp.Literal,
)
_WIDE_INTEGER_FUNCTIONS = frozenset({"intDiv", "lengthUTF8", "positionUTF8"})


def _integer_outputs(tree: exp.Expression) -> None:
    """Integer arithmetic comes out of ClickHouse wider or unsigned (UInt32 + 1 is UInt64, which
    the gateway describes as numeric; length() is UInt64): cast it to the width PostgreSQL gives
    it, so that clients see int2/int4/int8. Columns and aggregates keep their own types (sum of
    bigint is numeric in PostgreSQL)."""
    for select in _outer_selects(tree):
        for projection in select.expressions:
            value = projection.unalias()
            function = _INTEGER_OUTPUTS.get(_kind(value))
            arithmetic = isinstance(value, _NARROWED)
            wide = isinstance(value, exp.Anonymous) and value.name in _WIDE_INTEGER_FUNCTIONS
            if function is not None and (arithmetic or wide):
                value.replace(_ch(f"{function}(_1)", value.copy(), type_=value.type))


def _apply(tree: exp.Expression) -> exp.Expression:
    # Reversed pre-order: every node comes after all of its descendants.
    for node in reversed(list(tree.walk(bfs=False))):
        for correction in CORRECTIONS.get(type(node), ()):
            replacement = correction(node)
            if replacement is not None and replacement is not node:
                if node is tree:
                    tree = replacement
                else:
                    node.replace(replacement)
                break  # the replacement is ClickHouse already; later entries are for the node
    return tree


def to_clickhouse(
    tree: exp.Expression, tables: Mapping[str, TableSchema], time_zone: str = "UTC"
) -> Translation:
    """The ClickHouse SQL for a read-only PostgreSQL-dialect statement, with PostgreSQL's
    result semantics, for a session whose TimeZone is `time_zone`. Raises PgError 0A000 for
    what has no ClickHouse counterpart yet."""
    token = _SESSION_ZONE.set(time_zone)
    try:
        return _to_clickhouse(tree, tables)
    finally:
        _SESSION_ZONE.reset(token)


def _to_clickhouse(tree: exp.Expression, tables: Mapping[str, TableSchema]) -> Translation:
    written = tree
    tree = tree.copy()
    for select in list(tree.find_all(exp.Select)):
        for correction in STATEMENT_CORRECTIONS:
            outer = correction(select)
            if outer is not None and select is tree:
                tree = outer
    typed = _typed(tree, tables)
    column_types = _column_types(typed)
    column_names = _column_names(written, typed)
    translated = _apply(typed)
    column_types = _timestamp_outputs(translated, column_types)
    _interval_outputs(translated)
    _integer_outputs(translated)
    return Translation(
        sql=translated.sql(dialect="clickhouse"),
        column_types=column_types,
        settings=_settings(translated),
        column_names=column_names,
    )


def _settings(tree: exp.Expression) -> dict[str, str]:
    # Only outer joins need join_use_nulls; ClickHouse 18.16 refuses it on a cross join
    # ("unknown combination of JOIN").
    outer = any(join.side for join in tree.find_all(exp.Join))
    settings = dict(SETTINGS) if outer else {}
    if tree.find(exp.Rollup, exp.Cube, exp.GroupingSets):
        settings |= GROUPING_SETTINGS
    return settings
