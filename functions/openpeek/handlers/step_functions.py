"""The cluster state machine's input, parsed (Powertools parser over pydantic models) before a step handler calls a
service: the job's identifiers, and on the failure path the `$.error` ({Error, Cause}) the state machine's Catch adds.
The services take a ClusterJob and a plain reason; Step Functions' envelope stays here."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

from openpeek.domain.cluster_jobs import ClusterJob

DEFAULT_REASON = "the clustering job failed"
MAX_REASON_LENGTH = 2000


class ClusterJobState(BaseModel):
    """ClusterJob.state() as the orchestrator started the execution, plus what earlier steps added (ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    org_id: str
    namespace_id: str
    cluster_id: str
    run_id: str
    task_id: str
    kind: Literal["cluster", "layout"] = "cluster"
    compute: str | None = None
    instance_type: str | None = None

    def job(self) -> ClusterJob:
        return ClusterJob(org_id=self.org_id, namespace_id=self.namespace_id, cluster_id=self.cluster_id,
                          run_id=self.run_id, task_id=self.task_id, kind=self.kind, compute=self.compute,
                          instance_type=self.instance_type)


class StepError(BaseModel):
    """What a Catch stores at its result path: the error name and its cause (a JSON document for Lambda and SageMaker
    failures, plain text for the service's own timeouts)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Error: str | None = None
    Cause: str | None = None


class FailedClusterJobState(ClusterJobState):
    error: StepError | str | None = None

    def reason(self) -> str:
        return failure_message(self.error)


def failure_message(error: StepError | dict | str | None) -> str:
    """A readable reason from the state machine's `$.error` or a plain message. Lambda puts its errorMessage in a JSON
    Cause; SageMaker puts the job description (with FailureReason) there."""
    if isinstance(error, str):
        return error[:MAX_REASON_LENGTH]
    if isinstance(error, dict):
        error = StepError.model_validate(error)
    if error is None:
        return DEFAULT_REASON
    try:
        parsed = json.loads(error.Cause) if error.Cause else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        text = parsed.get("errorMessage") or parsed.get("FailureReason") or parsed.get("message")
        if text:
            return str(text)[:MAX_REASON_LENGTH]
    return str(error.Cause or error.Error or DEFAULT_REASON)[:MAX_REASON_LENGTH]
