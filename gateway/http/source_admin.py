"""Adding and removing registry sources over HTTP (admin tokens only):

    POST   /api/direct_query/sources          {name, kind, ...the kind's keys}
    DELETE /api/direct_query/sources/{name}

The same operations as `metahog source add` / `remove` (gateway/sources/manage.py): the same
checks, the same credential validation with its failure reason, the same encrypted registry.
The running gateway picks the change up as it picks up any registry change: by reloading.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.config import ConfigError
from gateway.http.direct_query import (
    ApiError,
    authenticated,
    gateway_of,
    invalid,
    json_object,
    not_found,
)
from gateway.sources import manage
from gateway.sources.validate import ValidationFailed

if TYPE_CHECKING:
    from gateway.server import Gateway


def _config_path(request: web.Request) -> Path:
    path = gateway_of(request).config.path
    if path is None:
        raise ApiError(400, "validation_error", "no_config_file", "the gateway has no config file")
    return path


async def add_source(request: web.Request) -> web.Response:
    body = await json_object(request)
    name = body.pop("name", None)
    if not isinstance(name, str) or not name:
        raise invalid("name", "name is required, a non-empty string")
    if name in gateway_of(request).config.sources:
        raise ApiError(409, "conflict", "exists", f"a source named {name!r} exists")
    try:
        source = await manage.add_source(_config_path(request), name, body)
    except ValidationFailed as failure:
        raise ApiError(400, "validation_error", failure.reason, failure.message) from None
    except ConfigError as exc:
        raise ApiError(400, "validation_error", "invalid_source", str(exc)) from None
    except manage.SourceError as exc:
        raise ApiError(409, "conflict", "rejected", str(exc)) from None
    return web.json_response({"name": source.name, "kind": source.kind}, status=201)


async def remove_source(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in gateway_of(request).config.sources:
        raise not_found(name)
    try:
        manage.remove_source(_config_path(request), name)
    except ConfigError as exc:
        raise ApiError(400, "validation_error", "invalid_config", str(exc)) from None
    except manage.SourceError as exc:
        # A source of the TOML file is the operator's to remove, by editing it.
        raise ApiError(409, "conflict", "rejected", str(exc)) from None
    return web.Response(status=204)


def install(app: web.Application, gateway: Gateway) -> None:
    app.router.add_post("/api/direct_query/sources", authenticated(add_source, admin=True))
    app.router.add_delete(
        "/api/direct_query/sources/{name}", authenticated(remove_source, admin=True)
    )
