"""A deployed batch's attempt runs as one Step Functions execution named after it; a heal's rerun of the same attempt
gets an execution of its own (the first name is taken for 90 days), with the same input."""

from __future__ import annotations

import json

from openpeek.adapters.aws.batch_state_machine import StepFunctionsBatchStarter


class RecordingStepFunctions:
    def __init__(self) -> None:
        self.started: list[dict] = []

    def start_execution(self, **request) -> dict:
        self.started.append(request)
        return {"executionArn": f"arn:aws:states:::execution:{request['name']}"}


def test_a_rerun_starts_a_second_execution_of_the_same_attempt():
    client = RecordingStepFunctions()
    starter = StepFunctionsBatchStarter("arn:aws:states:eu-west-1:1:stateMachine:batches", client=client)
    starter.start("ns_1", "btch_abc", 2)
    starter.rerun("ns_1", "btch_abc", 2)
    starter.rerun("ns_1", "btch_abc", 2)
    names = [request["name"] for request in client.started]
    assert names[0] == "btch_abc-2" and all(name.startswith("btch_abc-2-rerun-") for name in names[1:])
    assert len(set(names)) == 3 and all(len(name) <= 80 for name in names)
    assert {request["input"] for request in client.started} == {
        json.dumps({"namespace_id": "ns_1", "batch_id": "btch_abc", "attempt": 2})}
