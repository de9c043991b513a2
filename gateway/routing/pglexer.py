"""PostgreSQL's own lexical rules, to check that sqlglot reads a text the way the server will.

The guard classifies the tokens sqlglot produces; PostgreSQL runs the tokens *its* lexer produces
(src/backend/parser/scan.l). Where the two disagree about where a string, a comment or a word
ends, one text shows the guard one statement and the server another. In

    select 1 as<U+00A0>$$; delete from film; select $$ -- $$

sqlglot takes the no-break space for whitespace and sees `select 1 as '...'` and a comment;
PostgreSQL takes it for a letter, of the column alias `as<U+00A0>$$`, and runs the DELETE. In

    select 1 #-- '<newline> 2; delete from film; -- '

sqlglot reads the JSON operator `#-`, a minus and a string; PostgreSQL reads `#`, a comment, and
runs the DELETE. So the guard lexes every text a second time with these rules and refuses it
where the two token streams disagree. Only boundaries are compared, not token types: the lexers
must agree on which characters are code, which are inert (strings, quoted names, comments,
whitespace), and where each word starts and ends.

Where PostgreSQL versions differ, the rules take the older, stricter reading, so that a
difference refuses a text rather than lets it through: vertical tab is whitespace only from
PostgreSQL 16, as are non-decimal and underscored numbers, so here they are errors.
"""

from __future__ import annotations

import itertools
import re
from typing import NamedTuple

from sqlglot.tokens import Token, TokenType

from gateway.protocol.errors import SYNTAX_ERROR, PgError
from gateway.routing.dialect import GatewayPostgres

# What a PostgreSQL token is, as far as the comparison needs to know.
OPAQUE = 0  # a string, quoted identifier or dollar-quoted string: its content is not code
WORD = 1  # an identifier or keyword: must be one sqlglot token (or one word of a keyword phrase)
SPLIT = 2  # numbers, operators, punctuation, $n: sqlglot may split these differently


class PgToken(NamedTuple):
    start: int
    end: int  # exclusive
    kind: int


# scan.l's character classes; every byte >= 0x80 is a letter, so every non-ASCII character is.
_LETTER = "A-Za-z_\u0080-\U0010ffff"
_NEXT = re.compile(
    rf"""
    (?P<space>(?:[ \t\n\r\f]+|--[^\n\r]*)+)
  | (?P<comment>/\*)
  | (?P<escape_string>[eE]')
  | (?P<bit_string>[bBxX]')
  | (?P<string>(?:[uU]&|[nN])?')
  | (?P<quoted>(?:[uU]&)?")
  | (?P<dollar>\$(?:[{_LETTER}][{_LETTER}0-9]*)?\$)
  | (?P<param>\$[0-9]+)
  | (?P<number>[0-9]+(?=\.\.)|(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)
  | (?P<word>[{_LETTER}][{_LETTER}0-9$]*)
  | (?P<operator>[~!@\#^&|`?+\-*/%<>=]+)
  | (?P<punctuation>::|:=|\.\.|[,()\[\].;:])
    """,
    re.VERBOSE,
)
# Possessive (*+): an unterminated string fails in linear time.
_STRING_BODY = re.compile(r"(?:[^']|'')*+'")
_ESCAPE_STRING_BODY = re.compile(r"(?:[^\\']|\\.|'')*+'", re.DOTALL)
_BIT_STRING_BODY = re.compile(r"[^']*+'")
_QUOTED_BODY = re.compile(r'(?:[^"]|"")*+"')
# A string continues after whitespace that holds a newline: 'a'<newline>'b' is 'ab'.
_CONTINUATION = re.compile(r"(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f]+|--[^\n\r]*[\n\r])*'")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_LETTER_AT = re.compile(f"[{_LETTER}]")

_STRING_BODIES = {
    "escape_string": _ESCAPE_STRING_BODY,
    "bit_string": _BIT_STRING_BODY,
    "string": _STRING_BODY,
}


