"""POST /v1/namespaces/{id}/ensure-indexes (the declared payload indexes put back in the vector store, nothing
re-extracted) and POST /v1/namespaces/stats/batch (many namespaces' counts in one call); both parse as the SDK's."""

from __future__ import annotations

from mixpeek.models import NamespaceStatsBatchResponse

from openpeek.domain.payload_indexes import PROTECTED_FIELD_NAMES
from openpeek.domain.vectors import PayloadIndexSpec
from openpeek.services.organizations import Principal
from tests.api.test_namespaces_api import assert_error


def _standalone(client, tenant, name, documents=0):
    assert client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 2}]}).status_code == 200
    if documents:
        assert client.post(f"/v1/namespaces/{name}/documents/upsert", headers=tenant.headers, json={"documents": [
            {"document_id": f"d{i}", "vectors": {"emb": [1.0, float(i)]}, "payload": {"brand": f"b{i % 2}"}}
            for i in range(documents)]}).status_code == 200
    return client.get(f"/v1/namespaces/{name}", headers=tenant.headers).json()


def _collection(services, tenant, name):
    return services.namespaces.resolve(Principal(tenant.org_id, "test"), name).collection


def test_ensure_puts_back_a_missing_index_and_keeps_every_document(client, services, tenant):
    _standalone(client, tenant, "shop", documents=5)
    assert client.patch("/v1/namespaces/shop", headers=tenant.headers, json={
        "payload_indexes": [{"field_name": "brand", "type": "keyword"}]}).status_code == 200
    collection = _collection(services, tenant, "shop")
    services.vectors.drop_payload_index(collection, "brand")  # lost, as a failed registration would leave it
    services.vectors.create_payload_index(collection, PayloadIndexSpec("document_id", "integer", {}))  # mistyped
    assert "brand" not in services.vectors.info(collection).payload_indexes

    response = client.post("/v1/namespaces/shop/ensure-indexes", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["registered"]) == ["brand", "document_id"] and body["rebuilt"] == []
    assert set(body["ensured"]) >= PROTECTED_FIELD_NAMES | {"brand"}
    stored = services.vectors.info(collection)
    assert stored.payload_indexes["brand"] == "keyword" and stored.payload_indexes["document_id"] == "keyword"
    assert stored.points_count == 5

    again = client.post("/v1/namespaces/shop/ensure-indexes", headers=tenant.headers).json()
    assert again["registered"] == [] and set(again["ensured"]) == set(body["ensured"])
    filtered = client.post("/v1/documents/list", headers={**tenant.headers, "X-Namespace": "shop"}, json={
        "filters": {"AND": [{"field": "brand", "operator": "eq", "value": "b1"}]}}).json()
    assert {d["document_id"] for d in filtered["results"]} == {"d1", "d3"}


def test_force_rebuild_rebuilds_each_declared_index(client, services, tenant):
    created = _standalone(client, tenant, "shop", documents=3)
    body = client.post("/v1/namespaces/shop/ensure-indexes?force_rebuild=true", headers=tenant.headers).json()
    declared = {index["field_name"] for index in created["payload_indexes"]}
    assert set(body["rebuilt"]) == declared and body["ensured"] == [] and body["force_rebuild"] is True
    stored = services.vectors.info(_collection(services, tenant, "shop"))
    assert declared <= set(stored.payload_indexes) and stored.points_count == 3


def test_ensure_refuses_bad_input_and_other_organisations(client, tenant, other_tenant):
    _standalone(client, tenant, "shop")
    assert_error(client.post("/v1/namespaces/nope/ensure-indexes", headers=tenant.headers), 404)
    assert_error(client.post("/v1/namespaces/shop/ensure-indexes", headers=other_tenant.headers), 404)
    assert client.post("/v1/namespaces/shop/ensure-indexes?force_rebuild=maybe",
                       headers=tenant.headers).status_code == 422


def test_stats_batch_counts_each_visible_namespace(client, tenant, other_tenant):
    first = _standalone(client, tenant, "first", documents=4)
    second = _standalone(client, tenant, "second")
    theirs = _standalone(client, other_tenant, "theirs", documents=1)
    response = client.post("/v1/namespaces/stats/batch", headers=tenant.headers, json={"namespace_ids": [
        first["namespace_id"], "second", theirs["namespace_id"], "missing", first["namespace_id"]]})
    assert response.status_code == 200, response.text
    stats = NamespaceStatsBatchResponse.from_dict(response.json()).stats
    assert set(stats) == {first["namespace_id"], second["namespace_id"]}
    assert stats[first["namespace_id"]].document_count == 4 and stats[second["namespace_id"]].document_count == 0
    single = client.get(f"/v1/namespaces/{first['namespace_id']}/stats", headers=tenant.headers).json()
    assert response.json()["stats"][first["namespace_id"]] == single
    empty = client.post("/v1/namespaces/stats/batch", headers=tenant.headers, json={"namespace_ids": []})
    assert empty.status_code == 200 and empty.json() == {"stats": {}}


def test_stats_batch_refuses_bad_bodies(client, tenant):
    for body in ({}, {"namespace_ids": "first"}, {"namespace_ids": [1]}, {"namespace_ids": ["a"] * 101},
                 {"namespace_ids": [], "extra": 1}):
        assert client.post("/v1/namespaces/stats/batch", headers=tenant.headers, json=body).status_code == 422
