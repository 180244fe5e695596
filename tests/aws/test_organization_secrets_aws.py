"""Organisation secrets, deployed (moto): each value is a Secrets Manager secret under
openpeek/<environment>/<org>/org_secret/<id>, the DynamoDB item holds only its name and a reference, an update is a
new version the item names, and a delete removes both."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from openpeek.adapters.aws.dynamodb_table import DynamoDbTable
from openpeek.adapters.aws.secrets import SecretsManagerStore, read_secret
from openpeek.domain.failures import SecretNotFound
from openpeek.repositories.organization_secrets import OrganizationSecretRepository
from openpeek.repositories.secrets import SecretVault
from openpeek.services.organization_secrets import OrganizationSecrets, TenantSecrets
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


def test_a_tenant_reads_only_its_own_organisations_secrets_never_a_secret_id_as_given(secrets):
    """What a tenant names (api_call's auth.secret_ref, an OpenFGA token ref, a publication's password) is read as a
    secret of its own organisation. The API function may read every organisation's vault secrets and the Qdrant key;
    naming one of those by its Secrets Manager name or ARN reads nothing."""
    manager = boto3.client("secretsmanager")
    secrets.create(Principal("org_globex", "key_g"), "stripe_api_key", "globex-own-value")
    [globex_vault_name] = secret_names()
    qdrant_key_arn = manager.create_secret(Name="openpeek/test/qdrant-api-key", SecretString="qdrant-key")["ARN"]
    manager.create_secret(Name="openpeek/test/org_acme/secrets/partner_token", SecretString="acme-operator-value")
    vault = SecretVault(SecretsManagerStore(), environment="test")

    def operator(org_id: str, name: str):  # what runtime._operator_secrets wires deployed
        try:
            return read_secret(vault.name(org_id, "secrets", name))
        except SecretNotFound:
            return None

    read = TenantSecrets(secrets, operator)
    secrets.create(Principal("org_acme", "key_a"), "stripe_api_key", VALUE)
    assert read("org_acme", "stripe_api_key") == VALUE  # its own organisation secret
    assert read("org_globex", "stripe_api_key") == "globex-own-value"  # the same name is another org's own value
    assert read("org_acme", "partner_token") == "acme-operator-value"  # the operator's, put for this organisation
    assert read("org_globex", "partner_token") is None  # ... and for no other
    for foreign in (globex_vault_name, qdrant_key_arn, "openpeek/test/qdrant-api-key", "../org_globex/x", ""):
        assert read("org_acme", foreign) is None
