"""Where deployed batches run: one Step Functions execution per batch attempt (stacks/ingestion.py defines the
machine: prepare → Map over tiers of Maps over manifest parts in Lambda → finalize, mark-failed on any error). The
execution is named after the batch and its attempt, so a retried start cannot run the same attempt twice."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from openpeek.domain.failures import DependencyUnavailable


class StepFunctionsBatchStarter:
    worker_id = None  # the state machine outlives any Lambda
    max_concurrent_batches = None  # every batch attempt is an execution of its own: none waits for another
    runner_name = "step functions"

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        if not state_machine_arn:
            raise ValueError("StepFunctionsBatchStarter needs the state machine's ARN "
                             "(OPENPEEK_BATCH_STATE_MACHINE_ARN)")
        self._arn = state_machine_arn
        self._client = client
        self._lock = threading.Lock()

    def _sfn(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("stepfunctions")
            return self._client

    def start(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        self._execute(f"{batch_id}-{attempt}", namespace_id, batch_id, attempt)

    def rerun(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        """A second execution of the same attempt, for a batch whose execution stopped with parts still claimed
        (aborted, or past its own timeout): its parts done already are not run again, the others resume."""
        self._execute(f"{batch_id}-{attempt}-rerun-{secrets.token_hex(4)}", namespace_id, batch_id, attempt)

    def _execute(self, name: str, namespace_id: str, batch_id: str, attempt: int) -> None:
        try:
            self._sfn().start_execution(
                stateMachineArn=self._arn, name=name,
                input=json.dumps({"namespace_id": namespace_id, "batch_id": batch_id, "attempt": attempt}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return  # a retried start of the same attempt
            raise DependencyUnavailable(f"Step Functions refused to start the batch: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"Step Functions unreachable: {error}") from error
