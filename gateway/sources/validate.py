"""Does a source's configuration work? Connect with its credentials, run a trivial query, and say
why not when it fails; and read its tables, for `metahog source schema`.

Failures are `ValidationFailed(reason, message)`. The reason is one of REASONS, for programs
(the CLI's exit, the HTTP API's answer); the message is one line for people. Neither ever holds a
secret: messages are written here from the source's non-secret parts and the server's own error
text, with any secret of the source blanked out of the latter.

PostgreSQL is checked with asyncpg (decoding, not relaying, is the point here); ClickHouse with
the gateway's own executors; PostHog with the gateway's Query API client.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg

from gateway.backends.clickhouse.executor import (
    ChdbExecutor,
    ClickHouseError,
    HttpExecutor,
    query_settings,
    server_address,
)
from gateway.backends.clickhouse.schema import TableSchema, read_schema
from gateway.config import BackendAddress, Limits, SourceConfig
from gateway.protocol.errors import PgError

REASONS = (
    "unreachable",  # no connection: refused, unknown host, no route
    "timeout",  # no answer in time
    "auth_failed",  # wrong password or key, unknown user, refused by pg_hba
    "database_missing",  # the database (ClickHouse: database; PostHog: project) does not exist
    "schema_missing",  # PostgreSQL: the `schema` does not exist
    "tls_required",  # the server refuses unencrypted connections
    "tls_unavailable",  # TLS was required (sslmode), the server does not offer it
    "tls_failed",  # the TLS handshake failed (certificate verification)
    "permission_denied",  # authenticated, but not allowed (PostHog: no access to the project)
    "ssh_failed",  # the source's SSH server refused us or could not be reached
    "in_use",  # a chDB data directory open in another process
    "rejected",  # any other error the server reported
)

DEFAULT_TIMEOUT = 10.0
T = TypeVar("T")
# A schema of columns: [(table, [(column, type), ...]), ...], tables and columns in order.
SchemaListing = list[tuple[str, list[tuple[str, str]]]]


class ValidationFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


async def validate_source(source: SourceConfig, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Connect to the source with its credentials and run a trivial query; raise
    ValidationFailed saying why that failed."""
    if source.kind == "postgres":
        async with _postgres(source, timeout) as connection:
            await _check_schema(source, connection)
    elif source.kind == "clickhouse":
        await _clickhouse_query(
            source, timeout, lambda executor, settings: executor.execute("SELECT 1", settings)
        )
    else:
        await _hogql(source, timeout, schema=False)


async def read_source_schema(
    source: SourceConfig, timeout: float = DEFAULT_TIMEOUT
) -> SchemaListing:
    """The source's tables and their columns with their types, as the source names them:
    for postgres, the tables of its `schema` (default public) that its user may SELECT from,
    with PostgreSQL types; ClickHouse types for clickhouse and hogql. Raises ValidationFailed
    as validate_source does."""
    if source.kind == "postgres":
        async with _postgres(source, timeout) as connection:
            await _check_schema(source, connection)
            rows = await connection.fetch(_POSTGRES_COLUMNS, source.schema or "public")
        listing: dict[str, list[tuple[str, str]]] = {}
        for table, column, type_ in rows:
            listing.setdefault(table, []).append((column, type_))
        return list(listing.items())
    if source.kind == "clickhouse":
        tables = await _clickhouse_query(
            source, timeout, lambda executor, _settings: read_schema(executor)
        )
    else:
        tables = await _hogql(source, timeout, schema=True)
    return [(t.name, [(c.name, c.clickhouse_type) for c in t.columns]) for t in tables]


# --- PostgreSQL ------------------------------------------------------------------------------
_POSTGRES_COLUMNS = """
SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY c.relname, a.attnum
"""


def _where(address: BackendAddress) -> str:
    return f'{address.host}:{address.port} database "{address.database}" as "{address.user}"'


def _ssl(address: BackendAddress) -> str | ssl.SSLContext:
    if address.sslmode in ("verify-ca", "verify-full"):
        context = ssl.create_default_context(
            cafile=str(address.sslrootcert) if address.sslrootcert else None
        )
        context.check_hostname = address.sslmode == "verify-full"
        return context
    return address.sslmode


