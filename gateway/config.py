"""Configuration: the TOML file, loaded once into typed, validated objects.

Every validation error names the offending key, so a broken config fails at startup with a
message the operator can act on.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.secret import Secret

TLS_MODES = ("auto", "require", "off")
AUTH_METHODS = ("scram-sha-256", "password")
SOURCE_KINDS = ("postgres", "clickhouse", "hogql")
HOGQL_DIALECTS = ("postgres", "hogql")
HOGQL_AUTH = ("api_key", "passthrough")
# The database name of the admin console (gateway/admin); no source may take it.
ADMIN_DATABASE = "metahog"


class ConfigError(ValueError):
    """The config is invalid; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 6543
    tls: str = "auto"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Where generated state (the self-signed certificate) is kept between runs.
    state_dir: Path = Path(".metahog")
    auth: str = "scram-sha-256"
    # Bounds that keep a misbehaving client from tying up the gateway.
    auth_timeout: float = 10.0
    max_message_size: int = 64 * 1024 * 1024
    max_client_connections: int = 1000
    # On SIGTERM, running statements may finish for this long (seconds); then they are
    # cancelled on their backends and the gateway exits.
    shutdown_timeout: float = 30.0


@dataclass(frozen=True)
class ApiToken:
    """A bearer token of the HTTP API, kept only as the SHA-256 of the token (hex), so the
    config never holds a usable credential. `admin` tokens may also add and remove sources."""

    user: str
    sha256: str
    admin: bool = False


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP port: health checks, Prometheus metrics and the direct-query API. Off unless
    `[http] port` is set, so two gateways on one machine never collide on a default port."""

    host: str = "127.0.0.1"
    port: int | None = None
    tokens: tuple[ApiToken, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.port is not None


@dataclass(frozen=True)
class AuditConfig:
    """The audit log: one JSON line per statement, rotated by size. Off unless `path` is set.
    Literals are redacted unless `redact_literals = false` (passwords always are)."""

    path: Path | None = None
    max_bytes: int = 100 * 1024 * 1024
    backup_count: int = 5
    redact_literals: bool = True


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LoggingConfig:
    """The process's log: its level (`metahog serve --log-level` overrides it) and format."""

    level: str = "info"
    format: str = "text"


