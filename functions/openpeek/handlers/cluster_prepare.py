"""Cluster step 1 (Step Functions): the selected vectors into parquet in the bucket; returns the processing job's
`job_name`, `input_uri` and `output_uri` (s3:// prefixes), which the state machine passes to SageMaker."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools.utilities.parser import parse

from openpeek.handlers.bootstrap import container_services, entry_point
from openpeek.handlers.step_functions import ClusterJobState

services = container_services()


@entry_point(correlation_id_path="task_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = parse(event=event, model=ClusterJobState).job()
    return dataclasses.asdict(services.cluster_steps.prepare(job))
