"""Secrets at rest, deployed (moto): the namespaces' and webhooks' secrets go to Secrets Manager under
openpeek/<environment>/<org>/<kind>/<id>, the DynamoDB item holds only a reference, the values are still what the
services use, deleting the owner deletes the secret, and a Secrets Manager failure is a 503 that writes nothing."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient
from moto import mock_aws

from openpeek.adapters.aws.secrets import SecretsManagerStore
from openpeek.adapters.webhook_sender import HttpxWebhookSender
from openpeek.api.app import create_app
from openpeek.domain.failures import SecretNotFound
from openpeek.runtime import build_services
from openpeek.services.organizations import Principal
from openpeek.repositories.secrets import SecretVault
from openpeek.services.webhooks import build_webhooks
from openpeek.settings import Settings
from tests.local_qdrant_servers import LocalQdrantServers
from tests.aws.moto_table import create_single_table

REGION = "eu-west-1"
TABLE = "openpeek-secrets-test"
QDRANT_KEY = "qdrant-key-kept-out-of-dynamodb"
FGA_TOKEN = "fga-token-kept-out-of-dynamodb"
SIGNING_SECRET = "whsec_signing-secret-kept-out-of-dynamodb"
HEADER_VALUE = "Bearer receiver-token-kept-out-of-dynamodb"
DEDICATED = {"compute_tier": "dedicated_cpu", "qdrant_url": "https://qdrant.internal.example.com:6333",
             "ray_head_node_url": "ray://ray-head:10001", "qdrant_api_key": QDRANT_KEY,
             "authorization": {"enabled": True, "mode": "pull_list_objects", "api_url": "http://localhost:8080",
                               "store_id": "store1", "api_token": FGA_TOKEN}}


@pytest.fixture
def deployed(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        create_single_table(TABLE)
        boto3.client("s3").create_bucket(Bucket="openpeek-secrets-test",
                                         CreateBucketConfiguration={"LocationConstraint": REGION})
        services = build_services(Settings(runtime="aws", table_name=TABLE, bucket_name="openpeek-secrets-test",
                                           qdrant_url=":memory:", environment_name="test"),
                                  # dedicated namespaces run on their own Qdrant: a reachable local engine per URL
                                  dedicated_vector_stores=LocalQdrantServers())
        org = services.organizations.ensure_org("acme", enterprise=True)
        key = services.organizations.issue_key(org["org_id"]).plain_key
        yield services, TestClient(create_app(services), raise_server_exceptions=False), org["org_id"], \
            {"Authorization": f"Bearer {key}"}


def every_item() -> str:
    return json.dumps(boto3.client("dynamodb").scan(TableName=TABLE)["Items"])


def secret_names() -> list[str]:
    return sorted(secret["Name"] for secret in boto3.client("secretsmanager").list_secrets()["SecretList"])


def test_secrets_live_in_secrets_manager_and_only_references_in_dynamodb(deployed):
    services, client, org_id, headers = deployed
    created = client.post("/v1/namespaces", headers=headers, json={
        "namespace_id": "dedicated", "namespace_name": "dedicated", "infrastructure": DEDICATED})
    assert created.status_code == 200, created.text
    patched = client.patch("/v1/namespaces/dedicated", headers=headers, json={
        "infrastructure": {**DEDICATED, "qdrant_api_key": QDRANT_KEY + "-rotated"}})
    assert patched.status_code == 200, patched.text
    # The deployed URL rules resolve the receiver's host: here it resolves to a public address without DNS.
    webhooks, _delivery = build_webhooks(services.table, services.events, runtime="aws", sender=HttpxWebhookSender(),
                                         resolver=lambda _host, _port: ["93.184.216.34"],
                                         vault=SecretVault(SecretsManagerStore(), environment="test"))
    principal = Principal(org_id, "test")
    webhook_id = webhooks.create(principal, {
        "webhook_name": "notify", "event_types": ["document.created"],
        "channels": [{"channel": "webhook", "configs": {"url": "https://hooks.example.com/in",
                                                        "signing_secret": SIGNING_SECRET,
                                                        "headers": {"Authorization": HEADER_VALUE}}}]}).webhook_id

    items = every_item()
    for plaintext in (QDRANT_KEY, FGA_TOKEN, SIGNING_SECRET, HEADER_VALUE):
        assert plaintext not in items
    assert secret_names() == [f"openpeek/test/{org_id}/namespace/dedicated", f"openpeek/test/{org_id}/webhook/{webhook_id}"]
    namespace = services.namespaces.get(principal, "dedicated").namespace
    assert namespace.vector_store_api_key == QDRANT_KEY + "-rotated"
    assert namespace.infrastructure["authorization"]["api_token"] == FGA_TOKEN
    webhook = services.webhooks.get(principal, webhook_id)  # the runtime's own webhook service reads it back
    assert (webhook.secret, webhook.headers) == (SIGNING_SECRET, {"Authorization": HEADER_VALUE})

    assert client.delete(f"/v1/organizations/webhooks/{webhook_id}", headers=headers).status_code == 204
    assert client.delete("/v1/namespaces/dedicated", headers=headers).status_code == 200
    assert secret_names() == []


def test_a_secrets_manager_failure_is_a_503_and_nothing_is_written(deployed, monkeypatch):
    services, client, org_id, headers = deployed
    real = boto3.client("secretsmanager")

    class Refusing:
        def __getattr__(self, name):
            if name in ("create_secret", "put_secret_value"):
                def refuse(**_kwargs):
                    raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "down"}}, name)
                return refuse
            return getattr(real, name)

    refusing, put = SecretsManagerStore(client=Refusing()), SecretsManagerStore.put
    monkeypatch.setattr(SecretsManagerStore, "put", lambda _self, *args: put(refusing, *args))
    before = every_item()
    answer = client.post("/v1/namespaces", headers=headers, json={
        "namespace_id": "dedicated", "namespace_name": "dedicated", "infrastructure": DEDICATED})
    assert answer.status_code == 503, answer.text
    assert answer.json()["success"] is False
    assert every_item() == before and secret_names() == []
    assert client.get("/v1/namespaces/dedicated", headers=headers).status_code == 404


def test_a_revision_is_read_as_written_and_a_deleted_secret_is_not_found(deployed):
    store = SecretsManagerStore(client=boto3.client("secretsmanager"))
    store.put("openpeek/test/org/namespace/ns_1", "a" * 32, "first")
    store.put("openpeek/test/org/namespace/ns_1", "b" * 32, "second")
    fresh = SecretsManagerStore(client=boto3.client("secretsmanager"))  # no cache
    assert fresh.get("openpeek/test/org/namespace/ns_1", "a" * 32) == "first"
    assert fresh.get("openpeek/test/org/namespace/ns_1", "b" * 32) == "second"
    store.delete("openpeek/test/org/namespace/ns_1")
    store.delete("openpeek/test/org/namespace/ns_1")  # a missing secret is a no-op
    with pytest.raises(SecretNotFound):
        SecretsManagerStore(client=boto3.client("secretsmanager")).get("openpeek/test/org/namespace/ns_1", "a" * 32)