@dataclass(frozen=True)
class Limits:
    """Per-statement and per-session limits. None means no limit at this level; a source's and a
    user's limits combine to the stricter of the two."""

    max_rows: int | None = None
    statement_timeout_ms: int | None = None
    max_concurrent_queries: int | None = None
    max_prepared_statements: int | None = None
    max_portals: int | None = None

    def combine(self, other: Limits) -> Limits:
        def stricter(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        return Limits(
            max_rows=stricter(self.max_rows, other.max_rows),
            statement_timeout_ms=stricter(self.statement_timeout_ms, other.statement_timeout_ms),
            max_concurrent_queries=stricter(
                self.max_concurrent_queries, other.max_concurrent_queries
            ),
            max_prepared_statements=stricter(
                self.max_prepared_statements, other.max_prepared_statements
            ),
            max_portals=stricter(self.max_portals, other.max_portals),
        )


LIMIT_KEYS = frozenset(
    {
        "max_rows",
        "statement_timeout",
        "max_concurrent_queries",
        "max_prepared_statements",
        "max_portals",
    }
)


SOURCE_DEFAULT_LIMITS = Limits(
    statement_timeout_ms=60_000, max_prepared_statements=1000, max_portals=1000
)


@dataclass(frozen=True)
class UserConfig:
    name: str
    password: Secret
    sources: tuple[str, ...] | None = None
    limits: Limits = Limits()
    # Admin users may also connect to the admin console, the database `metahog`.
    admin: bool = False

    def may_use(self, source: str) -> bool:
        return self.sources is None or source in self.sources


@dataclass(frozen=True)
class BackendAddress:
    """Where and how to reach a PostgreSQL server, parsed from a libpq-style URL."""

    host: str
    port: int
    user: str
    password: Secret
    database: str
    sslmode: str = "prefer"
    sslrootcert: Path | None = None
    connect_timeout: float = 10.0

    @classmethod
    def from_dsn(cls, dsn: str, key: str) -> BackendAddress:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ConfigError(f"{key}: expected a postgresql:// URL")
        query: dict[str, str] = {}
        for item in filter(None, parts.query.split("&")):
            name, _, value = item.partition("=")
            query[unquote(name)] = unquote(value)
        sslmode = query.pop("sslmode", "prefer")
        if sslmode not in ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"):
            raise ConfigError(f"{key}: unknown sslmode {sslmode!r}")
        host = unquote(parts.hostname or "") or query.pop("host", "localhost")
        try:
            port = int(query.pop("port", parts.port or 5432))
        except ValueError as exc:
            raise ConfigError(f"{key}: invalid port") from exc
        user = unquote(parts.username or query.pop("user", ""))
        if not user:
            raise ConfigError(f"{key}: the URL names no user")
        database = unquote(parts.path.lstrip("/")) or query.pop("dbname", user)
        rootcert = query.pop("sslrootcert", None)
        timeout = float(query.pop("connect_timeout", 10))
        return cls(
            host=host,
            port=port,
            user=user,
            password=Secret(unquote(parts.password or query.pop("password", ""))),
            database=database,
            sslmode=sslmode,
            sslrootcert=Path(rootcert) if rootcert else None,
            connect_timeout=timeout,
        )


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where a ClickHouse source's data lives: a server's HTTP interface, or an embedded chDB
    data directory. `max_rows_to_read` and `max_memory_usage` bound each query there."""

    url: Secret | None = None  # the URL may carry a password
    path: Path | None = None
    max_rows_to_read: int = 10_000_000_000
    max_memory_usage: int = 4 * 1024**3


@dataclass(frozen=True)
class HogQLTarget:
    """A PostHog project reached through its Query API. PostHog caps a HogQL query's rows
    (LIMIT 100 when it has none, 50,000 at most), so the gateway adds `default_limit` when a
    query has no LIMIT and pages larger results `max_limit` rows at a time. `dialect` is what
    data queries are written in: PostgreSQL (translated to HogQL) or HogQL (sent as written)."""

    host: str
    project_id: int
    api_key: Secret
    default_limit: int = 100
    max_limit: int = 50_000
    dialect: str = "postgres"
    # 429 answers are retried this many times (honouring Retry-After) before the client gets
    # 53400; and a Retry-After longer than `max_retry_wait` seconds is not waited for.
    max_retries: int = 4
    max_retry_wait: float = 30.0
    # `auth = "passthrough"`: each client's password is its user's personal API key, checked
    # with PostHog at login and used for that session's queries. `api_key`, if given too, only
    # reads the schema; without it, the schema is read with the first key that logs in.
    passthrough: bool = False


@dataclass(frozen=True)
class SshConfig:
    """An SSH server through which a source is reached (gateway/sources/ssh.py). The server's
    host key must be in `known_hosts`: there is no trust-on-first-use."""

    host: str
    user: str
    key_file: Path
    known_hosts: Path
    port: int = 22
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    # PostgreSQL sources: the server. ClickHouse sources: None (see `clickhouse`).
    backend: BackendAddress | None
    pool_size: int = 20
    pool_timeout: float = 10.0
    limits: Limits = field(default_factory=lambda: SOURCE_DEFAULT_LIMITS)
    clickhouse: ClickHouseTarget | None = None
    hogql: HogQLTarget | None = None
    # PostgreSQL sources: the schema the backend sessions' search_path names (`schema`), or
    # None for the server's default search_path.
    schema: str | None = None
    # PostgreSQL sources and ClickHouse servers in a private network: reached through this SSH
    # server.
    ssh: SshConfig | None = None

    @property
    def statement_timeout_ms(self) -> int:
        """The backend's own statement_timeout, set at connection start-up."""
        return self.limits.statement_timeout_ms or 0


@dataclass(frozen=True)
class CatalogConfig:
    """The PostgreSQL server holding the shadow catalogs of non-PostgreSQL sources: one
    database per source, named after it. Without a `dsn`, the gateway runs a private cluster
    under `server.state_dir`."""

    dsn: BackendAddress | None = None
    refresh_interval_s: float = 300.0


@dataclass(frozen=True)
class RegistryConfig:
    """Where sources added with `metahog source add` live, and the key file that encrypts their
    secrets (unless METAHOG_KEYS is set). Relative paths are relative to the config's directory."""

    path: Path = Path("sources.json")
    key_file: Path = Path("metahog.key")


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    users: tuple[UserConfig, ...]
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    path: Path | None = None
    catalog: CatalogConfig = CatalogConfig()
    http: HttpConfig = HttpConfig()
    registry: RegistryConfig = RegistryConfig()
    audit: AuditConfig = AuditConfig()
    logging: LoggingConfig = LoggingConfig()
    # Files whose change means the config must be re-read: the TOML file, and anything merged
    # into it (the source registry).
    watch_paths: tuple[Path, ...] = ()

    def user(self, name: str) -> UserConfig | None:
        for user in self.users:
            if user.name == name:
                return user
        return None


def load_config(path: str | Path) -> Config:
    """The TOML file alone, without the source registry's sources."""
    path = Path(path)
    return parse_config(_read_toml(path), base_dir=path.parent, path=path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_effective_config(path: str | Path) -> Config:
    """The config the gateway runs with: the TOML file, plus the sources of the source registry
    (gateway/sources). Start-up and every reload go through here, so both see the same sources;
    a change of either file means a reload."""
    # Imported here: the registry builds on this module's parsers.
    from gateway.sources.registry import read_registry_tables

    path = Path(path)
    raw = _read_toml(path)
    registry = _parse_registry(_table(raw, "registry", "registry"), path.parent)
    tables = read_registry_tables(registry)
    config = parse_config(raw, path.parent, path, registry_sources=tables)
    return replace(config, watch_paths=(path, registry.path, *config.watch_paths))


def parse_config(
    raw: dict[str, Any],
    base_dir: Path = Path("."),
    path: Path | None = None,
    registry_sources: dict[str, dict[str, Any]] | None = None,
) -> Config:
    unknown = set(raw) - {
        "server", "users", "sources", "catalog", "http", "registry", "audit", "logging",
    }  # fmt: skip
    if unknown:
        raise ConfigError(f"unknown top-level key {sorted(unknown)[0]!r}")
    server = _parse_server(_table(raw, "server", "server"), base_dir)
    sources = {
        name: _parse_source(name, _table({name: table}, name, f"sources.{name}"), base_dir)
        for name, table in _table(raw, "sources", "sources").items()
    }
    for name, table in (registry_sources or {}).items():
        if name in sources:
            raise ConfigError(
                f"source registry: source {name!r} is also defined in the config ([sources.{name}])"
            )
        try:
            sources[name] = _parse_source(name, table, base_dir)
        except ConfigError as exc:
            raise ConfigError(f"source registry: {exc}") from None
    registry = _parse_registry(_table(raw, "registry", "registry"), base_dir)
    catalog = _parse_catalog(_table(raw, "catalog", "catalog"))
    users_raw = raw.get("users", [])
    if not isinstance(users_raw, list):
        raise ConfigError("users: expected an array of tables ([[users]])")
    users = tuple(_parse_user(i, u, sources) for i, u in enumerate(users_raw))
    names = [u.name for u in users]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"users: user {name!r} is defined twice")
    http = _parse_http(_table(raw, "http", "http"), set(names))
    return Config(
        server=server,
        users=users,
        sources=sources,
        path=path,
        catalog=catalog,
        http=http,
        registry=registry,
        audit=_parse_audit(_table(raw, "audit", "audit"), base_dir),
        logging=_parse_logging(_table(raw, "logging", "logging")),
    )


def _parse_registry(table: dict[str, Any], base_dir: Path) -> RegistryConfig:
    _reject_unknown(table, {"path", "key_file"}, "registry")
    defaults = RegistryConfig()
    return RegistryConfig(
        path=base_dir / _take(table, "path", str, "registry", str(defaults.path)),
        key_file=base_dir / _take(table, "key_file", str, "registry", str(defaults.key_file)),
    )


def _parse_audit(table: dict[str, Any], base_dir: Path) -> AuditConfig:
    _reject_unknown(table, set(AuditConfig.__dataclass_fields__), "audit")
    defaults = AuditConfig()
    path = _take(table, "path", str, "audit", None)
    sizes = {}
    for name in ("max_bytes", "backup_count"):
        value = _take(table, name, int, "audit", getattr(defaults, name))
        if value < (1 if name == "max_bytes" else 0):
            raise ConfigError(f"audit.{name}: must be at least {1 if name == 'max_bytes' else 0}")
        sizes[name] = value
    return AuditConfig(
        path=base_dir / path if path else None,
        redact_literals=_take(table, "redact_literals", bool, "audit", True),
        **sizes,
    )


def _parse_logging(table: dict[str, Any]) -> LoggingConfig:
    _reject_unknown(table, set(LoggingConfig.__dataclass_fields__), "logging")
    level = _take(table, "level", str, "logging", LoggingConfig.level).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"logging.level: expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    format_ = _take(table, "format", str, "logging", LoggingConfig.format)
    if format_ not in LOG_FORMATS:
        raise ConfigError(
            f"logging.format: expected one of {', '.join(LOG_FORMATS)}, got {format_!r}"
        )
    return LoggingConfig(level=level, format=format_)


def _parse_http(table: dict[str, Any], users: set[str]) -> HttpConfig:
    _reject_unknown(table, set(HttpConfig.__dataclass_fields__), "http")
    port = _take(table, "port", int, "http", None)
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"http.port: {port} is not a TCP port")
    tokens = _take(table, "tokens", list, "http", [])
    return HttpConfig(
        host=_take(table, "host", str, "http", HttpConfig.host),
        port=port,
        tokens=tuple(_parse_token(i, t, users) for i, t in enumerate(tokens)),
    )


