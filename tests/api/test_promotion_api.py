"""Promotion of standalone namespaces (seed 002's rules), over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.ports import DependencyUnavailable
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
                          "status": "active", "tiering": "auto", "document_count": 0,
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
