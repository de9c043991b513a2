"""The read-only guard: one entry point that decides whether a statement text may run.

Every path that carries SQL to a backend calls `Guard.check`. The text is tokenized and parsed
with sqlglot; each statement is classified from its syntax tree against an allow-list, and
anything not recognised as safe is refused (fail closed). Utility statements that sqlglot does not
model (SHOW, DECLARE, EXPLAIN, PREPARE, BEGIN with modes...) are read by `utility.py` from their
complete token stream, never from a first keyword alone.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from gateway.protocol.errors import (
    INSUFFICIENT_PRIVILEGE,
    PROGRAM_LIMIT_EXCEEDED,
    READ_ONLY_SQL_TRANSACTION,
    SYNTAX_ERROR,
    PgError,
)
from gateway.routing import functions, pglexer
from gateway.routing.clickhouse_rules import ClickHouseRules
from gateway.routing.dialect import GatewayPostgres
from gateway.routing.statements import WRITE_NODES, statement_name
from gateway.routing.tokens import LITERAL_TOKENS, keyword_aliases_as_names
from gateway.routing.utility import PlainTokenizer, UtilityRejected, classify_utility

# sqlglot logs a warning for every statement it falls back to a Command for; the guard handles
# those itself, so the warnings are noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

DEFAULT_MAX_LENGTH = 1_000_000
DEFAULT_MAX_DEPTH = 200


@dataclass(frozen=True)
class Verdict:
    error: PgError | None
    statements: tuple[exp.Expression | None, ...] = ()
    # Each statement's exact source text, for paths that send statements on one by one.
    texts: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.error is None


class Guard:
    def __init__(
        self,
        dialect: str = "postgres",
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_depth: int = DEFAULT_MAX_DEPTH,
        cache_size: int = 4096,
    ) -> None:
        self.dialect = (
            GatewayPostgres() if dialect == "postgres" else sqlglot.Dialect.get_or_raise(dialect)
        )
        self.max_length = max_length
        self.max_depth = max_depth
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._shapes: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self._cache_size = cache_size
        self._literal_dependent = False
        self._commands = frozenset(self.dialect.tokenizer_class.COMMANDS)
        # Dialect.tokenize() builds a new tokenizer per call; one reused instance costs half.
        self._tokenizer = self.dialect.tokenizer_class(dialect=self.dialect)
        self.plain_tokenizer = PlainTokenizer(dialect=self.dialect)
        # Dialects other than PostgreSQL bring their own statement and query rules.
        self.rules = ClickHouseRules(self.dialect) if dialect == "clickhouse" else None

    def check(self, text: str) -> PgError | None:
        """The guard's single entry point: None when every statement in `text` may run.

        Two caches keep repeated statements from being parsed again: one by exact text, and one
        by *shape*, the token stream with literal values masked, so that `... WHERE id = 1` and
        `... WHERE id = 2` share one verdict. Only allowed verdicts that did not depend on a
        literal's value are shared by shape; refusals carry positions and stay exact.
        """
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached.error
        if len(text) > self.max_length:
            return self._too_long(text).error
        try:
            tokens = self.tokenize(text)
        except TokenError as exc:
            return self._remember(
                text, Verdict(PgError(SYNTAX_ERROR, f"syntax error: {exc}"))
            ).error
        # Before the shape cache: a shape holds no whitespace or comments, the lexers' usual
        # points of disagreement.
        lexing_error = self._lexing_error(text, tokens)
        if lexing_error is not None:
            return self._remember(text, Verdict(lexing_error)).error
        shape = _shape(tokens, self._commands)
        if shape in self._shapes:
            self._shapes.move_to_end(shape)
            return None
        self._literal_dependent = False
        # The relay needs only the verdict: keep no syntax trees in the cache for it.
        verdict = self._remember(text, Verdict(self._classify_tokens(text, tokens).error))
        if verdict.allowed and not self._literal_dependent:
            self._shapes[shape] = None
            if len(self._shapes) > self._cache_size:
                self._shapes.popitem(last=False)
        return verdict.error

    def classify(self, text: str) -> Verdict:
        """The verdict with the statements' syntax trees, for paths that rewrite them."""
        cached = self._cache.get(text)
        # An allowed verdict cached by check() holds no trees (statements == ()).
        if cached is not None and (cached.statements or not cached.allowed):
            self._cache.move_to_end(text)
            return cached
        if len(text) > self.max_length:
            return self._too_long(text)
        try:
            tokens = self.tokenize(text)
        except TokenError as exc:
            return self._remember(text, Verdict(PgError(SYNTAX_ERROR, f"syntax error: {exc}")))
        lexing_error = self._lexing_error(text, tokens)
        if lexing_error is not None:
            return self._remember(text, Verdict(lexing_error))
        return self._remember(text, self._classify_tokens(text, tokens))

    def tokenize(self, text: str) -> list[Token]:
        return self._tokenizer.tokenize(text)

    def _lexing_error(self, text: str, tokens: list[Token]) -> PgError | None:
        """PostgreSQL: refuse a text that the server's lexer would split into other tokens than
        sqlglot did (pglexer.py), since the guard would then judge a different statement from
        the one the server runs."""
        if self.rules is not None:
            return None
        try:
            if any(token.token_type in self._commands for token in tokens):
                # After SHOW, EXECUTE... sqlglot folds the rest of the statement into one
                # string without a source position: compare the unfolded tokens.
                tokens = self.plain_tokenizer.tokenize(text)
            if pglexer.agrees_quickly(text, tokens):
                return None
            pg_tokens = pglexer.lex(text)
        except pglexer.LexError as exc:
            return exc.error
        except TokenError as exc:
            return PgError(SYNTAX_ERROR, f"syntax error: {exc}")
        position = pglexer.first_disagreement(text, pg_tokens, tokens)
        if position is None:
            return None
        near = (text[position : position + 20].split() or [""])[0]
        return PgError(
            SYNTAX_ERROR,
            f'syntax error at or near "{near}": PostgreSQL would not read this text the way '
            "the gateway does",
            position=position + 1,
        )

    def note_literal_dependence(self) -> None:
        """Called when a verdict depends on a literal's value (set_config's setting name)."""
        self._literal_dependent = True

    def _remember(self, text: str, verdict: Verdict) -> Verdict:
        self._cache[text] = verdict
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return verdict

    def _too_long(self, text: str) -> Verdict:
        return Verdict(
            PgError(
                PROGRAM_LIMIT_EXCEEDED,
                f"statement text of {len(text)} characters exceeds the limit of {self.max_length}",
            )
        )

    # --- classification --------------------------------------------------------------------
    def _classify_tokens(self, text: str, tokens: list[Token]) -> Verdict:
        depth_error = _nesting_error(text, self.max_depth)
        if depth_error is not None:
            return Verdict(depth_error)
        trees: list[exp.Expression | None] = []
        texts: list[str] = []
        for chunk, source in _split_statements(tokens, text):
            try:
                tree = self._classify_statement(chunk, source)
            except UtilityRejected as exc:
                return Verdict(exc.error)
            trees.append(tree)
            texts.append(source)
        return Verdict(None, tuple(trees), tuple(texts))

    def _classify_statement(self, tokens: list[Token], source: str) -> exp.Expression | None:
        if not tokens:
            return None
        if self.rules is not None:
            return self.rules.classify_statement(self, tokens, source)
        try:
            parsed = self._parse(tokens, source)
            tree = parsed[0] if parsed else None
        except ParseError as exc:
            # Statements sqlglot does not model (BEGIN READ ONLY, MOVE...) may still be utility
            # statements the guard knows; otherwise the parser's message goes to the client.
            classify_utility(source, self, parse_error=_parse_message(exc))
            return None
        if tree is None:
            return None
        self.check_tree(tree, source)
        return tree

    def _parse(self, tokens: list[Token], source: str) -> list[exp.Expression | None]:
        parser = self.dialect.parser(error_level=ErrorLevel.IMMEDIATE)
        try:
            return parser.parse(tokens, source)
        except ParseError:
            retyped = keyword_aliases_as_names(tokens)
            if retyped is None:
                raise
            return self.dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(retyped, source)

    def check_tree(self, tree: exp.Expression, source: str) -> None:
        """Raise UtilityRejected unless the statement tree is allowed."""
        if isinstance(tree, exp.Query | exp.Values):
            self.check_query(tree, source)
        elif isinstance(tree, exp.Set):
            classify_utility(source, self)
        elif isinstance(tree, exp.Copy):
            self._check_copy(tree, source)
        elif isinstance(tree, WRITE_NODES):
            # Named by what it does, not by its first word (WITH ... DELETE is a DELETE).
            raise _read_only(f"{statement_name(tree)} is not allowed", source, tree)
        else:
            # Command, and the generic nodes sqlglot returns for statements it does not model
            # (DISCARD ALL as Alias, CHECKPOINT as Column...).
            classify_utility(source, self)

    def check_query(self, tree: exp.Expression, source: str) -> None:
        if self.rules is not None:
            self.rules.check_query(self, tree, source)
            return
        for node in tree.walk():
            if isinstance(node, _STATEMENT_NODES):
                raise _read_only(
                    f"{statement_name(node)} is not allowed inside a query", source, node
                )
            if isinstance(node, exp.Into):
                raise _read_only("SELECT INTO creates a table and is not allowed", source, node)
            if isinstance(node, exp.Lock):
                raise _read_only(
                    "SELECT ... FOR UPDATE/SHARE locks rows and is not allowed", source, node
                )
            if isinstance(node, exp.Func):
                name = functions.function_name(node)
                if name is None:
                    continue
                if name == "set_config" and functions.is_safe_set_config(node):
                    self.note_literal_dependence()
                    continue
                if functions.is_denied_call(name, node):
                    raise UtilityRejected(
                        PgError(
                            INSUFFICIENT_PRIVILEGE,
                            f"function {name}() is not allowed through MetaHog",
                            position=_position(source, node),
                        )
                    )

    def _check_copy(self, tree: exp.Copy, source: str) -> None:
        target = tree.this
        files = tree.args.get("files") or []
        to_stdout = (
            tree.args.get("kind") is False
            and len(files) == 1
            and isinstance(files[0], exp.Var | exp.Column | exp.Identifier)
            and files[0].name.upper() == "STDOUT"
        )
        if not to_stdout:
            raise _read_only("only COPY ... TO STDOUT is allowed", source, tree)
        if isinstance(target, exp.Expression):
            inner = target.this if isinstance(target, exp.Subquery) else target
            if isinstance(inner, exp.Query | exp.Values):
                self.check_query(inner, source)
            elif not isinstance(inner, exp.Table | exp.Schema):
                raise _read_only("COPY of this source is not allowed", source, tree)