def _parse_token(index: int, table: Any, users: set[str]) -> ApiToken:
    key = f"http.tokens[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: expected a table")
    _reject_unknown(table, set(ApiToken.__dataclass_fields__), key)
    user = _take(table, "user", str, key, None)
    if user not in users:
        raise ConfigError(f"{key}.user: expected the name of a [[users]] entry, got {user!r}")
    digest = _take(table, "sha256", str, key, "").lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigError(f"{key}.sha256: expected 64 hex digits (metahog token create)")
    return ApiToken(user=user, sha256=digest, admin=_take(table, "admin", bool, key, False))


def _parse_catalog(table: dict[str, Any]) -> CatalogConfig:
    _reject_unknown(table, {"dsn", "refresh_interval"}, "catalog")
    dsn = _take(table, "dsn", str, "catalog", None)
    interval = CatalogConfig.refresh_interval_s
    if "refresh_interval" in table:
        raw = _take(table, "refresh_interval", (int, str), "catalog", None)
        interval = _duration_ms(raw, "catalog.refresh_interval") / 1000
        if interval <= 0:
            raise ConfigError("catalog.refresh_interval: must be positive")
    return CatalogConfig(
        dsn=BackendAddress.from_dsn(dsn, "catalog.dsn") if dsn else None,
        refresh_interval_s=interval,
    )


