"""The OpenAPI document says how to authenticate: a bearer scheme (so Swagger UI's Authorize button sends the key) on
every route that authenticates, none on the public ones, and X-Namespace marked required where the route resolves the
caller's namespace from it. Both facts are read off each route's dependencies, so new routes get them for free.
Every operation also declares its client errors (4XX) in the seeds' error envelope, as every route answers them: a
client that reads the document (a generated SDK, a fuzzer checking conformance) expects 400, 401, 404 and 409."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from openpeek.api.auth import current_namespace, principal

BEARER = "bearerAuth"
ERROR_SCHEMA = "ErrorResponse"
# The seeds' error envelope (api/errors.py); body validation keeps FastAPI's own 422, which each route declares.
ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object", "title": ERROR_SCHEMA, "required": ["success", "status", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "status": {"type": "integer"},
        "error": {"type": "object", "required": ["message", "type"], "properties": {
            "message": {"type": "string"}, "type": {"type": "string"}, "code": {"type": ["string", "null"]},
            "details": {}}},
    },
}
CLIENT_ERRORS = {"description": "A client error, in the error envelope",
                 "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(path, route) of every API route. FastAPI from 0.13x wraps included routers (their prefix lives in the include
    context, not on the route), older ones copy each route into app.routes."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path_format, route
        return
    for context in contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield context.path_format, route


def install_openapi_security(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER] = {
            "type": "http", "scheme": "bearer",
            "description": "An API key (sk_...): `Authorization: Bearer <key>`. `make run` prints the first one."}
        schema["components"].setdefault("schemas", {})[ERROR_SCHEMA] = ERROR_ENVELOPE
        for path, route in _api_routes(app):
            if not route.include_in_schema:
                continue
            calls = set(_calls(route.dependant))
            operations = schema.get("paths", {}).get(path, {})
            for method in route.methods:
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                operation.setdefault("responses", {}).setdefault("4XX", CLIENT_ERRORS)
                authenticated = principal in calls or current_namespace in calls
                operation["security"] = [{BEARER: []}] if authenticated else []
                if current_namespace in calls:
                    for parameter in operation.get("parameters", []):
                        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "x-namespace":
                            parameter["required"] = True
                            parameter.setdefault("description", "The namespace this call works in (name or id)")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
