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
                        for step in ("extract", "finalize", "mark_failed", "prepare", "stage", "store")]
    policies = json.dumps(synthesised[env].resources("AWS::IAM::Policy", "ingestion"))
    assert "s3:*" not in policies and '"dynamodb:*"' not in policies
    assert "bedrock:InvokeModel" in policies


def test_the_api_starts_batches_on_the_ingestion_machine(synthesised, env) -> None:
    api = json.dumps(synthesised[env].raw["api"])
    assert "OPENPEEK_BATCH_STATE_MACHINE_ARN" in api
    assert "states:StartExecution" in json.dumps(synthesised[env].resources("AWS::IAM::Policy", "api"))


def test_heavy_tiers_run_stage_then_a_processing_job_in_the_clustering_image_then_store(synthesised, env) -> None:
    (machine,) = synthesised[env].resources("AWS::StepFunctions::StateMachine", "ingestion").values()
    tier = definition_of(machine)["States"]["Tiers"]["ItemProcessor"]
    assert tier["StartAt"] == "TierKind"
    kind = tier["States"]["TierKind"]
    assert kind["Type"] == "Choice" and kind["Default"] == "Parts"
    [heavy_choice] = kind["Choices"]
    assert heavy_choice["Next"] == "HeavyParts"
    assert {"Variable": "$.heavy", "BooleanEquals": True} in heavy_choice["And"]
    heavy = tier["States"]["HeavyParts"]
    assert heavy["Type"] == "Map" and heavy["ItemsPath"] == "$.parts" and 1 <= heavy["MaxConcurrency"] <= 8
    steps = heavy["ItemProcessor"]["States"]
    assert heavy["ItemProcessor"]["StartAt"] == "Stage"
    assert steps["Stage"]["Next"] == "BatchProcess" and steps["BatchProcess"]["Next"] == "Store"
    assert steps["Store"]["End"] is True and steps["Stage"]["ResultPath"] == "$.staged"
    process = steps["BatchProcess"]
    assert process["Resource"].endswith(":states:::sagemaker:createProcessingJob.sync")
    parameters = process["Parameters"]
    assert parameters["ProcessingJobName.$"] == "$.staged.job_name"
    assert parameters["AppSpecification"]["ContainerEntrypoint"] == ["python", "/opt/openpeek/entrypoint.py"]
    assert parameters["AppSpecification"]["ContainerArguments"][0] == "extract"
    assert parameters["ProcessingInputs"][0]["S3Input"]["S3Uri.$"] == "$.staged.input_uri"
    assert parameters["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri.$"] == "$.staged.output_uri"
    assert "OPENPEEK_BEDROCK_REGION" in parameters["Environment"]
    assert process["Retry"][0]["ErrorEquals"] == ["SageMaker.AmazonSageMakerException"]
    # the same image as the clustering job: its definition and the clustering output name one image
    image = json.dumps(synthesised[env].raw["clustering"]["Outputs"]["ClusteringImageUri"]["Value"])
    assert image.strip('"').split(":")[-1] in json.dumps(machine["Properties"]["DefinitionString"])


def test_the_extraction_job_role_may_invoke_only_the_two_titan_models(synthesised, env) -> None:
    roles = synthesised[env].resources("AWS::IAM::Role", "ingestion")
    [role_id] = [key for key, role in roles.items()
                 if "sagemaker.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])]
    policies = [policy for policy in synthesised[env].resources("AWS::IAM::Policy", "ingestion").values()
                if {"Ref": role_id} in policy["Properties"]["Roles"]]
    statements = [s for policy in policies for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    [bedrock] = [s for s in statements if s["Action"] == "bedrock:InvokeModel"]
    models = sorted(json.dumps(resource).split("foundation-model/")[1].split('"')[0]
                    for resource in bedrock["Resource"])
    assert models == ["amazon.titan-embed-image-v1", "amazon.titan-embed-text-v2:0"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") and ":" in a and a.split(":")[1] == "*" for a in actions)
    assert "dynamodb:PutItem" not in actions and "sagemaker:CreateProcessingJob" not in actions
    machine_policies = json.dumps([p for p in synthesised[env].resources("AWS::IAM::Policy", "ingestion").values()
                                   if "sagemaker:CreateProcessingJob" in json.dumps(p)])
    assert "iam:PassRole" in machine_policies and "iam:PassedToService" in machine_policies


def test_the_stage_step_names_jobs_under_the_environment_prefix(synthesised, env) -> None:
    functions = synthesised[env].resources("AWS::Lambda::Function", "ingestion")
    [stage] = [f for f in functions.values() if f["Properties"]["Handler"] == "openpeek.handlers.batch_stage.handler"]
    prefix = stage["Properties"]["Environment"]["Variables"]["OPENPEEK_PROCESSING_JOB_PREFIX"]
    assert prefix == f"{synthesised[env].config.prefix}-"
    assert "VpcConfig" in stage["Properties"]