def _table(raw: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table")
    return value


def _take(
    table: dict[str, Any], name: str, kind: type | tuple[type, ...], key: str, default: Any
) -> Any:
    if name not in table:
        return default
    value = table[name]
    # bool is an int in Python; a port of `true` is still a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{key}.{name}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{key}.{name}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {
            str: "a string",
            int: "an integer",
            float: "a number",
            bool: "a boolean",
            list: "an array",
        }.get(k, k.__name__)
        for k in kinds
    )


def _reject_unknown(table: dict[str, Any], allowed: set[str], key: str) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigError(f"{key}.{name}: unknown key")


def _parse_server(table: dict[str, Any], base_dir: Path) -> ServerConfig:
    key = "server"
    _reject_unknown(table, set(ServerConfig.__dataclass_fields__), key)
    defaults = ServerConfig()
    tls = _take(table, "tls", str, key, defaults.tls)
    if tls not in TLS_MODES:
        raise ConfigError(f"server.tls: expected one of {', '.join(TLS_MODES)}, got {tls!r}")
    auth = _take(table, "auth", str, key, defaults.auth)
    if auth not in AUTH_METHODS:
        raise ConfigError(f"server.auth: expected one of {', '.join(AUTH_METHODS)}, got {auth!r}")
    port = _take(table, "port", int, key, defaults.port)
    if not 0 <= port <= 65535:
        raise ConfigError(f"server.port: {port} is not a TCP port")
    cert = _take(table, "tls_cert", str, key, None)
    tls_key = _take(table, "tls_key", str, key, None)
    if (cert is None) != (tls_key is None):
        raise ConfigError("server.tls_cert and server.tls_key must be given together")
    return ServerConfig(
        host=_take(table, "host", str, key, defaults.host),
        port=port,
        tls=tls,
        tls_cert=base_dir / cert if cert else None,
        tls_key=base_dir / tls_key if tls_key else None,
        state_dir=base_dir / _take(table, "state_dir", str, key, str(defaults.state_dir)),
        auth=auth,
        auth_timeout=float(_take(table, "auth_timeout", (int, float), key, defaults.auth_timeout)),
        max_message_size=_take(table, "max_message_size", int, key, defaults.max_message_size),
        max_client_connections=_take(
            table, "max_client_connections", int, key, defaults.max_client_connections
        ),
        shutdown_timeout=_non_negative(
            _take(table, "shutdown_timeout", (int, float), key, defaults.shutdown_timeout),
            "server.shutdown_timeout",
        ),
    )


