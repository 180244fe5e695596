"""Buckets over HTTP: schema rules, names, immutable unique keys, listing, and a namespace's counts."""

from __future__ import annotations

import pytest

SCHEMA = {"properties": {"body": {"type": "text", "required": True}, "title": {"type": "string"},
                         "year": {"type": "integer"}, "cover": {"type": "image"}}}


@pytest.fixture
def ns(client, tenant):
    response = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "library"})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "library"}


def create(client, headers, name="books", schema=None, **more):
    return client.post("/v1/buckets", headers=headers,
                       json={"bucket_name": name, "bucket_schema": schema or SCHEMA, **more})


def error(response):
    body = response.json()
    assert body["success"] is False and body["status"] == response.status_code
    return body["error"]


def test_create_get_by_id_and_name_patch_delete(client, ns):
    created = create(client, ns, description="novels", storage_class="nearline",
                     unique_key={"fields": ["title"], "default_policy": "upsert"}, metadata={"team": "a"})
    assert created.status_code == 200, created.text
    bucket = created.json()
    assert bucket["bucket_id"].startswith("bkt_") and bucket["object_count"] == 0
    assert bucket["bucket_schema"]["properties"]["body"] == {"type": "text", "required": True}
    assert bucket["storage_class"] == "nearline" and bucket["unique_key"]["fields"] == ["title"]
    by_name = client.get("/v1/buckets/books", headers=ns).json()
    assert by_name["bucket_id"] == bucket["bucket_id"]
    patched = client.patch(f"/v1/buckets/{bucket['bucket_id']}", headers=ns,
                           json={"bucket_name": "novels", "description": "long ones"})
    assert patched.status_code == 200 and patched.json()["bucket_name"] == "novels"
    assert client.get("/v1/buckets/books", headers=ns).status_code == 404
    assert client.get("/v1/buckets/novels", headers=ns).json()["description"] == "long ones"
    deleted = client.delete("/v1/buckets/novels", headers=ns)
    assert deleted.status_code == 200 and deleted.json()["bucket_id"] == bucket["bucket_id"]
    assert client.get(f"/v1/buckets/{bucket['bucket_id']}", headers=ns).status_code == 404


@pytest.mark.parametrize("schema, named", [
    ({"properties": {"body": {"type": "txt"}}}, "body"),
    ({"properties": {"tags": {"type": "array", "items": {"type": "image"}}}}, "tags[]"),
    ({"properties": {"year": {"type": "integer", "items": {"type": "string"}}}}, "year"),
    ({"properties": {"9lives": {"type": "string"}}}, "9lives"),
    ({"properties": {"n": {"type": "integer", "default": "three"}}}, "n"),
])
def test_an_invalid_schema_is_refused_naming_the_property(client, ns, schema, named):
    response = create(client, ns, schema=schema)
    assert response.status_code == 400, response.text
    assert named in error(response)["message"]
    assert client.get("/v1/buckets", headers=ns).json()["total_count"] == 0


def test_bad_requests_are_clear_and_change_nothing(client, ns):
    assert create(client, ns).status_code == 200
    taken = create(client, ns)
    assert taken.status_code == 409 and error(taken)["code"] == "bucket_name_taken"
    assert create(client, ns, name="x", storage_class="glacier").status_code == 422
    assert create(client, ns, name="x", unique_key={"fields": ["cover"]}).status_code == 400
    assert create(client, ns, name="x", unique_key={"fields": ["missing"]}).status_code == 400
    assert create(client, ns, name="x", surprise=1).status_code == 422
    assert client.get("/v1/buckets/nope", headers=ns).status_code == 404
    assert client.get("/v1/buckets", headers=ns).json()["total_count"] == 1


def test_unique_key_cannot_change(client, ns):
    create(client, ns, unique_key={"fields": ["title"]})
    response = client.patch("/v1/buckets/books", headers=ns, json={"unique_key": {"fields": ["year"]}})
    assert response.status_code == 400 and error(response)["code"] == "unique_key_immutable"
    assert client.get("/v1/buckets/books", headers=ns).json()["unique_key"] == {"fields": ["title"]}


