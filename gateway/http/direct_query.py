"""The direct-query API, in the shape of PostHog's direct-query endpoints.

    GET  /api/direct_query/sources           the sources the token's user may query
    GET  /api/direct_query/schema/{source}   their tables and columns
    POST /api/direct_query/execute           {source, sql, max_rows} -> a HogQL-shaped result
    GET  /api/openapi.json                   the OpenAPI document (openapi.json beside this file)

Statements run in an internal session (gateway/http/internal.py) logged in as the token's user:
the wire protocol's guard, limits and routing decide, not this module.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.config import ApiToken, SourceConfig
from gateway.http.internal import InternalSession, QueryResult, SessionError
from gateway.http.tokens import find_token
from gateway.http.values import TYPE_NAMES, json_rows
from gateway.protocol.errors import (
    INSUFFICIENT_PRIVILEGE,
    INVALID_CATALOG_NAME,
    TOO_MANY_CONNECTIONS,
)

if TYPE_CHECKING:
    from gateway.server import Gateway

log = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
DEFAULT_MAX_ROWS = 1000
MAX_ROWS = 50_000
_TOKEN: web.RequestKey[ApiToken] = web.RequestKey("token", ApiToken)

# Columns of every table the user may read, with format_type() names. Catalog-only, so a
# ClickHouse or PostHog source's shadow catalog answers it just as a PostgreSQL source does.
SCHEMA_SQL = """
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum
"""
_TYPE_NAMES_SQL = (
    "SELECT oid::int8, pg_catalog.format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid IN ({})"
)


class ApiError(Exception):
    """An answer in PostHog's error shape: {type, code, detail, attr}."""

    def __init__(
        self, status: int, type_: str, code: str, detail: str, attr: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.type, self.code = status, type_, code
        self.detail, self.attr = detail, attr

    def response(self) -> web.Response:
        body = {"type": self.type, "code": self.code, "detail": self.detail, "attr": self.attr}
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


def not_found(source: str) -> ApiError:
    return ApiError(404, "not_found", "not_found", f"no source named {source!r}")


def statement_error(error: SessionError) -> ApiError:
    """A failed login or statement: FATAL errors at login say whether the source may be used;
    the rest is the statement's own error, with its SQLSTATE."""
    if error.sqlstate == INSUFFICIENT_PRIVILEGE and error.fatal:
        return ApiError(403, "permission_denied", error.sqlstate, error.message)
    if error.sqlstate == INVALID_CATALOG_NAME:
        return ApiError(404, "not_found", error.sqlstate, error.message)
    if error.sqlstate == TOO_MANY_CONNECTIONS:
        return ApiError(429, "throttled", error.sqlstate, error.message)
    if error.sqlstate.startswith("08") or (error.fatal and error.sqlstate.startswith("XX")):
        return ApiError(502, "source_error", error.sqlstate, error.message)
    return ApiError(400, "validation_error", error.sqlstate, error.message, "sql")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def authenticated(handler: Handler, *, admin: bool = False) -> Handler:
    """Require a valid bearer token (an admin one if `admin`), and answer ApiErrors."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        gateway = gateway_of(request)
        token = find_token(request.headers.get("Authorization"), gateway.config.http.tokens)
        try:
            if token is None or gateway.config.user(token.user) is None:
                raise ApiError(
                    401,
                    "authentication_error",
                    "authentication_failed",
                    "a valid bearer token is required (metahog token create)",
                )
            if admin and not token.admin:
                raise ApiError(
                    403, "permission_denied", "permission_denied", "this needs an admin token"
                )
            request[_TOKEN] = token
            return await handler(request)
        except ApiError as error:
            return error.response()

    return wrapped


def gateway_of(request: web.Request) -> Gateway:
    from gateway.http.server import GATEWAY

    return request.app[GATEWAY]


def _passthrough(source: SourceConfig) -> bool:
    # Such a PostHog source is queried with each user's own PostHog key, which a bearer token
    # does not carry.
    return source.hogql is not None and source.hogql.passthrough


def queryable(gateway: Gateway, user: str) -> list[SourceConfig]:
    """Sources the user may query through the API."""
    config = gateway.config.user(user)
    return [
        source
        for source in gateway.config.sources.values()
        if config is not None and config.may_use(source.name) and not _passthrough(source)
    ]


def _source(request: web.Request, name: str) -> SourceConfig:
    gateway = gateway_of(request)
    user = gateway.config.user(request[_TOKEN].user)
    source = gateway.config.sources.get(name)
    if source is None or name not in gateway.pools:
        raise not_found(name)
    if user is None or not user.may_use(name):
        raise ApiError(
            403, "permission_denied", INSUFFICIENT_PRIVILEGE, f"permission denied for {name!r}"
        )
    if _passthrough(source):
        raise ApiError(
            403,
            "permission_denied",
            "passthrough",
            f"{name!r} is queried with each user's own PostHog key: use the PostgreSQL protocol",
        )
    return source


def _session(request: web.Request, source: SourceConfig) -> InternalSession:
    # The HTTP client's address stands for the session's, in logs and the audit log alike.
    address = request.transport.get_extra_info("peername") if request.transport else None
    peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "http"
    return InternalSession(gateway_of(request), request[_TOKEN].user, source.name, peer)


async def list_sources(request: web.Request) -> web.Response:
    sources = queryable(gateway_of(request), request[_TOKEN].user)
    return web.json_response(
        {"sources": [{"name": source.name, "kind": source.kind} for source in sources]}
    )


async def schema(request: web.Request) -> web.Response:
    source = _source(request, request.match_info["source"])
    try:
        async with _session(request, source) as session:
            result = await session.query(SCHEMA_SQL)
    except SessionError as error:
        raise statement_error(error) from None
    tables: dict[str, list[list[str]]] = {}
    for row in result.rows:
        namespace, table, column, type_name = (value.decode() for value in row)  # type: ignore[union-attr]
        name = table if namespace == "public" else f"{namespace}.{table}"
        tables.setdefault(name, []).append([column, type_name])
    return web.json_response({"tables": tables})


async def execute(request: web.Request) -> web.Response:
    body = await json_object(request)
    unknown = sorted(set(body) - {"source", "sql", "max_rows"})
    if unknown:
        raise invalid(unknown[0], f"unknown field {unknown[0]!r}")
    name = body.get("source")
    if not isinstance(name, str) or not name:
        raise invalid("source", "source is required, a non-empty string")
    sql = _sql_field(body)
    max_rows = body.get("max_rows", DEFAULT_MAX_ROWS)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int):
        raise invalid("max_rows", "max_rows must be an integer")
    if not 1 <= max_rows <= MAX_ROWS:
        raise invalid("max_rows", f"max_rows must be between 1 and {MAX_ROWS}")
    source = _source(request, name)
    started = time.perf_counter()
    try:
        async with _session(request, source) as session:
            result = await session.query(sql, max_rows)
            elapsed = time.perf_counter() - started
            type_names = await _type_names(session, result.type_oids)
    except SessionError as error:
        raise statement_error(error) from None
    return web.json_response(
        {
            "columns": result.names,
            "types": [
                [name, type_names[oid]]
                for name, oid in zip(result.names, result.type_oids, strict=True)
            ],
            "results": json_rows(result.type_oids, result.rows),
            "hasMore": result.has_more,
            "limit": max_rows,
            "offset": 0,
            "timings": [{"k": "execute", "t": round(elapsed, 6)}],
        }
    )


async def _type_names(session: InternalSession, oids: list[int]) -> dict[int, str]:
    """format_type() names for the result's types: built-ins from a table, the rest (enums,
    domains, extension types) looked up in the same session."""
    names = {oid: TYPE_NAMES[oid] for oid in oids if oid in TYPE_NAMES}
    missing = sorted(set(oids) - set(names))
    if missing:
        try:
            found = await session.query(_TYPE_NAMES_SQL.format(",".join(map(str, missing))))
            names.update(_pairs(found))
        except SessionError as error:
            log.debug("type names not found: %s", error)
    return {oid: names.get(oid, "unknown") for oid in oids}


def _pairs(result: QueryResult) -> dict[int, str]:
    return {int(oid): name.decode() for oid, name in result.rows if oid and name}


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise invalid(None, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid(None, "the body must be a JSON object")
    return body


def _sql_field(body: dict[str, Any]) -> str:
    """The statement, as text the protocol can carry: no NUL, no unpaired surrogate."""
    value = body.get("sql")
    if not isinstance(value, str) or not value:
        raise invalid("sql", "sql is required, a non-empty string")
    if "\0" in value:
        raise invalid("sql", "sql must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("sql", "sql is not valid Unicode") from None
    return value


def invalid(attr: str | None, detail: str) -> ApiError:
    return ApiError(400, "validation_error", "invalid_input", detail, attr)


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/json")


def install(app: web.Application, gateway: Gateway) -> None:
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/direct_query/sources", authenticated(list_sources))
    app.router.add_get("/api/direct_query/schema/{source}", authenticated(schema))
    app.router.add_post("/api/direct_query/execute", authenticated(execute))
