"""The batch state machine: prepare → tiers one at a time → each tier's manifest parts in parallel → finalize, every
failure caught into mark-failed; its Lambdas, their permissions, and the API allowed to start it."""

from __future__ import annotations

import json

import pytest

from infra_support import ENVIRONMENTS, definition_of


@pytest.fixture(params=ENVIRONMENTS)
def env(request) -> str:
    return request.param


def test_prepare_maps_tiers_then_parts_then_finalizes_and_catches_every_failure(synthesised, env) -> None:
    (machine,) = synthesised[env].resources("AWS::StepFunctions::StateMachine", "ingestion").values()
    definition = definition_of(machine)
    states = definition["States"]
    assert definition["StartAt"] == "Prepare"
    assert states["Prepare"]["Next"] == "Tiers" and states["Tiers"]["Next"] == "Finalize"
    assert states["Finalize"]["End"] is True
    tiers = states["Tiers"]
    assert tiers["Type"] == "Map" and tiers["MaxConcurrency"] == 1 and tiers["ItemsPath"] == "$.prepared.tiers"
    parts = tiers["ItemProcessor"]["States"]["Parts"]
    assert parts["Type"] == "Map" and parts["ItemsPath"] == "$.parts" and 1 < parts["MaxConcurrency"] <= 16
    extract = parts["ItemProcessor"]["States"]["Extract"]
    assert extract["Retry"] and extract["TimeoutSeconds"] == 900
    for name in ("Prepare", "Tiers", "Finalize"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}]
    assert states["MarkFailed"]["Next"] == "BatchFailed" and states["BatchFailed"]["Type"] == "Fail"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_the_step_functions_run_the_batch_handlers_with_only_what_they_need(synthesised, env) -> None:
    functions = synthesised[env].resources("AWS::Lambda::Function", "ingestion")
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers == [f"openpeek.handlers.batch_{step}.handler"
                        for step in ("extract", "finalize", "mark_failed", "prepare")]
    policies = json.dumps(synthesised[env].resources("AWS::IAM::Policy", "ingestion"))
    assert "s3:*" not in policies and '"dynamodb:*"' not in policies
    assert "bedrock:InvokeModel" in policies


def test_the_api_starts_batches_on_the_ingestion_machine(synthesised, env) -> None:
    api = json.dumps(synthesised[env].raw["api"])
    assert "OPENPEEK_BATCH_STATE_MACHINE_ARN" in api
    assert "states:StartExecution" in json.dumps(synthesised[env].resources("AWS::IAM::Policy", "api"))