# Nodes that are statements of their own, never part of a read-only query.
_STATEMENT_NODES = (
    *WRITE_NODES,
    exp.Command,
    exp.Copy,
    exp.Grant,
    exp.Revoke,
    exp.Comment,
    exp.Set,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Analyze,
    exp.Refresh,
    exp.LoadData,
    exp.Kill,
    exp.Use,
    exp.Pragma,
    exp.Cache,
    exp.Uncache,
)

# Literal tokens: their value never changes what a statement is allowed to do.
_LITERALS = LITERAL_TOKENS


def _shape(tokens: list[Token], commands: frozenset[TokenType]) -> tuple[object, ...]:
    shape: list[object] = []
    after_command = False
    for token in tokens:
        # After a command keyword (PREPARE, EXPLAIN, SHOW...) the tokenizer folds the rest of
        # the statement into one string token: that string is code, not a literal.
        if token.token_type in _LITERALS and not after_command:
            shape.append(token.token_type)
        else:
            shape.append((token.token_type, token.text))
        after_command = token.token_type in commands
    return tuple(shape)


def _split_statements(tokens: list[Token], text: str) -> list[tuple[list[Token], str]]:
    """Statements separated by top-level semicolons, each with its exact source text."""
    chunks: list[tuple[list[Token], str]] = []
    current: list[Token] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append((current, text[start : token.start]))
            current = []
            start = token.end + 1
        else:
            current.append(token)
    chunks.append((current, text[start:]))
    return [(chunk, source) for chunk, source in chunks if chunk] or [([], "")]


