"""A collection's schema sync (`POST /v1/collections/{collection_id}/sync-schema`) over HTTP: fields its documents
carry join output_schema (never removed or retyped), schema_version grows, downstream collections gain them, a sync
within five minutes is skipped unless forced, and bad input is a 4xx that changes nothing. Answers parse as the SDK's
SchemaSyncResponse / SchemaSyncSkippedResponse."""

from __future__ import annotations

import pytest
from mixpeek.models.response_sync_collection_schema_v1_collections_collection_id_sync_schema_post import (
    ResponseSyncCollectionSchemaV1CollectionsCollectionIdSyncSchemaPost as SyncAnswer,
)
from mixpeek.models.schema_sync_response import SchemaSyncResponse
from mixpeek.models.schema_sync_skipped_response import SchemaSyncSkippedResponse

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


@pytest.fixture
def headers(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "shelf"}).raise_for_status()
    headers = {**tenant.headers, "X-Namespace": "shelf"}
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "books", "bucket_schema": SCHEMA}
                ).raise_for_status()
    client.post("/v1/collections", headers=headers, json={
        "collection_name": "books", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "genre"}]}}).raise_for_status()
    for name, everything in (("mirror", True), ("picky", False)):
        client.post("/v1/collections", headers=headers, json={
            "collection_name": name, "source": {"type": "collection", "collection_id": "books"},
            "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                                  "include_all_source_fields": everything}}).raise_for_status()
    for seed in range(3):
        client.post("/v1/collections/books/documents", headers=headers, json={
            "vectors": {URI: [(seed + i % 5 + 1) / 10 for i in range(384)]}, "genre": 7 if seed else "sf",
            "rating": 4.5, "tags": ["a"], "reviewed": seed == 1, "notes": None}).raise_for_status()
    return headers


def sync(client, headers, collection="books", **body):
    return client.post(f"/v1/collections/{collection}/sync-schema", headers=headers, json=body or None)


def test_fields_the_documents_carry_join_the_schema_and_flow_downstream(client, headers):
    before = client.get("/v1/collections/books", headers=headers).json()
    assert before["schema_version"] == 1 and before["last_schema_sync"] is None
    response = sync(client, headers)
    assert response.status_code == 200, response.text
    answer = SyncAnswer.from_dict(response.json()).actual_instance
    assert isinstance(answer, SchemaSyncResponse)
    assert answer.fields_added == ["rating", "reviewed", "tags"] and answer.documents_sampled == 3
    assert (answer.previous_version, answer.schema_version, answer.fields_total) == (1, 2, 5)
    books = client.get("/v1/collections/books", headers=headers).json()
    assert books["output_schema"]["properties"] == {
        "genre": {"type": "string"}, "text": {"type": "string"}, "rating": {"type": "number"},
        "reviewed": {"type": "boolean"}, "tags": {"type": "array"}}  # genre keeps its type; null notes stay out
    assert books["schema_version"] == 2 and books["last_schema_sync"]

    mirror = client.get("/v1/collections/mirror", headers=headers).json()
    picky = client.get("/v1/collections/picky", headers=headers).json()
    assert sorted(answer.downstream_collections_updated) == sorted([mirror["collection_id"], picky["collection_id"]])
    assert "rating" in mirror["input_schema"]["properties"] and "rating" in mirror["output_schema"]["properties"]
    assert mirror["schema_version"] == 2
    assert "rating" in picky["input_schema"]["properties"] and "rating" not in picky["output_schema"]["properties"]
    assert picky["schema_version"] == 1


def test_a_second_sync_within_five_minutes_is_skipped_unless_forced(client, headers):
    sync(client, headers).raise_for_status()
    skipped = sync(client, headers)
    assert skipped.status_code == 200
    answer = SyncAnswer.from_dict(skipped.json()).actual_instance
    assert isinstance(answer, SchemaSyncSkippedResponse) and answer.skipped and answer.schema_version == 2
    assert "force=true" in answer.reason and answer.last_sync
    forced = SyncAnswer.from_dict(sync(client, headers, force=True).json()).actual_instance
    assert isinstance(forced, SchemaSyncResponse) and forced.fields_added == [] and forced.schema_version == 2


def test_without_cascade_and_with_a_small_sample(client, headers):
    answer = sync(client, headers, sample_size=1, cascade_to_downstream=False).json()
    assert answer["documents_sampled"] == 1 and answer["downstream_collections_updated"] == []
    assert "rating" not in client.get("/v1/collections/mirror", headers=headers).json()["input_schema"]["properties"]


def test_an_empty_collection_syncs_nothing(client, headers):
    answer = sync(client, headers, collection="picky").json()
    assert answer["documents_sampled"] == 0 and answer["fields_added"] == [] and answer["schema_version"] == 1


@pytest.mark.parametrize("body", [{"sample_size": 0}, {"sample_size": 10_001}, {"force": "yes"},
                                  {"cascade_to_downstream": 1}, {"unknown": True}])
def test_bad_bodies_are_422_and_change_nothing(client, headers, body):
    response = sync(client, headers, **body)
    assert response.status_code == 422, response.text
    assert client.get("/v1/collections/books", headers=headers).json()["last_schema_sync"] is None


def test_unknown_collections_and_other_organisations_are_404(client, headers, other_tenant):
    missing = sync(client, headers, collection="col_missing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "collection_not_found"
    books_id = client.get("/v1/collections/books", headers=headers).json()["collection_id"]
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "theirs"}).raise_for_status()
    theirs = sync(client, {**other_tenant.headers, "X-Namespace": "theirs"}, collection=books_id)
    assert theirs.status_code == 404
    assert sync(client, {**other_tenant.headers, "X-Namespace": "shelf"}).status_code == 404
    assert client.get("/v1/collections/books", headers=headers).json()["last_schema_sync"] is None
