"""Promotion of standalone namespaces (seed 002's rules), over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.domain.failures import DependencyUnavailable
from openpeek.runtime import wire

MAPPING = {"vector_mappings": [{"existing_index": "text_embedding", "inference_service": "all_minilm_l6_v2"}]}


@pytest.fixture
def standalone(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "product-search", "vector_configs": [{"name": "text_embedding", "dimension": 384},
                                                             {"name": "wide", "dimension": 1536}]})
    assert response.status_code == 200, response.text
    return response.json()


def promote(client, tenant, body, path="product-search"):
    return client.post(f"/v1/namespaces/{path}/promote", headers=tenant.headers, json=body)


def namespace(client, tenant, path="product-search"):
    return client.get(f"/v1/namespaces/{path}", headers=tenant.headers).json()


def test_standalone_create_uses_namespace_id_as_the_name(client, tenant, standalone):
    assert standalone == {"namespace_id": "product-search", "namespace_name": "product-search", "mode": "standalone",
                          "status": "active", "tiering": "off", "document_count": 0,
                          "vector_configs": [{"name": "text_embedding", "dimension": 384, "metric": "cosine"},
                                             {"name": "wide", "dimension": 1536, "metric": "cosine"}]}
    got = namespace(client, tenant)
    assert got["mode"] == "standalone" and got["vector_inference_map"] == {} and got["feature_extractors"] == []
    again = client.post("/v1/namespaces/standalone", headers=tenant.headers,
                        json={"namespace_id": "product-search", "vector_configs": []})
    assert again.status_code == 409


def test_promote_maps_indexes_and_adds_new_ones(client, tenant, standalone):
    response = promote(client, tenant, {**MAPPING, "add_vectors": [
        {"name": "image_embedding", "dimension": 512, "metric": "cosine"}]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "namespace_id": "product-search", "previous_mode": "standalone", "mode": "managed", "status": "active",
        "vector_configs": [{"name": "text_embedding", "dimension": 384, "metric": "cosine"},
                           {"name": "wide", "dimension": 1536, "metric": "cosine"},
                           {"name": "image_embedding", "dimension": 512, "metric": "cosine"}],
        "vector_inference_map": {"text_embedding": "all_minilm_l6_v2"},
    }
    got = namespace(client, tenant)
    assert got["mode"] == "managed" and got["vector_inference_map"] == {"text_embedding": "all_minilm_l6_v2"}
    upsert = client.post("/v1/namespaces/product-search/documents/upsert", headers=tenant.headers,
                         json={"documents": [{"document_id": "i", "vectors": {"image_embedding": [0.5] * 512}}]})
    assert upsert.status_code == 200  # the added index exists in the store


def test_promotion_with_neither_list_just_changes_the_mode(client, tenant, standalone):
    assert promote(client, tenant, {}).json()["mode"] == "managed"


def test_promoting_a_managed_namespace_is_400(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "managed-one"})
    response = promote(client, tenant, {}, path="managed-one")
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_standalone"


@pytest.mark.parametrize("body, code, words", [
    ({"vector_mappings": [{"existing_index": "nope", "inference_service": "all_minilm_l6_v2"}]},
     "vector_index_not_found", "text_embedding, wide"),
    ({"add_vectors": [{"name": "wide", "dimension": 8}]}, "vector_index_exists", "wide"),
    ({"add_vectors": [{"name": "n", "dimension": 8}, {"name": "n", "dimension": 8}]}, "vector_index_exists", "'n'"),
    ({"vector_mappings": [{"existing_index": "text_embedding", "inference_service": "no_such_model"}]},
     "inference_service_not_found", "no_such_model"),
    ({"vector_mappings": [{"existing_index": "wide", "inference_service": "openai_text_3_small"}]},
     "inference_service_unavailable", "OPENPEEK_OPENAI_API_KEY"),
    ({"vector_mappings": [{"existing_index": "wide", "inference_service": "all_minilm_l6_v2"}]},
     "dimension_mismatch", "384-d"),
    ({"add_vectors": [{"name": "x", "dimension": 8, "metric": "hamming"}]}, "invalid_vector_config", "metric"),
])
def test_a_failed_rule_is_400_and_changes_nothing(client, tenant, standalone, body, code, words):
    before = namespace(client, tenant)
    response = promote(client, tenant, {**MAPPING, **body} if "vector_mappings" not in body else body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code and words in response.json()["error"]["message"]
    after = namespace(client, tenant)
    assert after["mode"] == "standalone" and after["vector_configs"] == before["vector_configs"]
    assert after["updated_at"] == before["updated_at"]


def test_validate_reports_without_changing_anything(client, tenant, standalone):
    ok = client.post("/v1/namespaces/product-search/promote/validate", headers=tenant.headers, json=MAPPING).json()
    assert ok["valid"] is True and ok["errors"] == [] and ok["current_mode"] == "standalone"
    assert {"existing_index": "text_embedding", "inference_services": ["all_minilm_l6_v2"]} in ok["suggestions"]
    bad = client.post("/v1/namespaces/product-search/promote/validate", headers=tenant.headers, json={
        "vector_mappings": [{"existing_index": "nope", "inference_service": "x"}]}).json()
    assert bad["valid"] is False and bad["errors"][0]["code"] == "vector_index_not_found"
    assert namespace(client, tenant)["mode"] == "standalone"


def test_another_organisations_namespace_is_404(client, other_tenant, standalone):
    assert promote(client, other_tenant, MAPPING).status_code == 404


class FailingAddStore:
    """The real store, except that adding vector indexes fails as an unreachable Qdrant would."""

    def __init__(self, inner):
        self._inner = inner

    def add_vector_indexes(self, collection, vectors):
        raise DependencyUnavailable("vector store unreachable")

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_vector_store_failure_is_503_and_leaves_the_namespace_standalone(services, tenant, standalone):
    broken = wire(services.settings, services.table, FailingAddStore(services.vectors), services.blobs,
                  services.events, services.inference)
    client = TestClient(create_app(broken), raise_server_exceptions=False)
    response = client.post("/v1/namespaces/product-search/promote", headers=tenant.headers,
                           json={**MAPPING, "add_vectors": [{"name": "img", "dimension": 512}]})
    assert response.status_code == 503
    got = client.get("/v1/namespaces/product-search", headers=tenant.headers).json()
    assert got["mode"] == "standalone" and got["vector_inference_map"] == {}
    assert [c["name"] for c in got["vector_configs"]] == ["text_embedding", "wide"]


# -- standalone creation -------------------------------------------------------------------------------------------

def test_standalone_accepts_the_sdks_metric_names_and_stores_them_normalized(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "metrics", "vector_configs": [{"name": "d", "dimension": 4, "metric": "dot_product"},
                                                      {"name": "e", "dimension": 4, "metric": "euclidean"},
                                                      {"name": "c", "dimension": 4}]})
    assert response.status_code == 200, response.text
    assert [c["metric"] for c in response.json()["vector_configs"]] == ["dot", "euclidean", "cosine"]
    assert [c["metric"] for c in namespace(client, tenant, "metrics")["vector_configs"]] == ["dot", "euclidean",
                                                                                            "cosine"]


@pytest.mark.parametrize("body, status, code", [
    ({"namespace_id": "ab"}, 400, "invalid_namespace_id"),  # also the name, which needs 3 characters
    ({"namespace_id": "has.dot"}, 400, "invalid_namespace_id"),
    ({"namespace_id": "x" * 65}, 400, "invalid_namespace_id"),
    ({"namespace_id": "ok-id", "vector_configs": [{"name": "v", "dimension": 4, "metric": "hamming"}]}, 400,
     "invalid_vector_config"),
    ({"namespace_id": "ok-id", "storage": {"provider": "s3", "bucket": "b"}}, 400, "unsupported_field"),
    ({"namespace_id": "ok-id", "vector_configs": [{"name": "v", "dimension": 0}]}, 422, None),
    ({"vector_configs": []}, 422, None),
])
def test_bad_standalone_requests_are_refused_and_create_nothing(client, tenant, body, status, code):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json=body)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    assert client.get("/v1/namespaces/ok-id", headers=tenant.headers).status_code == 404


def test_standalone_route_is_not_taken_for_a_namespace_called_standalone(client, tenant):
    made = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "standalone"})
    assert made.status_code == 200, made.text
    assert namespace(client, tenant, "standalone")["namespace_name"] == "standalone"
    created = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={"namespace_id": "byo-1"})
    assert created.status_code == 200 and created.json()["mode"] == "standalone"


# -- more promotion rules -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    ({"vector_mappings": [MAPPING["vector_mappings"][0], MAPPING["vector_mappings"][0]]}, "duplicate_mapping"),
    ({"add_vectors": [{"name": "big", "dimension": 1536, "inference_service": "all_minilm_l6_v2"}]},
     "dimension_mismatch"),
    ({"add_vectors": [{"name": "img", "dimension": 512, "inference_service": "clip_vit_b32"}]},
     "inference_service_unavailable"),
])
def test_more_failed_rules_change_nothing(client, tenant, standalone, body, code):
    before = namespace(client, tenant)
    response = promote(client, tenant, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
    assert namespace(client, tenant) == before


def test_every_failed_rule_is_reported_at_once(client, tenant, standalone):
    response = promote(client, tenant, {
        "vector_mappings": [{"existing_index": "missing", "inference_service": "all_minilm_l6_v2"},
                            {"existing_index": "wide", "inference_service": "all_minilm_l6_v2"}],
        "add_vectors": [{"name": "text_embedding", "dimension": 384}]})
    assert response.status_code == 400
    codes = [e["code"] for e in response.json()["error"]["details"]["errors"]]
    assert codes == ["vector_index_not_found", "dimension_mismatch", "vector_index_exists"]
    validated = client.post("/v1/namespaces/product-search/promote/validate", headers=tenant.headers, json={
        "vector_mappings": [{"existing_index": "missing", "inference_service": "all_minilm_l6_v2"}],
        "add_vectors": [{"name": "text_embedding", "dimension": 384}]}).json()
    assert [e["code"] for e in validated["errors"]] == ["vector_index_not_found", "vector_index_exists"]
    assert validated["errors"][0]["details"]["available_indexes"] == ["text_embedding", "wide"]


def test_an_added_index_can_carry_its_own_inference_service(client, tenant, standalone):
    response = promote(client, tenant, {"add_vectors": [
        {"name": "summary_embedding", "dimension": 384, "metric": "dot_product",
         "inference_service": "all_minilm_l6_v2"}]})
    assert response.status_code == 200, response.text
    assert response.json()["vector_inference_map"] == {"summary_embedding": "all_minilm_l6_v2"}
    assert {"name": "summary_embedding", "dimension": 384, "metric": "dot"} in response.json()["vector_configs"]


def test_promotion_without_a_body_and_then_once_more(client, tenant, standalone):
    first = client.post("/v1/namespaces/product-search/promote", headers=tenant.headers)
    assert first.status_code == 200 and first.json()["previous_mode"] == "standalone"
    again = client.post("/v1/namespaces/product-search/promote", headers=tenant.headers)
    assert again.status_code == 400 and again.json()["error"]["code"] == "not_standalone"
    validated = client.post("/v1/namespaces/product-search/promote/validate", headers=tenant.headers).json()
    assert validated["valid"] is False and validated["current_mode"] == "managed"
    assert validated["errors"][0]["code"] == "not_standalone"


def test_validate_of_another_organisations_namespace_is_404(client, other_tenant, standalone):
    response = client.post("/v1/namespaces/product-search/promote/validate", headers=other_tenant.headers,
                           json=MAPPING)
    assert response.status_code == 404


def test_promotion_publishes_namespace_promoted(services, client, tenant, standalone):
    seen = []
    unsubscribe = services.events.subscribe(seen.append, ["namespace.promoted"])
    try:
        promote(client, tenant, {**MAPPING, "add_vectors": [{"name": "img", "dimension": 512}]})
    finally:
        unsubscribe()
    (event,) = seen
    assert event.org_id == tenant.org_id and event.namespace_id == "product-search"
    assert event.data == {"vector_inference_map": {"text_embedding": "all_minilm_l6_v2"}, "added_indexes": ["img"]}


def test_documents_upserted_before_promotion_are_kept_and_direct_upsert_still_works(client, tenant, standalone):
    def upsert(doc_id, vector):
        return client.post("/v1/namespaces/product-search/documents/upsert", headers=tenant.headers, json={
            "documents": [{"document_id": doc_id, "vectors": {"text_embedding": vector},
                           "payload": {"category": "audio"}}]})

    assert upsert("before", [0.1] * 384).status_code == 200
    assert promote(client, tenant, MAPPING).status_code == 200
    assert upsert("after", [0.2] * 384).status_code == 200
    for doc_id in ("before", "after"):
        got = client.get(f"/v1/namespaces/product-search/documents/{doc_id}", headers=tenant.headers)
        assert got.status_code == 200 and got.json()["category"] == "audio"


# -- failures after validation -------------------------------------------------------------------------------------

class ConcurrentPatchStore:
    """The real store; while promotion adds its indexes, another request changes the namespace record."""

    def __init__(self, inner, on_add):
        self._inner = inner
        self._on_add = on_add

    def add_vector_indexes(self, collection, vectors):
        added = self._inner.add_vector_indexes(collection, vectors)
        self._on_add()
        return added

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_concurrent_change_is_409_and_the_namespace_stays_standalone(services, tenant, standalone):
    client = TestClient(create_app(services), raise_server_exceptions=False)

    def other_client_patches():  # through the API, as another client's request would
        assert client.patch("/v1/namespaces/product-search", headers=tenant.headers,
                            json={"description": "changed meanwhile"}).status_code == 200

    broken = wire(services.settings, services.table, ConcurrentPatchStore(services.vectors, other_client_patches),
                  services.blobs, services.events, services.inference)
    racer = TestClient(create_app(broken), raise_server_exceptions=False)
    response = racer.post("/v1/namespaces/product-search/promote", headers=tenant.headers,
                          json={**MAPPING, "add_vectors": [{"name": "img", "dimension": 512}]})
    assert response.status_code == 409 and response.json()["error"]["code"] == "concurrent_modification"
    got = namespace(client, tenant)
    assert got["mode"] == "standalone" and got["vector_inference_map"] == {}
    assert got["description"] == "changed meanwhile"
    assert [c["name"] for c in got["vector_configs"]] == ["text_embedding", "wide"]

    # The retry reuses the empty index left in the store; one of another shape would contradict it.
    clash = promote(client, tenant, {**MAPPING, "add_vectors": [{"name": "img", "dimension": 768}]})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "vector_index_shape_conflict"
    assert "512-d" in clash.json()["error"]["message"] and namespace(client, tenant)["mode"] == "standalone"
    retried = promote(client, tenant, {**MAPPING, "add_vectors": [{"name": "img", "dimension": 512}]})
    assert retried.status_code == 200 and retried.json()["mode"] == "managed"


class FailingWriteTable:
    """The real table, except that transactional writes fail as an unreachable DynamoDB would."""

    def __init__(self, inner):
        self._inner = inner

    def transact_write(self, operations):
        raise DependencyUnavailable("table unreachable")

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_table_failure_on_save_is_503_and_leaves_the_namespace_standalone(services, client, tenant, standalone):
    before = namespace(client, tenant)
    broken = wire(services.settings, FailingWriteTable(services.table), services.vectors, services.blobs,
                  services.events, services.inference)
    response = TestClient(create_app(broken), raise_server_exceptions=False).post(
        "/v1/namespaces/product-search/promote", headers=tenant.headers, json=MAPPING)
    assert response.status_code == 503
    assert namespace(client, tenant) == before


def test_a_sparse_index_takes_no_inference_service_but_survives_promotion(client, tenant):
    created = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "hybrid", "vector_configs": [{"name": "bm25", "type": "sparse"},
                                                     {"name": "dense", "dimension": 384}]})
    assert created.status_code == 200, created.text
    refused = promote(client, tenant, {"vector_mappings": [
        {"existing_index": "bm25", "inference_service": "all_minilm_l6_v2"}]}, path="hybrid")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "sparse_index_not_mappable"
    promoted = promote(client, tenant, {"vector_mappings": [
        {"existing_index": "dense", "inference_service": "all_minilm_l6_v2"}]}, path="hybrid").json()
    assert promoted["vector_inference_map"] == {"dense": "all_minilm_l6_v2"}
    assert [c["name"] for c in namespace(client, tenant, "hybrid")["vector_configs"]] == ["bm25", "dense"]


def test_a_missing_vector_collection_is_503_not_a_crash(services, client, tenant, standalone):
    services.vectors.drop_collection(services.namespaces.resolve(
        services.organizations.authenticate(f"Bearer {tenant.key}"), "product-search").collection)
    response = promote(client, tenant, {"add_vectors": [{"name": "img", "dimension": 512}]})
    assert response.status_code == 503 and response.json()["error"]["code"] == "vector_collection_missing"
    assert namespace(client, tenant)["mode"] == "standalone"
