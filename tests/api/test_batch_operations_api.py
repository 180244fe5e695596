"""The bucket batch operations beyond create/submit/read (BucketBatchesApi): bulk-submit and submit-all, a tier's
cancel / retry / heal, a job's cancel, diagnose, audit and estimate-cost. Every answer is parsed with the SDK's model
where it has one; batches run on the embedded worker with the real local text model, or step by step as the
deployed state machine runs them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from mixpeek.models.batch_cost_estimate import BatchCostEstimate
from mixpeek.models.batch_diagnostics import BatchDiagnostics
from mixpeek.models.batch_model import BatchModel
from mixpeek.models.bulk_submit_batches_response import BulkSubmitBatchesResponse
from mixpeek.models.tier_audit_info import TierAuditInfo

from openpeek.domain import batches as rules
from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import utcnow
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.buckets import BucketRepository
from tests.api.test_batches_api import TEXTS, World

BASE = "/v1/buckets/docs/batches"


@pytest.fixture
def world(services, tenant):
    return World(services, tenant)


def _pending(world, object_ids: list[str], tiers: list[list[str]]):
    """A submitted batch that no local worker has picked up: what the deployed API leaves for the state machine."""
    batch_id = world.client.post(BASE, headers=world.headers, json={"object_ids": object_ids}).json()["batch_id"]
    repository = BatchRepository(world.services.table)
    draft = repository.get(world.namespace_id, batch_id)
    return repository.save(draft.submitted(utcnow(), "task_deployed", tiers, None), draft)


def _stored(world, batch_id: str):
    return BatchRepository(world.services.table).get(world.namespace_id, batch_id)


def _get(world, batch_id: str) -> BatchModel:
    answer = world.client.get(f"{BASE}/{batch_id}", headers=world.headers)
    assert answer.status_code == 200, answer.text
    return BatchModel.from_dict(answer.json())


def _error(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["success"] is False and body["status"] == status
    return body["error"]


def _steps_state(batch) -> dict:
    return {"namespace_id": batch.namespace_id, "batch_id": batch.batch_id, "attempt": batch.attempt}


# -- bulk-submit and submit-all -----------------------------------------------------------------------------------------


def test_bulk_submit_cuts_the_bucket_into_submitted_batches_of_one_group(world):
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    answer = world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={"chunk_size": 2})
    assert answer.status_code == 200, answer.text
    bulk = BulkSubmitBatchesResponse.from_dict(answer.json())
    assert (bulk.total_objects, bulk.total_batches, bulk.submitted, bulk.failed, bulk.chunk_size) == (3, 2, 2, 0, 2)
    assert [entry.object_count for entry in bulk.batches] == [2, 1]
    done = [world.wait(entry.batch_id) for entry in bulk.batches]
    assert all(batch.status == "COMPLETED" for batch in done)
    assert sorted(object_id for batch in done for object_id in batch.object_ids) == sorted(ids)
    assert {batch.metadata.to_dict()["batch_group_id"] for batch in done} == {bulk.batch_group_id}
    assert world.search("which animal purrs?")[0].payload["source_object_id"] == ids[0]

    # filters and max_objects narrow what is streamed
    narrowed = world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={
        "filters": {"title": "rockets"}, "dedup_strategy": "replace"}).json()
    assert (narrowed["total_objects"], narrowed["total_batches"]) == (1, 1)
    assert _get(world, narrowed["batches"][0]["batch_id"]).object_ids == [ids[1]]
    capped = world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={"max_objects": 2}).json()
    assert (capped["total_objects"], capped["total_batches"], capped["chunk_size"]) == (2, 1, 1000)
    assert world.services.batch_worker.wait_idle(120)


def test_bulk_submit_refuses_bad_requests_before_making_any_batch(world, other_tenant, monkeypatch):
    for _ in range(3):
        world.add_object(b"some text", title="t")
    listed = lambda: world.client.post(f"{BASE}/list", headers=world.headers, json={}).json()["total_count"]  # noqa
    assert world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={"chunk_size": 0}).status_code == 422
    assert world.client.post(f"{BASE}/bulk-submit", headers=world.headers,
                             json={"chunk_size": "2"}).status_code == 422
    assert world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={"unknown": 1}).status_code == 422
    monkeypatch.setattr(rules, "MAX_BULK_BATCHES", 2)
    assert _error(world.client.post(f"{BASE}/bulk-submit", headers=world.headers, json={"chunk_size": 1}),
                  400)["code"] == "too_many_batches"
    assert _error(world.client.post(f"{BASE}/bulk-submit", headers=world.headers,
                                    json={"collection_ids": ["col_missing"]}), 400)["code"] == "collection_not_found"
    assert _error(world.client.post(f"{BASE}/bulk-submit", headers=world.headers,
                                    json={"filters": {"title": {"$regex": "("}}}), 400)
    BucketRepository(world.services.table).create(Bucket(
        bucket_id="bkt_bare", bucket_name="bare", namespace_id=world.namespace_id, org_id=world.org_id,
        bucket_schema={"properties": {}}, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    assert _error(world.client.post("/v1/buckets/bare/batches/bulk-submit", headers=world.headers, json={}),
                  400)["code"] == "no_collections"
    assert listed() == 0
    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    assert _error(world.client.post(f"{BASE}/bulk-submit", headers=other, json={}), 404)
    assert _error(world.client.post("/v1/buckets/nope/batches/bulk-submit", headers=world.headers, json={}), 404)
    assert listed() == 0


def test_submit_all_submits_every_draft_of_the_bucket_and_says_why_one_could_not_be(world, other_tenant):
    full = world.client.post(BASE, headers=world.headers, json={
        "object_ids": [world.add_object(TEXTS["cats"].encode(), title="cats")]}).json()["batch_id"]
    empty = world.client.post(BASE, headers=world.headers, json={}).json()["batch_id"]
    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    assert _error(world.client.post(f"{BASE}/submit-all", headers=other), 404)
    assert _get(world, full).status == "DRAFT"

    answer = world.client.post(f"{BASE}/submit-all", headers=world.headers)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["total"], result["submitted"], result["failed"]) == (2, 1, 1)
    by_id = {entry["batch_id"]: entry for entry in result["batches"]}
    assert by_id[full]["error"] is None and by_id[full]["task_id"]
    assert "no objects" in by_id[empty]["error"] and by_id[empty]["status"] == "DRAFT"
    assert world.wait(full).status == "COMPLETED"
    again = world.client.post(f"{BASE}/submit-all", headers=world.headers).json()
    assert (again["total"], again["submitted"]) == (1, 0)  # only the empty draft is left


# -- estimate-cost ------------------------------------------------------------------------------------------------------


def test_estimate_cost_counts_what_the_batch_would_run_and_changes_nothing(world, other_tenant):
    cats = world.add_object(TEXTS["cats"].encode(), title="cats")
    bread = world.add_object(TEXTS["bread"].encode(), title="bread")
    first = world.client.post(f"{BASE}?auto_submit=true", headers=world.headers, json={"object_ids": [cats]})
    world.wait(first.json()["batch_id"])
    draft = world.client.post(BASE, headers=world.headers, json={"object_ids": [cats, bread],
                                                                 "dedup_strategy": "replace"}).json()
    answer = world.client.post(f"{BASE}/{draft['batch_id']}/estimate-cost", headers=world.headers)
    assert answer.status_code == 200, answer.text
    estimate = BatchCostEstimate.from_dict(answer.json())
    assert (estimate.object_count, estimate.already_extracted_count) == (2, 1)
    assert estimate.collection_ids == ["col_text"] and estimate.extractors == ["text_extractor@v1"]
    assert estimate.features == ["mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"]
    assert estimate.estimated_credits == 0 and estimate.estimated_usd is None
    assert estimate.documents_to_remove == world.count(source_object_id=cats) > 0
    summary = estimate.content_summary
    assert summary["bytes"] == len(TEXTS["cats"]) + len(TEXTS["bread"]) and summary["blobs_by_type"] == {"text": 2}
    assert (summary["tiers"], summary["jobs"], summary["models"]) == (1, 1, ["all_minilm_l6_v2"])
    assert any("bills no credits" in warning for warning in estimate.warnings)
    assert any("extracted again" in warning for warning in estimate.warnings)
    assert _get(world, draft["batch_id"]).status == "DRAFT"

    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    assert _error(world.client.post(f"{BASE}/{draft['batch_id']}/estimate-cost", headers=other), 404)
    assert _error(world.client.post(f"{BASE}/btch_missing/estimate-cost", headers=world.headers), 404)


# -- diagnose, audit, heal ----------------------------------------------------------------------------------------------


def test_diagnose_and_audit_of_a_completed_batch(world, other_tenant):
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    created = world.client.post(f"{BASE}?auto_submit=true", headers=world.headers, json={"object_ids": ids}).json()
    batch_id = created["batch_id"]
    done = world.wait(batch_id)
    assert done.tier_tasks[0].audit.balanced and done.tier_tasks[0].documents_written == done.documents_written

    answer = world.client.get(f"{BASE}/{batch_id}/diagnose", headers=world.headers)
    assert answer.status_code == 200, answer.text
    diagnosis = BatchDiagnostics.from_dict(answer.json())
    assert (diagnosis.status, diagnosis.health, diagnosis.has_failures, diagnosis.total_objects) == (
        "COMPLETED", "ok", False, 3)
    assert diagnosis.tiers[0].status == "COMPLETED" and diagnosis.tiers[0].requires_gpu is False
    assert diagnosis.collections[0].document_count == done.documents_written
    assert diagnosis.performance_summary["documents_written"] == done.documents_written
    jobs = answer.json()["tiers"][0]["jobs"]
    assert [(job["job_id"], job["status"], job["processed"]) for job in jobs] == [("job_t0_p00000", "COMPLETED", 3)]

    audit = world.client.get(f"{BASE}/{batch_id}/audit", headers=world.headers)
    assert audit.status_code == 200, audit.text
    body = audit.json()
    tier = TierAuditInfo.from_dict(body["tiers"][0])
    assert (tier.submitted, tier.processed, tier.failed, tier.skipped, tier.lost, tier.balanced) == (3, 3, 0, 0, 0, True)
    assert body["has_lost_objects"] is False
    events = [entry["event"] for entry in body["transitions"]]
    assert events == ["created", "submitted", "started", "finished"]
    assert [(entry["from_status"], entry["to_status"]) for entry in body["transitions"]][-1] == (
        "IN_PROGRESS", "COMPLETED")

    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    for path in ("diagnose", "audit"):
        assert _error(world.client.get(f"{BASE}/{batch_id}/{path}", headers=other), 404)
        assert _error(world.client.get(f"/v1/buckets/nope/batches/{batch_id}/{path}", headers=world.headers), 404)


def test_a_job_whose_worker_stopped_is_diagnosed_stuck_and_healed(world):
    ids = [world.add_object(TEXTS["cats"].encode(), title="cats")]
    batch = _pending(world, ids, [["col_text"]])
    repository = BatchRepository(world.services.table)
    # A worker claimed the part and stopped: its lease ran out twenty minutes ago.
    long_ago = utcnow() - timedelta(minutes=30)
    started = repository.save(batch.started(long_ago, "batchworker_gone"), batch)
    repository.save(started.claimed(long_ago, 0, 0, "batchworker_gone"), started)

    diagnosis = BatchDiagnostics.from_dict(world.client.get(f"{BASE}/{batch.batch_id}/diagnose",
                                                            headers=world.headers).json())
    assert diagnosis.health == "stuck" and "job_t0_p00000" in diagnosis.blocked_reason
    assert diagnosis.stuck_seconds >= 15 * 60 - 1
    assert any("detect_stuck" in action for action in diagnosis.next_actions)

    healed = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                               json={"action": "detect_stuck"})
    assert healed.status_code == 200, healed.text
    assert (healed.json()["requeued"], healed.json()["restarted"]) == (1, True)
    assert [job["job_id"] for job in healed.json()["stuck_jobs"]] == ["job_t0_p00000"]
    done = world.wait(batch.batch_id)
    assert done.status == "COMPLETED" and done.documents_written > 0
    events = [entry["event"] for entry in world.client.get(f"{BASE}/{batch.batch_id}/audit",
                                                           headers=world.headers).json()["transitions"]]
    assert "jobs_requeued" in events and events[-1] == "finished"
    # Nothing is stuck any more: healing again changes nothing.
    again = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                              json={"action": "detect_stuck"}).json()
    assert (again["requeued"], again["restarted"]) == (0, False)


def test_sync_status_ends_what_an_ended_batch_left_running_and_bad_heals_are_refused(world):
    batch = _pending(world, [world.add_object(b"text", title="t")], [["col_text"]])
    repository = BatchRepository(world.services.table)
    running = repository.save(batch.started(utcnow(), None), batch)
    running = repository.save(running.claimed(utcnow(), 0, 0, None), running)
    # The batch was marked CANCELED by a writer that left its tier and job as they were.
    repository.save(replace(running, status="CANCELED", failure_reason="canceled by request",
                            completed_at=running.updated_at), running)

    answer = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                               json={"action": "sync_status"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["tier_status"] == "CANCELED"
    assert any("job_t0_p00000: RUNNING → CANCELED" in change for change in answer.json()["changes"])
    assert _get(world, batch.batch_id).tier_tasks[0].status == "CANCELED"
    assert world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                             json={"action": "sync_status"}).json()["changes"] == []

    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                                    json={"action": "kill_duplicates"}), 400)["code"] == "heal_action_not_applicable"
    assert world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers,
                             json={"action": "reboot"}).status_code == 422
    assert world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/heal", headers=world.headers).status_code == 422
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/3/heal", headers=world.headers,
                                    json={"action": "sync_status"}), 404)["code"] == "tier_not_found"


# -- tiers: cancel and retry --------------------------------------------------------------------------------------------


def test_a_canceled_later_tier_ends_the_batch_after_the_earlier_one_and_a_tier_retry_runs_it(world):
    world.add_copy_collection()
    object_id = world.add_object("First sentence. Second sentence. Third one.".encode(), title="three")
    batch = _pending(world, [object_id], [["col_text"], ["col_copy"]])
    state = _steps_state(batch)
    prepared = world.services.batch_steps.prepare(state)
    assert [tier["tier"] for tier in prepared["tiers"]] == [0, 1]

    canceled = world.client.post(f"{BASE}/{batch.batch_id}/tiers/1/cancel", headers=world.headers,
                                 params={"reason": "not needed today"})
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["status"], canceled.json()["batch_status"]) == ("CANCELED", "IN_PROGRESS")
    for tier in prepared["tiers"]:  # the state machine runs both tiers' parts; tier 1's do nothing
        for part in tier["parts"]:
            world.services.batch_steps.extract(part)
    assert world.services.batch_steps.finalize(state) == {"status": "CANCELED"}
    ended = _get(world, batch.batch_id)
    assert [tier.status for tier in ended.tier_tasks] == ["COMPLETED", "CANCELED"]
    assert "not needed today" in ended.failure_reason
    assert world.count(collection_id="col_text") == 2 and world.count(collection_id="col_copy") == 0

    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/retry", headers=world.headers),
                  409)["code"] == "tier_completed"
    retried = world.client.post(f"{BASE}/{batch.batch_id}/tiers/1/retry", headers=world.headers,
                                json={"reason": "needed after all"})
    assert retried.status_code == 200, retried.text
    assert retried.json()["tiers_to_run"] == [1] and retried.json()["task_id"]
    done = world.wait(batch.batch_id)
    assert done.status == "COMPLETED" and [tier.status for tier in done.tier_tasks] == ["COMPLETED", "COMPLETED"]
    assert world.count(collection_id="col_copy") == 2 and world.count(collection_id="col_text") == 2
    assert done.progress.processed == done.progress.total == 2
    assert [tier.audit.balanced for tier in done.tier_tasks] == [True, True]


def test_canceling_the_running_tier_cancels_the_batch_and_skips_the_tiers_after_it(world, other_tenant):
    world.add_copy_collection()
    batch = _pending(world, [world.add_object(b"text", title="t")], [["col_text"], ["col_copy"]])
    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/cancel", headers=other), 404)
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/2/cancel", headers=world.headers),
                  404)["code"] == "tier_not_found"
    assert world.client.post(f"{BASE}/{batch.batch_id}/tiers/-1/cancel", headers=world.headers).status_code == 422
    assert world.client.post(f"{BASE}/{batch.batch_id}/tiers/one/cancel", headers=world.headers).status_code == 422
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/1/retry", headers=world.headers),
                  409)["code"] == "batch_not_terminal"
    assert _stored(world, batch.batch_id).status == "PENDING"

    answer = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/cancel", headers=world.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["batch_status"] == "CANCELED" and answer.json()["skipped_tiers"] == [1]
    ended = _get(world, batch.batch_id)
    assert [tier.status for tier in ended.tier_tasks] == ["CANCELED", "SKIPPED"]
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/cancel", headers=world.headers),
                  409)["code"] == "batch_terminal"
    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/1/retry", headers=world.headers),
                  409)["code"] == "upstream_tier_unfinished"
    draft = world.client.post(BASE, headers=world.headers, json={}).json()["batch_id"]
    assert _error(world.client.post(f"{BASE}/{draft}/tiers/0/cancel", headers=world.headers),
                  409)["code"] == "batch_not_submitted"


# -- jobs ---------------------------------------------------------------------------------------------------------------


def test_a_canceled_job_is_skipped_while_its_sibling_runs(world, monkeypatch):
    from openpeek.services.ingestion import steps

    monkeypatch.setattr(rules, "PART_SIZE", 2)
    monkeypatch.setattr(steps, "PART_SIZE", 2)
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    batch = _pending(world, ids, [["col_text"]])
    state = _steps_state(batch)
    parts = world.services.batch_steps.prepare(state)["tiers"][0]["parts"]
    assert len(parts) == 2

    answer = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/jobs/job_t0_p00000/cancel", headers=world.headers,
                               params={"reason": "bad inputs"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["object_count"], answer.json()["batch_status"]) == (
        "CANCELED", 2, "IN_PROGRESS")
    assert world.services.batch_steps.extract(parts[0]) == {"written": 0}
    assert world.services.batch_steps.extract(parts[1])["written"] > 0
    assert world.services.batch_steps.extract(parts[1]) == {"written": 0}  # a retried step finds its part done
    assert world.services.batch_steps.finalize(state) == {"status": "COMPLETED"}
    assert world.count(source_object_id=ids[0]) == 0 and world.count(source_object_id=ids[2]) > 0
    audit = TierAuditInfo.from_dict(world.client.get(f"{BASE}/{batch.batch_id}/audit",
                                                     headers=world.headers).json()["tiers"][0])
    assert (audit.submitted, audit.processed, audit.skipped, audit.lost, audit.balanced) == (3, 1, 2, 0, True)
    assert "job_t0_p00000" in audit.notes[0]

    assert _error(world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/jobs/job_t0_p00001/cancel",
                                    headers=world.headers), 409)


def test_the_embedded_worker_skips_a_job_canceled_before_it_got_there(world, monkeypatch):
    monkeypatch.setattr(rules, "PART_SIZE", 2)
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    batch = _pending(world, ids, [["col_text"]])
    answer = world.client.post(f"{BASE}/{batch.batch_id}/tiers/0/jobs/job_t0_p00001/cancel", headers=world.headers)
    assert answer.status_code == 200, answer.text
    world.services.batch_worker.start(world.namespace_id, batch.batch_id, batch.attempt)
    done = world.wait(batch.batch_id)
    assert done.status == "COMPLETED" and done.progress.objects_skipped == 1
    assert world.count(source_object_id=ids[2]) == 0 and world.count(source_object_id=ids[1]) > 0
    jobs = world.client.get(f"{BASE}/{batch.batch_id}/diagnose", headers=world.headers).json()["tiers"][0]["jobs"]
    assert [job["status"] for job in jobs] == ["COMPLETED", "CANCELED"]


def test_job_cancel_refuses_unknown_jobs_and_batches_that_are_not_running(world, other_tenant):
    batch = _pending(world, [world.add_object(b"text", title="t")], [["col_text"]])
    path = f"{BASE}/{batch.batch_id}/tiers/0/jobs"
    for job in ("job_t0_p00009", "job_t1_p00000", "ray_123", "job_t0_pxx"):
        assert _error(world.client.post(f"{path}/{job}/cancel", headers=world.headers), 404)["code"] == "job_not_found"
    other = {**other_tenant.headers, "X-Namespace": world.namespace_id}
    assert _error(world.client.post(f"{path}/job_t0_p00000/cancel", headers=other), 404)
    assert world.client.post(f"{BASE}/{batch.batch_id}/cancel", headers=world.headers).status_code == 200
    assert _error(world.client.post(f"{path}/job_t0_p00000/cancel", headers=world.headers),
                  409)["code"] == "batch_not_running"
    assert _stored(world, batch.batch_id).parts == ()


def test_a_rerun_of_a_deployed_attempt_runs_only_the_parts_left_unfinished(world, monkeypatch):
    """What heal's detect_stuck starts when deployed: a second execution of the same attempt, after the first one
    stopped with a part claimed. The part done already is not run again and nothing is counted twice."""
    from openpeek.services.ingestion import steps

    monkeypatch.setattr(rules, "PART_SIZE", 2)
    monkeypatch.setattr(steps, "PART_SIZE", 2)
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    batch = _pending(world, ids, [["col_text"]])
    state = _steps_state(batch)
    first, second = world.services.batch_steps.prepare(state)["tiers"][0]["parts"]
    world.services.batch_steps.extract(first)
    repository = BatchRepository(world.services.table)
    current = repository.get(world.namespace_id, batch.batch_id)
    repository.save(current.claimed(utcnow() - timedelta(minutes=30), 0, 1, None), current)  # its Lambda died

    rerun = world.services.batch_steps.prepare(state)["tiers"][0]["parts"]
    assert world.services.batch_steps.extract(rerun[0]) == {"written": 0}
    assert world.services.batch_steps.extract(rerun[1])["written"] > 0
    assert world.services.batch_steps.finalize(state) == {"status": "COMPLETED"}
    done = _get(world, batch.batch_id)
    assert done.progress.processed == 3 and done.tier_tasks[0].audit.balanced
    assert done.documents_written == sum(world.count(source_object_id=object_id) for object_id in ids)
