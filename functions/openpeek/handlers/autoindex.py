"""Auto-index Lambda (EventBridge rate(6 hours)): payload indexes for fields filtered often (issue 6)."""

from __future__ import annotations

from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> Any:
    result = services.auto_index.run()
    return {"created": result.created, "skipped": result.skipped}
