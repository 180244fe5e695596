"""Organisation secrets, deployed (moto): each value is a Secrets Manager secret under
openpeek/<environment>/<org>/org_secret/<id>, the DynamoDB item holds only its name and a reference, an update is a
new version the item names, and a delete removes both."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from openpeek.adapters.aws.dynamodb_table import DynamoDbTable
from openpeek.adapters.aws.secrets import SecretsManagerStore
from openpeek.repositories.organization_secrets import OrganizationSecretRepository
from openpeek.repositories.secrets import SecretVault
from openpeek.services.organization_secrets import OrganizationSecrets
from openpeek.services.organizations import Principal
from tests.aws.moto_table import create_single_table

REGION = "eu-west-1"
TABLE = "openpeek-org-secrets-test"
VALUE = "sk-live-kept-out-of-dynamodb"


@pytest.fixture
def secrets(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        create_single_table(TABLE)
        vault = SecretVault(SecretsManagerStore(), environment="test")
        yield OrganizationSecrets(OrganizationSecretRepository(DynamoDbTable(TABLE), vault))


def stored_in_dynamodb() -> str:
    return json.dumps(boto3.client("dynamodb").scan(TableName=TABLE)["Items"])


def secret_names() -> list[str]:
    return [secret["Name"] for secret in boto3.client("secretsmanager").list_secrets()["SecretList"]]


def test_values_live_in_secrets_manager_and_only_references_in_dynamodb(secrets):
    caller = Principal("org_acme", "key_test")
    secrets.create(caller, "stripe_api_key", VALUE)
    [name] = secret_names()
    assert name.startswith("openpeek/test/org_acme/org_secret/sec_")
    assert VALUE not in stored_in_dynamodb() and "stripe_api_key" in stored_in_dynamodb()
    assert secrets.value_of("org_acme", "stripe_api_key") == VALUE

    secrets.update(caller, "stripe_api_key", VALUE + "-rotated")
    assert secrets.value_of("org_acme", "stripe_api_key") == VALUE + "-rotated"
    assert secret_names() == [name] and "rotated" not in stored_in_dynamodb()

    secrets.delete(caller, "stripe_api_key")
    assert secrets.names(caller) == [] and secret_names() == []
    assert secrets.value_of("org_acme", "stripe_api_key") is None
