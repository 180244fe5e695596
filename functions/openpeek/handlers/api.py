"""API Lambda: the FastAPI app through mangum. Services are built on the first request, not at import."""

from __future__ import annotations

from mangum import Mangum

from openpeek.api.app import create_app
from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))
app = create_app(services, runtime_name="aws")
handler = Mangum(app, lifespan="off", api_gateway_base_path=None)
