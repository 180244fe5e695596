"""Least privilege in the synthesised templates: no wildcard actions; a `*` resource only for the AWS actions that have
no resource-level permissions; table, bucket and state-machine access scoped to this environment's resources."""

from __future__ import annotations

import re

import pytest
from infra_support import ENVIRONMENTS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)

# Actions IAM cannot scope to a resource, so `Resource: "*"` is the only form AWS accepts:
UNSCOPABLE = {
    # X-Ray tracing of the functions and the state machine.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # Pulling the clustering image: the registry login token is account-wide.
    "ecr:GetAuthorizationToken",
    # The state machine's log delivery to CloudWatch Logs (the vended-logs API).
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


# The ECS container agent on a Qdrant cluster node's instance (the statements CDK writes for an EC2 capacity provider):
# DiscoverPollEndpoint has no resource-level permissions; Poll and StartTelemetrySession are held to this cluster by
# an ecs:cluster condition; the agent's own log stream. Allowed on those instance roles only.
ECS_AGENT_ON_QDRANT_NODES = {
    "ecs:DiscoverPollEndpoint",
    "ecs:Poll",
    "ecs:StartTelemetrySession",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
}


def _statements(synthesised, env):
    for concern, template in synthesised[env].raw.items():
        for key, resource in template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Policy":
                documents = [resource["Properties"]["PolicyDocument"]]
            elif resource["Type"] == "AWS::IAM::Role":
                documents = [policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])]
            else:
                continue
            for document in documents:
                for statement in document["Statement"]:
                    yield concern, key, statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_statement_grants_a_wildcard_action(synthesised, env) -> None:
    for concern, key, statement in _statements(synthesised, env):
        if statement["Effect"] != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{concern}/{key}: {action}"


def test_a_star_resource_only_for_actions_without_resource_level_permissions(synthesised, env) -> None:
    unscoped: set[str] = set()
    for concern, key, statement in _statements(synthesised, env):
        if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource")):
            actions = set(_as_list(statement["Action"]))
            if key.startswith("QdrantClusterNode"):
                if actions & {"ecs:Poll", "ecs:StartTelemetrySession"}:
                    assert "ecs:cluster" in str(statement.get("Condition")), f"{concern}/{key}: {statement}"
                actions -= ECS_AGENT_ON_QDRANT_NODES
            unscoped.update(actions)

    assert unscoped <= UNSCOPABLE, unscoped - UNSCOPABLE
    assert "ecr:GetAuthorizationToken" in unscoped  # the check sees the statements CDK adds, not just ours


def test_table_access_is_item_level_on_this_table_and_its_index_only(synthesised, env) -> None:
    table_statements = [
        (concern, statement)
        for concern, _, statement in _statements(synthesised, env)
        if any(action.startswith("dynamodb:") for action in _as_list(statement["Action"]))
    ]

    assert len(table_statements) >= 7  # one per function
    for concern, statement in table_statements:
        actions = set(_as_list(statement["Action"]))
        assert actions <= {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        }, actions
        for resource in _as_list(statement["Resource"]):
            if "Fn::Join" in resource:  # an index: <table ARN>/index/<name>
                table_arn, suffix = resource["Fn::Join"][1]
                assert suffix == "/index/gsi1", suffix
            else:
                table_arn = resource
            # The data stack's table, imported by reference: never a pattern, never another table.
            assert set(table_arn) == {"Fn::ImportValue"}, table_arn
            assert re.fullmatch(
                rf"openpeek-{env}-data:ExportsOutputFnGetAttTable\w+Arn\w+", table_arn["Fn::ImportValue"]
            )


def test_bucket_objects_only_under_the_namespaces_prefix(synthesised, env) -> None:
    for concern, key, statement in _statements(synthesised, env):
        actions = _as_list(statement["Action"])
        object_actions = [a for a in actions if a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")]
        if not object_actions or "AutoDeleteObjects" in key:
            continue
        for resource in _as_list(statement["Resource"]):
            parts = resource["Fn::Join"][1]
            assert parts[-1] in ("/namespaces/*", "/namespaces/*/clusters/*", "/namespaces/*/batches/*"), (
                concern, key, parts[-1])
