"""sqlglot's PostgreSQL dialect with the corrections the gateway needs to read what real clients
send. Each correction is a small override, named and tested, in the way sqlglot's own dialects
differ from each other."""

from __future__ import annotations

from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType


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
