"""TTL reaper Lambda (EventBridge rate(1 hour)): deletes every namespace whose expires_at has passed."""

from __future__ import annotations

import dataclasses
from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    result = services.expiry.reap()
    if result.failed:
        # Failing the invocation makes the errors alarm fire and EventBridge retry; reaping is idempotent.
        raise RuntimeError(f"expiry reaper: {result.failed} namespace(s) could not be deleted: {result}")
    return dataclasses.asdict(result)