@asynccontextmanager
async def _postgres(source: SourceConfig, timeout: float) -> AsyncIterator[asyncpg.Connection]:
    assert source.backend is not None
    if source.ssh is None:
        async with _postgres_at(source.backend, timeout) as connection:
            yield connection
        return
    async with _tunneled(source) as reached:
        assert reached.backend is not None
        async with _postgres_at(reached.backend, timeout, _where(source.backend)) as connection:
            yield connection


@asynccontextmanager
async def _tunneled(source: SourceConfig) -> AsyncIterator[SourceConfig]:
    """The source as reached through its SSH tunnel, open for the block; itself without one."""
    if source.ssh is None:
        yield source
        return
    from gateway.sources.ssh import TunnelError, tunnel_for

    tunnel = tunnel_for(source)
    assert tunnel is not None
    try:
        try:
            await tunnel.start()
        except TunnelError as exc:
            raise ValidationFailed("ssh_failed", exc.message) from None
        yield tunnel.tunneled_source(source)
    finally:
        tunnel.close()


@asynccontextmanager
async def _postgres_at(
    address: BackendAddress, timeout: float, where: str | None = None
) -> AsyncIterator[asyncpg.Connection]:
    where = where or _where(address)
    try:
        connection = await asyncio.wait_for(
            asyncpg.connect(
                host=address.host,
                port=address.port,
                user=address.user,
                password=address.password.reveal(),
                database=address.database,
                ssl=_ssl(address),
                timeout=timeout,
                statement_cache_size=0,
                server_settings={
                    "application_name": "metahog",
                    "default_transaction_read_only": "on",
                },
            ),
            timeout + 1,
        )
    except asyncpg.InvalidPasswordError as exc:
        raise ValidationFailed("auth_failed", f"{where}: {exc}") from None
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        # pg_hba.conf's answer to an unencrypted connection that only hostssl lines allow.
        if "no encryption" in str(exc):
            raise ValidationFailed(
                "tls_required", f"{where}: the server requires TLS (sslmode=require): {exc}"
            ) from None
        raise ValidationFailed("auth_failed", f"{where}: {exc}") from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise ValidationFailed("database_missing", f"{where}: {exc}") from None
    except asyncpg.PostgresError as exc:
        raise ValidationFailed("rejected", f"{where}: {exc.sqlstate} {exc}") from None
    except TimeoutError:
        raise ValidationFailed("timeout", f"{where}: no answer within {timeout:g}s") from None
    except ssl.SSLError as exc:
        raise ValidationFailed("tls_failed", f"{where}: TLS failed: {exc.reason}") from None
    except OSError as exc:
        if "rejected SSL upgrade" in str(exc):
            raise ValidationFailed(
                "tls_unavailable",
                f"{where}: the server does not offer TLS, but sslmode={address.sslmode}",
            ) from None
        raise ValidationFailed(
            "unreachable", f"{where}: cannot connect: {exc.strerror or exc}"
        ) from None
    try:
        yield connection
    finally:
        await connection.close(timeout=timeout)


async def _check_schema(source: SourceConfig, connection: asyncpg.Connection) -> None:
    """The trivial query: does the source's `schema`, if it names one, exist?"""
    found = await connection.fetchval(
        "SELECT $1::text IS NULL OR EXISTS"
        " (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1::text)",
        source.schema,
    )
    if not found:
        assert source.backend is not None
        raise ValidationFailed(
            "schema_missing", f'{_where(source.backend)}: schema "{source.schema}" does not exist'
        )


# --- ClickHouse ------------------------------------------------------------------------------
# AUTHENTICATION_FAILED, UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD
_CLICKHOUSE_AUTH = frozenset({516, 192, 193, 194})
_CLICKHOUSE_UNKNOWN_DATABASE = 81
_CHDB_IN_USE = 36


def _clickhouse_executor(source: SourceConfig, timeout: float) -> HttpExecutor | ChdbExecutor:
    target = source.clickhouse
    assert target is not None
    if target.url is not None:
        return HttpExecutor(target.url.reveal(), connect_timeout=timeout)
    assert target.path is not None
    if not target.path.is_dir():
        raise ValidationFailed(
            "database_missing", f"chDB data directory {target.path} does not exist"
        )
    # The gateway's own executors: one chDB directory is open once per process.
    from gateway.backends.clickhouse.source import ClickHouseSource

    return ClickHouseSource(source).executor


