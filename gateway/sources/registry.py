"""The source registry: sources added with `metahog source add` (or the HTTP API), kept in one
JSON file next to the config, with every secret encrypted (see `keys`).

Each record has the shape of a `[sources.NAME]` table of the TOML config, so registry sources
are parsed and validated by the config's own parser (`gateway.config.parse_config`). Secrets
never sit in it as plaintext:

- in a URL (a postgres `dsn`, a clickhouse `url`), the password is taken out of the URL (from
  its user-info or a `password` parameter) and stored encrypted under the URL's key;
- a secret key (a hogql `api_key`) is stored encrypted whole.

    {"version": 1, "sources": {"app": {"kind": "postgres",
        "dsn": "postgresql://reader@db:5432/app?sslmode=require", "schema": "public",
        "encrypted": {"dsn": "gAAAAA..."}}}}

Writers (the CLI, the gateway's HTTP API, key rotation) take an exclusive lock on a lock file
beside the registry, read, change, and replace the file atomically (write a temporary file,
fsync, rename), so a reader never sees half a file and two writers never lose each other's
change. Readers take a shared lock, so a key rotation is never seen half-done.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from gateway.config import ConfigError, RegistryConfig
from gateway.sources import keys as keyring
from gateway.sources.keys import KeyRing, KeysUnavailable

FORMAT_VERSION = 1
# Keys whose value is a URL that may carry a password; and keys that are secrets whole.
URL_KEYS = ("dsn", "url")
SECRET_KEYS = ("api_key",)
# Shown in place of a secret where a source is described without its keys (`source list`).
PLACEHOLDER = "***"


class RegistryError(Exception):
    """The registry cannot be read or changed; the message never shows a secret."""


# --- secrets in and out of a source table ------------------------------------------------
def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (decoded), if it had one."""
    parts = urlsplit(url)
    password: str | None = None
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        user, colon, secret = userinfo.partition(":")
        if colon:
            password = unquote(secret)
            netloc = f"{user}@{host}"
    query = []
    for item in filter(None, parts.query.split("&")):
        name, _, value = item.partition("=")
        if unquote(name) == "password":
            password = password if password is not None else unquote(value)
        else:
            query.append(item)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(query))), password


