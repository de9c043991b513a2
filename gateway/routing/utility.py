"""PostgreSQL utility statements that sqlglot does not model, read from their full token stream.

sqlglot turns SHOW, DECLARE, EXPLAIN, PREPARE and others into a generic Command whose body is one
opaque string, and some (BEGIN READ ONLY, MOVE) into parse errors. Each allowed form has a small
grammar here that must consume the whole statement; a statement that matches none is refused.
Embedded queries (DECLARE ... FOR, EXPLAIN, PREPARE ... AS) go back through the guard's query
check, so nothing is trusted because of where it appears.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from gateway.protocol.errors import (
    INSUFFICIENT_PRIVILEGE,
    READ_ONLY_SQL_TRANSACTION,
    SYNTAX_ERROR,
    PgError,
)
from gateway.routing.dialect import GatewayPostgres
from gateway.routing.settings import (
    SETTING_VALUES_CHECKED,
    SPECIAL_FORMS,
    is_safe_setting,
    is_safe_value,
)
from gateway.routing.tokens import TokenCursor

if TYPE_CHECKING:
    from gateway.routing.guard import Guard


class UtilityRejected(Exception):
    def __init__(self, error: PgError) -> None:
        super().__init__(error.message)
        self.error = error


class PlainTokenizer(GatewayPostgres.Tokenizer):
    # Without COMMANDS, the tokenizer keeps every word of a utility statement as its own token
    # instead of folding the rest of the statement into one string.
    COMMANDS: set[TokenType] = set()


_SIMPLE_VALUE_TYPES = frozenset(
    {
        TokenType.STRING,
        TokenType.NUMBER,
        TokenType.VAR,
        TokenType.COMMA,
        TokenType.DASH,
        TokenType.PLUS,
        TokenType.DOT,
        TokenType.IDENTIFIER,
    }
)


class _Cursor(TokenCursor):
    def only_simple_values(self) -> bool:
        return all(
            t.token_type in _SIMPLE_VALUE_TYPES or t.text.replace("_", "").isalnum()
            for t in self.tokens[self.index :]
        )

    def finish(self, statement: str) -> None:
        if not self.done:
            raise _syntax(statement, self.tokens[self.index])


def classify_utility(source: str, guard: Guard, parse_error: PgError | None = None) -> None:
    """Return if the statement is an allowed utility statement, else raise UtilityRejected."""
    try:
        tokens = guard.plain_tokenizer.tokenize(source)
    except TokenError as exc:
        raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error: {exc}")) from None
    cursor = _Cursor(tokens, source)
    keyword = cursor.peek()
    handler = _HANDLERS.get(keyword)
    if handler is None:
        if parse_error is not None and keyword not in _KNOWN_WRITES:
            raise UtilityRejected(parse_error)
        statement = (
            " ".join(t.text.upper() for t in tokens[:2]) if keyword in _TWO_WORD else keyword
        )
        raise UtilityRejected(
            PgError(
                READ_ONLY_SQL_TRANSACTION,
                f"{statement or 'this statement'} is not allowed: MetaHog is read-only",
            )
        )
    cursor.index += 1
    handler(cursor, guard)


def _syntax(statement: str, token: Token) -> UtilityRejected:
    return UtilityRejected(
        PgError(
            SYNTAX_ERROR,
            f'syntax error at or near "{token.text}" in {statement}',
            position=token.start + 1,
        )
    )


def _transaction_modes(cursor: _Cursor, statement: str) -> None:
    while not cursor.done:
        if cursor.accept_sequence("READ", "ONLY"):
            pass
        elif cursor.accept_sequence("READ", "WRITE"):
            raise UtilityRejected(
                PgError(
                    READ_ONLY_SQL_TRANSACTION,
                    "read-write transactions are not allowed: MetaHog is read-only",
                )
            )
        elif cursor.accept_sequence("ISOLATION", "LEVEL"):
            if not (
                cursor.accept("SERIALIZABLE")
                or cursor.accept_sequence("REPEATABLE", "READ")
                or cursor.accept_sequence("READ", "COMMITTED")
                or cursor.accept_sequence("READ", "UNCOMMITTED")
            ):
                raise _syntax(statement, cursor.tokens[min(cursor.index, len(cursor.tokens) - 1)])
        elif cursor.accept_sequence("NOT", "DEFERRABLE") or cursor.accept("DEFERRABLE"):
            pass
        elif not cursor.accept(","):
            raise _syntax(statement, cursor.tokens[cursor.index])


def _begin(cursor: _Cursor, guard: Guard) -> None:
    cursor.accept("WORK", "TRANSACTION")
    _transaction_modes(cursor, "BEGIN")


def _start(cursor: _Cursor, guard: Guard) -> None:
    if not cursor.accept("TRANSACTION"):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in START"))
    _transaction_modes(cursor, "START TRANSACTION")


def _end(cursor: _Cursor, guard: Guard) -> None:
    cursor.accept("WORK", "TRANSACTION")
    if cursor.accept("AND"):
        cursor.accept("NO")
        cursor.accept("CHAIN")
    cursor.finish("END")


def _denied_setting(name: str) -> UtilityRejected:
    return UtilityRejected(
        PgError(INSUFFICIENT_PRIVILEGE, f'setting "{name}" cannot be changed through MetaHog')
    )


def _set(cursor: _Cursor, guard: Guard) -> None:
    cursor.accept("SESSION", "LOCAL")
    if cursor.accept_sequence("CHARACTERISTICS", "AS", "TRANSACTION") or cursor.accept(
        "TRANSACTION"
    ):
        if cursor.accept("SNAPSHOT"):
            raise _denied_setting("transaction snapshot")
        _transaction_modes(cursor, "SET TRANSACTION")
        return
    if cursor.peek() in ("ROLE", "AUTHORIZATION") or cursor.accept_sequence(
        "SESSION", "AUTHORIZATION"
    ):
        raise UtilityRejected(
            PgError(
                INSUFFICIENT_PRIVILEGE, "changing the role or session authorization is not allowed"
            )
        )
    if cursor.accept_sequence("TIME", "ZONE"):
        name = SPECIAL_FORMS["time zone"]
    elif cursor.peek() in ("NAMES", "SCHEMA") and cursor.peek(1) not in ("TO", "="):
        name = SPECIAL_FORMS[(cursor.accept("NAMES", "SCHEMA") or "").lower()]
    else:
        parts = [cursor.name()]
        while cursor.accept("."):
            parts.append(cursor.name())
        if None in parts:
            raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in SET"))
        name = ".".join(p for p in parts if p)
        if not cursor.accept("TO", "="):
            raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error in SET {name}"))
    if not is_safe_setting(name):
        raise _denied_setting(name)
    if not cursor.only_simple_values():
        raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error in the value of SET {name}"))
    if name.lower() in SETTING_VALUES_CHECKED:
        # The verdict depends on the value: never shared by shape with other literals.
        guard.note_literal_dependence()
        value = "".join(t.text for t in cursor.tokens[cursor.index :])
        if not is_safe_value(name, value):
            raise UtilityRejected(
                PgError(
                    INSUFFICIENT_PRIVILEGE,
                    f'setting "{name}" cannot be set to {value} through MetaHog',
                )
            )


def _reset(cursor: _Cursor, guard: Guard) -> None:
    if cursor.accept("ALL"):
        cursor.finish("RESET")
        return
    if cursor.peek() in ("ROLE", "SESSION"):
        # RESET ROLE, RESET SESSION AUTHORIZATION: refused as SET ROLE is.
        raise UtilityRejected(
            PgError(
                INSUFFICIENT_PRIVILEGE, "changing the role or session authorization is not allowed"
            )
        )
    if cursor.accept_sequence("TIME", "ZONE"):
        name = "timezone"
    else:
        # A qualified name (a placeholder variable, metahog.dialect) as SET reads it.
        parts = [cursor.name() or ""]
        while cursor.accept("."):
            parts.append(cursor.name() or "")
        name = ".".join(parts)
    cursor.finish("RESET")
    if not is_safe_setting(name):
        raise _denied_setting(name)


def _show(cursor: _Cursor, guard: Guard) -> None:
    count = 0
    while cursor.name() is not None:
        count += 1
        cursor.accept(".")
    if count == 0 or count > 4:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in SHOW"))
    cursor.finish("SHOW")


def _discard(cursor: _Cursor, guard: Guard) -> None:
    if not cursor.accept("ALL", "PLANS", "SEQUENCES", "TEMP", "TEMPORARY"):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in DISCARD"))
    cursor.finish("DISCARD")


def _embedded_query(cursor: _Cursor, guard: Guard, statement: str) -> None:
    """The query inside DECLARE, EXPLAIN or PREPARE: exactly one allowed query."""
    text = cursor.rest()
    try:
        trees = guard.dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(
            guard.tokenize(text), text
        )
    except (ParseError, TokenError) as exc:
        raise UtilityRejected(
            PgError(SYNTAX_ERROR, f"syntax error in {statement}: {exc}")
        ) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query | exp.Values):
        if statement == "EXPLAIN" and cursor.peek() == "EXECUTE":
            cursor.index += 1
            _execute(cursor, guard)
            return
        raise UtilityRejected(
            PgError(
                READ_ONLY_SQL_TRANSACTION,
                f"{statement} is only allowed over a read-only query: MetaHog is read-only",
            )
        )
    guard.check_query(trees[0], text)


def _declare(cursor: _Cursor, guard: Guard) -> None:
    if cursor.name() is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in DECLARE"))
    while cursor.accept("BINARY", "ASENSITIVE", "INSENSITIVE", "SCROLL", "NO"):
        pass
    if not cursor.accept("CURSOR"):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in DECLARE"))
    if cursor.accept("WITH", "WITHOUT"):
        cursor.accept("HOLD")
    if not cursor.accept("FOR"):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in DECLARE"))
    _embedded_query(cursor, guard, "DECLARE CURSOR")


def _fetch(cursor: _Cursor, guard: Guard) -> None:
    # FETCH and MOVE only read a cursor; any direction and count is fine, but nothing else.
    if not cursor.only_simple_values():
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in FETCH"))


def _close(cursor: _Cursor, guard: Guard) -> None:
    if not (cursor.accept("ALL") or cursor.name()):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in CLOSE"))
    cursor.finish("CLOSE")


NUMBER = TokenType.NUMBER
_EXPLAIN_OPTIONS = frozenset(
    {
        "ANALYZE",
        "ANALYSE",
        "VERBOSE",
        "COSTS",
        "SETTINGS",
        "BUFFERS",
        "WAL",
        "TIMING",
        "SUMMARY",
        "FORMAT",
        "GENERIC_PLAN",
        "TEXT",
        "XML",
        "JSON",
        "YAML",
        "TRUE",
        "FALSE",
        "ON",
        "OFF",
        "1",
        "0",
    }
)


def _explain(cursor: _Cursor, guard: Guard) -> None:
    if cursor.accept("("):
        while not cursor.accept(")"):
            word = cursor.peek()
            if not word and not cursor.done and cursor.tokens[cursor.index].token_type == NUMBER:
                word = cursor.tokens[cursor.index].text  # ANALYZE 1, VERBOSE 0
            if word not in _EXPLAIN_OPTIONS and word != ",":
                raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in EXPLAIN options"))
            cursor.index += 1
    else:
        while cursor.accept("ANALYZE", "ANALYSE", "VERBOSE"):
            pass
    _embedded_query(cursor, guard, "EXPLAIN")


def _prepare(cursor: _Cursor, guard: Guard) -> None:
    if cursor.peek() == "TRANSACTION":
        raise UtilityRejected(
            PgError(
                READ_ONLY_SQL_TRANSACTION,
                "PREPARE TRANSACTION is not allowed: MetaHog is read-only",
            )
        )
    if cursor.name() is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in PREPARE"))
    if cursor.accept("("):
        depth = 1
        while depth and not cursor.done:
            depth += {"(": 1, ")": -1}.get(cursor.peek(), 0)
            cursor.index += 1
    if not cursor.accept("AS"):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in PREPARE"))
    _embedded_query(cursor, guard, "PREPARE")


def _execute(cursor: _Cursor, guard: Guard) -> None:
    if cursor.name() is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in EXECUTE"))
    if cursor.done:
        return
    # The arguments are expressions: check them as the select list of a query.
    arguments = cursor.rest()
    if not arguments.startswith("("):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in EXECUTE"))
    try:
        trees = guard.dialect.parse(f"SELECT {arguments[1:].rstrip().removesuffix(')')}")
    except (ParseError, TokenError) as exc:
        raise UtilityRejected(PgError(SYNTAX_ERROR, f"syntax error in EXECUTE: {exc}")) from None
    if len(trees) != 1 or trees[0] is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in EXECUTE"))
    guard.check_query(trees[0], arguments)


def _deallocate(cursor: _Cursor, guard: Guard) -> None:
    cursor.accept("PREPARE")
    if not (cursor.accept("ALL") or cursor.name()):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in DEALLOCATE"))
    cursor.finish("DEALLOCATE")


def _savepoint(cursor: _Cursor, guard: Guard) -> None:
    if cursor.name() is None:
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in SAVEPOINT"))
    cursor.finish("SAVEPOINT")


def _release(cursor: _Cursor, guard: Guard) -> None:
    cursor.accept("SAVEPOINT")
    _savepoint(cursor, guard)


def _rollback(cursor: _Cursor, guard: Guard) -> None:
    if cursor.accept("PREPARED"):
        raise UtilityRejected(
            PgError(
                READ_ONLY_SQL_TRANSACTION, "ROLLBACK PREPARED is not allowed: MetaHog is read-only"
            )
        )
    cursor.accept("WORK", "TRANSACTION")
    if cursor.accept("TO"):
        cursor.accept("SAVEPOINT")
        _savepoint(cursor, guard)
        return
    _end(cursor, guard)


def _commit(cursor: _Cursor, guard: Guard) -> None:
    if cursor.accept("PREPARED"):
        raise UtilityRejected(
            PgError(
                READ_ONLY_SQL_TRANSACTION, "COMMIT PREPARED is not allowed: MetaHog is read-only"
            )
        )
    _end(cursor, guard)


def _unlisten(cursor: _Cursor, guard: Guard) -> None:
    if not (cursor.accept("*") or cursor.name()):
        raise UtilityRejected(PgError(SYNTAX_ERROR, "syntax error in UNLISTEN"))
    cursor.finish("UNLISTEN")


_HANDLERS: dict[str, Callable[[_Cursor, Guard], None]] = {
    "BEGIN": _begin,
    "START": _start,
    "END": _end,
    "ABORT": _end,
    "COMMIT": _commit,
    "ROLLBACK": _rollback,
    "SAVEPOINT": _savepoint,
    "RELEASE": _release,
    "SET": _set,
    "RESET": _reset,
    "SHOW": _show,
    "DISCARD": _discard,
    "DECLARE": _declare,
    "FETCH": _fetch,
    "MOVE": _fetch,
    "CLOSE": _close,
    "EXPLAIN": _explain,
    "PREPARE": _prepare,
    "EXECUTE": _execute,
    "DEALLOCATE": _deallocate,
    "UNLISTEN": _unlisten,
}

_KNOWN_WRITES = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "GRANT",
        "REVOKE",
        "COMMENT",
        "CALL",
        "DO",
        "LOCK",
        "VACUUM",
        "ANALYZE",
        "ANALYSE",
        "CLUSTER",
        "REINDEX",
        "REFRESH",
        "CHECKPOINT",
        "LOAD",
        "LISTEN",
        "NOTIFY",
        "SECURITY",
        "IMPORT",
        "REASSIGN",
        "COPY",
    }
)
_TWO_WORD = frozenset({"CREATE", "DROP", "ALTER", "SECURITY", "IMPORT", "REFRESH"})
