"""What the guard's grammars share about sqlglot tokens: which are literals, and a cursor that
walks a statement's tokens for the utility grammars of each dialect."""

from __future__ import annotations

from sqlglot.tokens import Token, TokenType

# Literal tokens: their value is data, never a keyword or a name.
LITERAL_TOKENS = frozenset(
    {
        TokenType.STRING,
        TokenType.NUMBER,
        TokenType.NATIONAL_STRING,
        TokenType.BYTE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.RAW_STRING,
    }
)
# Tokens that can never be a keyword: literals and quoted names.
_NEVER_KEYWORDS = LITERAL_TOKENS | {TokenType.IDENTIFIER}


class TokenCursor:
    """A position in one statement's tokens. Grammars accept keywords and names from it and
    must consume every token of a statement they allow."""

    def __init__(self, tokens: list[Token], source: str) -> None:
        self.tokens = tokens
        self.source = source
        self.index = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.tokens)

    def peek(self, offset: int = 0) -> str:
        """The keyword at the cursor (upper-cased), or "" for the end, a literal or a quoted
        name."""
        index = self.index + offset
        if index >= len(self.tokens):
            return ""
        token = self.tokens[index]
        if token.token_type in _NEVER_KEYWORDS:
            return ""
        return token.text.upper()

    def accept(self, *words: str) -> str | None:
        word = self.peek()
        if word and word in words:
            self.index += 1
            return word
        return None

    def accept_sequence(self, *words: str) -> bool:
        if all(self.peek(i) == word for i, word in enumerate(words)):
            self.index += len(words)
            return True
        return False

    def at_name(self) -> bool:
        """Whether the cursor is at a name: a word or a quoted identifier."""
        if self.done:
            return False
        token = self.tokens[self.index]
        return token.token_type == TokenType.IDENTIFIER or (
            token.token_type not in LITERAL_TOKENS and token.text.replace("_", "").isalnum()
        )

    def name(self) -> str | None:
        """Consume a name and return it, or return None."""
        if not self.at_name():
            return None
        self.index += 1
        return self.tokens[self.index - 1].text

    def rest(self) -> str:
        """The source text from the cursor to the end of the statement."""
        if self.done:
            return ""
        return self.source[self.tokens[self.index].start :]


# What may follow a column alias.
_ALIAS_END = frozenset({TokenType.COMMA, TokenType.FROM, TokenType.R_PAREN, TokenType.SEMICOLON})


def keyword_aliases_as_names(tokens: list[Token]) -> list[Token] | None:
    """The tokens with `AS select` read as a name, or None when there is none. PostgreSQL takes
    any keyword as a column alias after AS; sqlglot takes all but SELECT (Metabase's
    table-privilege query has `... as select`). Only the parse sees the change: the text, and
    the PostgreSQL lexer's cross-check of it, are untouched, and the tree is checked in full."""
    retyped = list(tokens)
    changed = False
    for index in range(1, len(retyped)):
        token = retyped[index]
        following = (
            retyped[index + 1].token_type if index + 1 < len(retyped) else TokenType.SEMICOLON
        )
        if (
            token.token_type == TokenType.SELECT
            and retyped[index - 1].token_type == TokenType.ALIAS
            and following in _ALIAS_END
        ):
            retyped[index] = Token(
                TokenType.VAR,
                token.text,
                token.line,
                token.col,
                token.start,
                token.end,
                token.comments,
            )
            changed = True
    return retyped if changed else None
