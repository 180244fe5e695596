"""Collection lifecycle over HTTP: active → cold → active, archived, frozen; the moves allowed; one retriever that
finds documents in whichever tier holds them, tagged `_source_tier`; document writes refused where they must be."""

from __future__ import annotations

import numpy as np
import pytest
from openpeek.domain.buckets import Bucket
from openpeek.domain.failures import ColdStoreUnavailable
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.namespaces import NamespaceRepository

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}, "year": {"type": "integer"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
INDEX = "text_extractor_v1_embedding"


def vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(384).round(4).tolist()


@pytest.fixture
def headers(client, services, tenant):
    namespace = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "tiers"}).json()
    BucketRepository(services.table).create(Bucket(
        bucket_id="bkt_books", bucket_name="books", namespace_id=namespace["namespace_id"], org_id=tenant.org_id,
        bucket_schema=SCHEMA, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    headers = {**tenant.headers, "X-Namespace": "tiers"}
    for name in ("hotbooks", "coldbooks"):
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
    return response.json()["document_id"]


def lifecycle(client, headers, collection, state=None, **body):
    if state is None:
        return client.get(f"/v1/collections/{collection}/lifecycle", headers=headers)
    return client.patch(f"/v1/collections/{collection}/lifecycle", headers=headers,
                        json={"lifecycle_state": state, "async_transition": False, **body})


def retriever(client, headers, collections=None, filters=None, top_k=5):
    search = {"feature_uri": URI, "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": top_k}
    if filters is not None:
        search["filters"] = filters
    body = {"retriever_name": f"r{len(collections or [])}{top_k}{bool(filters)}",
            "input_schema": {"v": {"type": "array", "required": True}},
            "stages": [{"stage_name": "search", "stage_type": "filter",
                        "config": {"stage_id": "feature_search", "parameters": {"searches": [search]}}}]}
    if collections:
        body["collection_identifiers"] = collections
    created = client.post("/v1/retrievers", headers=headers, json=body)
    assert created.status_code == 200, created.text
    return created.json()["retriever_id"]


def execute(client, headers, retriever_id, seed):
    return client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers, json={"inputs": {"v": vector(seed)}})


def test_demote_search_rehydrate(client, headers):
    hot = [add(client, headers, "hotbooks", n, genre="sf", year=2000 + n) for n in range(5)]
    cold = [add(client, headers, "coldbooks", n, genre="crime" if n % 2 else "sf", year=2010 + n)
            for n in range(10, 15)]
    search = retriever(client, headers, top_k=10)
    before = execute(client, headers, search, 12).json()
    assert before["documents"][0]["document_id"] == cold[2]

    status = lifecycle(client, headers, "coldbooks").json()
    assert status["lifecycle_state"] == "active" and status["vector_document_count"] == 5

    demoted = lifecycle(client, headers, "coldbooks", "cold")
    assert demoted.status_code == 200, demoted.text
    body = demoted.json()
    assert body["lifecycle_state"] == "cold" and body["s3_vector_count"] == 5
    assert body["vector_document_count"] == 0 and body["last_transitioned_at"] and body["task_id"]
    task = client.get(f"/v1/tasks/{body['task_id']}", headers=headers).json()
    assert task["status"] == "COMPLETED"
    assert client.get("/v1/collections/coldbooks", headers=headers).json()["lifecycle_state"] == "cold"

    after = execute(client, headers, search, 12).json()
    assert [(d["document_id"], round(d["score"], 5)) for d in after["documents"]] == \
        [(d["document_id"], round(d["score"], 5)) for d in before["documents"]]
    tiers = {d["document_id"]: d["_source_tier"] for d in after["documents"]}
    assert all(tiers[doc] == "cold" for doc in cold) and all(tiers[doc] == "hot" for doc in hot)
    assert after["stage_statistics"]["stages"]["search"]["metadata"]["source_tiers"] == {"hot": 5, "cold": 5}
    assert after["documents"][0]["genre"] == "sf" and after["documents"][0]["metadata"] == {"seed": 12}

    filtered = retriever(client, headers, filters={"AND": [{"field": "genre", "operator": "eq", "value": "crime"}]})
    found = execute(client, headers, filtered, 12).json()["documents"]
    assert {d["document_id"] for d in found} == {cold[1], cold[3]}

    refused = client.post("/v1/collections/coldbooks/documents", headers=headers, json={"vectors": {URI: vector(1)}})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "collection_cold"

    rehydrated = lifecycle(client, headers, "coldbooks", "active").json()
    assert rehydrated["lifecycle_state"] == "active" and rehydrated["vector_document_count"] == 5
    assert rehydrated["s3_vector_count"] is None
    again = execute(client, headers, search, 12).json()
    assert [d["document_id"] for d in again["documents"]] == [d["document_id"] for d in before["documents"]]
    assert all(d["_source_tier"] == "hot" for d in again["documents"])
    assert client.get("/v1/collections/coldbooks/documents/count", headers=headers).json()["count"] == 5


def test_moves_not_allowed_are_refused_naming_the_allowed_ones(client, headers):
    add(client, headers, "coldbooks", 1)
    assert lifecycle(client, headers, "coldbooks", "frozen").json()["lifecycle_state"] == "frozen"
    refused = lifecycle(client, headers, "coldbooks", "cold")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_lifecycle_transition" and "frozen→active" in error["message"]
    assert error["details"]["allowed"] == ["active"]
    assert lifecycle(client, headers, "coldbooks", "bogus").status_code == 422
    assert client.patch("/v1/collections/coldbooks/lifecycle", headers=headers,
                        json={"lifecycle_state": "cold", "extra": 1}).status_code == 422
    assert lifecycle(client, headers, "nope").status_code == 404


def test_frozen_refuses_writes_but_search_and_reads_work(client, headers):
    doc = add(client, headers, "coldbooks", 3, genre="sf")
    search = retriever(client, headers)
    assert lifecycle(client, headers, "coldbooks", "frozen").json()["lifecycle_state"] == "frozen"
    write = client.post("/v1/collections/coldbooks/documents", headers=headers, json={"vectors": {URI: vector(4)}})
    assert write.status_code == 409 and write.json()["error"]["code"] == "collection_frozen"
    patch = client.patch(f"/v1/collections/coldbooks/documents/{doc}", headers=headers, json={"genre": "x"})
    assert patch.status_code == 409
    assert client.delete(f"/v1/collections/coldbooks/documents/{doc}", headers=headers).status_code == 409
    assert client.get(f"/v1/collections/coldbooks/documents/{doc}", headers=headers).json()["genre"] == "sf"
    assert execute(client, headers, search, 3).json()["documents"][0]["document_id"] == doc
    assert lifecycle(client, headers, "coldbooks", "active").json()["lifecycle_state"] == "active"
    assert client.post("/v1/collections/coldbooks/documents", headers=headers,
                       json={"vectors": {URI: vector(4)}}).status_code == 200


def test_archive_keeps_metadata_and_refuses_archived_only_searches(client, headers, services, tenant):
    docs = [add(client, headers, "coldbooks", n, genre="sf", year=n) for n in range(3)]
    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    archived = lifecycle(client, headers, "coldbooks", "archived").json()
    assert archived["lifecycle_state"] == "archived" and archived["vector_document_count"] == 0
    assert lifecycle(client, headers, "coldbooks", "active").status_code == 400  # archived is terminal
    namespace = NamespaceRepository(services.table).get_by_name(tenant.org_id, "tiers")
    kept = services.lifecycle.archived_documents(namespace, "coldbooks")
    assert sorted(d["document_id"] for d in kept) == sorted(docs)
    assert all(d["collection_id"].startswith("col_") and d["genre"] == "sf" for d in kept)

    only_archived = retriever(client, headers, collections=["coldbooks"])
    refused = execute(client, headers, only_archived, 1)
    assert refused.status_code == 400 and "coldbooks" in refused.json()["error"]["message"]


def test_a_failing_cold_store_gives_hot_results_and_a_warning(client, headers, services, monkeypatch):
    hot = add(client, headers, "hotbooks", 1)
    add(client, headers, "coldbooks", 2)
    lifecycle(client, headers, "coldbooks", "cold")

    def broken(*_, **__):
        raise ColdStoreUnavailable("the bucket is unreachable")

    monkeypatch.setattr(services.lifecycle._cold, "query", broken)
    response = execute(client, headers, retriever(client, headers), 2)
    assert response.status_code == 200
    assert [d["document_id"] for d in response.json()["documents"]] == [hot]
    assert "coldbooks" in response.json()["warnings"][0]


def test_namespace_tiering_policy_is_checked_stored_and_reported(client, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={
        "namespace_name": "policy", "tiering": {"enabled": True, "idle_days": {"cold": 7}}})
    assert created.status_code == 200, created.text
    assert created.json()["tiering"] == {"enabled": True, "idle_days": {"cold": 7, "frozen": None}, "exempt": None}
    patched = client.patch("/v1/namespaces/policy", headers=tenant.headers,
                           json={"tiering": {"exempt": "legal hold"}})
    assert patched.json()["tiering"]["exempt"] == "legal hold"
    assert client.get("/v1/namespaces/policy", headers=tenant.headers).json()["tiering"]["exempt"] == "legal hold"
    for bad in ({"idle_days": {"cold": -1}}, {"idle_days": {"cold": 0}}, {"idle_days": {"frozen": 1.5}}, {"idle_days": {"warm": 3}}, {"exempt": ""}, {"enabled": "yes"},
                {"sometimes": True}):
        refused = client.patch("/v1/namespaces/policy", headers=tenant.headers, json={"tiering": bad})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_tiering", bad
    assert client.get("/v1/namespaces/policy", headers=tenant.headers).json()["tiering"]["exempt"] == "legal hold"


def test_manifests_carry_the_namespace_tiering_policy(client, tenant):
    policy = {"enabled": True, "idle_days": {"cold": 14, "frozen": None}, "exempt": None}
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "tiered", "tiering": policy})
    source = {**tenant.headers, "X-Namespace": "tiered"}
    exported = client.get("/v1/manifest/export", headers=source).json()
    assert exported["namespace"]["tiering"] == policy
    assert client.post("/v1/manifest/diff", headers=source, json=exported).json()["differences"] == []

    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "untiered"})
    target = {**tenant.headers, "X-Namespace": "untiered"}
    exported["namespace"].pop("namespace_name")
    applied = client.post("/v1/manifest/apply", headers=target, json=exported)
    assert applied.status_code == 200, applied.text
    assert client.get("/v1/namespaces/untiered", headers=tenant.headers).json()["tiering"] == policy
