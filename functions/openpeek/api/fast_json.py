"""Request bodies parsed with orjson: a batch of a thousand 384-d vectors is ~4 MB of JSON, and the standard library
spends more time reading it than the vector store spends writing it. orjson also refuses NaN and Infinity, which are
not JSON (Python's json accepts them), so they never reach a vector."""

from __future__ import annotations

from typing import Any, Callable, Coroutine

import orjson
from fastapi.routing import APIRoute

from openpeek.garbage_collection import fewer_collections
from starlette.requests import Request
from starlette.responses import Response


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError subclasses json.JSONDecodeError, so FastAPI still answers 422 json_invalid.
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_orjson(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return parse_with_orjson


class BulkWriteRoute(OrjsonRoute):
    """A route whose requests carry thousands of vectors (documents upsert): parsed, checked and written with fewer
    garbage-collector passes (openpeek/garbage_collection.py), which would otherwise walk each request's thousand lists of
    floats several times before the request ends."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_fewer_collections(request: Request) -> Response:
            with fewer_collections():
                return await handler(request)

        return with_fewer_collections