def _non_negative(value: float, key: str) -> float:
    if value < 0:
        raise ConfigError(f"{key}: must not be negative, got {value}")
    return float(value)


def _parse_user(index: int, table: Any, sources: dict[str, SourceConfig]) -> UserConfig:
    key = f"users[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: expected a table")
    _reject_unknown(table, {"name", "password", "sources", "admin"} | LIMIT_KEYS, key)
    name = _take(table, "name", str, key, None)
    if not name:
        raise ConfigError(f"{key}.name: required")
    password = _take(table, "password", str, key, None)
    if password is None:
        raise ConfigError(f"{key}.password: required")
    allowed = _take(table, "sources", list, key, None)
    if allowed is not None:
        for source in allowed:
            if source not in sources:
                raise ConfigError(f"{key}.sources: unknown source {source!r}")
        allowed = tuple(allowed)
    return UserConfig(
        name=name,
        password=Secret(password),
        sources=allowed,
        limits=_parse_limits(table, key),
        admin=_take(table, "admin", bool, key, False),
    )


_POSTGRES_KEYS = {"dsn", "schema", "ssh"}
_CLICKHOUSE_KEYS = {"url", "path", "max_rows_to_read", "max_memory_usage", "ssh"}


def _parse_source(name: str, table: dict[str, Any], base_dir: Path) -> SourceConfig:
    key = f"sources.{name}"
    if name == ADMIN_DATABASE:
        raise ConfigError(f"{key}: the name {name!r} is the admin console's; choose another")
    kind = _take(table, "kind", str, key, None)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{key}.kind: expected one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    if "ssh" in table and (kind == "hogql" or (kind == "clickhouse" and "url" not in table)):
        raise ConfigError(
            f"{key}.ssh: only PostgreSQL sources and ClickHouse servers (url) can be reached"
            " through SSH"
        )
    common = {"kind", "pool_size", "pool_timeout"} | LIMIT_KEYS
    own = {"postgres": _POSTGRES_KEYS, "clickhouse": _CLICKHOUSE_KEYS, "hogql": _HOGQL_KEYS}[kind]
    _reject_unknown(table, common | own, key)
    backend, clickhouse, hogql, schema = None, None, None, None
    if kind == "postgres":
        dsn = _take(table, "dsn", str, key, None)
        if not dsn:
            raise ConfigError(f"{key}.dsn: required for kind {kind!r}")
        backend = BackendAddress.from_dsn(dsn, f"{key}.dsn")
        schema = _take(table, "schema", str, key, None)
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(f"{key}.schema: expected a schema name (letters, digits, _ or $)")
    elif kind == "clickhouse":
        clickhouse = _parse_clickhouse(table, key, base_dir)
    else:
        hogql = _parse_hogql(table, key)
    pool_size = _take(table, "pool_size", int, key, 20)
    if pool_size < 1:
        raise ConfigError(f"{key}.pool_size: must be at least 1")
    defaults = SOURCE_DEFAULT_LIMITS
    return SourceConfig(
        name=name,
        kind=kind,
        backend=backend,
        pool_size=pool_size,
        pool_timeout=float(_take(table, "pool_timeout", (int, float), key, 10.0)),
        limits=_parse_limits(table, key, defaults),
        clickhouse=clickhouse,
        hogql=hogql,
        schema=schema,
        ssh=_parse_ssh(table, key, base_dir) if "ssh" in table else None,
    )


