"""Auto-index Lambda (EventBridge rate(6 hours)): payload indexes for fields filtered often (issue 6)."""

from __future__ import annotations

from typing import Any

from openpeek.handlers._pending import require_service
from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> Any:
    require_service("auto_index", "issue 6 (automatic payload indexes)")
    return services.auto_index.run()
