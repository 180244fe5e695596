"""The namespaces' and webhooks' secrets in Secrets Manager: every function reads them and only the API, the
auto-indexer and the tiering sweeper write them (the reaper deletes them with their namespaces), always on this
environment's `openpeek/<env>/*` secrets and never on `*`; every function knows the environment its names carry."""

from __future__ import annotations

import pytest
from infra_support import ENVIRONMENTS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)

WRITE = {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _secret_statements(synthesised, env):
    """(concern, policy key, statement) of every statement on the namespace and webhook secrets."""
    for concern, template in synthesised[env].raw.items():
        for key, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if any(action.startswith("secretsmanager:") for action in _as_list(statement["Action"])) and \
                        "Fn::Join" in str(statement["Resource"]):
                    yield concern, key, statement


def test_secret_actions_are_scoped_to_this_environments_prefix(synthesised, env) -> None:
    statements = list(_secret_statements(synthesised, env))
    assert statements
    for concern, key, statement in statements:
        for resource in _as_list(statement["Resource"]):
            parts = resource["Fn::Join"][1]
            assert parts[0] == "arn:" and parts[-1] == f":secret:openpeek/{env}/*", (concern, key, parts)
            assert ":secretsmanager:" in parts


def test_the_api_writes_the_secrets_and_the_reaper_only_deletes(synthesised, env) -> None:
    granted: dict[str, set[str]] = {}
    for _concern, key, statement in _secret_statements(synthesised, env):
        granted.setdefault(key, set()).update(_as_list(statement["Action"]))
    api = [actions for key, actions in granted.items() if key.startswith("Api")]
    assert any(WRITE | {"secretsmanager:GetSecretValue"} <= actions for actions in api), granted
    reaper = [actions for key, actions in granted.items() if key.startswith("Reaper")]
    assert reaper and all(actions & WRITE == {"secretsmanager:DeleteSecret"} for actions in reaper), granted
    delivery = [actions for key, actions in granted.items() if key.startswith("WebhookDelivery")]
    assert delivery and all(actions == {"secretsmanager:GetSecretValue"} for actions in delivery), granted


def test_every_function_names_its_environment_in_the_secret_names(synthesised, env) -> None:
    functions = synthesised[env].resources("AWS::Lambda::Function")
    openpeek = [function for function in functions.values()
                if "OPENPEEK_RUNTIME" in str(function["Properties"].get("Environment"))]
    assert openpeek
    for function in openpeek:
        assert function["Properties"]["Environment"]["Variables"]["OPENPEEK_ENVIRONMENT_NAME"] == env
