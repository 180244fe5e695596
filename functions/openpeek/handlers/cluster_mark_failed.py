"""Cluster failure step (the state machine's Catch): the task and execution become FAILED with the error, never
stuck in PROCESSING. The state holds the original input plus `error` ({Error, Cause})."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse

from openpeek.handlers.bootstrap import container_services, entry_point
from openpeek.handlers.step_functions import FailedClusterJobState

services = container_services()


@entry_point(correlation_id_path="task_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = parse(event=event, model=FailedClusterJobState)
    return services.cluster_steps.mark_failed(state.job(), state.reason())