def _parse_ssh(source: dict[str, Any], source_key: str, base_dir: Path) -> SshConfig:
    key = f"{source_key}.ssh"
    table = _take(source, "ssh", dict, source_key, None)
    _reject_unknown(table, set(SshConfig.__dataclass_fields__), key)
    values: dict[str, Any] = {}
    # known_hosts is required: without it, any server could claim to be the SSH server.
    for name in ("host", "user", "key_file", "known_hosts"):
        values[name] = _take(table, name, str, key, None)
        if not values[name]:
            raise ConfigError(f"{key}.{name}: required")
    for name in ("key_file", "known_hosts"):
        values[name] = base_dir / values[name]
    port = _take(table, "port", int, key, 22)
    if not 0 < port <= 65535:
        raise ConfigError(f"{key}.port: {port} is not a TCP port")
    timeout = float(_take(table, "connect_timeout", (int, float), key, 10.0))
    return SshConfig(port=port, connect_timeout=timeout, **values)


# A schema name that travels in a start-up `options` string unquoted and unescaped.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

_HOGQL_KEYS = {
    "host",
    "project_id",
    "api_key",
    "auth",
    "default_limit",
    "max_limit",
    "dialect",
    "max_retries",
    "max_retry_wait",
}


def _parse_hogql(table: dict[str, Any], key: str) -> HogQLTarget:
    host = _take(table, "host", str, key, None)
    if not host:
        raise ConfigError(f"{key}.host: required for kind 'hogql'")
    if not host.startswith(("http://", "https://")):
        raise ConfigError(f"{key}.host: expected an http:// or https:// URL")
    project_id = _take(table, "project_id", int, key, None)
    if project_id is None or project_id < 1:
        raise ConfigError(f"{key}.project_id: required, a positive integer")
    auth = _take(table, "auth", str, key, "api_key")
    if auth not in HOGQL_AUTH:
        raise ConfigError(f"{key}.auth: expected one of {', '.join(HOGQL_AUTH)}, got {auth!r}")
    api_key = _take(table, "api_key", str, key, None) or ""
    if not api_key and auth == "api_key":
        raise ConfigError(f"{key}.api_key: required for kind 'hogql' (or auth = \"passthrough\")")
    dialect = _take(table, "dialect", str, key, "postgres")
    if dialect not in HOGQL_DIALECTS:
        raise ConfigError(
            f"{key}.dialect: expected one of {', '.join(HOGQL_DIALECTS)}, got {dialect!r}"
        )
    defaults = HogQLTarget(host="", project_id=0, api_key=Secret(""))
    counts = {}
    for name in ("default_limit", "max_limit", "max_retries"):
        value = _take(table, name, int, key, getattr(defaults, name))
        if value < (0 if name == "max_retries" else 1):
            raise ConfigError(f"{key}.{name}: must be at least {0 if name == 'max_retries' else 1}")
        counts[name] = value
    if counts["default_limit"] > counts["max_limit"]:
        raise ConfigError(f"{key}.default_limit: must not exceed max_limit")
    wait = float(_take(table, "max_retry_wait", (int, float), key, defaults.max_retry_wait))
    if wait < 0:
        raise ConfigError(f"{key}.max_retry_wait: must not be negative")
    return HogQLTarget(
        host=host.rstrip("/"),
        project_id=project_id,
        api_key=Secret(api_key),
        passthrough=auth == "passthrough",
        dialect=dialect,
        max_retry_wait=wait,
        **counts,
    )