def join_password(url: str, password: str) -> str:
    """The URL with the password put back into its user-info."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        userinfo, host = "", parts.netloc
    netloc = f"{userinfo}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def seal(table: dict[str, Any], ring: KeyRing | None) -> dict[str, Any]:
    """A registry record of a source table: its secrets encrypted, the rest as it was. `ring` may
    be None only when the table has no secret."""
    record = dict(table)
    encrypted: dict[str, str] = {}
    for key in URL_KEYS:
        if isinstance(record.get(key), str):
            record[key], password = split_password(record[key])
            if password:
                encrypted[key] = _encrypt(ring, password)
    for key in SECRET_KEYS:
        value = record.pop(key, None)
        if value:
            encrypted[key] = _encrypt(ring, str(value))
    if encrypted:
        record["encrypted"] = encrypted
    return record


def has_secrets(table: dict[str, Any]) -> bool:
    return any(
        isinstance(table.get(key), str) and split_password(table[key])[1] for key in URL_KEYS
    ) or any(table.get(key) for key in SECRET_KEYS)


def _encrypt(ring: KeyRing | None, plaintext: str) -> str:
    if ring is None:
        raise RegistryError("a secret needs a key to be stored")
    return ring.encrypt(plaintext)


def unseal(record: dict[str, Any], ring: KeyRing | None) -> dict[str, Any]:
    """The source table of a record, secrets decrypted; with no ring, each secret is
    PLACEHOLDER (enough to describe the source, not to reach it)."""
    table = {k: v for k, v in record.items() if k != "encrypted"}
    encrypted = record.get("encrypted") or {}
    if not isinstance(encrypted, dict):
        raise RegistryError("a record's `encrypted` is not an object")
    for key, token in encrypted.items():
        secret = ring.decrypt(str(token)) if ring is not None else PLACEHOLDER
        if key in URL_KEYS and isinstance(table.get(key), str):
            table[key] = join_password(table[key], secret)
        else:
            table[key] = secret
    return table


# --- the file --------------------------------------------------------------------------------
class Registry:
    """The registry file of one config. Reads need a key only when they decrypt."""

    def __init__(self, config: RegistryConfig) -> None:
        self.path = config.path
        self.key_file = config.key_file
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        try:
            if exclusive:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if exclusive:
                raise RegistryError(f"cannot lock {self._lock_path}: {exc.strerror}") from None
            # A reader that may not create the lock file (a read-only config directory) reads
            # unlocked: replacements are atomic, only a rotation in progress could be seen.
            yield
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(descriptor)

    def records(self) -> dict[str, dict[str, Any]]:
        """The stored records, secrets still encrypted; {} when there is no registry file."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise RegistryError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RegistryError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            raise RegistryError(f"{self.path}: expected an object with `sources`")
        if data.get("version") != FORMAT_VERSION:
            raise RegistryError(f"{self.path}: unknown format version {data.get('version')!r}")
        sources = data["sources"]
        for name, record in sources.items():
            if not isinstance(record, dict):
                raise RegistryError(f"{self.path}: source {name!r} is not an object")
        return sources

    def tables(self) -> dict[str, dict[str, Any]]:
        """Every source table with its secrets decrypted."""
        if not self.path.exists():
            return {}  # and no lock file made beside a config that has no registry
        with self._locked(exclusive=False):
            records = self.records()
            if not any(record.get("encrypted") for record in records.values()):
                return {name: unseal(record, None) for name, record in records.items()}
            ring = keyring.require_keys(self.key_file)
            return {name: unseal(record, ring) for name, record in records.items()}

    def public_tables(self) -> dict[str, dict[str, Any]]:
        """Every source table with PLACEHOLDER for each secret: needs no key."""
        return {name: unseal(record, None) for name, record in self.records().items()}

    def add(self, name: str, table: dict[str, Any]) -> None:
        """Store a new source (a table with plaintext secrets); a key file is created if no
        key exists yet and the table has a secret."""
        with self._locked(exclusive=True):
            records = self.records()
            if name in records:
                raise RegistryError(f"source {name!r} is already in the registry")
            ring = keyring.load_keys(self.key_file)
            if ring is None and has_secrets(table):
                ring = keyring.load_or_create_keys(self.key_file)
            records[name] = seal(table, ring)
            self._write(records)

    def remove(self, name: str) -> None:
        with self._locked(exclusive=True):
            records = self.records()
            if name not in records:
                raise RegistryError(f"source {name!r} is not in the registry")
            del records[name]
            self._write(records)

    def rotate(self) -> int:
        """Re-encrypt every secret with a new key and drop the old keys; returns how many
        secrets were re-encrypted.

        With a key file: a new key is added first (the file then holds new and old keys, so
        every reader can still decrypt), the registry is re-encrypted with it, and only then are
        the old keys removed from the file. With METAHOG_KEYS: the operator puts the new key
        first (`metahog keys generate`); everything is re-encrypted with it, and the older keys
        may then be removed from the variable."""
        with self._locked(exclusive=True):
            environment = keyring.from_environment()
            if environment is not None:
                ring = environment
            else:
                old = keyring.read_key_file(self.key_file)
                if old is None:
                    raise RegistryError(
                        f"no key to rotate: set {keyring.KEYS_ENV} or create {self.key_file}"
                        " (`metahog source add` creates it)"
                    )
                fresh = keyring.new_key()
                keyring.write_key_file(self.key_file, (fresh, *old.keys))
                ring = KeyRing((fresh, *old.keys), str(self.key_file))
            records = self.records()
            count = 0
            for record in records.values():
                encrypted = record.get("encrypted") or {}
                for key, token in encrypted.items():
                    encrypted[key] = ring.rotate(str(token))
                    count += 1
            self._write(records)
            if environment is None:
                keyring.write_key_file(self.key_file, ring.keys[:1])
            return count

    def _write(self, records: dict[str, dict[str, Any]]) -> None:
        data = json.dumps({"version": FORMAT_VERSION, "sources": records}, indent=2) + "\n"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, data.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self.path)


def read_registry_tables(config: RegistryConfig) -> dict[str, dict[str, Any]]:
    """The registry's source tables, decrypted, for `gateway.config.load_effective_config`."""
    try:
        return Registry(config).tables()
    except (RegistryError, KeysUnavailable) as exc:
        raise ConfigError(f"source registry {config.path}: {exc}") from None
