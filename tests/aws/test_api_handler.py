"""The API Lambda entry point (mangum) with the sample API Gateway events, against moto's DynamoDB and S3."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from test_lambda_observability import emf_and_log_lines, emf_metrics, log_lines, stdout  # noqa: F401

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def aws_handler(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "OPENPEEK_RUNTIME": "aws",
        "OPENPEEK_TABLE_NAME": "openpeek-test",
        "OPENPEEK_BUCKET_NAME": "openpeek-test-artifacts",
        "OPENPEEK_QDRANT_URL": ":memory:",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="openpeek-test",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(
            Bucket="openpeek-test-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        import openpeek.handlers.api as module

        module = importlib.reload(module)  # fresh LazyServices bound to this moto session
        yield module
        module.services.get().close()


def _event(name: str, key: str) -> dict:
    event = json.loads((EVENTS / name).read_text())
    event["headers"]["authorization"] = f"Bearer {key}"
    return event


def test_get_and_patch_events_through_the_handler(aws_handler):
    services = aws_handler.services.get()
    org = services.organizations.ensure_org("lambda-org")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    principal = services.organizations.authenticate(f"Bearer {key}")
    services.namespaces.create(principal, {"namespace_name": "products"})

    response = aws_handler.handler(_event("api_get_namespace.json", key), None)
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    assert body["namespace_name"] == "products" and body["qdrant_status"]["status"] == "green"

    response = aws_handler.handler(_event("api_patch_namespace.json", key), None)
    assert response["statusCode"] == 200, response["body"]
    patched = json.loads(response["body"])
    assert patched["description"] == "patched through API Gateway" and patched["auto_create_indexes"] is True

    # the change is in DynamoDB itself, not only in the answer
    item = boto3.client("dynamodb").get_item(
        TableName="openpeek-test", Key={"pk": {"S": f"ORG#{org['org_id']}"}, "sk": {"S": f"NS#{body['namespace_id']}"}}
    )["Item"]
    assert "patched through API Gateway" in json.dumps(item)


def test_handler_answers_401_in_the_envelope_without_a_valid_key(aws_handler):
    event = json.loads((EVENTS / "api_get_namespace.json").read_text())
    response = aws_handler.handler(event, None)
    assert response["statusCode"] == 401
    body = json.loads(response["body"])
    assert body["success"] is False and body["error"]["code"] == "invalid_api_key"


def test_the_api_lambda_logs_the_request_id_and_emits_documents_upserted(aws_handler, stdout, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "openpeek/test")
    services = aws_handler.services.get()
    org = services.organizations.ensure_org("lambda-org")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    principal = services.organizations.authenticate(f"Bearer {key}")
    services.namespaces.create(principal, {"namespace_name": "products", "mode": "standalone",
                                           "vector_configs": [{"name": "emb", "dimension": 2}]})
    event = _event("api_patch_namespace.json", key)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/namespaces/products/documents/upsert"
    event["requestContext"]["http"]["method"] = "POST"
    event["body"] = json.dumps({"documents": [{"document_id": f"d{i}", "vectors": {"emb": [1.0, float(i)]}}
                                              for i in range(3)]})
    stdout.readouterr()

    response = aws_handler.handler(event, None)

    assert response["statusCode"] == 200, response["body"]
    lines = emf_and_log_lines(stdout.readouterr().out)
    (ended,) = [line for line in log_lines(lines) if line["message"] == "invocation ended"]
    assert ended["correlation_id"] == "JKJaXmPLvHcESHA=" and ended["service"] == "openpeek"
    namespace, upserted = emf_metrics(lines)["DocumentsUpserted"]
    assert upserted == 3 and namespace.startswith("openpeek/")


def _request(method: str, path: str, key: str, body: dict | None = None) -> dict:
    event = _event("api_get_namespace.json", key)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def test_two_organisations_choose_the_same_namespace_id_on_dynamodb(aws_handler):
    """Deployed (mangum over moto's DynamoDB): the same chosen id in two organisations, each answer showing it, and
    the second namespace stored under a relocated id of its own."""
    services = aws_handler.services.get()
    keys = [services.organizations.issue_key(services.organizations.ensure_org(name)["org_id"]).plain_key
            for name in ("lambda-first", "lambda-second")]
    for position, key in enumerate(keys):
        response = aws_handler.handler(_request("POST", "/v1/namespaces", key, {
            "namespace_name": f"books-{position}", "namespace_id": "books"}), None)
        assert response["statusCode"] == 200, response["body"]
        assert json.loads(response["body"])["namespace_id"] == "books"
    again = aws_handler.handler(_request("POST", "/v1/namespaces", keys[1], {
        "namespace_name": "books-again", "namespace_id": "books"}), None)
    assert again["statusCode"] == 409 and json.loads(again["body"])["error"]["code"] == "namespace_id_taken"

    pointers = boto3.client("dynamodb").scan(TableName="openpeek-test", FilterExpression="begins_with(pk, :p)",
                                             ExpressionAttributeValues={":p": {"S": "NSID#"}})["Items"]
    storage_ids = sorted(item["pk"]["S"][len("NSID#"):] for item in pointers)
    assert storage_ids[0] == "books" and storage_ids[1].startswith("nsr_")

    for position, key in enumerate(keys):
        response = aws_handler.handler(_request("GET", "/v1/namespaces/books", key), None)
        body = json.loads(response["body"])
        assert (body["namespace_id"], body["namespace_name"]) == ("books", f"books-{position}")
    assert aws_handler.handler(_request("DELETE", "/v1/namespaces/books", keys[0]), None)["statusCode"] == 200
    survivor = aws_handler.handler(_request("GET", "/v1/namespaces/books", keys[1]), None)
    assert survivor["statusCode"] == 200 and json.loads(survivor["body"])["namespace_name"] == "books-1"
    assert services.vectors.info(storage_ids[1]).points_count == 0  # its collection is still there