class LexError(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.error = PgError(SYNTAX_ERROR, message, position=position + 1)


def lex(text: str) -> list[PgToken]:
    """PostgreSQL's tokens of `text`, or LexError where the server's lexer would fail."""
    tokens: list[PgToken] = []
    position, size = 0, len(text)
    while position < size:
        match = _NEXT.match(text, position)
        if match is None:
            # scan.l's {other}: a character no rule takes (a backslash, a brace, a control
            # character, a $ that starts no quote) reaches the grammar alone and is an error.
            raise LexError(f'syntax error at or near "{_shown(text[position])}"', position)
        kind, end = match.lastgroup, match.end()
        if kind == "space":
            pass
        elif kind == "comment":
            end = _comment_end(text, end, position)
        elif kind in _STRING_BODIES:
            end = _string_end(text, _STRING_BODIES[kind], end, position)
            tokens.append(PgToken(position, end, OPAQUE))
        elif kind == "quoted":
            body_match = _QUOTED_BODY.match(text, end)
            if body_match is None:
                raise LexError("unterminated quoted identifier", position)
            if body_match.end() == end + 1:
                raise LexError("zero-length delimited identifier", position)
            end = body_match.end()
            tokens.append(PgToken(position, end, OPAQUE))
        elif kind == "dollar":
            close = text.find(match.group(), end)
            if close < 0:
                raise LexError("unterminated dollar-quoted string", position)
            end = close + len(match.group())
            tokens.append(PgToken(position, end, OPAQUE))
        elif kind == "word":
            word = match.group()
            if not word.isascii():
                # A letter to PostgreSQL, a space to sqlglot (U+00A0, U+2000...): the two would
                # see different words.
                space = next((char for char in word if char.isspace()), None)
                if space is not None:
                    raise LexError(
                        f"{_shown(space)} is a letter to PostgreSQL, not whitespace: "
                        f'syntax error at or near "{word}"',
                        position,
                    )
            tokens.append(PgToken(position, end, WORD))
        elif kind == "operator":
            # An operator stops where a comment starts: `*--x` is `*` and a comment.
            run = match.group()
            cut = min((i for i in (run.find("/*"), run.find("--")) if i > 0), default=len(run))
            end = position + cut
            tokens.append(PgToken(position, end, SPLIT))
        else:  # number, param, punctuation
            if kind in ("number", "param") and _LETTER_AT.match(text, end):
                junk = text[position : end + 1]
                raise LexError(f'trailing junk after numeric literal at or near "{junk}"', position)
            tokens.append(PgToken(position, end, SPLIT))
        position = end
    return tokens


def _shown(char: str) -> str:
    return char if char.isprintable() and not char.isspace() else f"U+{ord(char):04X}"


def _comment_end(text: str, position: int, start: int) -> int:
    """The end of a /* comment */ whose opening ends at `position`; they nest."""
    depth = 1
    while depth:
        mark = _COMMENT_MARK.search(text, position)
        if mark is None:
            raise LexError("unterminated /* comment", start)
        depth += 1 if mark.group() == "/*" else -1
        position = mark.end()
    return position


def _string_end(text: str, body: re.Pattern[str], position: int, start: int) -> int:
    while True:
        match = body.match(text, position)
        if match is None:
            raise LexError("unterminated quoted string", start)
        position = match.end()
        continuation = _CONTINUATION.match(text, position)
        if continuation is None:
            return position
        position = continuation.end()


# --- the fast path ------------------------------------------------------------------------------
# Most texts lex to exactly sqlglot's token spans if PostgreSQL's operators and keyword phrases
# are cut the way sqlglot cuts them. One regular expression finds those spans; when they equal
# sqlglot's, the two lexers agree and `lex` never runs. The expression follows scan.l for every
# inert region (whitespace, comments, strings, quoted names) and every word, and only departs
# from it inside runs of operator characters, which are code to both lexers; it never matches
# what it cannot read exactly (nested comments, string continuations, lexing errors), which then
# go the slow way.

# Characters that Python (and so sqlglot) treats as whitespace but PostgreSQL does not: with
# any of them, the fast path's words could differ from sqlglot's unnoticed.
_FOREIGN_SPACE = re.compile(
    "[\x0b\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
_GAP = r"(?:[ \t\n\r\f]+|--[^\n\r]*|/\*(?:[^*/]|/(?!\*)|\*(?!/))*+\*/)*+"
_OPERATOR_CHARS = frozenset("~!@#^&|`?+-*/%<>=")


def _fast_pattern() -> re.Pattern[str]:
    keywords = GatewayPostgres.Tokenizer.KEYWORDS
    phrases = "|".join(
        r"[ \t\n\r\f]+".join(re.escape(word) for word in phrase.split())
        for phrase in sorted((k for k in keywords if " " in k), key=len, reverse=True)
    )
    operators = "|".join(
        re.escape(op)
        for op in sorted(keywords, key=len, reverse=True)
        if len(op) > 1 and set(op) <= _OPERATOR_CHARS and "--" not in op and "/*" not in op
    )
    continuation = _CONTINUATION.pattern
    # Alternatives in order of frequency: the engine tries them one after the other.
    return re.compile(
        rf"""
        {_GAP}
        (?P<token>
            (?=[cdfgopsCDFGOPS])(?i:{phrases})(?![{_LETTER}0-9$])
          | (?![bBeEnNxX]'|[uU]&['"])[{_LETTER}][{_LETTER}0-9$]*+
          | (?:{operators}|(?!--|/\*)[~!@\#^&|`?+\-*/%<>=])(?!(?<=-)-|(?<=/)\*)
          | ::|:=|[,()\[\].;:]
          | (?>[0-9]+(?=\.\.)|[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?>[eE][-+]?[0-9]+)?(?![{_LETTER}])
          | (?:[eE]'(?:[^\\']|\\(?s:.)|'')*+'|(?:[uU]&|[nN])?'(?:[^']|'')*+'|[bBxX]'[^']*+')
                (?!{continuation})
          | (?:[uU]&)?"(?:[^"]|"")++"
          | \$(?P<tag>(?:[{_LETTER}][{_LETTER}0-9]*)?)\$(?s:.*?)\$(?P=tag)\$
          | \$(?=[0-9]++(?![{_LETTER}]))
          | (?P<end>\Z)
          | (?P<bad>(?s:.+))
        )
        """,
        re.VERBOSE,
    )


_FAST = _fast_pattern()


def agrees_quickly(text: str, tokens: list[Token]) -> bool:
    """True when sqlglot's `tokens` are exactly the fast path's spans of `text`; False means
    "not known", for `lex` and `first_disagreement` to decide."""
    if _FOREIGN_SPACE.search(text) is not None:
        return False
    matches = list(_FAST.finditer(text))
    if matches[-1].group("end") is not None:
        matches.pop()
    # `bad` takes the rest of the text, so it can only be the last token.
    if matches and matches[-1].group("bad") is not None:
        return False
    if len(matches) != len(tokens):
        return False
    return [m.span("token") for m in matches] == [(t.start, t.end + 1) for t in tokens]


# --- the slow path ------------------------------------------------------------------------------
# sqlglot tokens whose content is inert, like PostgreSQL's OPAQUE tokens.
_SQLGLOT_OPAQUE = frozenset(
    {
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.BYTE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.RAW_STRING,
        TokenType.UNICODE_STRING,
    }
)


def first_disagreement(text: str, pg_tokens: list[PgToken], tokens: list[Token]) -> int | None:
    """The position where sqlglot's `tokens` and PostgreSQL's `pg_tokens` of `text` first
    disagree about a boundary, or None when they agree.

    Each sqlglot token must start and end where PostgreSQL tokens do, and together they must
    cover every PostgreSQL token. sqlglot may split or join SPLIT tokens (`.5` is a dot and a
    number to it), and it reads a keyword phrase such as ORDER BY as one token over several
    words; everything else must match one to one.
    """
    index, count = 0, len(pg_tokens)
    inside = -1  # where the previous sqlglot token stopped inside a SPLIT token
    for token in tokens:
        start, end = token.start, token.end + 1
        opaque = token.token_type in _SQLGLOT_OPAQUE
        if inside >= 0:
            if start != inside or opaque:
                return start
        elif index >= count or pg_tokens[index].start != start:
            return start
        first = index
        while index < count and pg_tokens[index].end <= end:
            index += 1
        whole = pg_tokens[first:index]
        inside = -1
        if index < count and pg_tokens[index].start < end:
            # Ends inside the next PostgreSQL token: only a SPLIT token may be cut.
            if opaque or pg_tokens[index].kind != SPLIT:
                return start
            inside = end
        elif not whole or whole[-1].end != end:
            return start  # ends in whitespace or a comment
        if opaque:
            if not _one_opaque(text, whole):
                return start
        elif any(pg.kind == OPAQUE for pg in whole):
            return start
        elif len(whole) > 1 or (whole and " " in token.text):
            if not _joined(whole, token):
                return start
    if inside >= 0:
        return inside
    return pg_tokens[index].start if index < count else None


def _one_opaque(text: str, whole: list[PgToken]) -> bool:
    """A sqlglot string or quoted name is one PostgreSQL one, or the gateway's merged
    U&"..." UESCAPE '!' (dialect.py)."""
    if len(whole) == 1:
        return whole[0].kind == OPAQUE
    return (
        len(whole) == 3
        and whole[0].kind == OPAQUE
        and text[whole[1].start : whole[1].end].lower() == "uescape"
        and whole[2].kind == OPAQUE
    )


def _joined(whole: list[PgToken], token: Token) -> bool:
    """Several PostgreSQL tokens read as one sqlglot token: adjacent SPLIT tokens (`1.` over
    `1..2`), or a keyword phrase of several words separated by whitespace (ORDER BY)."""
    if all(pg.kind == SPLIT for pg in whole):
        return all(a.end == b.start for a, b in itertools.pairwise(whole))
    return (
        " " in token.text
        and len(whole) == len(token.text.split())
        and all(pg.kind == WORD for pg in whole)
    )
