"""sqlglot's PostgreSQL dialect with the corrections the gateway needs to read what real clients
send. Each correction is a small override, named and tested, in the way sqlglot's own dialects
differ from each other."""

from __future__ import annotations

from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Token types PostgreSQL accepts as the string after UESCAPE (a plain string constant).
_UESCAPE_STRINGS = frozenset({TokenType.STRING, TokenType.HEREDOC_STRING})


class GatewayPostgres(Postgres):
    class Tokenizer(Postgres.Tokenizer):
        # sqlglot reads oid, regclass, regtype... as one special token that cannot take an array
        # suffix, so `$1::oid[]` (asyncpg's type introspection) fails to parse. As plain names
        # they parse as user-defined types, arrays included.
        KEYWORDS = {
            word: token
            for word, token in Postgres.Tokenizer.KEYWORDS.items()
            if token != TokenType.OBJECT_IDENTIFIER
        }

        def tokenize(self, sql: str) -> list[Token]:
            tokens = super().tokenize(sql)
            # U&"..." and U&'...' always hold an ampersand; most texts skip the pass.
            return decode_unicode_escapes(tokens) if "&" in sql else tokens


def decode_unicode_escapes(tokens: list[Token]) -> list[Token]:
    """PostgreSQL's Unicode-escaped names and strings, decoded once in the token stream.

    sqlglot reads U&"\\0073et_config" as the column U, an ampersand and the quoted name
    "\\0073et_config"; PostgreSQL reads the name set_config. Each U&"..." (and U&'...'), with its
    optional UESCAPE 'c' clause, becomes one plain quoted name (or string) holding the decoded
    text, so that every later check sees the name the server will call.
    """
    out: list[Token] = []
    index, count = 0, len(tokens)
    while index < count:
        token = tokens[index]
        kind: TokenType | None = None
        if (
            token.token_type == TokenType.VAR
            and token.text in ("U", "u")
            and index + 2 < count
            and tokens[index + 1].token_type == TokenType.AMP
            and tokens[index + 2].token_type == TokenType.IDENTIFIER
            and token.end + 1 == tokens[index + 1].start
            and tokens[index + 1].end + 1 == tokens[index + 2].start
        ):
            kind, body, last = TokenType.IDENTIFIER, tokens[index + 2].text, index + 2
        elif token.token_type == TokenType.UNICODE_STRING:
            kind, body, last = TokenType.STRING, token.text, index
        if kind is None:
            out.append(token)
            index += 1
            continue
        escape = "\\"
        if (
            last + 2 < count
            and tokens[last + 1].token_type == TokenType.VAR
            and tokens[last + 1].text.upper() == "UESCAPE"
        ):
            clause = tokens[last + 2]
            if clause.token_type not in _UESCAPE_STRINGS or not _valid_escape(clause.text):
                raise TokenError("invalid Unicode escape character after UESCAPE")
            escape, last = clause.text, last + 2
        comments = [c for t in tokens[index : last + 1] for c in t.comments]
        out.append(
            Token(
                kind,
                _unescape(body, escape),
                line=token.line,
                col=token.col,
                start=token.start,
                end=tokens[last].end,
                comments=comments,
            )
        )
        index = last + 1
    return out


def _valid_escape(text: str) -> bool:
    # As PostgreSQL's check_uescapechar: one ASCII character that cannot be read as part of
    # an escape or a quote.
    return (
        len(text) == 1
        and text.isascii()
        and text not in _HEX_DIGITS
        and text not in "+'\" \t\n\r\f"
    )


def _unescape(text: str, escape: str) -> str:
    """`\\XXXX` and `\\+XXXXXX` code points and a doubled escape character, as PostgreSQL's
    str_udeescape; anything else is an error, as there."""
    out: list[str] = []
    high = 0  # a pending UTF-16 high surrogate
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char != escape:
            if high:
                raise TokenError("invalid Unicode surrogate pair")
            out.append(char)
            index += 1
            continue
        if text[index + 1 : index + 2] == escape:
            if high:
                raise TokenError("invalid Unicode surrogate pair")
            out.append(escape)
            index += 2
            continue
        if text[index + 1 : index + 2] == "+":
            digits, index = text[index + 2 : index + 8], index + 8
            width = 6
        else:
            digits, index = text[index + 1 : index + 5], index + 5
            width = 4
        if len(digits) != width or not set(digits) <= _HEX_DIGITS:
            raise TokenError("invalid Unicode escape: must be \\XXXX or \\+XXXXXX")
        point = int(digits, 16)
        if 0xD800 <= point <= 0xDBFF:
            if high:
                raise TokenError("invalid Unicode surrogate pair")
            high = point
            continue
        if 0xDC00 <= point <= 0xDFFF:
            if not high:
                raise TokenError("invalid Unicode surrogate pair")
            point = 0x10000 + ((high - 0xD800) << 10) + (point - 0xDC00)
            high = 0
        elif high:
            raise TokenError("invalid Unicode surrogate pair")
        if point == 0 or point > 0x10FFFF:
            raise TokenError("invalid Unicode escape value")
        out.append(chr(point))
    if high:
        raise TokenError("invalid Unicode surrogate pair")
    return "".join(out)
