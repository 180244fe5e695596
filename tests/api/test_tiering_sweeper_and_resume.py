"""Tiering without a caller: the sweeper demotes idle collections by their policy (namespace over defaults,
exempt never), promotes busy cold ones; and a transition killed half-way resumes from its recorded step without
losing or duplicating a document."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import utcnow
from openpeek.domain.tiering import PROMOTE_AFTER_QUERIES
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.tiering import lifecycle as lifecycle_module
from openpeek.services.tiering.sweeper import TieringSweeper

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


def vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(384).round(4).tolist()


def setup_namespace(client, services, tenant, name: str, tiering=None) -> dict:
    body = {"namespace_name": name, **({"tiering": tiering} if tiering else {})}
    namespace = client.post("/v1/namespaces", headers=tenant.headers, json=body).json()
    BucketRepository(services.table).create(Bucket(
        bucket_id=f"bkt_{name}", bucket_name="books", namespace_id=namespace["namespace_id"], org_id=tenant.org_id,
        bucket_schema=SCHEMA, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    return {**tenant.headers, "X-Namespace": name}


def collection(client, headers, name: str, documents: int) -> list[str]:
    created = client.post("/v1/collections", headers=headers, json={
        "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "genre"}]}})
    assert created.status_code == 200, created.text
    ids = []
    for n in range(documents):
        made = client.post(f"/v1/collections/{name}/documents", headers=headers,
                           json={"vectors": {URI: vector(n)}, "genre": "sf"})
        assert made.status_code == 200, made.text
        ids.append(made.json()["document_id"])
    return ids


def state(client, headers, name):
    return client.get(f"/v1/collections/{name}/lifecycle", headers=headers).json()


def test_sweeper_demotes_idle_collections_and_skips_exempt_ones(client, services, tenant):
    idle = setup_namespace(client, services, tenant, "idle", {"idle_days": {"cold": 1}})
    collection(client, idle, "old", 3)
    held = setup_namespace(client, services, tenant, "held", {"idle_days": {"cold": 1}, "exempt": "legal hold"})
    collection(client, held, "kept", 2)
    default = setup_namespace(client, services, tenant, "default")
    collection(client, default, "fresh", 2)  # the default policy waits 30 idle days

    assert services.tiering_sweeper.sweep().moved == []  # nothing has been idle for a day yet
    two_days_on = TieringSweeper(services.table, services.lifecycle, clock=lambda: utcnow() + timedelta(days=2))
    report = two_days_on.sweep()
    assert [(m["to"], m["from"]) for m in report.moved] == [("cold", "active")]
    assert state(client, idle, "old")["lifecycle_state"] == "cold"
    assert state(client, idle, "old")["s3_vector_count"] == 3
    assert state(client, held, "kept")["lifecycle_state"] == "active"
    assert state(client, default, "fresh")["lifecycle_state"] == "active"
    assert two_days_on.sweep().moved == []  # nothing left to move; a cold one stays cold


def test_sweeper_promotes_a_cold_collection_queried_often(client, services, tenant, monkeypatch):
    headers = setup_namespace(client, services, tenant, "busy", {"enabled": False})
    ids = collection(client, headers, "popular", 2)
    assert client.patch("/v1/collections/popular/lifecycle", headers=headers,
                        json={"lifecycle_state": "cold", "async_transition": False}).json()["lifecycle_state"] == "cold"
    namespace = NamespaceRepository(services.table).get_by_name(tenant.org_id, "busy")
    collection_id = state(client, headers, "popular")["collection_id"]
    tiers = TierStateRepository(services.table)
    current = tiers.get(namespace.namespace_id, collection_id)
    tiers.save(namespace.namespace_id, current.__class__(**{**current.__dict__, "recent_queries": PROMOTE_AFTER_QUERIES,
                                                            "last_transitioned_at": "2026-01-01T00:00:00Z"}), current)
    assert services.tiering_sweeper.sweep().moved == []  # tiering disabled on the namespace: nothing moves
    client.patch("/v1/namespaces/busy", headers=tenant.headers, json={"tiering": {"enabled": True}})
    moved = services.tiering_sweeper.sweep().moved
    assert [(m["from"], m["to"]) for m in moved] == [("cold", "active")]
    assert state(client, headers, "popular")["vector_document_count"] == len(ids)


class Crash(BaseException):
    """The process dying: not an error the transition handles, so its recorded state stays as it was."""


def test_a_demotion_killed_mid_copy_resumes_without_loss_or_duplicates(client, services, tenant, monkeypatch):
    headers = setup_namespace(client, services, tenant, "crashy")
    ids = collection(client, headers, "books", 7)
    monkeypatch.setattr(lifecycle_module, "PAGE", 2)
    cold = services.lifecycle._cold
    real_write = cold.write_part
    writes = []

    def dying_write(target, part, points):
        writes.append(part)
        if len(writes) == 3:
            raise Crash()
        real_write(target, part, points)

    monkeypatch.setattr(cold, "write_part", dying_write)
    namespace = NamespaceRepository(services.table).get_by_name(tenant.org_id, "crashy")
    with pytest.raises(Crash):  # the service itself: the HTTP stack would turn the crash into a 500
        services.lifecycle.transition(namespace, "books", "cold", async_transition=False)
    half = state(client, headers, "books")
    assert half["lifecycle_state"] == "active" and half["task_id"]  # still served from the vector store
    assert client.post("/v1/collections/books/documents", headers=headers,
                       json={"vectors": {URI: vector(99)}}).status_code == 409  # no writes while moving

    monkeypatch.setattr(cold, "write_part", real_write)
    report = services.tiering_sweeper.sweep()  # what the scheduler does after a restart
    assert len(report.resumed) == 1
    done = state(client, headers, "books")
    assert done["lifecycle_state"] == "cold" and done["s3_vector_count"] == 7 and done["vector_document_count"] == 0
    target = services.lifecycle.cold_target(namespace, services.collections.get(namespace, "books"))
    stored = [point.id for _, part in cold.read_parts(target) for point in part]
    assert sorted(stored) == sorted(ids)  # each document exactly once
    task = client.get(f"/v1/tasks/{half['task_id']}", headers=headers).json()
    assert task["status"] == "COMPLETED"


def test_a_failed_demotion_leaves_the_collection_active_with_the_task_failed(client, services, tenant, monkeypatch):
    headers = setup_namespace(client, services, tenant, "failing")
    collection(client, headers, "books", 3)

    def refused(*_, **__):
        raise OSError("disk full")

    monkeypatch.setattr(services.lifecycle._cold, "write_part", refused)
    response = client.patch("/v1/collections/books/lifecycle", headers=headers,
                            json={"lifecycle_state": "cold", "async_transition": False})
    assert response.status_code == 200
    body = response.json()
    assert body["lifecycle_state"] == "active" and body["vector_document_count"] == 3
    task = client.get(f"/v1/tasks/{body['task_id']}", headers=headers).json()
    assert task["status"] == "FAILED" and "disk full" in task["error"]
    assert client.post("/v1/collections/books/documents", headers=headers,
                       json={"vectors": {URI: vector(5)}}).status_code == 200  # writable again
