"""Cluster step 3 (Step Functions, after the SageMaker job): records the results and completes the task."""

from __future__ import annotations

from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services.cluster_steps.finalize(event)
