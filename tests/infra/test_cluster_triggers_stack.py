"""Cluster triggers in the synthesised stacks: one Lambda, run every minute by an EventBridge rule, that may start the
clustering state machine and read the due-triggers index, and whose errors raise the alarm."""

from __future__ import annotations

import pytest
from infra_support import ENVIRONMENTS

HANDLER = "openpeek.handlers.cluster_triggers.handler"


def _triggers_function(synth) -> tuple[str, dict]:
    found = [(key, value) for key, value in synth.resources("AWS::Lambda::Function", "clustering").items()
             if value["Properties"].get("Handler") == HANDLER]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_rule_runs_the_cluster_triggers_lambda_every_minute(synthesised, env) -> None:
    synth = synthesised[env]
    key, function = _triggers_function(synth)
    rules = [rule["Properties"] for rule in synth.resources("AWS::Events::Rule", "clustering").values()
             if any(target["Arn"].get("Fn::GetAtt", [None])[0] == key for target in rule["Properties"]["Targets"])]

    assert [rule["ScheduleExpression"] for rule in rules] == ["rate(1 minute)"]
    assert rules[0]["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    environment = function["Properties"]["Environment"]["Variables"]
    assert environment["OPENPEEK_CLUSTER_STATE_MACHINE_ARN"] == {"Ref": next(iter(
        synth.resources("AWS::StepFunctions::StateMachine", "clustering")))}
    assert "VpcConfig" in function["Properties"]  # event triggers count documents in Qdrant


def test_the_lambda_may_start_the_clustering_state_machine_and_query_the_table_index(synthesised) -> None:
    synth = synthesised["dev"]
    key, function = _triggers_function(synth)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [statement for policy in synth.resources("AWS::IAM::Policy", "clustering").values()
                  if {"Ref": role} in policy["Properties"]["Roles"]
                  for statement in policy["Properties"]["PolicyDocument"]["Statement"]]
    actions = {action for statement in statements
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}

    assert "states:StartExecution" in actions
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= actions
    table_resources = [resource for statement in statements if "dynamodb:Query" in statement["Action"]
                       for resource in statement["Resource"]]
    assert any("/index/" in str(resource) for resource in table_resources)


def test_its_errors_raise_the_alarm(synthesised) -> None:
    synth = synthesised["dev"]
    key, _ = _triggers_function(synth)
    alarms = [alarm["Properties"] for alarm in synth.resources("AWS::CloudWatch::Alarm", "clustering").values()
              if alarm["Properties"].get("MetricName") == "Errors"
              and any(dimension["Value"] == {"Ref": key} for dimension in alarm["Properties"].get("Dimensions", []))]
    assert len(alarms) == 1
