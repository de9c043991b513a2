"""The read-only guard's rules for ClickHouse SQL.

`Guard("clickhouse")` hands every statement to `ClickHouseRules.classify_statement`. Queries
(SELECT, WITH, UNION, FROM-first) are parsed with sqlglot's ClickHouse dialect and walked; the
few utility statements ClickHouse allows read-only (EXPLAIN, DESCRIBE, SHOW TABLES/DATABASES/
CREATE TABLE, EXISTS TABLE) each have a small grammar that must consume the whole statement, and
the query inside EXPLAIN or DESCRIBE goes through the same query check. Everything else is refused.

Two checks run on every statement, so that neither alone has to be perfect:

- over the raw token stream: a call of a function that reaches files, the network or the server
  (`file(`, `url(`, `s3Cluster(`, `APPLY(file)`...) in any position, `INTO OUTFILE`, and quoted
  names with backslash escapes (ClickHouse decodes `` `f\\x69le` `` to `file`);
- over the syntax tree: a table function outside a small allow-list of harmless generators,
  SETTINGS and FORMAT clauses, and any write or DDL node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.dialects.clickhouse import ClickHouse
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from gateway.protocol.errors import (
    INSUFFICIENT_PRIVILEGE,
    READ_ONLY_SQL_TRANSACTION,
    SYNTAX_ERROR,
    PgError,
)
from gateway.routing.statements import WRITE_NODES, statement_name
from gateway.routing.tokens import LITERAL_TOKENS, TokenCursor
from gateway.routing.utility import UtilityRejected

if TYPE_CHECKING:
    from gateway.routing.guard import Guard

# Table functions that only generate or parse inline data. Any other table function, known or
# not, is refused where a table is expected (lower-cased names).
ALLOWED_TABLE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "generaterandom",
        "generate_series",
        "generateseries",
        "primes",
        "null",
        "values",
        "format",
        "view",
    }
)

# ClickHouse's other table functions (system.table_functions, 26.x), refused wherever they are
# called, so that no parse of the position can let one through. Scalar functions with the same
# name (file) are refused too.
# Scalar functions with effects outside the query: a Keeper counter, the server log, a remote
# connection, model files, introspection of the server binary.
_EFFECTFUL_SCALARS: frozenset[str] = frozenset(
    {
        "generateserialid",
        "logtrace",
        "hascolumnintable",
        "catboostevaluate",
        "modelevaluate",
        "addresstoline",
        "addresstolinewithinlines",
        "addresstosymbol",
        "demangle",
        "showcertificate",
        "getclienthttpheader",
    }
)

DENIED_FUNCTIONS: frozenset[str] = _EFFECTFUL_SCALARS | frozenset(
    {
        "url",
        "urlcluster",
        "input",
        "jdbc",
        "odbc",
        "hive",
        "merge",
        "loop",
        "dictionary",
        "eval",
        "python",
        "chdb",
        "arrowstream",
        "bigquery",
        "sqlstandardvalues",
        "viewexplain",
        "viewifpermitted",
        "fuzzjson",
        "fuzzquery",
        "timeseriesdata",
        "timeseriesmetrics",
        "timeseriesmetricfamilies",
        "timeseriessamples",
        "timeseriesselector",
        "timeseriestags",
        "prometheusquery",
        "prometheusqueryrange",
    }
)

# Scalar functions among those, which ClickHouse also calls when their bare name is passed to a
# higher-order function (`arrayMap(file, paths)` reads files): refused as unqualified names too.
DENIED_BARE_NAMES: frozenset[str] = _EFFECTFUL_SCALARS | frozenset(
    {
        "file",
        "filesystemavailable",
        "filesystemcapacity",
        "filesystemunreserved",
        "aiclassify",
        "aiembed",
        "aiextract",
        "aifilter",
        "aigenerate",
        "airedact",
        "aisimilarity",
        "aitranslate",
    }
)

# Families of table functions that reach files, object stores, other servers or programs;
# `ai` covers aiGenerate and friends, which call an LLM provider over the network; `__` covers
# ClickHouse's internal functions.
DENIED_PREFIXES: tuple[str, ...] = (
    "file",
    "s3",
    "gcs",
    "oss",
    "cosn",
    "hdfs",
    "azure",
    "iceberg",
    "deltalake",
    "hudi",
    "paimon",
    "remote",
    "cluster",
    "mysql",
    "postgres",
    "mongo",
    "redis",
    "sqlite",
    "executable",
    "ytsaurus",
    "arrowflight",
    "mergetree",
    "ai",
    "__",
)

# The settings EXPLAIN takes before its query: output options only (ClickHouse rejects others).
EXPLAIN_SETTINGS: frozenset[str] = frozenset(
    {
        "header",
        "description",
        "indexes",
        "indices",
        "actions",
        "json",
        "sorting",
        "keep_logical_steps",
        "pretty",
        "graph",
        "compact",
        "compact_repeated_processor_chains",
        "distributed",
        "optimize",
        "oneline",
        "single_record",
        "run_query_tree_passes",
        "query_tree_passes",
        "run_passes",
        "dump_passes",
        "passes",
        "dump_tree",
        "dump_ast",
        "column_structure",
        "input_headers",
        "projections",
        "estimates",
    }
)
EXPLAIN_KINDS = ("AST", "SYNTAX", "PLAN", "PIPELINE", "ESTIMATE")

# Statements refused on their first word: they write, change server or session state, or run
# something. CHECK TABLE reads every part and can be heavy; USE changes the session.
WRITE_STATEMENTS: frozenset[str] = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "ALTER",
        "CREATE",
        "DROP",
        "TRUNCATE",
        "RENAME",
        "EXCHANGE",
        "DETACH",
        "ATTACH",
        "UNDROP",
        "REPLACE",
        "OPTIMIZE",
        "SYSTEM",
        "KILL",
        "GRANT",
        "REVOKE",
        "MOVE",
        "USE",
        "BACKUP",
        "RESTORE",
        "CHECK",
        "BEGIN",
        "START",
        "COMMIT",
        "ROLLBACK",
    }
)
_TWO_WORD = frozenset(
    {"CREATE", "DROP", "ALTER", "SYSTEM", "KILL", "ATTACH", "DETACH", "RENAME", "CHECK"}
)
_LITERALS = LITERAL_TOKENS


_WRITE_NODES = (*WRITE_NODES, exp.Command, exp.Into, exp.Lock)


class _PlainTokenizer(ClickHouse.Tokenizer):
    # Without COMMANDS, SHOW and EXPLAIN keep every word as a token instead of one string.
    COMMANDS: set[TokenType] = set()


def is_denied(name: str) -> bool:
    name = name.lower()
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


class ClickHouseRules:
    def __init__(self, dialect: ClickHouse) -> None:
        self.tokenizer = _PlainTokenizer(dialect=dialect)

    # --- statements ------------------------------------------------------------------------
    def classify_statement(
        self, guard: Guard, tokens: list[Token], source: str
    ) -> exp.Expression | None:
        """The statement's tree when it is an allowed query, None for an allowed utility
        statement; raises UtilityRejected otherwise."""
        try:
            plain = self.tokenizer.tokenize(source)
        except TokenError as exc:
            raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error: {exc}")) from None
        if not plain:
            return None
        cursor = _Cursor(plain, source)
        keyword = cursor.peek()
        if keyword in WRITE_STATEMENTS:
            if keyword in _TWO_WORD and cursor.peek(1):
                keyword = f"{keyword} {cursor.peek(1)}"
            raise _read_only(f"{keyword} is not allowed", None)
        if keyword == "SET":
            raise _set(cursor)
        _scan(plain, source)
        handler = _HANDLERS.get(keyword)
        if handler is not None:
            cursor.index += 1
            handler(self, guard, cursor)
            return None
        tree = _parse_one(guard, tokens, source, "")
        if isinstance(tree, exp.Query):
            self.check_query(guard, tree, source)
            return tree
        what = (
            statement_name(tree) if isinstance(tree, _WRITE_NODES) else keyword or "this statement"
        )
        raise _read_only(f"{what} is not allowed", None)

    # --- queries ---------------------------------------------------------------------------
    def check_query(self, guard: Guard, tree: exp.Expression, source: str, offset: int = 0) -> None:
        """Raise UtilityRejected unless every node of the query tree is allowed."""
        for node in tree.walk():
            if isinstance(node, _WRITE_NODES):
                raise _read_only(
                    f"{statement_name(node)} is not allowed inside a query", _at(node, offset)
                )
            settings = node.args.get("settings")
            if settings or isinstance(node, exp.SettingsProperty):
                where = settings[0] if isinstance(settings, list) else node
                raise _denied("SETTINGS clauses are not allowed", _at(where, offset))
            output = node.args.get("format") if isinstance(node, exp.Query) else None
            if output or isinstance(node, exp.FileFormatProperty):
                raise _denied("FORMAT clauses are not allowed", _at(output or node, offset))
            if isinstance(node, exp.Property):
                raise _denied(f"{statement_name(node)} is not allowed", _at(node, offset))
            if isinstance(node, exp.Apply) and node.expression and is_denied(node.expression.name):
                raise _denied(
                    f"function {node.expression.name}() is not allowed", _at(node, offset)
                )
            if isinstance(node, exp.Table):
                _check_table(node, offset)
            elif isinstance(node, exp.Func):
                name = _function_name(node)
                if _in_table_position(node):
                    _check_table_function(node, name, offset)
                elif is_denied(name):
                    raise _denied(f"function {name}() is not allowed", _at(node, offset))

    # --- utility statements ----------------------------------------------------------------
    def _explain(self, guard: Guard, cursor: _Cursor) -> None:
        if cursor.peek() in ("TABLE", "CURRENT"):
            raise _denied(f"EXPLAIN {cursor.peek()} {cursor.peek(1)} is not allowed", None)
        if not cursor.accept(*EXPLAIN_KINDS):
            cursor.accept_sequence("QUERY", "TREE")
        while cursor.peek(1) == "=" and cursor.at_name():
            name = cursor.tokens[cursor.index]
            if name.text.lower() not in EXPLAIN_SETTINGS:
                raise _denied(f'EXPLAIN setting "{name.text}" is not allowed', name.start + 1)
            cursor.index += 2
            if cursor.done or cursor.tokens[cursor.index].token_type not in _LITERALS | {
                TokenType.TRUE,
                TokenType.FALSE,
            }:
                raise cursor.syntax_error("EXPLAIN")
            cursor.index += 1
            cursor.accept(",")
        self._embedded_query(guard, cursor, "EXPLAIN")

    def _embedded_query(self, guard: Guard, cursor: _Cursor, statement: str) -> None:
        if cursor.done:
            raise cursor.syntax_error(statement)
        offset = cursor.tokens[cursor.index].start
        text = cursor.source[offset:]
        try:
            tokens = guard.tokenize(text)
        except TokenError as exc:
            raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error: {exc}")) from None
        tree = _parse_one(guard, tokens, text, f" in {statement}")
        if not isinstance(tree, exp.Query):
            raise _read_only(f"{statement} is only allowed over a read-only query", None)
        self.check_query(guard, tree, text, offset)

    def _describe(self, guard: Guard, cursor: _Cursor) -> None:
        # DESCRIBE [TABLE] takes what FROM takes (a table, a table function, a subquery): read
        # it as `SELECT * FROM ...` so that the same checks apply to it.
        cursor.accept("TABLE")
        if cursor.done:
            raise cursor.syntax_error("DESCRIBE")
        start = cursor.tokens[cursor.index].start
        prefix = "SELECT * FROM "
        text = prefix + cursor.source[start:]
        try:
            tokens = guard.tokenize(text)
        except TokenError as exc:
            raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error: {exc}")) from None
        tree = _parse_one(guard, tokens, text, " in DESCRIBE")
        if not isinstance(tree, exp.Select):
            raise cursor.syntax_error("DESCRIBE")
        self.check_query(guard, tree, text, start - len(prefix))
        clauses = sorted(key for key, value in tree.args.items() if value)
        described = tree.args["from_"].this if tree.args.get("from_") else None
        if clauses != ["expressions", "from_"] or not isinstance(
            described, exp.Table | exp.Subquery
        ):
            raise cursor.syntax_error("DESCRIBE")

    def _show(self, guard: Guard, cursor: _Cursor) -> None:
        if cursor.accept("CREATE"):
            cursor.accept("TEMPORARY")
            if not cursor.accept("TABLE"):
                if cursor.done:
                    raise cursor.syntax_error("SHOW CREATE")
                raise _denied(
                    f"SHOW CREATE {cursor.tokens[cursor.index].text} is not allowed", None
                )
            cursor.qualified_name("SHOW CREATE TABLE")
        elif cursor.accept("DATABASES"):
            _like_limit(cursor)
        else:
            cursor.accept("FULL")
            if not cursor.accept("TABLES"):
                raise _denied(f"SHOW {cursor.peek() or 'this statement'} is not allowed", None)
            if cursor.accept("FROM", "IN"):
                cursor.qualified_name("SHOW TABLES")
            _like_limit(cursor)
        cursor.finish("SHOW")

    def _exists(self, guard: Guard, cursor: _Cursor) -> None:
        cursor.accept("TEMPORARY")
        if cursor.peek() in ("DATABASE", "DICTIONARY", "VIEW"):
            raise _denied(f"EXISTS {cursor.peek()} is not allowed", None)
        cursor.accept("TABLE")
        cursor.qualified_name("EXISTS")
        cursor.finish("EXISTS")

    def _watch(self, guard: Guard, cursor: _Cursor) -> None:
        raise _denied("WATCH is not allowed", None)


_HANDLERS: dict[str, Callable[[ClickHouseRules, Guard, _Cursor], None]] = {
    "EXPLAIN": ClickHouseRules._explain,
    "DESCRIBE": ClickHouseRules._describe,
    "DESC": ClickHouseRules._describe,
    "SHOW": ClickHouseRules._show,
    "EXISTS": ClickHouseRules._exists,
    "WATCH": ClickHouseRules._watch,
}


# --- token-level checks ---------------------------------------------------------------------
def _scan(tokens: list[Token], source: str) -> None:
    for index, token in enumerate(tokens):
        if token.token_type in _LITERALS:
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.token_type == TokenType.IDENTIFIER and "\\" in source[token.start : token.end]:
            raise _denied("escape sequences in quoted names are not allowed", token.start + 1)
        word = token.text.upper()
        if word == "INTO" and following is not None and following.text.upper() == "OUTFILE":
            raise _read_only("INTO OUTFILE writes a file and is not allowed", token.start + 1)
        called = following is not None and following.token_type == TokenType.L_PAREN
        if not called and token.text.lower() in DENIED_BARE_NAMES:
            previous = tokens[index - 1].text.upper() if index else ""
            if previous not in (".", "AS") and not (following and following.text == "."):
                raise _denied(
                    f"function {token.text} is not allowed (qualify a column of that name with "
                    "its table)",
                    token.start + 1,
                )
        if following is None:
            continue
        if word == "APPLY":
            # APPLY(f) and APPLY f call the function f on every column.
            target = following
            if following.token_type == TokenType.L_PAREN and index + 2 < len(tokens):
                target = tokens[index + 2]
            if target.token_type not in _LITERALS and is_denied(target.text):
                raise _denied(f"function {target.text}() is not allowed", target.start + 1)
        elif following.token_type == TokenType.L_PAREN and is_denied(token.text):
            raise _denied(f"function {token.text}() is not allowed", token.start + 1)


# --- tree-level checks ----------------------------------------------------------------------
def _function_name(node: exp.Func) -> str:
    this = node.this
    if isinstance(node, exp.Anonymous) or isinstance(this, str):
        return this.name if isinstance(this, exp.Identifier) else str(this)
    try:
        return node.sql_name()
    except Exception:
        return type(node).__name__


def _in_table_position(node: exp.Expression) -> bool:
    """Whether ClickHouse reads this call as a table function (FROM, JOIN, DESCRIBE)."""
    child, parent = node, node.parent
    while isinstance(parent, exp.Paren | exp.Subquery | exp.Alias | exp.Final):
        if child.arg_key != "this":
            return False
        child, parent = parent, parent.parent
    if child.arg_key != "this":
        return False
    if isinstance(parent, exp.Table | exp.From):
        return True
    return isinstance(parent, exp.Join) and str(parent.args.get("kind") or "").upper() != "ARRAY"


def _check_table_function(node: exp.Func, name: str, offset: int) -> None:
    allowed = (
        isinstance(node, exp.Anonymous) and name.lower() in ALLOWED_TABLE_FUNCTIONS
    ) or isinstance(node, exp.Format | exp.GenerateSeries)
    table = node.parent
    if isinstance(table, exp.Table) and (table.args.get("db") or table.args.get("catalog")):
        allowed = False
    if not allowed:
        raise _denied(f"table function {name}() is not allowed", _at(node, offset))


def _check_table(node: exp.Table, offset: int) -> None:
    if not isinstance(node.this, exp.Identifier | exp.Placeholder | exp.Func):
        raise _denied("this table source is not allowed", _at(node, offset))


# --- utility grammar ------------------------------------------------------------------------
class _Cursor(TokenCursor):
    def qualified_name(self, statement: str) -> None:
        if not self.at_name():
            raise self.syntax_error(statement)
        self.index += 1
        if self.accept("."):
            if not self.at_name():
                raise self.syntax_error(statement)
            self.index += 1

    def syntax_error(self, statement: str) -> UtilityRejected:
        if self.done:
            return UtilityRejected(
                PgError(SYNTAX_ERROR, f"syntax error at end of input in {statement}")
            )
        token = self.tokens[self.index]
        return UtilityRejected(
            PgError(
                SYNTAX_ERROR,
                f'syntax error at or near "{token.text}" in {statement}',
                position=token.start + 1,
            )
        )

    def finish(self, statement: str) -> None:
        if self.done:
            return
        token = self.tokens[self.index]
        if self.peek() == "FORMAT":
            raise _denied("FORMAT clauses are not allowed", token.start + 1)
        if self.peek() == "SETTINGS":
            raise _denied("SETTINGS clauses are not allowed", token.start + 1)
        raise self.syntax_error(statement)


def _like_limit(cursor: _Cursor) -> None:
    cursor.accept("NOT")
    if cursor.accept("LIKE", "ILIKE"):
        if cursor.done or cursor.tokens[cursor.index].token_type != TokenType.STRING:
            raise cursor.syntax_error("SHOW")
        cursor.index += 1
    if cursor.accept("LIMIT"):
        if cursor.done or cursor.tokens[cursor.index].token_type != TokenType.NUMBER:
            raise cursor.syntax_error("SHOW")
        cursor.index += 1


def _set(cursor: _Cursor) -> UtilityRejected:
    if cursor.peek(1) in ("DEFAULT", "ROLE"):
        return _read_only(f"SET {cursor.peek(1)} ROLE is not allowed", None)
    names = [
        token.text
        for token, following in zip(cursor.tokens, cursor.tokens[1:], strict=False)
        if following.token_type == TokenType.EQ
    ]
    what = ", ".join(f'"{name}"' for name in names) or "settings"
    return _denied(f"SET is not allowed: setting {what} cannot be changed", None)


def _parse_one(guard: Guard, tokens: list[Token], source: str, where: str) -> exp.Expression:
    try:
        trees = guard.dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(tokens, source)
    except ParseError as exc:
        raise UtilityRejected(_parse_message(exc, where)) from None
    if len(trees) != 1 or trees[0] is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error{where}: one statement expected"))
    return trees[0]


def _parse_message(exc: ParseError, where: str) -> PgError:
    first = (exc.errors or [{}])[0]
    description = first.get("description") or str(exc).splitlines()[0]
    line, col = first.get("line"), first.get("col")
    at = f" at line {line}, column {col}" if line is not None else ""
    near = f' near "{first["highlight"]}"' if first.get("highlight") else ""
    return PgError(SYNTAX_ERROR, f"syntax error{near}{at}{where}: {description}")


def _at(node: exp.Expression, offset: int) -> int | None:
    """The 1-based position of a node in the statement: that of the first part of it whose
    position sqlglot recorded (functions and names carry one)."""
    for part in node.walk(bfs=False):
        start = part.meta.get("start") if part.meta else None
        if isinstance(start, int):
            return start + offset + 1 if start + offset >= 0 else None
    return None


def _read_only(message: str, position: int | None) -> UtilityRejected:
    return UtilityRejected(
        PgError(READ_ONLY_SQL_TRANSACTION, f"{message}: MetaHog is read-only", position=position)
    )


def _denied(message: str, position: int | None) -> UtilityRejected:
    return UtilityRejected(
        PgError(INSUFFICIENT_PRIVILEGE, f"{message} through MetaHog", position=position)
    )
