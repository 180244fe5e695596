"""A point whose payload Qdrant Edge cannot decode (nested past its recursion limit: written before the API limited
payload depth) can still be read and deleted through the API, so its namespace recovers without being deleted."""

from __future__ import annotations

from openpeek.domain.namespace import collection_name
from openpeek.domain.vectors import VectorPoint


def test_a_document_with_an_undecodable_payload_can_be_read_and_deleted(client, services, tenant):
    created = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "legacy", "vector_configs": [{"name": "emb", "dimension": 3}]})
    assert created.status_code == 200, created.text
    deep: object = 1
    for _ in range(130):
        deep = {"a": deep}
    collection = collection_name("legacy")
    services.vectors.upsert(collection, [VectorPoint(id="poison", vectors={"emb": [1.0, 0.0, 0.0]},
                                                     payload={"document_id": "poison", "spec": deep})])
    fetched = client.get("/v1/namespaces/legacy/documents/poison", headers=tenant.headers)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["document_id"] == "poison"
    deleted = client.delete("/v1/namespaces/legacy/documents/poison", headers=tenant.headers)
    assert deleted.status_code == 200, deleted.text
    assert client.get("/v1/namespaces/legacy/documents/poison", headers=tenant.headers).status_code == 404
    upsert = client.post("/v1/namespaces/legacy/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "fresh", "vectors": {"emb": [0.0, 1.0, 0.0]}, "payload": {"title": "ok"}}]})
    assert upsert.status_code == 200, upsert.text
