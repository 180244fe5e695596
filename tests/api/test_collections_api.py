"""Collections over HTTP: creation computes schemas and indexes from the source, bad input is a clear 4xx that
changes nothing, and the namespace's vector store carries what the collection needs."""

from __future__ import annotations

import pytest

from openpeek.domain.buckets import Bucket
from openpeek.repositories.buckets import BucketRepository

SCHEMA = {"properties": {"content": {"type": "text"}, "title": {"type": "string"}, "year": {"type": "integer"},
                         "photo": {"type": "image"}}}


@pytest.fixture
def namespace(client, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "library"})
    assert created.status_code == 200, created.text
    return created.json()


@pytest.fixture
def headers(tenant, namespace):
    return {**tenant.headers, "X-Namespace": "library"}


@pytest.fixture
def bucket(services, tenant, namespace):
    made = Bucket(bucket_id="bkt_books", bucket_name="books", namespace_id=namespace["namespace_id"],
                  org_id=tenant.org_id, bucket_schema=SCHEMA, created_at="2026-01-01T00:00:00Z",
                  updated_at="2026-01-01T00:00:00Z")
    BucketRepository(services.table).create(made)
    return made


def text_collection(name="chunks", **extractor):
    return {"collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "input_mappings": {"text": "content"},
                                  "field_passthrough": [{"source_path": "title"}, {"source_path": "year"}],
                                  **extractor}}


def test_create_computes_schemas_vector_and_payload_indexes(client, services, headers, bucket, namespace):
    response = client.post("/v1/collections", headers=headers, json=text_collection())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["collection_id"].startswith("col_") and body["source"] == {"type": "bucket",
                                                                           "bucket_ids": ["bkt_books"]}
    assert body["input_schema"] == SCHEMA
    assert body["output_schema"]["properties"] == {"title": {"type": "string"}, "year": {"type": "integer"},
                                                   "text": {"type": "string"}}
    [index] = body["vector_indexes"]
    assert index["feature_uri"] == "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
    assert index["name"] == "text_extractor_v1_embedding" and index["index"]["dimensions"] == 384
    assert body["document_count"] == 0 and body["lifecycle_state"] == "active"
    info = services.vectors.info(namespace["namespace_id"])
    assert "text_extractor_v1_embedding" in info.vectors
    assert info.payload_indexes.get("year") == "integer" and info.payload_indexes.get("title") == "keyword"
    # the namespace now lists the extractor, so retrievers can search the collection's feature URI
    ns = client.get("/v1/namespaces/library", headers=headers).json()
    assert "text_extractor_v1" in [e["feature_extractor_id"] for e in ns["feature_extractors"]]

    by_name = client.get("/v1/collections/chunks", headers=headers).json()
    assert by_name["collection_id"] == body["collection_id"]
    features = client.get(f"/v1/collections/{body['collection_id']}/features", headers=headers).json()["features"]
    assert features[0]["feature_uri"] == index["feature_uri"] and features[0]["vector_index"]["dimensions"] == 384


@pytest.mark.parametrize("change, status, code, named", [
    ({"input_mappings": {"text": "summary"}}, 400, "input_mapping_property_missing", "summary"),
    ({"input_mappings": {"text": "year"}}, 400, "input_mapping_type_mismatch", "year"),
    ({"field_passthrough": [{"source_path": "author"}]}, 400, "field_passthrough_property_missing", "author"),
    ({"feature_extractor_name": "image_extractor", "input_mappings": {"image": "photo"}}, 400,
     "feature_extractor_not_available", "text_extractor_v1"),
    ({"parameters": {"chunk_size": 0}}, 400, "invalid_parameters", "chunk_size"),
])
def test_bad_extractor_configurations_are_refused_and_change_nothing(client, headers, bucket, change, status, code,
                                                                     named):
    response = client.post("/v1/collections", headers=headers, json=text_collection(**change))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and named in error["message"] + str(error["details"])
    assert client.get("/v1/collections", headers=headers).json()["results"] == []


def test_unknown_sources_and_other_organisations_are_404(client, headers, bucket, other_tenant):
    missing = text_collection()
    missing["source"]["bucket_ids"] = ["nope"]
    assert client.post("/v1/collections", headers=headers, json=missing).status_code == 404
    upstream = {**text_collection("derived"), "source": {"type": "collection", "collection_id": "col_nope"}}
    assert client.post("/v1/collections", headers=headers, json=upstream).status_code == 404
    created = client.post("/v1/collections", headers=headers, json=text_collection()).json()
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "library"})
    theirs = {**other_tenant.headers, "X-Namespace": "library"}
    assert client.get(f"/v1/collections/{created['collection_id']}", headers=theirs).status_code == 404
    assert client.delete(f"/v1/collections/{created['collection_id']}", headers=theirs).status_code == 404
    assert client.get(f"/v1/collections/{created['collection_id']}", headers=headers).status_code == 200


