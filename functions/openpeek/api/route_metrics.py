"""Latency of the routes worth a metric, as the caller sees it (request in → last body byte out), recorded through
the services' Metrics port. Other routes pass straight through."""

from __future__ import annotations

import time
from typing import Any

RETRIEVER_EXECUTE = "/v1/retrievers/{retriever_id}/execute"
TIMED_ROUTES = {RETRIEVER_EXECUTE: "RetrieverLatency"}


class RouteLatency:
    def __init__(self, app: Any, routes: dict[str, str] | None = None) -> None:
        self.app = app
        self._routes = TIMED_ROUTES if routes is None else routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            # The router records the matched route in the scope; its path template names the metric.
            name = self._routes.get(getattr(scope.get("route"), "path", ""))
            if name is not None:
                services = scope["app"].state.services
                services.metrics.milliseconds(name, (time.perf_counter() - started) * 1000)