async def _clickhouse_query(
    source: SourceConfig,
    timeout: float,
    run: Callable[[HttpExecutor | ChdbExecutor, dict[str, str]], Awaitable[T]],
) -> T:
    """`run(executor, settings)` on the source, its errors as ValidationFailed."""
    where = _clickhouse_where(source)
    async with _tunneled(source) as reached:
        return await _clickhouse_run(reached, where, timeout, run)


async def _clickhouse_run(
    source: SourceConfig,
    where: str,
    timeout: float,
    run: Callable[[HttpExecutor | ChdbExecutor, dict[str, str]], Awaitable[T]],
) -> T:
    target = source.clickhouse
    assert target is not None
    try:
        executor = _clickhouse_executor(source, timeout)
        settings = query_settings(
            Limits(statement_timeout_ms=int(timeout * 1000)),
            max_rows_to_read=target.max_rows_to_read,
            max_memory_usage=target.max_memory_usage,
        )
        return await asyncio.wait_for(run(executor, settings), 2 * timeout + 1)
    except TimeoutError:
        raise ValidationFailed("timeout", f"{where}: no answer within {timeout:g}s") from None
    except ClickHouseError as exc:
        raise _clickhouse_failure(exc, where, timeout) from None


def _clickhouse_where(source: SourceConfig) -> str:
    target = source.clickhouse
    assert target is not None
    if target.path is not None or target.url is None:
        return f"chDB {target.path}"
    host, port = server_address(target.url.reveal())
    return f"ClickHouse {host}:{port}"


def _clickhouse_failure(exc: ClickHouseError, where: str, timeout: float) -> ValidationFailed:
    message = exc.message
    if exc.code in _CLICKHOUSE_AUTH:
        return ValidationFailed("auth_failed", f"{where}: {message}")
    if exc.code == _CLICKHOUSE_UNKNOWN_DATABASE:
        return ValidationFailed("database_missing", f"{where}: {message}")
    if exc.code == _CHDB_IN_USE:
        return ValidationFailed("in_use", f"{where}: {message}")
    if exc.code != 0:
        return ValidationFailed("rejected", f"{where}: ClickHouse error {exc.code}: {message}")
    if "timed out" in message or message.startswith("TimeoutError"):
        return ValidationFailed("timeout", f"{where}: no answer within {timeout:g}s")
    if message.startswith(("SSLError", "SSLCertVerificationError")):
        return ValidationFailed("tls_failed", f"{where}: {message}")
    return ValidationFailed("unreachable", f"{where}: cannot connect: {message}")


# --- PostHog ---------------------------------------------------------------------------------
async def _hogql(source: SourceConfig, timeout: float, *, schema: bool) -> list[TableSchema]:
    from gateway.backends.hogql.source import HogQLSource

    target = source.hogql
    assert target is not None
    where = f"PostHog {target.host} project {target.project_id}"
    passthrough_only = target.passthrough and not target.api_key
    if passthrough_only and schema:
        raise ValidationFailed(
            "auth_failed",
            f"{where}: the source has no api_key (auth = passthrough) to read its schema with",
        )
    posthog = HogQLSource(source)
    posthog.client.request_timeout = timeout  # so the command ends when the wait does
    try:
        if schema:
            return await asyncio.wait_for(posthog.refresh(), timeout)
        await asyncio.wait_for(
            posthog.client.run(
                {"kind": "HogQLQuery", "query": "SELECT 1"}, query_id=uuid.uuid4().hex
            ),
            timeout,
        )
        return []
    except TimeoutError:
        raise ValidationFailed("timeout", f"{where}: no answer within {timeout:g}s") from None
    except PgError as exc:
        # Without a key of its own, a passthrough source is checked for reachability only:
        # PostHog answering "not authenticated" is the expected answer.
        if passthrough_only and exc.sqlstate == "28000":
            return []
        raise _hogql_failure(exc, where) from None


def _hogql_failure(exc: PgError, where: str) -> ValidationFailed:
    message = str(exc.message)
    if exc.sqlstate == "28000":
        return ValidationFailed("auth_failed", f"{where}: {message}")
    if exc.sqlstate == "42501":
        return ValidationFailed("permission_denied", f"{where}: {message}")
    if "not found (HTTP 404)" in message:
        return ValidationFailed("database_missing", f"{where}: {message}")
    if "unreachable" in message:
        return ValidationFailed("unreachable", f"{where}: {message}")
    return ValidationFailed("rejected", f"{where}: {message}")