def test_duplicate_names_unknown_keys_and_blank_names(client, headers, bucket):
    assert client.post("/v1/collections", headers=headers, json=text_collection()).status_code == 200
    again = client.post("/v1/collections", headers=headers, json=text_collection())
    assert again.status_code == 409 and again.json()["error"]["code"] == "collection_name_taken"
    assert client.post("/v1/collections", headers=headers, json={**text_collection("x"), "surprise": 1}
                       ).status_code == 422
    assert client.post("/v1/collections", headers=headers, json=text_collection(" ")).status_code == 400


def test_upstream_collections_cycles_and_delete_order(client, headers, bucket):
    first = client.post("/v1/collections", headers=headers, json=text_collection("first")).json()
    derived = client.post("/v1/collections", headers=headers, json={
        "collection_name": "second", "source": {"type": "collection", "collection_id": "first"},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "include_all_source_fields": True}})
    assert derived.status_code == 200, derived.text
    second = derived.json()
    assert second["input_schema"]["properties"] == first["output_schema"]["properties"]
    assert second["source"] == {"type": "collection", "collection_id": first["collection_id"]}
    cycle = client.patch(f"/v1/collections/{first['collection_id']}", headers=headers,
                         json={"source": {"type": "collection", "collection_id": second["collection_id"]}})
    assert cycle.status_code == 400 and cycle.json()["error"]["code"] == "circular_collection_source"
    assert client.get("/v1/collections/first", headers=headers).json()["source"]["type"] == "bucket"
    refused = client.delete("/v1/collections/first", headers=headers)
    assert refused.status_code == 409 and "second" in refused.json()["error"]["message"]
    assert client.delete("/v1/collections/second", headers=headers).status_code == 200
    assert client.delete("/v1/collections/first", headers=headers).status_code == 200
    assert client.get("/v1/collections/first", headers=headers).status_code == 404


def test_patch_renames_and_refuses_extractor_changes(client, headers, bucket):
    created = client.post("/v1/collections", headers=headers, json=text_collection()).json()
    renamed = client.patch(f"/v1/collections/{created['collection_id']}", headers=headers,
                           json={"collection_name": "pieces", "description": "chunks of books"})
    assert renamed.status_code == 200 and renamed.json()["collection_name"] == "pieces"
    assert client.get("/v1/collections/pieces", headers=headers).status_code == 200
    assert client.get("/v1/collections/chunks", headers=headers).status_code == 404
    fixed = client.patch("/v1/collections/pieces", headers=headers,
                         json={"feature_extractor": {"feature_extractor_name": "passthrough_extractor"}})
    assert fixed.status_code == 400 and fixed.json()["error"]["code"] == "immutable_field"


def test_list_search_and_sort(client, headers, bucket):
    for name in ("b-col", "a-col", "c-other"):
        client.post("/v1/collections", headers=headers, json=text_collection(name))
    listed = client.post("/v1/collections/list", headers=headers,
                         json={"search": "-col", "sort": {"field": "collection_name", "direction": "asc"}}).json()
    assert [c["collection_name"] for c in listed["results"]] == ["a-col", "b-col"]
    assert listed["total_count"] == 2
    assert len(client.get("/v1/collections?limit=2", headers=headers).json()["results"]) == 2


def test_catalogue_lists_what_runs_here_and_says_what_enables_the_rest(client):
    listed = client.get("/v1/collections/features/extractors").json()
    assert [e["feature_extractor_id"] for e in listed] == ["text_extractor_v1", "passthrough_extractor_v1"]
    text = listed[0]
    assert text["input_schema"]["required"] == ["text"] and "text" in text["output_schema"]["properties"]
    assert text["required_vector_indexes"][0]["feature_uri"] == "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
    multimodal = client.get("/v1/collections/features/extractors/multimodal_extractor_v1").json()
    assert multimodal["available"] is False and "OPENPEEK_BEDROCK_ENABLED" in multimodal["how_to_enable"]


def test_features_name_the_extractor_by_uri_or_name(client, headers, bucket):
    by_uri = client.post("/v1/collections", headers=headers, json={
        "collection_name": "by-uri", "source": {"type": "bucket", "bucket_ids": ["bkt_books"]},
        "features": ["mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"]})
    assert by_uri.status_code == 200, by_uri.text
    assert by_uri.json()["feature_extractor"]["input_mappings"] == {"text": "content"}  # the one text blob
    both = client.post("/v1/collections", headers=headers, json={
        "collection_name": "both", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "features": ["text_extractor"], "feature_extractor": {"feature_extractor_name": "text_extractor"}})
    assert both.status_code == 400
