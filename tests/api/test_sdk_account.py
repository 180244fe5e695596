"""The official SDK's AccountApi, OrganizationSecretsApi, FeaturesApi, FeatureSearchApi, NamespaceExtractorsApi and
CollectionSchemaApi against a live `openpeek serve`: the SDK parses every answer into its own models."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BucketCreateRequest,
    CreateCollectionRequest,
    CreateSecretRequest,
    DocumentCreateRequest,
    FeatureSearchRequest,
    SchemaSyncRequest,
    UpdateSecretRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-account"
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


@pytest.fixture(scope="module")
def client(server):
    sdk = sdk_client(server, NAMESPACE)
    api_client = sdk.api_client
    api_client.namespace_id = sdk.namespace.namespace_id
    mixpeek.BucketsApi(api_client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "notes", "bucket_schema": {"properties": {"body": {"type": "text"}}}}))
    mixpeek.CollectionsApi(api_client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "note-chunks", "source": {"type": "bucket", "bucket_ids": ["notes"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}}))
    documents = mixpeek.CollectionDocumentsApi(api_client)
    for seed in range(3):
        documents.create_document("note-chunks", DocumentCreateRequest.from_dict({
            "vectors": {URI: [(seed + i % 7 + 1) / 10 for i in range(384)]}, "topic": f"t{seed}", "stars": seed}))
    return api_client


def test_whoami(client):
    me = mixpeek.AccountApi(client).whoami_me()
    assert me.organization_id.startswith("org_") and me.key.permissions == ["READ", "WRITE", "DELETE", "ADMIN"]


def test_organisation_secrets_round_trip_without_showing_values(client):
    secrets = mixpeek.OrganizationSecretsApi(client)
    created = secrets.create_secret_organizations(CreateSecretRequest(secret_name="sdk_token", secret_value="v1"))
    assert created.secret_name == "sdk_token" and created.created is True
    assert secrets.list_secrets_organizations().secrets == ["sdk_token"]
    updated = secrets.update_secret_organizations_name("sdk_token", UpdateSecretRequest(secret_value="v2"))
    assert updated.updated is True
    assert secrets.delete_secret_organizations_name("sdk_token").deleted is True
    with pytest.raises(ApiException) as missing:
        secrets.delete_secret_organizations_name("sdk_token")
    assert missing.value.status == 404


def test_features_menu_and_one_off_search(client):
    menu = mixpeek.FeaturesApi(client).discover_features()
    assert any(m["modality"] == "text" for m in menu.modalities)
    found = mixpeek.FeatureSearchApi(client).feature_search(FeatureSearchRequest.from_dict({
        "collection_identifiers": ["note-chunks"], "feature_uri": URI, "top_k": 2,
        "query": {"input_mode": "vector", "vector": [(1 + i % 7 + 1) / 10 for i in range(384)]}}))
    assert [d["topic"] for d in found["documents"]][0] == "t1" and len(found["documents"]) == 2


def test_namespace_extractors(client):
    extractors = mixpeek.NamespaceExtractorsApi(client)
    listed = extractors.list_extractors_namespaces(client.namespace_id, source="all", include_disabled=True)
    assert "text_extractor_v1" in {e.feature_extractor_id for e in listed.extractors}
    one = extractors.get_extractor_namespaces(client.namespace_id, "passthrough_extractor_v1")
    assert one.source.value == "builtin"


def test_collection_schema_sync(client):
    answer = mixpeek.CollectionSchemaApi(client).sync_collection_schema(
        "note-chunks", SchemaSyncRequest(sample_size=10, force=True)).actual_instance
    assert answer.fields_added == ["stars", "topic"] and answer.documents_sampled == 3
