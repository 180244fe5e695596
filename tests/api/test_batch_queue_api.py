"""GET /v1/batches/queue: the deployment's submitted batches in line (oldest submission first) and the runner taking
them; the caller sees its own batches with their places, another organisation's only as counts."""

from __future__ import annotations

from openpeek.domain.batches import Batch
from openpeek.repositories.batches import BatchRepository
from tests.api.test_namespaces_api import assert_error


def _namespace(client, tenant, name):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 2}]})
    assert response.status_code == 200, response.text
    return response.json()["namespace_id"]


def _stored_namespace_id(services, tenant, name):
    from openpeek.services.organizations import Principal

    return services.namespaces.resolve(Principal(tenant.org_id, "test"), name).namespace_id


def _batch(services, tenant, namespace, batch_id, status, submitted_at):
    stamp = "2026-11-30T10:00:00Z"
    namespace_id = _stored_namespace_id(services, tenant, namespace)
    batch = Batch(batch_id=batch_id, org_id=tenant.org_id, namespace_id=namespace_id, bucket_id="bkt_docs",
                  status=status, object_ids=("obj_a", "obj_b"), created_at=stamp, updated_at=stamp,
                  submitted_at=submitted_at, task_id=f"task_{batch_id}",
                  started_at=submitted_at if status == "IN_PROGRESS" else None,
                  current_tier=0 if status == "IN_PROGRESS" else None, dag_tiers=(("col_text",),))
    services.table.transact_write(BatchRepository(services.table).creation(batch))


def test_the_queue_lists_running_and_waiting_batches_in_submission_order(client, services, tenant, other_tenant):
    _namespace(client, tenant, "first")
    _namespace(client, tenant, "second")
    _namespace(client, other_tenant, "theirs")
    _batch(services, tenant, "first", "btch_running", "IN_PROGRESS", "2026-11-30T10:00:01Z")
    _batch(services, other_tenant, "theirs", "btch_theirs", "PENDING", "2026-11-30T10:00:02Z")
    _batch(services, tenant, "second", "btch_later", "PENDING", "2026-11-30T10:00:04Z")
    _batch(services, tenant, "first", "btch_next", "PENDING", "2026-11-30T10:00:03Z")
    _batch(services, tenant, "first", "btch_done", "COMPLETED", "2026-11-30T09:00:00Z")

    response = client.get("/v1/batches/queue", headers=tenant.headers)
    assert response.status_code == 200, response.text
    queue = response.json()
    assert (queue["active_jobs"], queue["queued_jobs"]) == (1, 3)
    assert queue["max_concurrent_jobs"] == 1 and queue["available_slots"] == 0
    assert queue["runner"] == "embedded batch worker"
    assert [b["batch_id"] for b in queue["active"]] == ["btch_running"]
    assert queue["active"][0]["task_id"] == "task_btch_running" and queue["active"][0]["current_tier"] == 0
    # their batch is ahead in line, so ours are second and third: its place counts, its details do not show
    assert [(b["batch_id"], b["position"]) for b in queue["waiting"]] == [("btch_next", 2), ("btch_later", 3)]

    scoped = client.get("/v1/batches/queue", headers={**tenant.headers, "X-Namespace": "second"}).json()
    assert [b["batch_id"] for b in scoped["waiting"]] == ["btch_later"] and scoped["active"] == []
    assert scoped["queued_jobs"] == 3

    theirs = client.get("/v1/batches/queue", headers=other_tenant.headers).json()
    assert [b["batch_id"] for b in theirs["waiting"]] == ["btch_theirs"] and theirs["active"] == []


def test_the_queue_needs_a_key_and_the_callers_own_namespace(client, tenant, other_tenant):
    _namespace(client, tenant, "first")
    assert client.get("/v1/batches/queue").status_code == 401
    assert_error(client.get("/v1/batches/queue", headers={**other_tenant.headers, "X-Namespace": "first"}), 404)
    empty = client.get("/v1/batches/queue", headers=tenant.headers).json()
    assert empty["active"] == [] and empty["waiting"] == [] and empty["active_jobs"] == 0
