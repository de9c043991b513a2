"""Bearer tokens of the HTTP API: made by `metahog token create`, kept in the config only as a
SHA-256 digest. A token is 32 random bytes, so a plain hash is as strong as a slow one: there
is no dictionary to guess from."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from gateway.config import ApiToken

PREFIX = "mhg_"


def new_token() -> str:
    # The prefix lets secret scanners and people recognise a MetaHog token.
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_token(authorization: str | None, tokens: Iterable[ApiToken]) -> ApiToken | None:
    """The configured token an `Authorization: Bearer ...` header presents, if any. Every
    configured digest is compared in constant time, so timing says nothing about which is near."""
    if not authorization:
        return None
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    wanted = digest(presented.strip()).encode()
    found = None
    for token in tokens:
        if hmac.compare_digest(wanted, token.sha256.encode()):
            found = token
    return found
