"""Every query parameter a route declares is one the API reads. FastAPI keeps only one of two parameters that share
one `Query(...)` object, silently: collection document listings once ignored `page_size` that way."""

from __future__ import annotations

import inspect

from fastapi.params import Param
from fastapi.routing import APIRoute

from openpeek.api.app import create_app


def api_routes():
    found = []

    def walk(routes):
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(create_app(None).routes)
    return found


def test_no_two_parameters_of_a_route_share_one_declaration():
    shared = []
    for route in api_routes():
        seen: dict[int, str] = {}
        for name, parameter in inspect.signature(route.endpoint).parameters.items():
            if isinstance(parameter.default, Param):
                first = seen.setdefault(id(parameter.default), name)
                if first != name:
                    shared.append(f"{sorted(route.methods)} {route.path}: {first} and {name}")
    assert shared == []


def test_collection_document_listings_take_page_size():
    schema = create_app(None).openapi()["paths"]
    for path, method in (("/v1/collections/{collection_identifier}/documents", "get"),
                         ("/v1/collections/{collection_identifier}/documents/list", "post"),
                         ("/v1/documents/list", "post")):
        names = {p["name"] for p in schema[path][method].get("parameters", []) if p["in"] == "query"}
        assert {"limit", "page_size"} <= names, (path, names)
