"""Cluster failure step (the state machine's Catch): the task and execution become FAILED with the error, never
stuck in PROCESSING. The state holds the original input plus `error` ({Error, Cause})."""

from __future__ import annotations

from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services.cluster_steps.mark_failed(event)
