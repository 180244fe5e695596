"""Buckets in manifests (export, diff, apply; unique_key cannot change in place; unknown sections refused, never
dropped), in namespace clones (buckets, objects and their blob bytes copied, the two independent afterwards), and in
the TTL reaper (an expired namespace goes with its content)."""

from __future__ import annotations

import pytest

SCHEMA = {"properties": {"body": {"type": "text"}, "sku": {"type": "string"}}}
BUCKET = {"bucket_name": "products", "description": "catalogue", "bucket_schema": SCHEMA,
          "unique_key": {"fields": ["sku"]}, "storage_class": "nearline"}


@pytest.fixture
def source(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "prod"})
    headers = {**tenant.headers, "X-Namespace": "prod"}
    assert client.post("/v1/buckets", headers=headers, json=BUCKET).status_code == 200
    return headers


def test_export_and_apply_into_another_namespace(client, tenant, source):
    exported = client.get("/v1/manifest/export", headers=source).json()
    assert exported["buckets"] == [{"bucket_name": "products", "description": "catalogue",
                                    "bucket_schema": SCHEMA, "unique_key": {"fields": ["sku"]},
                                    "storage_class": "nearline"}]
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "staging"})
    target = {**tenant.headers, "X-Namespace": "staging"}
    exported["namespace"].pop("namespace_name")
    diff = client.post("/v1/manifest/diff", headers=target, json=exported).json()
    assert {"resource_type": "bucket", "name": "products", "action": "create", "details": None} in diff["to_create"]
    applied = client.post("/v1/manifest/apply", headers=target, json=exported)
    assert applied.status_code == 200, applied.text
    bucket = client.get("/v1/buckets/products", headers=target).json()
    assert bucket["bucket_schema"] == SCHEMA and bucket["unique_key"] == {"fields": ["sku"]}
    again = client.post("/v1/manifest/apply", headers=target, json=exported).json()
    assert again["created_count"] == 0 and again["updated_count"] == 0


def test_a_changed_description_updates_and_a_changed_unique_key_is_refused(client, source):
    manifest = client.get("/v1/manifest/export", headers=source).json()
    manifest["buckets"][0]["description"] = "the whole catalogue"
    applied = client.post("/v1/manifest/apply", headers=source, json=manifest).json()
    assert applied["updated_count"] == 1
    assert client.get("/v1/buckets/products", headers=source).json()["description"] == "the whole catalogue"
    manifest["buckets"][0]["unique_key"] = {"fields": ["body"]}
    refused = client.post("/v1/manifest/apply", headers=source, json=manifest)
    assert refused.status_code == 400 and "unique_key" in refused.json()["error"]["message"]


def test_bad_bucket_entries_and_unknown_sections_are_refused_before_anything_changes(client, source):
    manifest = client.get("/v1/manifest/export", headers=source).json()
    bad = {**manifest, "buckets": manifest["buckets"] + [{"bucket_name": "broken",
                                                          "bucket_schema": {"properties": {"x": {"type": "blob"}}}}]}
    response = client.post("/v1/manifest/apply", headers=source, json=bad)
    assert response.status_code == 400 and "broken" in response.json()["error"]["message"]
    unknown = {**manifest, "buckets": manifest["buckets"] + [{"bucket_name": "new", "bucket_schema": SCHEMA}],
               "taxonomies": [{"taxonomy_name": "t"}]}
    refused = client.post("/v1/manifest/apply", headers=source, json=unknown)
    assert refused.status_code == 400 and "taxonomies" in refused.json()["error"]["message"]
    validated = client.post("/v1/manifest/validate", headers=source, json=unknown).json()
    assert validated["valid"] is False
    assert client.get("/v1/buckets/new", headers=source).status_code == 404


def test_clone_copies_buckets_objects_and_blob_bytes(client, tenant, source, services):
    created = client.post("/v1/buckets/products/objects", headers=source, json={
        "blobs": [{"property": "body", "type": "text", "data": "red shoes"}], "sku": "A1"}).json()
    cloned = client.post("/v1/namespaces/prod/clone", headers=tenant.headers, json={"namespace_name": "branch"})
    assert cloned.status_code == 200, cloned.text
    assert cloned.json()["cloned_resources"]["buckets"] == 1 and cloned.json()["cloned_resources"]["objects"] == 1
    branch = {**tenant.headers, "X-Namespace": "branch"}
    copy = client.get(f"/v1/buckets/products/objects/{created['object_id']}", headers=branch).json()
    assert copy["sku"] == "A1" and copy["blobs"][0]["details"]["hash"] == created["blobs"][0]["details"]["hash"]
    namespace = client.get("/v1/namespaces/branch", headers=tenant.headers).json()
    assert (namespace["bucket_count"], namespace["object_count"]) == (1, 1)
    assert client.delete("/v1/namespaces/prod", headers=tenant.headers).status_code == 200
    branch_id = namespace["namespace_id"]
    keys = services.blobs.list(f"namespaces/{branch_id}/content/")
    assert len(keys) == 1 and services.blobs.get(keys[0]) == b"red shoes"


def test_the_reaper_takes_an_expired_namespace_with_its_buckets_objects_and_blobs(client, tenant, services):
    from datetime import timedelta

    from openpeek.domain.clock import utcnow

    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "temp", "ttl_seconds": 60})
    headers = {**tenant.headers, "X-Namespace": "temp"}
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "scratch", "bucket_schema": SCHEMA})
    client.post("/v1/buckets/scratch/objects", headers=headers,
                json={"blobs": [{"property": "body", "type": "text", "data": "short-lived"}]})
    namespace_id = client.get("/v1/namespaces/temp", headers=tenant.headers).json()["namespace_id"]
    assert services.blobs.list(f"namespaces/{namespace_id}/content/")
    assert services.expiry.reap(utcnow() + timedelta(minutes=5)).deleted == 1
    assert services.blobs.list(f"namespaces/{namespace_id}/content/") == []
    assert services.table.query(f"NS#{namespace_id}") == []
