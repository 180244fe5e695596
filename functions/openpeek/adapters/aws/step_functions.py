"""The AWS Orchestrator: one Step Functions execution per cluster job (stacks/clustering.py defines the machine:
prepare Lambda → SageMaker Processing job → finalize Lambda, mark-failed on any error). The execution is named after
the task, so a start retried after a timeout cannot run the job twice, and cancel can find it without a lookup."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.failures import DependencyUnavailable


class StepFunctionsOrchestrator:
    driver_process_id = None  # the state machine outlives any Lambda: only the deadline ends a lost job

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        if not state_machine_arn:
            raise ValueError("StepFunctionsOrchestrator needs the state machine's ARN "
                             "(OPENPEEK_CLUSTER_STATE_MACHINE_ARN)")
        self._arn = state_machine_arn
        self._client = LazyClient("stepfunctions", client=client, setup_failed=lambda error: (
            DependencyUnavailable(f"Step Functions unreachable: {error}")))

    def _sfn(self) -> Any:
        return self._client.get()

    def execution_arn(self, job: ClusterJob) -> str:
        # arn:aws:states:<region>:<account>:stateMachine:<name> → ...:execution:<name>:<execution name>
        return self._arn.replace(":stateMachine:", ":execution:", 1) + ":" + job.task_id

    def start(self, job: ClusterJob) -> None:
        try:
            self._sfn().start_execution(stateMachineArn=self._arn, name=job.task_id, input=json.dumps(job.state()))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return  # a retried start of the same job
            raise DependencyUnavailable(f"Step Functions refused to start the job: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"Step Functions unreachable: {error}") from error

    def cancel(self, job: ClusterJob) -> None:
        try:
            self._sfn().stop_execution(executionArn=self.execution_arn(job), error="Canceled",
                                       cause="canceled through DELETE /v1/tasks/{task_id}")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist",):
                return
            raise DependencyUnavailable(f"Step Functions refused to stop the job: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"Step Functions unreachable: {error}") from error

    def run_now(self, job: ClusterJob) -> bool:
        self.start(job)
        return False