def test_a_schema_change_that_breaks_stored_objects_needs_force(client, ns):
    create(client, ns)
    client.post("/v1/buckets/books/objects", headers=ns,
                json={"blobs": [{"property": "body", "type": "text", "data": "x"}], "year": 1999})
    retyped = {"properties": {**SCHEMA["properties"], "year": {"type": "string"}}}
    refused = client.patch("/v1/buckets/books", headers=ns, json={"bucket_schema": retyped})
    assert refused.status_code == 400 and error(refused)["details"]["properties"] == ["year"]
    forced = client.patch("/v1/buckets/books?force_schema_break=true", headers=ns, json={"bucket_schema": retyped})
    assert forced.status_code == 200 and forced.json()["bucket_schema"]["properties"]["year"]["type"] == "string"


def test_list_search_filter_sort_and_page(client, ns):
    for name in ("alpha", "beta", "gamma"):
        create(client, ns, name=name, description=f"the {name} shelf")
    listed = client.get("/v1/buckets?limit=2", headers=ns).json()
    assert [b["bucket_name"] for b in listed["results"]] == ["alpha", "beta"] and listed["total_count"] == 3
    searched = client.post("/v1/buckets/list", headers=ns, json={"search": "GAM"}).json()
    assert [b["bucket_name"] for b in searched["results"]] == ["gamma"]
    sorted_desc = client.post("/v1/buckets/list", headers=ns,
                              json={"sort": {"field": "bucket_name", "direction": "desc"}}).json()
    assert [b["bucket_name"] for b in sorted_desc["results"]] == ["gamma", "beta", "alpha"]
    filtered = client.post("/v1/buckets/list", headers=ns, json={
        "filters": {"AND": [{"field": "bucket_name", "operator": "eq", "value": "beta"}]}}).json()
    assert [b["bucket_name"] for b in filtered["results"]] == ["beta"]


def test_another_organisation_sees_nothing(client, ns, other_tenant):
    bucket = create(client, ns).json()
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "library"})
    theirs = {**other_tenant.headers, "X-Namespace": "library"}
    assert client.get(f"/v1/buckets/{bucket['bucket_id']}", headers=theirs).status_code == 404
    assert client.get("/v1/buckets/books", headers=theirs).status_code == 404
    assert client.delete("/v1/buckets/books", headers=theirs).status_code == 404
    assert client.get("/v1/buckets/books", headers=ns).status_code == 200


def test_namespace_reports_bucket_and_object_counts_and_delete_takes_the_blobs(client, ns, services):
    create(client, ns)
    create(client, ns, name="second")
    for text in ("one", "two", "three"):
        client.post("/v1/buckets/books/objects", headers=ns,
                    json={"blobs": [{"property": "body", "type": "text", "data": text}]})
    namespace = client.get("/v1/namespaces/library", headers=ns).json()
    assert (namespace["bucket_count"], namespace["object_count"]) == (2, 3)
    stats = client.get("/v1/namespaces/library/stats", headers=ns).json()
    assert (stats["bucket_count"], stats["object_count"]) == (2, 3)
    namespace_id = namespace["namespace_id"]
    assert len(services.blobs.list(f"namespaces/{namespace_id}/content/")) == 3
    assert client.delete("/v1/namespaces/library", headers=ns).status_code == 200
    assert services.blobs.list(f"namespaces/{namespace_id}/content/") == []


def test_a_bucket_that_collections_read_cannot_be_deleted(client, ns):
    create(client, ns)
    collection = client.post("/v1/collections", headers=ns, json={
        "collection_name": "passages", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "body"}}})
    assert collection.status_code == 200, collection.text
    refused = client.delete("/v1/buckets/books", headers=ns)
    assert refused.status_code == 409 and error(refused)["details"]["collections"] == ["passages"]
    assert client.get("/v1/buckets/books", headers=ns).status_code == 200
    assert client.delete("/v1/collections/passages", headers=ns).status_code == 200
    assert client.delete("/v1/buckets/books", headers=ns).status_code == 200


def test_the_namespace_list_reports_the_same_counts(client, ns):
    create(client, ns)
    client.post("/v1/buckets/books/objects", headers=ns,
                json={"blobs": [{"property": "body", "type": "text", "data": "listed"}]})
    listed = client.get("/v1/namespaces", headers=ns).json()
    (library,) = [n for n in listed["results"] if n["namespace_name"] == "library"]
    assert (library["bucket_count"], library["object_count"]) == (1, 1)
