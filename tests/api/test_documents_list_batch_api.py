"""POST /v1/documents/list/batch: several namespace-wide listings in one call, each answered as POST
/v1/documents/list answers it, a failing one in its own place; the answer parses as the SDK's model."""

from __future__ import annotations

from mixpeek.models import BatchListDocumentsResponse

from tests.api.test_namespaces_api import assert_error


def _namespace(client, tenant, name="shelf"):
    assert client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 2}]}).status_code == 200
    documents = [{"document_id": f"d{i}", "vectors": {"emb": [1.0, float(i)]},
                  "payload": {"genre": "poetry" if i % 2 else "prose", "year": 1900 + i}} for i in range(6)]
    assert client.post(f"/v1/namespaces/{name}/documents/upsert", headers=tenant.headers,
                       json={"documents": documents, "collection_id": "col_books"}).status_code == 200
    return {**tenant.headers, "X-Namespace": name}


def test_each_query_answers_as_the_single_listing_does(client, tenant):
    headers = _namespace(client, tenant)
    poetry = {"filters": {"AND": [{"field": "genre", "operator": "eq", "value": "poetry"}]}, "include_total": True}
    newest = {"sort": {"field": "year", "direction": "desc"}, "limit": 2}
    response = client.post("/v1/documents/list/batch", headers=headers, json={"queries": [
        {"key": "poetry", "request": poetry}, {"key": "newest", "request": newest}]})
    assert response.status_code == 200, response.text
    parsed = BatchListDocumentsResponse.from_dict(response.json())
    assert [result.key for result in parsed.results] == ["poetry", "newest"]
    assert all(result.error is None for result in parsed.results)
    for entry, body in zip(response.json()["results"], (poetry, newest)):
        single = client.post("/v1/documents/list", headers=headers, json=body).json()
        assert entry["response"] == single
    assert {d["document_id"] for d in response.json()["results"][0]["response"]["results"]} == {"d1", "d3", "d5"}
    assert response.json()["results"][0]["response"]["total_documents"] == 3
    assert [d["document_id"] for d in response.json()["results"][1]["response"]["results"]] == ["d5", "d4"]


def test_a_failing_query_carries_its_error_and_the_others_still_answer(client, tenant):
    headers = _namespace(client, tenant)
    response = client.post("/v1/documents/list/batch", headers=headers, json={"queries": [
        {"key": "bad", "request": {"filters": {"AND": [{"field": "year", "operator": "no-such-op", "value": 1}]}}},
        {"key": "all", "request": {"limit": 10}}]})
    assert response.status_code == 200, response.text
    parsed = BatchListDocumentsResponse.from_dict(response.json())
    assert parsed.results[0].response is None and parsed.results[0].error
    assert parsed.results[1].error is None and len(parsed.results[1].response.results) == 6


def test_bad_batches_are_refused(client, tenant):
    headers = _namespace(client, tenant)
    assert client.post("/v1/documents/list/batch", headers=headers, json={"queries": []}).status_code == 422
    eleven = [{"key": f"q{i}", "request": {}} for i in range(11)]
    assert client.post("/v1/documents/list/batch", headers=headers, json={"queries": eleven}).status_code == 422
    unknown = {"queries": [{"key": "a", "request": {"limit": "many"}}]}
    assert client.post("/v1/documents/list/batch", headers=headers, json=unknown).status_code == 422
    twice = {"queries": [{"key": "a", "request": {}}, {"key": "a", "request": {}}]}
    assert_error(client.post("/v1/documents/list/batch", headers=headers, json=twice), 400, "duplicate_key")


def test_another_organisations_namespace_is_not_found(client, tenant, other_tenant):
    _namespace(client, tenant)
    response = client.post("/v1/documents/list/batch", headers={**other_tenant.headers, "X-Namespace": "shelf"},
                           json={"queries": [{"key": "a", "request": {}}]})
    assert response.status_code == 404
