"""Namespace clone (seed 003's environment branching): configuration, chosen resources, documents and vectors copied
without re-embedding, a task with progress, a TTL, and no shared state afterwards."""

from __future__ import annotations

import time

import pytest

from openpeek.services import clone as clone_module
from tests.api.test_namespaces_api import assert_error


@pytest.fixture
def source(client, tenant):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "prod", "vector_configs": [{"name": "emb", "dimension": 2}]})
    client.patch("/v1/namespaces/prod", headers=tenant.headers, json={"payload_indexes": [
        {"field_name": "category", "type": "keyword"}]})
    documents = [{"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"category": f"c{i % 2}"}}
                 for i in range(12)]
    assert client.post("/v1/namespaces/prod/documents/upsert", headers=tenant.headers,
                       json={"documents": documents}).status_code == 200
    headers = {**tenant.headers, "X-Namespace": "prod"}
    retriever = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "nearest", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 3}]}}}]})
    assert retriever.status_code == 200, retriever.text
    return tenant.headers


def wait_ready(client, headers, task_id):
    for _ in range(300):
        task = client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        if task["status"] in ("COMPLETED", "FAILED"):
            return task
        time.sleep(0.05)
    raise AssertionError(task)


def test_a_clone_copies_configuration_documents_and_retrievers_and_then_shares_nothing(client, source):
    response = client.post("/v1/namespaces/prod/clone", headers=source,
                           json={"namespace_name": "staging-branch", "ttl_seconds": 3600})

    assert response.status_code == 200, response.text
    body = response.json()
    clone = body["namespace"]
    assert body["status"] == "ready" and body["source_namespace_id"] == "prod"
    assert body["cloned_resources"]["points"] == 12 and body["cloned_resources"]["retrievers"] == 1
    assert clone["namespace_id"] != "prod" and clone["namespace_name"] == "staging-branch"
    assert clone["expires_at"] is not None
    assert {i["field_name"] for i in clone["payload_indexes"]} >= {"category"}
    assert wait_ready(client, source, body["task_id"])["outputs"] == [{"namespace_id": clone["namespace_id"],
                                                                       "points": 12}]
    branch = {**source, "X-Namespace": "staging-branch"}
    copied = client.get(f"/v1/namespaces/{clone['namespace_id']}/documents/d3?return_vectors=true", headers=source)
    original = client.get("/v1/namespaces/prod/documents/d3?return_vectors=true", headers=source).json()
    assert copied.status_code == 200 and copied.json()["vectors"]["emb"] == original["vectors"]["emb"]
    assert copied.json()["category"] == "c1"
    result = client.post(f"/v1/retrievers/{body['primary_retriever_id']}/execute", headers=branch,
                         json={"inputs": {"v": [1.0, 0.0]}})
    assert [d["document_id"] for d in result.json()["documents"]] == ["d0", "d1", "d2"]

    # no shared state: writes and deletes on either side stay there
    client.post(f"/v1/namespaces/{clone['namespace_id']}/documents/upsert", headers=source, json={"documents": [
        {"document_id": "only-in-branch", "vectors": {"emb": [0.0, 1.0]}}]})
    client.delete("/v1/namespaces/prod/documents/d0", headers=source)
    assert client.get("/v1/namespaces/prod/documents/only-in-branch", headers=source).status_code == 404
    assert client.get(f"/v1/namespaces/{clone['namespace_id']}/documents/d0", headers=source).status_code == 200


def test_large_namespaces_are_copied_in_the_background_with_progress(client, source, monkeypatch):
    monkeypatch.setattr(clone_module, "INLINE_MAX_POINTS", 5)
    monkeypatch.setattr(clone_module, "COPY_PAGE", 4)

    body = client.post("/v1/namespaces/prod/clone", headers=source, json={"namespace_name": "big-branch"}).json()

    assert body["status"] in ("cloning", "ready")
    task = wait_ready(client, source, body["task_id"])
    assert task["status"] == "COMPLETED"
    assert task["additional_data"]["progress"] == {"copied": 12, "total": 12}


def test_clone_refuses_what_it_cannot_do_and_changes_nothing(client, source, other_tenant):
    assert_error(client.post("/v1/namespaces/prod/clone", headers=source,
                             json={"namespace_name": "b", "mode": "branch"}), 400, "clone_mode_unsupported")
    assert_error(client.post("/v1/namespaces/prod/clone", headers=source, json={"namespace_name": "prod"}), 409)
    assert_error(client.post("/v1/namespaces/prod/clone", headers=other_tenant.headers,
                             json={"namespace_name": "stolen"}), 404)
    names = [n["namespace_name"] for n in client.get("/v1/namespaces", headers=source).json()["results"]]
    assert sorted(names) == ["prod"]


def test_retrievers_can_be_left_out(client, source):
    body = client.post("/v1/namespaces/prod/clone", headers=source, json={
        "namespace_name": "bare", "include_resources": {"retrievers": False, "collections": False}}).json()
    assert body["cloned_resources"]["retrievers"] == 0 and body["cloned_resources"]["points"] == 0
    assert client.get("/v1/retrievers", headers={**source, "X-Namespace": "bare"}).json()["results"] == []