def _parse_clickhouse(table: dict[str, Any], key: str, base_dir: Path) -> ClickHouseTarget:
    url = _take(table, "url", str, key, None)
    path = _take(table, "path", str, key, None)
    if (url is None) == (path is None):
        raise ConfigError(f"{key}: give exactly one of url (a ClickHouse server) or path (chDB)")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{key}.url: expected an http:// or https:// URL")
    defaults = ClickHouseTarget()
    bounds = {}
    for name in ("max_rows_to_read", "max_memory_usage"):
        value = _take(table, name, int, key, getattr(defaults, name))
        if value < 1:
            raise ConfigError(f"{key}.{name}: must be at least 1")
        bounds[name] = value
    return ClickHouseTarget(
        url=Secret(url) if url is not None else None,
        path=base_dir / path if path is not None else None,
        **bounds,
    )


def _parse_limits(table: dict[str, Any], key: str, defaults: Limits = Limits()) -> Limits:
    def positive(name: str, default: int | None) -> int | None:
        value = _take(table, name, int, key, default)
        if value is not None and value < 1:
            raise ConfigError(f"{key}.{name}: must be at least 1")
        return value

    timeout = defaults.statement_timeout_ms
    if "statement_timeout" in table:
        raw = _take(table, "statement_timeout", (int, str), key, None)
        timeout = _duration_ms(raw, f"{key}.statement_timeout") or None
    return Limits(
        max_rows=positive("max_rows", defaults.max_rows),
        statement_timeout_ms=timeout,
        max_concurrent_queries=positive("max_concurrent_queries", defaults.max_concurrent_queries),
        max_prepared_statements=positive(
            "max_prepared_statements", defaults.max_prepared_statements
        ),
        max_portals=positive("max_portals", defaults.max_portals),
    )


def _duration_ms(value: int | str, key: str) -> int:
    """Durations are milliseconds as integers, or strings such as "30s", "500ms", "2min"."""
    if isinstance(value, int):
        return value
    units = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
    text = value.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit) and text[: -len(unit)].strip().replace(".", "", 1).isdigit():
            return int(float(text[: -len(unit)]) * units[unit])
    raise ConfigError(f'{key}: expected a duration such as "30s", got {value!r}')
