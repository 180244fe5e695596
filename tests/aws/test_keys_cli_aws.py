"""`openpeek keys` against a deployed table: OPENPEEK_RUNTIME=aws and OPENPEEK_TABLE_NAME are all it needs (no bucket,
no route to Qdrant), here against moto's DynamoDB."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from openpeek.cli import main
from openpeek.runtime import build_organizations
from openpeek.settings import Settings

TABLE = "openpeek-dev"


@pytest.fixture
def deployed_table(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "OPENPEEK_BUCKET_NAME", "OPENPEEK_QDRANT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "OPENPEEK_RUNTIME": "aws",
        "OPENPEEK_TABLE_NAME": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


def test_keys_create_writes_a_working_key_into_the_deployed_table(deployed_table, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an embedded runtime would leave .openpeek/ here

    assert main(["keys", "create", "--org", "acme"]) == 0
    key = capsys.readouterr().out.strip()

    principal = build_organizations(Settings()).authenticate(f"Bearer {key}")
    assert principal.org_id
    assert main(["keys", "list", "--org", "acme"]) == 0
    assert "active" in capsys.readouterr().out
    assert not (tmp_path / ".openpeek").exists()
