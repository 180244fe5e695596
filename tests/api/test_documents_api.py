"""Bring-your-own documents over HTTP (seed 002): every vector checked before anything is written."""

from __future__ import annotations

import pytest

DIM = 4


@pytest.fixture
def standalone(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "legal-docs",
        "vector_configs": [{"name": "dense", "dimension": DIM, "metric": "cosine"},
                           {"name": "keywords", "type": "sparse"}],
    })
    assert response.status_code == 200, response.text
    return response.json()


def upsert(client, tenant, documents, namespace="legal-docs", **extra):
    return client.post(f"/v1/namespaces/{namespace}/documents/upsert", headers=tenant.headers,
                       json={"documents": documents, **extra})


def doc(doc_id, vector=(1.0, 0.0, 0.0, 0.0), **fields):
    return {"document_id": doc_id, "vectors": {"dense": list(vector)}, **fields}


def count(client, tenant, namespace="legal-docs"):
    return client.get(f"/v1/namespaces/{namespace}", headers=tenant.headers).json()["document_count"]


def test_upsert_counts_what_was_written_and_get_returns_it(client, tenant, standalone):
    response = upsert(client, tenant, [doc("a", payload={"title": "Lease", "year": 2020}, metadata={"src": "x"}),
                                       doc("b", (0.0, 1.0, 0.0, 0.0))], collection_id="col_1")
    assert response.status_code == 200, response.text
    assert response.json()["inserted"] == 2 and response.json()["document_ids"] == ["a", "b"]
    got = client.get("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).json()
    assert got["title"] == "Lease" and got["year"] == 2020 and got["metadata"] == {"src": "x"}
    assert got["document_id"] == "a" and got["collection_id"] == "col_1" and got["source_type"] == "direct_upsert"
    assert got["namespace_id"] == standalone["namespace_id"] and got["created_at"].endswith("Z")
    assert "vectors" not in got and "_internal" not in got
    with_vectors = client.get("/v1/namespaces/legal-docs/documents/a?return_vectors=true", headers=tenant.headers)
    assert with_vectors.json()["vectors"]["dense"] == pytest.approx([1.0, 0.0, 0.0, 0.0])
    assert count(client, tenant) == 2


def test_namespace_is_found_by_id_as_well_as_name(client, tenant, standalone):
    assert upsert(client, tenant, [doc("a")], namespace=standalone["namespace_id"]).status_code == 200
    assert client.get(f"/v1/namespaces/{standalone['namespace_id']}/documents/a",
                      headers=tenant.headers).status_code == 200


@pytest.mark.parametrize("bad, code_or_words", [
    ({"nope": [1.0, 0, 0, 0]}, "dense, keywords"),                   # unknown index names the available ones
    ({"dense": [1.0, 0.0]}, "expects 4"),                              # wrong dimension: expected and got
    ({"dense": []}, "non-empty"),
    ({"dense": [1.0, "x", 0, 0]}, "numbers"),
    ({"dense": [[1.0, 0, 0, 0]]}, "flat list"),
    ({"dense": [0.0, 0.0, 0.0, 0.0]}, "all zeros"),
    ({"dense": {"indices": [1], "values": [1.0]}}, "dense"),
    ({"keywords": [1.0, 2.0]}, "sparse"),
    ({"keywords": {"indices": [1, 1], "values": [1.0, 2.0]}}, "repeats"),
    ({"keywords": {"indices": [1, 2], "values": [1.0]}}, "2 indices but 1 values"),
    ({"keywords": {"indices": [-1], "values": [1.0]}}, "integers from 0"),
])
def test_a_bad_vector_rejects_the_whole_batch_and_writes_nothing(client, tenant, standalone, bad, code_or_words):
    response = upsert(client, tenant, [doc("good"), {"document_id": "bad", "vectors": bad}])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert code_or_words in error["message"]
    assert error["details"]["index"] == 1 and error["details"]["document_id"] == "bad"
    assert count(client, tenant) == 0


def test_dimension_error_names_index_expected_and_got(client, tenant, standalone):
    details = upsert(client, tenant, [doc("a", (1.0, 2.0))]).json()["error"]["details"]
    assert (details["vector_index"], details["expected_dimension"], details["got_dimension"]) == ("dense", 4, 2)


def test_nan_and_infinity_are_refused(client, tenant, standalone):
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"documents": [{"document_id": "a", "vectors": {"dense": [%s, 0, 0, 1]}}]}' % literal
        response = client.post("/v1/namespaces/legal-docs/documents/upsert", content=body,
                               headers={**tenant.headers, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (literal, response.text)
    assert count(client, tenant) == 0


def test_more_than_1000_documents_is_400(client, tenant, standalone):
    response = upsert(client, tenant, [doc(f"d{i}") for i in range(1001)])
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_documents"
    assert count(client, tenant) == 0


def test_duplicate_and_blank_document_ids_are_400(client, tenant, standalone):
    assert upsert(client, tenant, [doc("a"), doc("a")]).status_code == 400
    assert upsert(client, tenant, [doc("   ")]).status_code == 400
    assert count(client, tenant) == 0


def test_reupsert_replaces_the_document_and_keeps_created_at(client, tenant, standalone):
    upsert(client, tenant, [doc("a", payload={"v": 1, "old": True})])
    first = client.get("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).json()
    upsert(client, tenant, [doc("a", (0.0, 1.0, 0.0, 0.0), payload={"v": 2})])
    second = client.get("/v1/namespaces/legal-docs/documents/a?return_vectors=true", headers=tenant.headers).json()
    assert second["v"] == 2 and "old" not in second
    assert second["vectors"]["dense"] == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert second["created_at"] == first["created_at"] and second["updated_at"] >= first["updated_at"]
    assert count(client, tenant) == 1


def test_protected_payload_fields_are_set_by_the_service_and_reported(client, tenant, standalone):
    response = upsert(client, tenant, [doc("a", payload={"document_id": "forged", "namespace_id": "other",
                                                         "internal_id": "org_x", "title": "kept"})])
    assert response.json()["dropped_payload_fields"] == {"a": ["document_id", "namespace_id", "internal_id"]}
    got = client.get("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).json()
    assert got["document_id"] == "a" and got["namespace_id"] == standalone["namespace_id"]
    assert got["internal_id"] == tenant.org_id and got["title"] == "kept"


def test_same_idempotency_key_replays_and_different_body_conflicts(client, tenant, standalone):
    options = {"options": {"idempotency_key": "load-1"}}
    first = upsert(client, tenant, [doc("a")], **options)
    client.delete("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers)
    replay = upsert(client, tenant, [doc("a")], **options)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert count(client, tenant) == 0  # replayed, not written again
    conflict = upsert(client, tenant, [doc("b")], **options)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"


def test_sparse_vectors_are_stored(client, tenant, standalone):
    response = upsert(client, tenant, [{"document_id": "s", "vectors": {"keywords": {"indices": [3, 9],
                                                                                     "values": [0.5, 1.5]}}}])
    assert response.status_code == 200, response.text
    got = client.get("/v1/namespaces/legal-docs/documents/s?return_vectors=true", headers=tenant.headers).json()
    assert got["vectors"]["keywords"] == {"indices": [3, 9], "values": [0.5, 1.5]}


def test_delete_document_then_404(client, tenant, standalone):
    upsert(client, tenant, [doc("a")])
    assert client.delete("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).status_code == 200
    missing = client.get("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
    assert client.delete("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).status_code == 404


def test_sdk_collection_delete_route_only_deletes_documents_of_that_collection(client, tenant, standalone):
    upsert(client, tenant, [doc("a")], collection_id="col_1")
    headers = {**tenant.headers, "X-Namespace": "legal-docs"}
    assert client.delete("/v1/collections/col_2/documents/a", headers=headers).status_code == 404
    assert client.delete("/v1/collections/col_1/documents/a", headers=headers).status_code == 200
    assert count(client, tenant) == 0


def test_another_organisations_namespace_is_404_and_untouched(client, tenant, other_tenant, standalone):
    upsert(client, tenant, [doc("a")])
    assert upsert(client, other_tenant, [doc("x")]).status_code == 404
    assert upsert(client, other_tenant, [doc("x")], namespace=standalone["namespace_id"]).status_code == 404
    assert client.get("/v1/namespaces/legal-docs/documents/a", headers=other_tenant.headers).status_code == 404
    assert client.delete("/v1/namespaces/legal-docs/documents/a", headers=other_tenant.headers).status_code == 404
    assert count(client, tenant) == 1


def test_unknown_body_keys_are_422(client, tenant, standalone):
    response = upsert(client, tenant, [{**doc("a"), "vectorz": {}}])
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "extra_forbidden"


def test_managed_namespaces_take_upserts_on_their_extractor_index(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "managed-ns"})
    wrong = upsert(client, tenant, [{"document_id": "a", "vectors": {"text_extractor_v1_embedding": [1.0] * 5}}],
                   namespace="managed-ns")
    assert wrong.status_code == 400 and wrong.json()["error"]["details"]["expected_dimension"] == 384
    right = upsert(client, tenant, [{"document_id": "a", "vectors": {"text_extractor_v1_embedding": [1.0] * 384}}],
                   namespace="managed-ns")
    assert right.status_code == 200


def test_a_document_without_vectors_is_stored_but_reported_unsearchable(client, tenant, standalone):
    response = upsert(client, tenant, [{"document_id": "bare", "payload": {"x": 1}}])
    assert response.status_code == 200 and response.json()["unsearchable_document_ids"] == ["bare"]


def test_overlong_document_id_is_400_naming_its_place(client, tenant, standalone):
    response = upsert(client, tenant, [doc("a"), doc("x" * 513)])
    assert response.status_code == 400 and response.json()["error"]["details"]["index"] == 1
    assert upsert(client, tenant, [doc("")]).status_code == 400
    assert count(client, tenant) == 0


def test_idempotency_record_lives_in_the_namespace_partition_and_goes_with_it(client, services, tenant, standalone):
    import time

    upsert(client, tenant, [doc("a")], options={"idempotency_key": "load-7"})
    pk = f"NS#{standalone['namespace_id']}"
    record = services.table.get(pk, "IDEMP#load-7")
    assert record is not None and 23 * 3600 < record["expires_at"] - time.time() <= 24 * 3600
    assert client.delete("/v1/namespaces/legal-docs", headers=tenant.headers).status_code == 200
    assert services.table.get(pk, "IDEMP#load-7") is None


def test_the_same_key_in_another_namespace_is_a_different_key(client, tenant, standalone):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "other-docs", "vector_configs": [{"name": "dense", "dimension": DIM}]})
    options = {"options": {"idempotency_key": "k"}}
    assert upsert(client, tenant, [doc("a")], **options).status_code == 200
    assert upsert(client, tenant, [doc("b")], namespace="other-docs", **options).status_code == 200
    assert count(client, tenant, "other-docs") == 1


def test_a_rejected_request_is_not_remembered_under_its_key(client, tenant, standalone):
    options = {"options": {"idempotency_key": "k"}}
    assert upsert(client, tenant, [doc("a", (1.0,))], **options).status_code == 400
    assert upsert(client, tenant, [doc("a")], **options).status_code == 200
    assert count(client, tenant) == 1


def test_write_token_and_consistency_are_reported(client, tenant, standalone):
    plain = upsert(client, tenant, [doc("a")]).json()
    assert "write_token" not in plain and plain["consistency"]["write_token_available"] is False
    with_token = upsert(client, tenant, [doc("b")], options={"write_token": True}).json()
    assert with_token["write_token"] and with_token["consistency"]["write_token_available"] is True


def test_documents_without_a_collection_get_the_namespace_default_one(client, tenant, standalone):
    upsert(client, tenant, [doc("a")])
    got = client.get("/v1/namespaces/legal-docs/documents/a", headers=tenant.headers).json()
    assert got["collection_id"] == "col_default"
    headers = {**tenant.headers, "X-Namespace": "legal-docs"}
    assert client.get("/v1/documents/a", headers=headers).json()["collection_id"] == "col_default"


def test_source_type_outside_the_sdk_enum_is_422(client, tenant, standalone):
    response = upsert(client, tenant, [doc("a", source_type="somewhere")])
    assert response.status_code == 422 and count(client, tenant) == 0
    assert upsert(client, tenant, [doc("b", source_type="bucket", source_object_id="obj_1")]).status_code == 200


def test_namespace_responses_count_upserted_documents(client, tenant, standalone):
    upsert(client, tenant, [doc(f"d{i}") for i in range(5)])
    shown = client.get("/v1/namespaces/legal-docs", headers=tenant.headers).json()
    assert shown["document_count"] == 5
    assert shown["qdrant_status"]["points_count"] == 5
    assert {"name": "keywords", "dimension": 0, "metric": "dot", "type": "sparse"} in shown["vector_configs"]


@pytest.fixture
def dynamic(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={"namespace_id": "dyn-ns"})
    assert response.status_code == 200, response.text
    assert client.get("/v1/namespaces/dyn-ns", headers=tenant.headers).json()["dynamic_vector_indexes"] is True
    return response.json()


def test_a_namespace_without_vector_configs_infers_indexes_on_first_upsert(client, tenant, dynamic):
    response = upsert(client, tenant, [
        {"document_id": "a", "vectors": {"emb": [1.0, 0.0, 0.0], "kw": {"indices": [1], "values": [2.0]}}},
        {"document_id": "b", "vectors": {"emb": [0.0, 1.0, 0.0]}},
    ], namespace="dyn-ns")
    assert response.status_code == 200, response.text
    got = client.get("/v1/namespaces/dyn-ns", headers=tenant.headers).json()
    assert got["vector_configs"] == [{"name": "emb", "dimension": 3, "metric": "cosine"},
                                     {"name": "kw", "dimension": 0, "metric": "dot", "type": "sparse"}]
    assert got["document_count"] == 2
    # From then on the inferred index is checked like a declared one.
    wrong = upsert(client, tenant, [{"document_id": "c", "vectors": {"emb": [1.0, 2.0]}}], namespace="dyn-ns")
    assert wrong.status_code == 400 and wrong.json()["error"]["details"]["expected_dimension"] == 3


def test_a_rejected_first_upsert_infers_nothing(client, tenant, dynamic):
    disagree = upsert(client, tenant, [{"document_id": "a", "vectors": {"emb": [1.0, 0.0]}},
                                       {"document_id": "b", "vectors": {"emb": [1.0, 0.0, 0.0]}}], namespace="dyn-ns")
    assert disagree.status_code == 400 and "disagree" in disagree.json()["error"]["message"]
    nan_later = upsert(client, tenant, [{"document_id": "a", "vectors": {"emb": [1.0, 0.0]}},
                                        {"document_id": "b", "vectors": {"emb": [0.0, 0.0]}}], namespace="dyn-ns")
    assert nan_later.status_code == 400  # all zeros under cosine, found before any index is created
    got = client.get("/v1/namespaces/dyn-ns", headers=tenant.headers).json()
    assert got["vector_configs"] is None and got["document_count"] == 0


def test_declared_namespaces_never_infer(client, tenant, standalone):
    response = upsert(client, tenant, [{"document_id": "a", "vectors": {"new_index": [1.0, 0.0]}}])
    assert response.status_code == 400 and response.json()["error"]["details"]["vector_index"] == "new_index"
