"""Collections as part of their namespace: counted, deleted, cloned and carried by manifests."""

from __future__ import annotations

import pytest

from openpeek.domain.buckets import Bucket
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.namespaces import owned_partition

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


def make_namespace(client, services, tenant, name):
    namespace = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": name}).json()
    BucketRepository(services.table).create(Bucket(
        bucket_id=f"bkt_{name}", bucket_name="books", namespace_id=namespace["namespace_id"], org_id=tenant.org_id,
        bucket_schema=SCHEMA, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    return namespace, {**tenant.headers, "X-Namespace": name}


@pytest.fixture
def shelf(client, services, tenant):
    namespace, headers = make_namespace(client, services, tenant, "shelf")
    chunks = client.post("/v1/collections", headers=headers, json={
        "collection_name": "chunks", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "genre"}],
                              "parameters": {"chunk_size": 500}}}).json()
    client.post("/v1/collections", headers=headers, json={
        "collection_name": "copies", "source": {"type": "collection", "collection_id": "chunks"},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "include_all_source_fields": True}})
    document = client.post("/v1/collections/chunks/documents", headers=headers,
                           json={"genre": "sf", "vectors": {URI: [0.5] * 384}})
    assert document.status_code == 200, document.text
    return namespace, headers, chunks


def test_collection_count_and_namespace_delete(client, services, tenant, shelf):
    namespace, headers, _ = shelf
    assert client.get("/v1/namespaces/shelf", headers=tenant.headers).json()["collection_count"] == 2
    assert client.delete("/v1/namespaces/shelf", headers=tenant.headers).status_code == 200
    assert services.table.query(owned_partition(namespace["namespace_id"]), "COL") == []


def test_clone_copies_collections_with_their_documents(client, services, tenant, shelf):
    _, headers, chunks = shelf
    cloned = client.post("/v1/namespaces/shelf/clone", headers=tenant.headers, json={"namespace_name": "shelf-2"})
    assert cloned.status_code == 200, cloned.text
    assert cloned.json()["cloned_resources"]["collections"] == 2
    copy_headers = {**tenant.headers, "X-Namespace": "shelf-2"}
    copied = client.get("/v1/collections/chunks", headers=copy_headers).json()
    assert copied["collection_id"] == chunks["collection_id"] and copied["document_count"] == 1
    assert client.get("/v1/namespaces/shelf-2", headers=tenant.headers).json()["collection_count"] == 2
    info = services.vectors.info(client.get("/v1/namespaces/shelf-2", headers=tenant.headers).json()["namespace_id"])
    assert info.payload_indexes.get("genre") == "keyword"
    # the copies are independent: deleting the clone's collection leaves the source's
    assert client.delete("/v1/collections/copies", headers=copy_headers).status_code == 200
    assert client.get("/v1/collections/copies", headers=headers).status_code == 200


def test_manifest_exports_collections_by_name_and_applies_them_elsewhere(client, services, tenant, shelf):
    exported = client.get("/v1/manifest/export", headers=shelf[1])
    assert exported.status_code == 200, exported.text
    manifest = exported.json()
    assert [c["collection_name"] for c in manifest["collections"]] == ["chunks", "copies"]
    assert manifest["collections"][0]["source"] == {"type": "bucket", "bucket_ids": ["books"]}
    assert manifest["collections"][1]["source"] == {"type": "collection", "collection_id": "chunks"}
    assert manifest["collections"][0]["feature_extractor"]["parameters"] == {"chunk_size": 500}

    assert [b["bucket_name"] for b in manifest["buckets"]] == ["books"]
    # a namespace without the bucket: the manifest's buckets section creates it before the collections
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "annex"})
    target = {**tenant.headers, "X-Namespace": "annex"}
    manifest["namespace"]["namespace_name"] = "annex"
    applied = client.post("/v1/manifest/apply", headers=target, json=manifest)
    assert applied.status_code == 200, applied.text
    copies = client.get("/v1/collections/copies", headers=target).json()
    chunks = client.get("/v1/collections/chunks", headers=target).json()
    assert copies["source"]["collection_id"] == chunks["collection_id"]
    assert chunks["output_schema"] == client.get("/v1/collections/chunks", headers=shelf[1]).json()["output_schema"]
    again = client.post("/v1/manifest/apply", headers=target, json=manifest).json()
    assert again["created_count"] == 0 and again["updated_count"] == 0

    changed = {**manifest, "collections": [{**manifest["collections"][0], "feature_extractor": {
        **manifest["collections"][0]["feature_extractor"], "parameters": {"chunk_size": 100}}}]}
    refused = client.post("/v1/manifest/apply", headers=target, json=changed)
    assert refused.status_code == 400 and "feature_extractor" in refused.json()["error"]["message"]
    unknown = {**manifest, "collections": [{"collection_name": "pics", "source": {"type": "bucket",
                                                                                  "bucket_ids": ["books"]},
                                            "feature_extractor": {"feature_extractor_name": "image_extractor",
                                                                  "version": "v1"}}]}
    invalid = client.post("/v1/manifest/apply", headers=target, json=unknown)
    assert invalid.status_code == 400 and "text_extractor_v1" in invalid.json()["error"]["message"]
    assert client.get("/v1/collections/pics", headers=target).status_code == 404


def test_reaping_an_expired_namespace_takes_its_collections(client, services, tenant):
    from datetime import timedelta

    from openpeek.domain.clock import utcnow

    namespace, headers = make_namespace(client, services, tenant, "short-lived")
    client.patch("/v1/namespaces/short-lived", headers=tenant.headers, json={"ttl_seconds": 60})
    assert client.post("/v1/collections", headers=headers, json={
        "collection_name": "c", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}}).status_code == 200
    assert services.expiry.reap(utcnow() + timedelta(hours=1)).deleted == 1
    assert services.table.query(owned_partition(namespace["namespace_id"]), "COL") == []


def test_multimodal_and_image_extractors_are_listed_where_bedrock_is_enabled(tmp_path):
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    built = build_services(Settings(runtime="embedded", data_dir=tmp_path / "bedrock", bedrock_enabled=True))
    try:
        available = {entry.spec.feature_extractor_id for entry in built.collections.catalogue() if entry.available}
    finally:
        built.close()
    # image_extractor runs on Titan Multimodal G1 through Bedrock (no CLIP weights ship).
    assert available == {"text_extractor_v1", "passthrough_extractor_v1", "multimodal_extractor_v1",
                         "image_extractor_v1"}
