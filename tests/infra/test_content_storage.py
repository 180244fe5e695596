"""Managed content on AWS: blobs live in the artefacts bucket under each namespace's prefix; browsers may PUT to
presigned upload URLs (CORS, PUT only); the API function, which signs those URLs, may touch objects under
`namespaces/` and nothing else of the bucket."""

from __future__ import annotations

import pytest
from infra_support import ENVIRONMENTS

pytestmark = pytest.mark.parametrize("env", ENVIRONMENTS)


def test_bucket_allows_browser_puts_only(synthesised, env) -> None:
    (bucket,) = synthesised[env].resources("AWS::S3::Bucket", "data").values()
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["PUT"]
    assert rule["ExposedHeaders"] == ["ETag"]  # confirm may pass the ETag the PUT returned
    assert rule["AllowedOrigins"] == list(synthesised[env].config.upload_allowed_origins)


def _api_object_statements(synthesised, env):
    for key, policy in synthesised[env].resources("AWS::IAM::Policy", "api").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("s3:") for action in actions):
                yield actions, statement["Resource"]


def _rendered(resource) -> str:
    if isinstance(resource, str):
        return resource
    if "Fn::Join" in resource:
        return "".join(part if isinstance(part, str) else "<bucket>" for part in resource["Fn::Join"][1])
    return "<bucket>"


def test_api_role_signs_uploads_with_object_access_under_namespaces_only(synthesised, env) -> None:
    writes = [(actions, resources) for actions, resources in _api_object_statements(synthesised, env)
              if "s3:PutObject" in actions]
    assert writes, "the API function needs s3:PutObject to sign upload URLs"
    for actions, resources in writes:
        resources = resources if isinstance(resources, list) else [resources]
        assert {_rendered(resource) for resource in resources} == {"<bucket>/namespaces/*"}
        assert set(actions) <= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
