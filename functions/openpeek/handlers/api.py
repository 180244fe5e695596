"""API Lambda: the FastAPI app through mangum. Services are built on the first request, not at import."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from mangum import Mangum

from openpeek.api.app import create_app
from openpeek.handlers.bootstrap import container_services, entry_point

services = container_services()
app = create_app(services, runtime_name="aws")
asgi = Mangum(app, lifespan="off", api_gateway_base_path=None)


@entry_point(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return asgi(event, context)
