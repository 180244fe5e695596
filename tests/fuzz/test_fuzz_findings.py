"""Requests the fuzzers found answered 5xx, kept as plain regression tests over the real app (no live server)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["a%00b", "%00", "index.html%00.js", "%F0%9F%92%A5%00", "a" * 300,
                                  "vendor/" + "b" * 256 + "/c.js"])
def test_a_studio_file_name_the_filesystem_refuses_is_a_clear_4xx(client, name):
    response = client.get(f"/studio/{name}")
    assert 400 <= response.status_code < 500, response.text
    assert client.get("/studio/index.html").status_code == 200


@pytest.fixture
def collection_with_a_document(client, tenant):
    headers = {**tenant.headers, "X-Namespace": "cursors"}
    assert client.post("/v1/namespaces", json={"namespace_name": "cursors"}, headers=tenant.headers).status_code == 200
    assert client.post("/v1/buckets", json={"bucket_name": "notes", "bucket_schema": {"properties": {
        "content": {"type": "text"}}}}, headers=headers).status_code == 200
    created = client.post("/v1/collections", json={
        "collection_name": "notes", "source": {"type": "bucket", "bucket_ids": ["notes"]},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "include_all_source_fields": True}}, headers=headers)
    assert created.status_code == 200, created.text
    collection_id = created.json()["collection_id"]
    for title in ("one", "two", "three"):
        written = client.post(f"/v1/collections/{collection_id}/documents", json={"title": title}, headers=headers)
        assert written.status_code == 200, written.text
    return collection_id, headers


@pytest.mark.parametrize("cursor", ["×\x189", "not-a-cursor", "offset:x", "0" * 40])
def test_a_document_cursor_the_service_never_gave_out_is_a_clear_4xx(client, collection_with_a_document, cursor):
    collection_id, headers = collection_with_a_document
    for response in (
        client.post(f"/v1/collections/{collection_id}/documents/list", params={"cursor": cursor}, headers=headers),
        client.post(f"/v1/collections/{collection_id}/documents/list", json={"cursor": cursor}, headers=headers),
        client.get(f"/v1/collections/{collection_id}/documents", params={"cursor": cursor}, headers=headers),
        client.post("/v1/documents/list", json={"cursor": cursor}, headers=headers),
    ):
        assert 400 <= response.status_code < 500, response.text


def test_the_cursors_the_service_gives_out_still_page_through_every_document(client, collection_with_a_document):
    collection_id, headers = collection_with_a_document
    seen, cursor = [], None
    for _ in range(5):
        page = client.post(f"/v1/collections/{collection_id}/documents/list", params={"limit": 2},
                           json={"cursor": cursor} if cursor else {}, headers=headers)
        assert page.status_code == 200, page.text
        seen += [document["title"] for document in page.json()["results"]]
        cursor = page.json()["pagination"]["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["one", "three", "two"]
    sorted_page = client.post(f"/v1/collections/{collection_id}/documents/list", params={"limit": 2},
                              json={"sort": {"field": "title", "direction": "asc"}}, headers=headers)
    follow = client.post(f"/v1/collections/{collection_id}/documents/list", params={"limit": 2}, json={
        "sort": {"field": "title", "direction": "asc"}, "cursor": sorted_page.json()["pagination"]["next_cursor"]},
        headers=headers)
    assert [document["title"] for document in follow.json()["results"]] == ["two"]


def test_every_operation_declares_its_client_errors_in_the_error_envelope(client, tenant):
    schema = client.get("/openapi.json").json()
    envelope = schema["components"]["schemas"]["ErrorResponse"]
    assert envelope["required"] == ["success", "status", "error"]
    undeclared = [f"{method.upper()} {path}" for path, operations in schema["paths"].items()
                  for method, operation in operations.items() if "4XX" not in operation["responses"]]
    assert not undeclared
    missing = client.get("/v1/retrievers/ret_missing", headers={**tenant.headers, "X-Namespace": "nowhere"})
    assert missing.status_code == 404
    assert set(envelope["required"]) <= set(missing.json())
