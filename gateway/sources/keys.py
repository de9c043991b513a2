"""The keys that encrypt the source registry's secrets at rest (Fernet, rotated with MultiFernet).

Keys come from one place, chosen once:

- the `METAHOG_KEYS` environment variable: Fernet keys separated by commas, newest first; or
- a key file (default `metahog.key` next to the config): one key per line, newest first. It must
  be readable by its owner only (mode 0600), or it is refused: a key anyone can read protects
  nothing. It is created, with one new key, the first time a secret is stored.

The newest key encrypts; every listed key decrypts. `rotate` re-encrypts with a new newest key,
after which the older keys are no longer needed (see `gateway.sources.registry.Registry.rotate`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV = "METAHOG_KEYS"


class KeysUnavailable(Exception):
    """No usable key: the message says where keys were looked for, and never shows one."""


@dataclass(frozen=True)
class KeyRing:
    """The registry's keys, newest first, and where they came from."""

    keys: tuple[bytes, ...]
    origin: str  # "METAHOG_KEYS" or the key file's path, for messages

    def __repr__(self) -> str:
        return f"KeyRing({len(self.keys)} keys from {self.origin})"

    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._unseal(token, lambda fernet, data: fernet.decrypt(data))

    def rotate(self, token: str) -> str:
        """The token re-encrypted with the newest key."""
        return self._unseal(token, lambda fernet, data: fernet.rotate(data))

    def _unseal(self, token: str, operation: Callable[[MultiFernet, bytes], bytes]) -> str:
        try:
            return operation(self._fernet(), token.encode()).decode()
        except (InvalidToken, ValueError):
            raise KeysUnavailable(
                f"a registry secret cannot be decrypted with the keys from {self.origin}"
                " (a key was removed before `metahog keys rotate` re-encrypted it?)"
            ) from None


def _parse_keys(text: str, origin: str) -> tuple[bytes, ...]:
    keys = tuple(
        part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip()
    )
    if not keys:
        raise KeysUnavailable(f"{origin} holds no key")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except ValueError:
            raise KeysUnavailable(
                f"{origin}: key {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def from_environment() -> KeyRing | None:
    text = os.environ.get(KEYS_ENV)
    if text is None or not text.strip():
        return None
    return KeyRing(_parse_keys(text, KEYS_ENV), KEYS_ENV)


def read_key_file(path: Path) -> KeyRing | None:
    """The key file's keys, or None if there is no key file. Refuses a file that others may
    read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_IMODE(mode) & 0o077:
        raise KeysUnavailable(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}; it must be 0600 (chmod 600 {path})"
        )
    return KeyRing(_parse_keys(path.read_text(), str(path)), str(path))


def load_keys(key_file: Path) -> KeyRing | None:
    """The keys to use: METAHOG_KEYS if set, else the key file, else None."""
    return from_environment() or read_key_file(key_file)


def require_keys(key_file: Path) -> KeyRing:
    ring = load_keys(key_file)
    if ring is None:
        raise KeysUnavailable(
            f"no key to decrypt the source registry: set {KEYS_ENV} or create {key_file}"
        )
    return ring


def load_or_create_keys(key_file: Path) -> KeyRing:
    """The keys to encrypt with; a key file with one new key is created if there are none."""
    ring = load_keys(key_file)
    if ring is not None:
        return ring
    write_key_file(key_file, (Fernet.generate_key(),))
    return KeyRing(_parse_keys(key_file.read_text(), str(key_file)), str(key_file))


def write_key_file(path: Path, keys: tuple[bytes, ...]) -> None:
    """Replace the key file atomically; it is 0600 from its creation, never readable by others
    even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, b"".join(key + b"\n" for key in keys))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def new_key() -> bytes:
    return Fernet.generate_key()
