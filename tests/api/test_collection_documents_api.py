"""A collection's documents over HTTP: they live in the namespace's vector store, carry collection_id, and every
route sees only its collection's documents."""

from __future__ import annotations

import pytest

from openpeek.domain.buckets import Bucket
from openpeek.repositories.buckets import BucketRepository

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}, "year": {"type": "integer"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


def vector(seed: int) -> list[float]:
    return [((seed * 7 + i) % 11 + 1) / 11 for i in range(384)]


@pytest.fixture
def headers(client, services, tenant):
    namespace = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "shelf"}).json()
    BucketRepository(services.table).create(Bucket(
        bucket_id="bkt_books", bucket_name="books", namespace_id=namespace["namespace_id"], org_id=tenant.org_id,
        bucket_schema=SCHEMA, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    headers = {**tenant.headers, "X-Namespace": "shelf"}
    for name in ("books", "other"):
        created = client.post("/v1/collections", headers=headers, json={
            "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "field_passthrough": [{"source_path": "genre"}, {"source_path": "year"}]}})
        assert created.status_code == 200, created.text
    return headers


def add(client, headers, collection, seed, **payload):
    response = client.post(f"/v1/collections/{collection}/documents", headers=headers,
                           json={"vectors": {URI: vector(seed)}, "metadata": {"seed": seed}, **payload})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_list_count_and_filters(client, headers):
    ids = [add(client, headers, "books", n, genre="sf" if n % 2 else "crime", year=2000 + n)["document_id"]
           for n in range(6)]
    add(client, headers, "other", 99, genre="sf", year=1990)
    assert client.get("/v1/collections/books/documents/count", headers=headers).json()["count"] == 6
    assert client.get("/v1/collections/books", headers=headers).json()["document_count"] == 6

    listed = client.post("/v1/collections/books/documents/list", headers=headers, json={
        "filters": {"AND": [{"field": "genre", "operator": "eq", "value": "sf"}]},
        "sort": {"field": "year", "direction": "desc"}, "include_total": True}).json()
    assert [d["year"] for d in listed["results"]] == [2005, 2003, 2001]
    assert listed["total_documents"] == 3 and all(d["collection_id"].startswith("col_") for d in listed["results"])
    sorted_first = client.post("/v1/collections/books/documents/list", headers=headers, json={
        "sort": {"field": "year", "direction": "asc"}, "limit": 4}).json()
    sorted_rest = client.post("/v1/collections/books/documents/list", headers=headers, json={
        "sort": {"field": "year", "direction": "asc"}, "limit": 4,
        "cursor": sorted_first["pagination"]["next_cursor"]}).json()
    assert [d["year"] for d in sorted_first["results"] + sorted_rest["results"]] == list(range(2000, 2006))
    assert sorted_rest["pagination"]["next_cursor"] is None
    assert all("vectors" not in d for d in listed["results"])

    first = client.post("/v1/collections/books/documents/list", headers=headers,
                        json={"limit": 4, "return_vectors": True}).json()
    assert len(first["results"]) == 4 and len(first["results"][0]["vectors"]["text_extractor_v1_embedding"]) == 384
    rest = client.post("/v1/collections/books/documents/list", headers=headers,
                       json={"limit": 4, "cursor": first["pagination"]["next_cursor"]}).json()
    assert {d["document_id"] for d in first["results"] + rest["results"]} == set(ids)
    by_offset = client.get("/v1/collections/books/documents?limit=2&offset=4", headers=headers).json()
    assert len(by_offset["results"]) == 2

    filtered = client.get('/v1/collections/books/documents?filters={"AND":[{"field":"metadata.seed","operator":"gte",'
                          '"value":4}]}&sort=year:asc', headers=headers).json()
    assert [d["metadata"]["seed"] for d in filtered["results"]] == [4, 5]


def test_get_patch_keeps_vectors_put_replaces_delete(client, headers, services):
    made = add(client, headers, "books", 1, genre="sf", year=2001)
    doc = made["document_id"]
    assert client.get(f"/v1/collections/other/documents/{doc}", headers=headers).status_code == 404
    patched = client.patch(f"/v1/collections/books/documents/{doc}", headers=headers,
                           json={"genre": "fantasy", "metadata": {"note": "x"}})
    assert patched.status_code == 200 and patched.json()["genre"] == "fantasy"
    assert patched.json()["metadata"] == {"seed": 1, "note": "x"}
    kept = client.get(f"/v1/collections/books/documents/{doc}?return_vectors=true", headers=headers).json()
    norm = sum(x * x for x in vector(1)) ** 0.5  # a cosine index stores the unit vector
    assert kept["vectors"]["text_extractor_v1_embedding"] == pytest.approx([x / norm for x in vector(1)], abs=1e-6)
    refused = client.patch(f"/v1/collections/books/documents/{doc}", headers=headers, json={"collection_id": "x",
                                                                                              "document_id": "y"})
    assert refused.status_code == 400

    replaced = client.put(f"/v1/collections/books/documents/{doc}", headers=headers, json={"year": 1999})
    assert replaced.status_code == 200
    after = client.get(f"/v1/collections/books/documents/{doc}?return_vectors=true", headers=headers).json()
    assert after["year"] == 1999 and "genre" not in after and not after.get("vectors")
    assert after["created_at"] == made["created_at"] and after["collection_id"] == made["collection_id"]

    ns_patch = client.patch(f"/v1/documents/{doc}", headers=headers, json={"genre": "poetry"})
    assert ns_patch.status_code == 200 and ns_patch.json()["genre"] == "poetry"
    assert client.delete(f"/v1/collections/other/documents/{doc}", headers=headers).status_code == 404
    assert client.delete(f"/v1/collections/books/documents/{doc}", headers=headers).status_code == 200
    assert client.get(f"/v1/collections/books/documents/{doc}", headers=headers).status_code == 404


def test_batch_bulk_distinct_aggregate(client, headers):
    ids = [add(client, headers, "books", n, genre=["sf", "crime", "sf"][n % 3], year=2000 + n)["document_id"]
           for n in range(6)]
    batch = client.post("/v1/collections/books/documents/batch", headers=headers, json={"updates": [
        {"document_id": ids[0], "update_data": {"rating": 5}}, {"document_id": "missing", "update_data": {"a": 1}}]})
    assert batch.json()["updated_count"] == 1 and batch.json()["failed_count"] == 1
    bulk = client.patch("/v1/collections/books/documents/bulk", headers=headers, json={
        "filters": {"AND": [{"field": "genre", "operator": "eq", "value": "crime"}]}, "update_data": {"flag": True}})
    assert bulk.json()["updated_count"] == 2

    distinct = client.post("/v1/collections/books/documents/distinct", headers=headers, json={"field": "genre"}).json()
    assert distinct["values"] == [{"value": "sf", "count": 4}, {"value": "crime", "count": 2}]
    assert distinct["total_distinct"] == 2
    # A condition only Python evaluates (starts_with): the scan reads the field it tests too.
    crime_only = client.post("/v1/collections/books/documents/distinct", headers=headers, json={
        "field": "year", "filters": {"AND": [{"field": "genre", "operator": "starts_with", "value": "cri"}]}})
    assert crime_only.status_code == 200, crime_only.text
    assert sorted(v["value"] for v in crime_only.json()["values"]) == [2001, 2004]
    aggregated = client.post("/v1/collections/books/documents/aggregate", headers=headers, json={
        "group_by": [{"field": "genre"}], "sort_by": "n", "sort_direction": "desc",
        "aggregations": [{"function": "count", "alias": "n"}, {"function": "max", "field": "year", "alias": "latest"}],
    }).json()
    assert aggregated["results"] == [{"group": {"genre": "sf"}, "metrics": {"n": 4, "latest": 2005}},
                                     {"group": {"genre": "crime"}, "metrics": {"n": 2, "latest": 2004}}]

    batch_get = client.post("/v1/documents/batch-get", headers=headers, json={"document_ids": [ids[0], "nope"]}).json()
    assert [d["document_id"] for d in batch_get["documents"]] == [ids[0]] and batch_get["not_found"] == ["nope"]
    everywhere = client.post("/v1/documents/list", headers=headers, json={"include_total": True}).json()
    assert everywhere["total_documents"] == 6

    deleted = client.request("DELETE", "/v1/collections/books/documents/batch", headers=headers,
                             json={"document_ids": ids[:2] + ["nope"]}).json()
    assert deleted["deleted_count"] == 2 and deleted["failed_count"] == 1
    by_filter = client.request("DELETE", "/v1/collections/books/documents/batch", headers=headers,
                               json={"filters": {"AND": [{"field": "genre", "operator": "eq", "value": "sf"}]}})
    assert by_filter.json()["deleted_count"] == 3  # the sf documents 2, 3 and 5 (0 went above)
    assert client.get("/v1/collections/books/documents/count", headers=headers).json()["count"] == 1


def test_bad_input_is_a_clear_4xx(client, headers):
    assert client.get("/v1/collections/nope/documents/count", headers=headers).status_code == 404
    wrong = client.post("/v1/collections/books/documents", headers=headers, json={"vectors": {URI: [1.0, 2.0]}})
    assert wrong.status_code == 400 and "dimension" in wrong.json()["error"]["message"]
    bad_filter = client.post("/v1/collections/books/documents/list", headers=headers,
                             json={"filters": {"AND": [{"field": "genre", "operator": "near", "value": 1}]}})
    assert bad_filter.status_code == 400
    assert client.post("/v1/collections/books/documents/list", headers=headers, json={"limit": 0}).status_code == 422
    assert client.get("/v1/collections/books/documents?filters={oops", headers=headers).status_code == 400
    assert client.get("/v1/collections/books/documents/count", headers=headers).json()["count"] == 0


def test_deleting_a_collection_deletes_its_documents_only(client, headers):
    add(client, headers, "books", 1)
    add(client, headers, "other", 2)
    assert client.delete("/v1/collections/books", headers=headers).status_code == 200
    everywhere = client.post("/v1/documents/list", headers=headers, json={"include_total": True}).json()
    assert everywhere["total_documents"] == 1


def test_pages_far_past_the_scan_limit_and_integers_beyond_64_bits_are_clear_4xx(client, headers):
    add(client, headers, "books", 1, genre="novel", year=1999)
    far = client.post("/v1/collections/books/documents/list?page=99999999999999999999", headers=headers, json={})
    assert far.status_code == 400 and far.json()["error"]["code"] == "invalid_pagination"
    too_big = client.post("/v1/collections/books/documents/list", headers=headers, json={"filters": {"year": 2 ** 64}})
    assert too_big.status_code == 400 and "64 bits" in too_big.json()["error"]["message"]
    fits = client.post("/v1/collections/books/documents/list", headers=headers, json={"filters": {"year": 1999}})
    assert fits.status_code == 200 and len(fits.json()["results"]) == 1
