"""A published retriever through the API Lambda (mangum) against moto's DynamoDB and Secrets Manager: the owner
publishes it with a password kept as the organisation's own secret; the public executes it by name, with no key."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from test_api_handler import aws_handler  # noqa: F401  (the fixture: the handler over moto)

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(method: str, path: str, body: dict, headers: dict[str, str]) -> dict:
    event = json.loads((EVENTS / "api_patch_namespace.json").read_text())
    del event["headers"]["authorization"]
    event["headers"].update({name.lower(): value for name, value in headers.items()})
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["body"] = json.dumps(body)
    return event


def test_publish_with_an_organisation_secret_and_execute_publicly(aws_handler):  # noqa: F811
    services = aws_handler.services.get()
    org = services.organizations.ensure_org("lambda-publisher")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    owner = {"Authorization": f"Bearer {key}", "X-Namespace": "shelf"}
    answer = aws_handler.handler(_event("POST", "/v1/namespaces/standalone", {
        "namespace_id": "shelf", "vector_configs": [{"name": "emb", "dimension": 2}]}, owner), None)
    assert answer["statusCode"] == 200, answer["body"]
    answer = aws_handler.handler(_event("POST", "/v1/namespaces/shelf/documents/upsert", {"documents": [
        {"document_id": "d1", "vectors": {"emb": [1.0, 0.0]}, "payload": {"title": "One", "cost": 1}}]}, owner), None)
    assert answer["statusCode"] == 200, answer["body"]
    answer = aws_handler.handler(_event("POST", "/v1/retrievers", {
        "retriever_name": "shelf-search", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 3}]}}}]},
        owner), None)
    retriever_id = json.loads(answer["body"])["retriever_id"]
    boto3.client("secretsmanager").create_secret(Name=f"openpeek/local/{org['org_id']}/secrets/shelf-password",
                                                 SecretString="let me in")
    answer = aws_handler.handler(_event("POST", f"/v1/retrievers/{retriever_id}/publish", {
        "public_name": "lambda-shelf", "password_secret_name": "shelf-password", "display_config": {
            "title": "Shelf", "exposed_fields": ["title"],
            "inputs": [{"field_name": "v", "label": "V", "field_schema": {"type": "array"}}]}}, owner), None)
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["public_url"] == (
        "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/public/retrievers/lambda-shelf/execute")

    query = {"inputs": {"v": [1.0, 0.0]}}
    refused = aws_handler.handler(_event("POST", "/v1/public/retrievers/lambda-shelf/execute", query, {}), None)
    assert refused["statusCode"] == 401, refused["body"]
    answer = aws_handler.handler(_event("POST", "/v1/public/retrievers/lambda-shelf/execute", query,
                                        {"X-Retriever-Password": "let me in"}), None)
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["documents"] == [
        {"document_id": "d1", "score": json.loads(answer["body"])["documents"][0]["score"], "title": "One"}]
