"""A batch's tiers, their parts (jobs) and its audit trail: the rules in domain/batches.py, without storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from openpeek.domain import batches as rules
from openpeek.domain.batches import Batch, FailedObject
from openpeek.domain.errors import Conflict, NotFound

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _running(objects: int = 3, tiers: int = 2) -> Batch:
    draft = Batch(batch_id="btch_1", org_id="org", namespace_id="ns", bucket_id="bkt", status=rules.DRAFT,
                  object_ids=tuple(f"obj_{n}" for n in range(objects)), created_at="2026-03-01T11:00:00.000Z",
                  updated_at="2026-03-01T11:00:00.000Z")
    submitted = draft.submitted(NOW, "task_1", [[f"col_{n}"] for n in range(tiers)], None)
    return submitted.started(NOW, "worker_a")


def test_job_ids_name_a_tier_and_a_part():
    assert rules.job_id(1, 7) == "job_t1_p00007"
    assert rules.parse_job_id("job_t1_p00007") == (1, 7)
    for wrong in ("job_t1", "job_tx_p1", "raysubmit_abc", "job_t1_p", "job_t-1_p1"):
        assert rules.parse_job_id(wrong) is None


def test_a_part_runs_once_and_a_canceled_one_counts_its_objects_skipped_once(monkeypatch):
    monkeypatch.setattr(rules, "PART_SIZE", 2)
    batch = _running()
    assert batch.part_count == 2 and batch.part_range(1) == (2, 3)
    claimed = batch.claimed(NOW, 0, 0, "worker_a")
    assert claimed.part(0, 0).status == rules.RUNNING
    assert claimed.part(0, 0).lease_until == "2026-03-01T12:15:00.000Z"
    done = claimed.part_finished(NOW, 0, 0)
    with pytest.raises(Conflict):
        done.claimed(NOW, 0, 0, "worker_b")
    canceled = done.part_canceled(NOW, 0, 1, "by request")
    with pytest.raises(Conflict):
        canceled.claimed(NOW, 0, 1, "worker_a")
    skipped = canceled.part_skipped(NOW, 0, 1, 1).part_skipped(NOW, 0, 1, 1)  # a retried step skips nothing more
    assert (skipped.tier(0).skipped, skipped.objects_skipped, skipped.processed) == (1, 1, 1)
    with pytest.raises(Conflict):
        skipped.part_canceled(NOW, 0, 0, "too late")  # it completed
    with pytest.raises(NotFound):
        skipped.part_canceled(NOW, 0, 5, "no such part")


def test_a_lease_that_ran_out_makes_a_part_stuck_until_it_is_requeued():
    batch = _running().claimed(NOW, 0, 0, "worker_a")
    assert batch.stuck_parts(NOW + timedelta(minutes=14)) == []
    stuck = batch.stuck_parts(NOW + timedelta(minutes=16))
    assert [state.job_id for state in stuck] == ["job_t0_p00000"]
    requeued = batch.requeued(NOW, stuck)
    assert requeued.part(0, 0).status == rules.PENDING and requeued.worker is None
    assert requeued.transitions[-1]["event"] == "jobs_requeued"


def test_the_tier_audit_finds_objects_an_ended_tier_lost():
    batch = _running(objects=4, tiers=1)
    counted = batch.advanced(NOW, cursor=3, processed=3, written=5, replaced=0, skipped_docs=0, skipped_objects=1,
                             failures=[FailedObject("obj_0", "bad", rules.PERMANENT, "t", "col_0")])
    assert rules.tier_audit(counted, 0)["lost"] == 0  # still running: nothing is lost yet
    ended = counted.finished(NOW, resolvable=True)
    audit = rules.tier_audit(ended, 0)
    assert (audit["submitted"], audit["processed"], audit["failed"], audit["skipped"]) == (4, 1, 1, 1)
    assert (audit["lost"], audit["balanced"]) == (1, False)
    assert ended.tier_status(0) == rules.COMPLETED_WITH_ERRORS


def test_a_canceled_later_tier_ends_the_batch_canceled_and_a_tier_retry_keeps_what_came_before():
    batch = _running(objects=2, tiers=3)
    later = batch.tier_canceled(NOW, 1, "tier 1 canceled by request")
    assert [later.tier_status(n) for n in range(3)] == [rules.IN_PROGRESS, rules.CANCELED, rules.SKIPPED]
    assert not later.runs_tier(1) and later.runs_tier(0)
    with pytest.raises(Conflict):
        later.tier_canceled(NOW, 0, "the running tier is canceled with its batch")
    worked = later.advanced(NOW, cursor=2, processed=2, written=4, replaced=0, skipped_docs=0, skipped_objects=0,
                            failures=[])
    ended = worked.finished(NOW, resolvable=True)
    assert ended.status == rules.CANCELED and ended.failure_reason == "tier 1 canceled by request"
    assert [ended.tier_status(n) for n in range(3)] == [rules.COMPLETED, rules.CANCELED, rules.SKIPPED]

    retried = ended.tier_retried(NOW, "task_2", 1)
    assert (retried.status, retried.current_tier, retried.attempt) == (rules.PENDING, 1, ended.attempt + 1)
    assert [retried.tier_status(n) for n in range(3)] == [rules.COMPLETED, rules.PENDING, rules.PENDING]
    assert (retried.processed, retried.documents_written) == (2, 4)  # tier 0's work counts as done
    assert retried.started(NOW, "worker_b").tier_status(1) == rules.IN_PROGRESS
    with pytest.raises(Conflict):
        ended.tier_retried(NOW, "task_3", 0)  # tier 0 completed without errors
    with pytest.raises(Conflict):
        ended.tier_retried(NOW, "task_3", 2)  # tier 1, which tier 2 reads, has not run
    with pytest.raises(NotFound):
        ended.tier_retried(NOW, "task_3", 3)


def test_every_state_change_is_recorded_in_order():
    batch = _running(objects=1, tiers=2).claimed(NOW, 0, 0, "worker_a")
    ended = batch.next_tier(NOW).finished(NOW, resolvable=True)
    assert [(entry["event"], entry["from_status"], entry["to_status"]) for entry in ended.transitions] == [
        ("submitted", "DRAFT", "PENDING"), ("started", "PENDING", "IN_PROGRESS"),
        ("tier_completed", "IN_PROGRESS", "IN_PROGRESS"), ("finished", "IN_PROGRESS", "COMPLETED")]
    assert ended.transition_count == 4
    restored = Batch.from_record(ended.to_record(), ended.version)
    assert restored.transitions == ended.transitions and restored.tiers == ended.tiers
