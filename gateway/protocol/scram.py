"""SCRAM-SHA-256 (RFC 5802, RFC 7677) on the server side, with PostgreSQL's verifier format
`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` and tls-server-end-point channel
binding (SCRAM-SHA-256-PLUS).

scramp derives verifiers, but its server refuses the empty user name that every PostgreSQL
client sends in client-first-message (the user travels in the StartupMessage instead), so the
server side of the exchange lives here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from scramp import ScramMechanism
from scramp.core import saslprep

DEFAULT_ITERATIONS = 4096
_PREFIX = "SCRAM-SHA-256$"


@dataclass(frozen=True)
class ScramVerifier:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def auth_info(self) -> tuple[bytes, bytes, bytes, int]:
        """The tuple scramp's server asks its auth_fn for."""
        return self.salt, self.stored_key, self.server_key, self.iterations

    def encode(self) -> str:
        b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
        return (
            f"{_PREFIX}{self.iterations}:{b64(self.salt)}"
            f"${b64(self.stored_key)}:{b64(self.server_key)}"
        )

    def matches(self, password: str) -> bool:
        """Check a cleartext password (from a PasswordMessage over TLS) against the verifier."""
        stored_key, _ = _derive_keys(password, self.salt, self.iterations)
        return hmac.compare_digest(stored_key, self.stored_key)


def is_verifier(text: str) -> bool:
    return text.startswith(_PREFIX)


def parse_verifier(text: str) -> ScramVerifier:
    try:
        rest = text.removeprefix(_PREFIX)
        head, keys = rest.split("$", 1)
        iterations, salt = head.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        return ScramVerifier(
            salt=base64.b64decode(salt, validate=True),
            stored_key=base64.b64decode(stored_key, validate=True),
            server_key=base64.b64decode(server_key, validate=True),
            iterations=int(iterations),
        )
    except ValueError as exc:
        raise ValueError("not a SCRAM-SHA-256 verifier in PostgreSQL's format") from exc


def make_verifier(password: str, iterations: int = DEFAULT_ITERATIONS) -> ScramVerifier:
    salt, stored_key, server_key, count = ScramMechanism("SCRAM-SHA-256").make_auth_info(
        password, iteration_count=iterations
    )
    return ScramVerifier(salt=salt, stored_key=stored_key, server_key=server_key, iterations=count)


@lru_cache(maxsize=1024)
def verifier_for(configured: str) -> ScramVerifier:
    """The verifier for a configured password: parsed as-is, or derived once from plaintext."""
    if is_verifier(configured):
        return parse_verifier(configured)
    return make_verifier(configured)


_MOCK_SECRET = secrets.token_bytes(32)


def mock_verifier(username: str) -> ScramVerifier:
    """A verifier for a user who does not exist. Its salt is stable per name, so that probing
    the salt cannot tell a real user from an unknown one; no password matches it."""
    salt = hmac.new(_MOCK_SECRET, username.encode(), hashlib.sha256).digest()[:16]
    return ScramVerifier(
        salt=salt,
        stored_key=secrets.token_bytes(32),
        server_key=secrets.token_bytes(32),
        iterations=DEFAULT_ITERATIONS,
    )


def _derive_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    try:
        prepared = saslprep(password)
    except Exception:
        # PostgreSQL uses the raw password when SASLprep fails; so do we.
        prepared = password
    salted = hashlib.pbkdf2_hmac("sha256", prepared.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


class ScramFailure(Exception):
    """The exchange failed; `bad_proof` tells a wrong password from a malformed exchange."""

    def __init__(self, message: str, bad_proof: bool = False) -> None:
        super().__init__(message)
        self.bad_proof = bad_proof


class ScramServerExchange:
    """One SASL exchange: client-first to server-first, then client-final to server-final."""

    def __init__(
        self, mechanism: str, verifier: ScramVerifier, channel_binding: bytes | None
    ) -> None:
        self.mechanism = mechanism
        self.verifier = verifier
        # The tls-server-end-point hash when the connection is TLS (PLUS was offered).
        self.channel_binding = channel_binding
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def server_first(self, client_first: str) -> str:
        flag, sep, rest = client_first.partition(",")
        authzid, sep2, bare = rest.partition(",")
        if not sep or not sep2:
            raise ScramFailure("malformed SCRAM client-first-message")
        if flag == "p=tls-server-end-point":
            if self.mechanism != "SCRAM-SHA-256-PLUS" or self.channel_binding is None:
                raise ScramFailure("channel binding requested but not negotiated")
        elif flag.startswith("p="):
            raise ScramFailure(f"unsupported channel binding type {flag[2:]!r}")
        elif flag == "y":
            if self.channel_binding is not None:
                # The client believes the server cannot bind the channel, but it offered PLUS:
                # somebody stripped it from the offer.
                raise ScramFailure("SCRAM channel binding negotiation error")
        elif flag != "n":
            raise ScramFailure("malformed SCRAM client-first-message")
        if self.mechanism.endswith("-PLUS") and not flag.startswith("p="):
            raise ScramFailure("SCRAM-SHA-256-PLUS selected without channel binding")
        if authzid:
            raise ScramFailure("authorization identities are not supported")
        attributes = _attributes(bare)
        client_nonce = attributes.get("r", "")
        if not client_nonce or "m" in attributes:
            raise ScramFailure("malformed SCRAM client-first-message")
        self._gs2_header = f"{flag},{authzid},"
        self._client_first_bare = bare
        self._nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        salt = base64.b64encode(self.verifier.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={self.verifier.iterations}"
        return self._server_first

    def server_final(self, client_final: str) -> str:
        without_proof, sep, proof_part = client_final.rpartition(",p=")
        if not sep:
            raise ScramFailure("malformed SCRAM client-final-message")
        attributes = _attributes(without_proof)
        expected_binding = self._gs2_header.encode()
        if self._gs2_header.startswith("p=") and self.channel_binding is not None:
            expected_binding += self.channel_binding
        try:
            binding = base64.b64decode(attributes.get("c", ""), validate=True)
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise ScramFailure("malformed SCRAM client-final-message") from None
        if not hmac.compare_digest(binding, expected_binding):
            raise ScramFailure("SCRAM channel binding check failed")
        if attributes.get("r") != self._nonce:
            raise ScramFailure("SCRAM nonce mismatch")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        signature = hmac.new(self.verifier.stored_key, auth_message, hashlib.sha256).digest()
        if len(proof) != len(signature):
            raise ScramFailure("invalid SCRAM proof", bad_proof=True)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.verifier.stored_key):
            raise ScramFailure("invalid SCRAM proof", bad_proof=True)
        server_signature = hmac.new(self.verifier.server_key, auth_message, hashlib.sha256).digest()
        return "v=" + base64.b64encode(server_signature).decode()


def _attributes(text: str) -> dict[str, str]:
    attributes = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or len(name) != 1:
            raise ScramFailure("malformed SCRAM message")
        attributes[name] = value
    return attributes