def _nesting_error(text: str, max_depth: int) -> PgError | None:
    """A cheap bound on parenthesis depth, before the recursive parser sees the text. Counting
    inside strings over-estimates depth, which only ever refuses more."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    if deepest > max_depth:
        return PgError(
            PROGRAM_LIMIT_EXCEEDED,
            f"statement nesting depth {deepest} exceeds the limit of {max_depth}",
        )
    return None


def _parse_message(exc: ParseError) -> PgError:
    errors = exc.errors or [{}]
    first = errors[0]
    description = first.get("description") or str(exc).splitlines()[0]
    line, col = first.get("line"), first.get("col")
    where = f" at line {line}, column {col}" if line is not None else ""
    near = first.get("highlight")
    near_text = f' near "{near}"' if near else ""
    return PgError(SYNTAX_ERROR, f"syntax error{near_text}{where}: {description}")


def _position(source: str, node: exp.Expression) -> int | None:
    meta = node.meta if hasattr(node, "meta") else {}
    start = meta.get("start") if isinstance(meta, dict) else None
    return start + 1 if isinstance(start, int) else None


def _read_only(message: str, source: str, node: exp.Expression) -> UtilityRejected:
    return UtilityRejected(
        PgError(
            READ_ONLY_SQL_TRANSACTION,
            f"{message}: MetaHog is read-only",
            position=_position(source, node),
        )
    )
