"""Cluster step 3 (Step Functions, after the SageMaker job): records the results and completes the task."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse

from openpeek.handlers.bootstrap import container_services, entry_point
from openpeek.handlers.step_functions import ClusterJobState

services = container_services()


@entry_point(correlation_id_path="task_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = parse(event=event, model=ClusterJobState).job()
    return services.cluster_steps.finalize(job)
