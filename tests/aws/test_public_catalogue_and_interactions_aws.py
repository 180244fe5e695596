"""On DynamoDB (moto, with the deployed table's gsi1): the public catalogue finds every organisation's publications
through the index, and an interaction's deduplication mark holds under DynamoDB's conditional transactions."""

from __future__ import annotations

import time

import boto3
import pytest
from moto import mock_aws

from openpeek.adapters.aws.dynamodb_table import DynamoDbTable
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.publications import Publication
from openpeek.repositories.interactions import InteractionRepository
from openpeek.repositories.publications import PublicationRepository

REGION = "eu-west-1"


@pytest.fixture
def table(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="catalogue",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                  for name in ("pk", "sk", "gsi1pk", "gsi1sk")],
            GlobalSecondaryIndexes=[{"IndexName": "gsi1", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}]}],
            BillingMode="PAY_PER_REQUEST")
        yield DynamoDbTable("catalogue", client=client)


def _publication(org: str, name: str, created_at: str) -> Publication:
    return Publication(public_id=f"pub_{name}", retriever_id=f"ret_{name}", org_id=org, namespace_id=f"ns_{org}",
                       public_name=name, display_config={"title": name}, rate_limit_config={}, api_key_hash="h",
                       created_at=created_at, updated_at=created_at)


def test_the_catalogue_reads_every_organisations_publications_from_the_index(table):
    repository = PublicationRepository(table)
    for org, name, created in (("org_b", "second", "2026-01-02T00:00:00.000Z"),
                               ("org_a", "first", "2026-01-01T00:00:00.000Z")):
        repository.create(_publication(org, name, created), stale_reservation=None, count=None)
    assert [(p.public_name, p.org_id) for p in repository.catalogue()] == [("first", "org_a"), ("second", "org_b")]
    repository.delete(repository.get("ns_org_a", "ret_first"))
    assert [p.public_name for p in repository.catalogue()] == ["second"]


def test_an_interactions_deduplication_mark_is_conditional(table):
    repository = InteractionRepository(table, ttl_seconds=3600)
    record = {"interaction_id": "int_1", "feature_id": "d1", "interaction_type": ["click"], "timestamp": "t"}
    repository.record_once("ns_1", record, "k", None, window_s=300)
    mark = repository.seen("ns_1", "k")
    assert repository.is_live(mark) and repository.get("ns_1", "int_1")["feature_id"] == "d1"
    with pytest.raises(ConditionFailed):  # a concurrent duplicate that read no mark
        repository.record_once("ns_1", {**record, "interaction_id": "int_2"}, "k", None, window_s=300)
    assert repository.get("ns_1", "int_2") is None  # nothing of the refused transaction was written
    assert not repository.is_live({**mark, "expires_at": int(time.time()) - 1})
    # Once the window is over, the next one takes the mark over at the version it read, and only then.
    repository.record_once("ns_1", {**record, "interaction_id": "int_3"}, "k", mark, window_s=300)
    with pytest.raises(ConditionFailed):
        repository.record_once("ns_1", {**record, "interaction_id": "int_4"}, "k", mark, window_s=300)
    assert [entry["interaction_id"] for entry in repository.list("ns_1")] == ["int_3", "int_1"]
