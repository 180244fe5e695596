"""Cluster step 1 (Step Functions): the selected vectors into parquet in the bucket; returns the processing job's
`job_name`, `input_uri` and `output_uri` (s3:// prefixes), which the state machine passes to SageMaker."""

from __future__ import annotations

from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return services.cluster_steps.prepare(event)
