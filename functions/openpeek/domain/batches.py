"""Batches: a set of a bucket's objects run through the collections that read from it (BucketBatchesApi).

A batch moves DRAFT → PENDING (submitted) → IN_PROGRESS → COMPLETED | COMPLETED_WITH_ERRORS | FAILED, or to
CANCELED from any status that has not ended. Every move is recorded in its audit trail (`transitions`). Its collections run in tiers: tier 0 the collections sourced from the
bucket, tier N+1 those sourced from a collection of tier N. Every document's id is derived from the object (or
upstream document), the collection and the chunk, so running an object again overwrites what it wrote before and a
retry never duplicates a document.

Each tier of an attempt keeps its own status and object accounting (`TierState`); its work is cut into parts of
PART_SIZE objects, each run by one processing job (a Lambda or a SageMaker job deployed, the worker thread embedded)
that claims the part under a lease it renews at each checkpoint (`PartState`): a part whose lease ran out is stuck.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from openpeek.domain.clock import isoformat, parse
from openpeek.domain.errors import BadRequest, Conflict, NotFound

DRAFT, PENDING, IN_PROGRESS = "DRAFT", "PENDING", "IN_PROGRESS"
COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELED = "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELED"
ACTIVE = frozenset({PENDING, IN_PROGRESS})
TERMINAL = frozenset({COMPLETED, COMPLETED_WITH_ERRORS, FAILED, CANCELED})
DEDUP_STRATEGIES = ("skip", "replace", "force")
MAX_OBJECTS = 50_000  # per batch, by ids or by filters
BULK_CHUNK_SIZE = 1000  # objects per batch of a bulk submit, unless the request says otherwise
MAX_BULK_BATCHES = 100  # batches one bulk submit may make: each is a transaction and a start, inside one request
MAX_FAILED_RECORDS = 200  # failed_objects kept on the batch item (under DynamoDB's 400 KB); objects keep every error
MAX_LOG_ENTRIES = 200
MAX_TRANSITIONS = 200  # the audit trail kept on the batch item (the oldest go first); transition_count counts them all
PART_SIZE = 500  # objects per part: a part is one processing job (a Lambda, or a SageMaker job for a heavy tier)
PART_LEASE = timedelta(minutes=15)  # a running part's claim, renewed at each checkpoint: Lambda's longest run
SKIPPED, RUNNING = "SKIPPED", "RUNNING"
DRAFT_TTL = timedelta(minutes=30)  # an unsubmitted DRAFT is canceled by the reaper after this long
TASK_TYPE = "api_buckets_batches_process"
DRAFT_EXPIRED_REASON = "the batch stayed a DRAFT for 30 minutes without being submitted"
# A batch the server made itself for new objects of a promoted namespace carries this in its metadata (the SDK's
# BatchModel has no field of its own for it): `{"auto_processed": true, "trigger": ...}`.
AUTOMATIC = "auto_processed"
AUTOMATIC_TRIGGER = "new objects in a promoted namespace"

# A failed object's error type (the SDK's FailedObjectRecord.error_type): whether retrying can help.
TRANSIENT, PERMANENT, RESOURCE = "transient", "permanent", "resource"


class SourceCycle(BadRequest):
    pass


def document_id(collection_id: str, source_id: str, chunk_key: str) -> str:
    """The id of the document a collection makes from one chunk of a source (object or upstream document): the same
    inputs always give the same id, so reprocessing replaces rather than duplicates."""
    digest = hashlib.sha256(f"{collection_id}\x1f{source_id}\x1f{chunk_key}".encode()).hexdigest()
    return f"doc_{digest[:32]}"


def dag_tiers(bucket_id: str, collections: Sequence[Mapping[str, Any]],
              requested: Sequence[str] | None = None) -> list[list[str]]:
    """The collection graph below a bucket, in tiers. `collections` are the namespace's collections as dicts with
    collection_id and source ({type: bucket, bucket_ids} | {type: collection, collection_id(s)}). `requested`
    narrows tier 0 (and everything downstream of it) to those collections."""
    def upstream(collection: Mapping[str, Any]) -> tuple[str, list[str]]:
        source = collection.get("source") or {}
        if source.get("type") == "collection":
            ids = list(source.get("collection_ids") or [])
            if source.get("collection_id"):
                ids.append(source["collection_id"])
            return "collection", ids
        return "bucket", list(source.get("bucket_ids") or [])

    by_id = {collection["collection_id"]: collection for collection in collections}
    first = [cid for cid, collection in by_id.items()
             if upstream(collection)[0] == "bucket" and bucket_id in upstream(collection)[1]]
    if requested:
        unknown = [cid for cid in requested if cid not in by_id]
        if unknown:
            raise BadRequest(f"collection_ids name collections that do not exist: {', '.join(unknown)}",
                             code="collection_not_found", details={"collection_ids": unknown})
        not_sourced = [cid for cid in requested if cid not in first]
        if not_sourced:
            raise BadRequest(f"collection_ids must be collections sourced from bucket {bucket_id}: "
                             f"{', '.join(not_sourced)} are not", code="collection_not_in_bucket",
                             details={"collection_ids": not_sourced, "bucket_id": bucket_id})
        first = [cid for cid in first if cid in requested]
    tiers = [sorted(first)] if first else []
    placed = set(first)
    while tiers:
        below = sorted(cid for cid, collection in by_id.items() if cid not in placed
                       and upstream(collection)[0] == "collection"
                       and any(parent in tiers[-1] for parent in upstream(collection)[1]))
        if not below:
            break
        tiers.append(below)
        placed.update(below)
    return tiers


@dataclass(frozen=True)
class FailedObject:
    object_id: str
    error: str
    error_type: str
    timestamp: str
    collection_id: str | None = None

    def public(self) -> dict[str, Any]:
        return {"object_id": self.object_id, "error": self.error, "error_type": self.error_type,
                "timestamp": self.timestamp}


@dataclass(frozen=True)
class TierState:
    """What one tier of the current attempt did: its status and its object accounting (the audit's ledger)."""

    status: str = PENDING
    started_at: str | None = None
    completed_at: str | None = None
    processed: int = 0  # objects whose group ran in this tier (failed and skipped ones included)
    failed: int = 0
    skipped: int = 0  # already written (dedup skip) or in a canceled part: deliberately not processed
    documents_written: int = 0
    reason: str | None = None

    def outcome(self, submitted: int) -> str:
        if self.failed and self.failed >= submitted:
            return FAILED
        return COMPLETED_WITH_ERRORS if self.failed else COMPLETED


@dataclass(frozen=True)
class PartState:
    """One part of a tier (a processing job): PART_SIZE objects of the run's work, claimed by one worker at a time.
    Parts nobody has touched yet are PENDING and not stored."""

    tier: int
    part: int
    status: str = PENDING
    worker: str | None = None
    claimed_at: str | None = None
    lease_until: str | None = None
    completed_at: str | None = None
    processed: int = 0
    skipped: int = 0  # objects not reached because the part was canceled
    reason: str | None = None

    @property
    def job_id(self) -> str:
        return job_id(self.tier, self.part)


def job_id(tier: int, part: int) -> str:
    """The id of a tier's part, as the tier routes name it (`/tiers/{tier}/jobs/{job_id}/cancel`)."""
    return f"job_t{tier}_p{part:05d}"


def parse_job_id(value: str) -> tuple[int, int] | None:
    """(tier, part) of a job id; None when it is not one."""
    head, _, part = value.partition("_p")
    if not head.startswith("job_t") or not head[5:].isdigit() or not part.isdigit():
        return None
    return int(head[5:]), int(part)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    org_id: str
    namespace_id: str
    bucket_id: str
    status: str
    object_ids: tuple[str, ...]
    created_at: str
    updated_at: str
    batch_name: str | None = None
    collection_ids: tuple[str, ...] = ()  # as requested at creation (empty: every collection of the bucket)
    dag_tiers: tuple[tuple[str, ...], ...] = ()
    dedup_strategy: str = "skip"
    metadata: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # signs the one POST to webhook_url; shown only in the submit answer
    submitted_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    current_tier: int | None = None
    cursor: int = 0  # objects of the current tier fully written: a resumed run starts here
    processed: int = 0
    documents_written: int = 0
    documents_replaced: int = 0
    documents_skipped: int = 0
    objects_skipped: int = 0
    failed_objects: tuple[FailedObject, ...] = ()
    failed_object_count: int = 0
    failure_reason: str | None = None
    documents_resolvable: bool = False
    retry_count: int = 0
    attempt: int = 0  # bumped by each submit, retry or resubmit: a worker holding an older attempt stops
    worker: str | None = None  # which process runs it (embedded): a batch whose worker is gone is resumed
    logs: tuple[dict[str, Any], ...] = ()
    retrying: tuple[str, ...] = ()  # a retry runs these (the failed objects) rather than all of object_ids
    submit_after: str | None = None  # an automatic DRAFT: when it is submitted, unless more objects arrive first
    tiers: tuple[TierState, ...] = ()  # per tier of dag_tiers, this attempt (empty on batches stored before)
    parts: tuple[PartState, ...] = ()  # this attempt's parts that were claimed, finished or canceled
    transitions: tuple[dict[str, Any], ...] = ()  # the recorded state changes, oldest first (the audit trail)
    transition_count: int = 0
    version: int = 1

    # -- life cycle ------------------------------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def automatic(self) -> bool:
        """Made by the server for new objects (a promoted namespace), not by a caller."""
        return self.metadata.get(AUTOMATIC) is True

    @property
    def work(self) -> tuple[str, ...]:
        """The objects this run processes."""
        return self.retrying or self.object_ids

    @property
    def total(self) -> int:
        return len(self.work) * max(1, len(self.dag_tiers))

    def stamped(self, now: datetime, **changes: Any) -> "Batch":
        return replace(self, updated_at=isoformat(now), **changes)

    def logged(self, now: datetime, message: str, level: str = "INFO") -> "Batch":
        entry = {"timestamp": isoformat(now), "level": level, "message": message}
        return replace(self, logs=(self.logs + (entry,))[-MAX_LOG_ENTRIES:])

    def recorded(self, now: datetime, event: str, previous: "Batch | None", detail: str | None = None, *,
                 tier: int | None = None, job: str | None = None) -> "Batch":
        """This batch with one more entry in its audit trail: what happened, from which status to which."""
        entry = {"at": isoformat(now), "event": event, "from_status": previous.status if previous else None,
                 "to_status": self.status,
                 "attempt": self.attempt, "tier_num": tier, "job_id": job, "detail": detail}
        return replace(self, transitions=(self.transitions + (entry,))[-MAX_TRANSITIONS:],
                       transition_count=self.transition_count + 1)

    # -- tiers and their parts -----------------------------------------------------------------------------------------

    def tier(self, number: int) -> TierState:
        return self.tiers[number] if number < len(self.tiers) else TierState()

    def _tiers_with(self, number: int, **changes: Any) -> tuple[TierState, ...]:
        tiers = list(self.tiers) + [TierState()] * max(0, len(self.dag_tiers) - len(self.tiers))
        tiers[number] = replace(tiers[number], **changes)
        return tuple(tiers)

    def tier_status(self, number: int) -> str:
        """The tier's recorded status; for a batch stored before tiers were recorded, what its current tier implies."""
        if number < len(self.tiers):
            return self.tiers[number].status
        if self.terminal:
            return self.status if number <= (self.current_tier or 0) else SKIPPED
        if self.current_tier is None or number > self.current_tier:
            return PENDING
        return IN_PROGRESS if number == self.current_tier else COMPLETED

    def check_tier(self, number: int) -> None:
        if not 0 <= number < len(self.dag_tiers):
            raise NotFound("tier", str(number), code="tier_not_found")

    @property
    def part_count(self) -> int:
        return -(-len(self.work) // PART_SIZE)

    def part_range(self, number: int) -> tuple[int, int]:
        """[first, end) of the part's objects in `work`."""
        return number * PART_SIZE, min((number + 1) * PART_SIZE, len(self.work))

    def part(self, tier: int, number: int) -> PartState:
        return next((state for state in self.parts if (state.tier, state.part) == (tier, number)),
                    PartState(tier, number))

    def _parts_with(self, state: PartState) -> tuple[PartState, ...]:
        kept = tuple(other for other in self.parts if (other.tier, other.part) != (state.tier, state.part))
        return tuple(sorted(kept + (state,), key=lambda other: (other.tier, other.part)))

    def claimed(self, now: datetime, tier: int, part: int, worker: str | None) -> "Batch":
        """A worker takes a part of a tier: it runs under a lease that each checkpoint renews. The tier is the
        current one from now on (the tiers before it have ended)."""
        state = self.part(tier, part)
        if state.status in (CANCELED, COMPLETED):  # a part runs once per attempt (a retried step finds it done)
            raise Conflict(f"Job {state.job_id} is {state.status}", code="job_ended",
                           details={"job_id": state.job_id, "status": state.status})
        batch = self
        if batch.tier(tier).status == PENDING:
            for earlier in range(tier):
                if batch.tier(earlier).status in (PENDING, IN_PROGRESS):
                    batch = replace(batch, tiers=batch._tiers_with(
                        earlier, status=batch.tier(earlier).outcome(len(batch.work)), completed_at=isoformat(now)))
            batch = replace(batch, tiers=batch._tiers_with(tier, status=IN_PROGRESS,
                                                           started_at=batch.tier(tier).started_at or isoformat(now)))
        running = replace(state, status=RUNNING, worker=worker, claimed_at=isoformat(now),
                          lease_until=isoformat(now + PART_LEASE), reason=None)
        # A claim is routine (one per part): it is kept on the part, not in the audit trail, which stays small.
        return batch.stamped(now, parts=batch._parts_with(running), current_tier=max(tier, batch.current_tier or 0))

    def part_skipped(self, now: datetime, tier: int, part: int, size: int, cursor: int | None = None) -> "Batch":
        """The objects a canceled part of `size` objects had not reached, counted once as deliberately not
        processed."""
        claim = self.part(tier, part)
        count = max(0, size - claim.processed - claim.skipped)
        state = self.tier(tier)
        return self.stamped(now, cursor=self.cursor if cursor is None else cursor, processed=self.processed + count,
                            objects_skipped=self.objects_skipped + count,
                            parts=self._parts_with(replace(claim, skipped=claim.skipped + count)),
                            tiers=self._tiers_with(tier, processed=state.processed + count,
                                                   skipped=state.skipped + count))

    def part_canceled(self, now: datetime, tier: int, part: int, reason: str) -> "Batch":
        """A part (job) of a running batch is canceled: its worker stops at its next checkpoint and the rest of its
        objects are skipped; the other parts and tiers go on."""
        self.check_tier(tier)
        if self.terminal or self.status == DRAFT:
            raise Conflict(f"Batch {self.batch_id} is {self.status}: only a running batch's jobs can be canceled",
                           code="batch_not_running", details={"batch_id": self.batch_id, "status": self.status})
        if part >= self.part_count:
            raise NotFound("job", job_id(tier, part), code="job_not_found")
        state = self.part(tier, part)
        if state.status in (COMPLETED, CANCELED) or self.tier_status(tier) in TERMINAL | {SKIPPED}:
            status = state.status if state.status in (COMPLETED, CANCELED) else self.tier_status(tier)
            raise Conflict(f"Job {state.job_id} has ended already ({status})", code="job_ended",
                           details={"job_id": state.job_id, "status": status})
        canceled = replace(state, status=CANCELED, completed_at=isoformat(now), lease_until=None, reason=reason)
        return self.stamped(now, parts=self._parts_with(canceled)).logged(
            now, f"job {state.job_id} of tier {tier} canceled: {reason}", "WARNING").recorded(
            now, "job_canceled", self, reason, tier=tier, job=state.job_id)

    def part_finished(self, now: datetime, tier: int, part: int) -> "Batch":
        state = self.part(tier, part)
        if state.status == CANCELED:
            return self
        return self.stamped(now, parts=self._parts_with(replace(state, status=COMPLETED, lease_until=None,
                                                                completed_at=isoformat(now))))

    def stuck_parts(self, now: datetime, tier: int | None = None) -> list[PartState]:
        """Running parts whose lease has run out: their worker stopped without saying so."""
        return [state for state in self.parts if state.status == RUNNING and (tier is None or state.tier == tier)
                and state.lease_until is not None and parse(state.lease_until) < now]

    def requeued(self, now: datetime, stuck: Sequence[PartState]) -> "Batch":
        """Stuck parts back to PENDING, so the next run of this attempt claims them again."""
        batch = self
        for state in stuck:
            batch = replace(batch, parts=batch._parts_with(replace(state, status=PENDING, worker=None,
                                                                   lease_until=None)))
        names = ", ".join(state.job_id for state in stuck)
        return batch.stamped(now, worker=None).logged(now, f"requeued stuck job(s) {names}", "WARNING").recorded(
            now, "jobs_requeued", self, f"lease expired: {names}", tier=stuck[0].tier if stuck else None)

    def tier_canceled(self, now: datetime, tier: int, reason: str) -> "Batch":
        """A tier that has not run yet is canceled: the batch runs the tiers before it and then ends CANCELED. (The
        tier running now is canceled with the batch itself: `canceled(..., tier=...)`.)"""
        self.check_tier(tier)
        if self.terminal:
            raise Conflict(f"Batch {self.batch_id} has ended already ({self.status})", code="batch_terminal",
                           details={"batch_id": self.batch_id, "status": self.status})
        status = self.tier_status(tier)
        if status != PENDING:
            raise Conflict(f"Tier {tier} is {status}: only a pending or running tier can be canceled",
                           code="tier_not_cancelable", details={"tier_num": tier, "status": status})
        tiers = self._tiers_with(tier, status=CANCELED, completed_at=isoformat(now), reason=reason)
        for later in range(tier + 1, len(self.dag_tiers)):
            tiers = replace(self, tiers=tiers)._tiers_with(later, status=SKIPPED, reason=f"tier {tier} was canceled")
        return self.stamped(now, tiers=tiers).logged(now, f"tier {tier} canceled: {reason}", "WARNING").recorded(
            now, "tier_canceled", self, reason, tier=tier)

    def synced(self, now: datetime, tier: int) -> tuple["Batch", list[str]]:
        """The tier's recorded state made to agree with the batch's (a run that stopped between two saves leaves it
        behind): tiers before the current one have ended, an ended batch has no tier or part still running.
        Returns the batch and what was changed, in words."""
        self.check_tier(tier)
        batch, changes = self, []
        status = self.tier_status(tier)
        if self.terminal and status in (PENDING, IN_PROGRESS):
            if status == PENDING:
                outcome = SKIPPED
            elif self.status in (FAILED, CANCELED):
                outcome = self.status
            else:
                outcome = self.tier(tier).outcome(len(self.work))
            batch = replace(batch, tiers=batch._tiers_with(tier, status=outcome, completed_at=isoformat(now)))
            changes.append(f"tier {tier}: {status} → {outcome} (the batch is {self.status})")
        elif not self.terminal and self.current_tier is not None and tier < self.current_tier \
                and status in (PENDING, IN_PROGRESS):
            outcome = self.tier(tier).outcome(len(self.work))
            batch = replace(batch, tiers=batch._tiers_with(tier, status=outcome, completed_at=isoformat(now)))
            changes.append(f"tier {tier}: {status} → {outcome} (the batch has moved on to tier {self.current_tier})")
        if self.terminal:
            for state in self.parts:
                if state.tier == tier and state.status == RUNNING:
                    ended_as = CANCELED if self.status == CANCELED else FAILED if self.status == FAILED else COMPLETED
                    batch = replace(batch, parts=batch._parts_with(replace(state, status=ended_as, lease_until=None,
                                                                           completed_at=isoformat(now))))
                    changes.append(f"job {state.job_id}: RUNNING → {ended_as} (the batch is {self.status})")
        if changes:
            batch = batch.stamped(now).recorded(now, "tier_synced", self, "; ".join(changes), tier=tier)
        return batch, changes

    def runs_tier(self, tier: int) -> bool:
        """Whether this attempt still runs the tier (not canceled or skipped)."""
        return self.tier_status(tier) not in (CANCELED, SKIPPED)

    # -- life cycle --------------------------------------------------------------------------------------------------

    def with_objects(self, object_ids: Iterable[str], now: datetime) -> "Batch":
        if self.status != DRAFT:
            raise Conflict(f"Objects can be added only to a DRAFT batch; batch {self.batch_id} is {self.status}",
                           code="batch_not_draft", details={"batch_id": self.batch_id, "status": self.status})
        merged = list(dict.fromkeys((*self.object_ids, *object_ids)))
        check_size(len(merged))
        return self.stamped(now, object_ids=tuple(merged))

    def submitted(self, now: datetime, task_id: str, tiers: list[list[str]], webhook_url: str | None,
                  webhook_secret: str | None = None) -> "Batch":
        if self.status != DRAFT:
            raise Conflict(f"Only a DRAFT batch can be submitted; batch {self.batch_id} is {self.status}",
                           code="batch_not_draft", details={"batch_id": self.batch_id, "status": self.status})
        if not self.object_ids:
            raise BadRequest("The batch holds no objects; add objects before submitting it", code="batch_empty",
                             details={"batch_id": self.batch_id})
        if not tiers:
            raise BadRequest(f"No collection reads from bucket {self.bucket_id}: create a collection sourced from it "
                             "before submitting a batch", code="no_collections",
                             details={"bucket_id": self.bucket_id})
        return self._restarted(now, task_id, tiers, webhook_url=webhook_url or self.webhook_url,
                               webhook_secret=webhook_secret or self.webhook_secret,
                               submitted_at=isoformat(now), retrying=()).logged(
            now, f"submitted: {len(self.object_ids)} objects, {len(tiers)} tier(s)").recorded(
            now, "submitted", self, f"{len(self.object_ids)} objects, {len(tiers)} tier(s)")

    def _restarted(self, now: datetime, task_id: str, tiers: list[list[str]], **changes: Any) -> "Batch":
        return self.stamped(now, status=PENDING, task_id=task_id, dag_tiers=tuple(tuple(t) for t in tiers),
                            current_tier=None, cursor=0, processed=0, documents_written=0, documents_replaced=0,
                            documents_skipped=0, objects_skipped=0, failed_objects=(), failed_object_count=0,
                            failure_reason=None, documents_resolvable=False, completed_at=None, started_at=None,
                            attempt=self.attempt + 1, worker=None, tiers=tuple(TierState() for _ in tiers), parts=(),
                            **changes)

    def retried(self, now: datetime, task_id: str, tiers: list[list[str]], *, transient_only: bool = False) -> "Batch":
        """A finished batch run again over its failed objects only (only those whose error may pass, when
        `transient_only`)."""
        if self.status not in (COMPLETED_WITH_ERRORS, FAILED):
            raise Conflict(f"Only a batch that ended with failures can be retried; batch {self.batch_id} is "
                           f"{self.status}", code="batch_not_retryable",
                           details={"batch_id": self.batch_id, "status": self.status})
        records = [record for record in self.failed_objects
                   if not transient_only or record.error_type in (TRANSIENT, RESOURCE)]
        if self.failed_objects and not records:
            raise BadRequest("None of the batch's failures is transient; retry with retry_mode 'all' to run its "
                             "failed objects again", code="nothing_to_retry",
                             details={"batch_id": self.batch_id, "failed_object_count": self.failed_object_count})
        failed = tuple(dict.fromkeys(record.object_id for record in records))
        if self.status == FAILED and not failed:
            failed = self.object_ids  # the run itself failed (not single objects): all of it again
        return self._restarted(now, task_id, tiers, retrying=failed, retry_count=self.retry_count + 1).logged(
            now, f"retry {self.retry_count + 1}: {len(failed)} failed object(s)").recorded(
            now, "retried", self, f"{len(failed)} failed object(s)")

    def tier_retried(self, now: datetime, task_id: str, tier: int) -> "Batch":
        """A batch that has ended run again from one tier on (that tier and the ones after it, over all the batch's
        objects); what the tiers before it wrote stays and is counted as done."""
        self.check_tier(tier)
        if not self.terminal:
            raise Conflict(f"Batch {self.batch_id} is {self.status}: a tier can be retried once the batch has ended",
                           code="batch_not_terminal", details={"batch_id": self.batch_id, "status": self.status})
        status = self.tier_status(tier)
        if status == COMPLETED:
            raise Conflict(f"Tier {tier} completed without errors: nothing to retry", code="tier_completed",
                           details={"tier_num": tier, "status": status})
        unfinished = [earlier for earlier in range(tier)
                      if self.tier_status(earlier) not in (COMPLETED, COMPLETED_WITH_ERRORS)]
        if unfinished:
            raise Conflict(f"Tier {tier} reads what tier {unfinished[0]} writes, and tier {unfinished[0]} is "
                           f"{self.tier_status(unfinished[0])}: retry tier {unfinished[0]} instead",
                           code="upstream_tier_unfinished",
                           details={"tier_num": tier, "upstream_tier": unfinished[0]})
        kept = self.tiers[:tier] if len(self.tiers) >= tier else tuple(
            TierState(status=COMPLETED, processed=len(self.object_ids)) for _ in range(tier))
        earlier_collections = {cid for number in range(tier) for cid in self.dag_tiers[number]}
        failures = tuple(record for record in self.failed_objects
                         if tier > 0 and (record.collection_id is None or record.collection_id in earlier_collections))
        restarted = self._restarted(now, task_id, [list(t) for t in self.dag_tiers], retrying=(),
                                    retry_count=self.retry_count + 1)
        return replace(restarted, current_tier=tier, tiers=kept + restarted.tiers[tier:],
                       processed=sum(state.processed for state in kept),
                       objects_skipped=sum(state.skipped for state in kept),
                       documents_written=sum(state.documents_written for state in kept),
                       failed_objects=failures, failed_object_count=sum(state.failed for state in kept)).logged(
            now, f"tier {tier} retried: tiers {tier}..{len(self.dag_tiers) - 1} run again").recorded(
            now, "tier_retried", self, f"tiers {tier}..{len(self.dag_tiers) - 1} run again", tier=tier)

    def resubmitted(self, now: datetime, task_id: str, tiers: list[list[str]]) -> "Batch":
        """A batch that has ended (or a canceled one) run again over all its objects."""
        if self.status not in TERMINAL:
            raise Conflict(f"Only a batch that has ended can be resubmitted; batch {self.batch_id} is {self.status}",
                           code="batch_not_terminal", details={"batch_id": self.batch_id, "status": self.status})
        return self._restarted(now, task_id, tiers, retrying=(), retry_count=self.retry_count + 1).logged(
            now, f"resubmitted: {len(self.object_ids)} objects").recorded(now, "resubmitted", self)

    def started(self, now: datetime, worker: str | None) -> "Batch":
        tier = self.current_tier if self.current_tier is not None else 0
        changes: dict[str, Any] = {"status": IN_PROGRESS, "current_tier": tier, "worker": worker}
        if self.started_at is None:
            changes["started_at"] = isoformat(now)
        if self.dag_tiers and self.tier(tier).status == PENDING:
            changes["tiers"] = self._tiers_with(tier, status=IN_PROGRESS, started_at=isoformat(now))
        started = self.stamped(now, **changes)
        if self.status == IN_PROGRESS:  # its previous worker stopped (a killed or restarted process)
            return started.logged(now, f"resumed in tier {tier} at object {self.cursor} of {len(self.work)} after "
                                       "its worker stopped", "WARNING").recorded(
                now, "resumed", self, f"tier {tier}, object {self.cursor} of {len(self.work)}", tier=tier)
        return started.recorded(now, "started", self, f"by {worker or 'a step function'}", tier=tier)

    def advanced(self, now: datetime, *, cursor: int, processed: int, written: int, replaced: int, skipped_docs: int,
                 skipped_objects: int, failures: Sequence[FailedObject], tier: int | None = None,
                 part: int | None = None) -> "Batch":
        """Progress after a group of objects was written (the checkpoint a resumed run starts from); the group's
        tier and part are counted too, and the part's lease renewed."""
        kept = (self.failed_objects + tuple(failures))[:MAX_FAILED_RECORDS]
        changes: dict[str, Any] = {}
        tier = self.current_tier if tier is None else tier
        if tier is not None and tier < len(self.dag_tiers):
            state = self.tier(tier)
            changes["tiers"] = self._tiers_with(tier, processed=state.processed + processed,
                                                failed=state.failed + len(failures),
                                                skipped=state.skipped + skipped_objects,
                                                documents_written=state.documents_written + written)
            if part is not None:
                claim = self.part(tier, part)
                changes["parts"] = self._parts_with(replace(claim, processed=claim.processed + processed,
                                                            lease_until=isoformat(now + PART_LEASE)
                                                            if claim.status == RUNNING else claim.lease_until))
        return self.stamped(now, cursor=cursor, processed=self.processed + processed,
                            documents_written=self.documents_written + written,
                            documents_replaced=self.documents_replaced + replaced,
                            documents_skipped=self.documents_skipped + skipped_docs,
                            objects_skipped=self.objects_skipped + skipped_objects, failed_objects=kept,
                            failed_object_count=self.failed_object_count + len(failures), **changes)

    def _tier_ended(self, now: datetime, tier: int, status: str | None = None, reason: str | None = None) -> "Batch":
        state = self.tier(tier)
        if state.status not in (PENDING, IN_PROGRESS):
            return self
        return replace(self, tiers=self._tiers_with(tier, status=status or state.outcome(len(self.work)),
                                                    completed_at=isoformat(now), reason=reason))

    def next_tier(self, now: datetime) -> "Batch":
        tier = self.current_tier or 0
        ended = self._tier_ended(now, tier) if self.dag_tiers else self
        following = ended
        if tier + 1 < len(self.dag_tiers) and ended.tier(tier + 1).status == PENDING:
            following = replace(ended, tiers=ended._tiers_with(tier + 1, status=IN_PROGRESS,
                                                               started_at=isoformat(now)))
        return following.stamped(now, current_tier=tier + 1, cursor=0).recorded(
            now, "tier_completed", self, ended.tier(tier).status if self.dag_tiers else None, tier=tier)

    def finished(self, now: datetime, *, resolvable: bool) -> "Batch":
        """COMPLETED, or COMPLETED_WITH_ERRORS when some objects failed, or FAILED when every one of them did; or
        CANCELED when one of its tiers was canceled (the tiers before it ran)."""
        ended = self
        for number in range(len(self.dag_tiers)):
            ended = ended._tier_ended(now, number)
        failed = {record.object_id for record in self.failed_objects}
        canceled_tier = next((number for number in range(len(self.dag_tiers))
                              if ended.tier_status(number) == CANCELED), None)
        if canceled_tier is not None:
            status, reason = CANCELED, ended.tier(canceled_tier).reason or f"tier {canceled_tier} was canceled"
        elif self.failed_object_count and len(failed) >= len(self.work):
            status, reason = FAILED, f"every object failed; the first error: {self.failed_objects[0].error}"
        elif self.failed_object_count:
            status, reason = COMPLETED_WITH_ERRORS, None
        else:
            status, reason = COMPLETED, None
        return ended.stamped(now, status=status, failure_reason=reason, completed_at=isoformat(now),
                             documents_resolvable=resolvable, worker=None).logged(
            now, f"{status.lower()}: {self.documents_written} documents written, {self.failed_object_count} object "
                 f"failure(s)", "ERROR" if status == FAILED else "INFO").recorded(now, "finished", self, reason)

    def _later_tiers_skipped(self, reason: str) -> "Batch":
        batch = self
        for number in range(len(self.dag_tiers)):
            if batch.tier(number).status == PENDING:
                batch = replace(batch, tiers=batch._tiers_with(number, status=SKIPPED, reason=reason))
        return batch

    def failed(self, now: datetime, reason: str) -> "Batch":
        ended = self
        if self.dag_tiers and self.current_tier is not None and self.current_tier < len(self.dag_tiers):
            ended = self._tier_ended(now, self.current_tier, FAILED, reason)
        ended = ended._later_tiers_skipped("the batch failed before this tier ran")
        return ended.stamped(now, status=FAILED, failure_reason=reason, completed_at=isoformat(now),
                             documents_resolvable=self.documents_written > 0, worker=None).logged(
            now, reason, "ERROR").recorded(now, "failed", self, reason)

    def canceled(self, now: datetime, reason: str = "canceled by request", *, tier: int | None = None) -> "Batch":
        if self.terminal:
            raise Conflict(f"Batch {self.batch_id} has ended already ({self.status})", code="batch_terminal",
                           details={"batch_id": self.batch_id, "status": self.status})
        ended = self
        running = tier if tier is not None else self.current_tier
        if self.dag_tiers and running is not None and running < len(self.dag_tiers):
            ended = self._tier_ended(now, running, CANCELED, reason)
        ended = ended._later_tiers_skipped("the batch was canceled before this tier ran")
        return ended.stamped(now, status=CANCELED, failure_reason=reason, completed_at=isoformat(now), worker=None,
                             documents_resolvable=self.documents_written > 0).logged(now, reason, "WARNING").recorded(
            now, "canceled", self, reason, tier=tier)

    def draft_expired(self, now: datetime) -> bool:
        """An unsubmitted DRAFT past its 30 minutes; an automatic one is submitted by the server, never reaped."""
        return self.status == DRAFT and not self.automatic and now - parse(self.created_at) > DRAFT_TTL

    def collecting(self, object_ids: Sequence[str], now: datetime, window: timedelta, longest: timedelta) -> "Batch":
        """An automatic DRAFT takes more new objects and waits `window` more for others, but never longer than
        `longest` after it was opened: a steady stream of objects is still processed in bounded time."""
        due = min(now + window, parse(self.created_at) + longest)
        return replace(self.with_objects(object_ids, now), submit_after=isoformat(due))

    def due(self, now: datetime) -> bool:
        return self.status == DRAFT and self.automatic and (
            self.submit_after is None or parse(self.submit_after) <= now)

    # -- views -----------------------------------------------------------------------------------------------------

    def progress(self) -> dict[str, Any] | None:
        if self.status in (DRAFT, PENDING) and not self.processed:
            return None
        total = self.total
        percent = round(100.0 * min(self.processed, total) / total, 2) if total else 100.0
        elapsed = None
        if self.started_at:
            end = parse(self.completed_at) if self.completed_at else parse(self.updated_at)
            elapsed = max((end - parse(self.started_at)).total_seconds(), 1e-6)
        rate = round(self.processed / elapsed, 2) if elapsed and self.processed else None
        eta = round((total - self.processed) / rate, 1) if rate and not self.terminal else None
        extracted = self.processed - self.failed_object_count - self.objects_skipped
        return {
            "processed": self.processed, "total": total, "percent": percent, "items_per_second": rate,
            "eta_seconds": eta, "errors": self.failed_object_count,
            "first_error": self.failed_objects[0].error[:500] if self.failed_objects else None,
            "documents_skipped": self.documents_skipped, "objects_extracted": max(extracted, 0),
            "objects_skipped": self.objects_skipped, "objects_failed": self.failed_object_count,
            "documents_written": self.documents_written,
        }

    def lifecycle(self) -> tuple[str, str | None]:
        if self.status == DRAFT:
            return "accepted", None
        if self.status == PENDING:
            return "queued", "waiting for the ingestion worker"
        if self.status == IN_PROGRESS:
            return "extracting", None
        if self.status == FAILED:
            return "failed", self.failure_reason
        if self.status == CANCELED:
            return "canceled", self.failure_reason
        return ("completed" if self.documents_resolvable else "indexing"), None

    def to_record(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}
        record["object_ids"] = list(self.object_ids)
        record["retrying"] = list(self.retrying)
        record["collection_ids"] = list(self.collection_ids)
        record["dag_tiers"] = [list(tier) for tier in self.dag_tiers]
        record["failed_objects"] = [vars(failure) for failure in self.failed_objects]
        record["logs"] = list(self.logs)
        record["tiers"] = [vars(state) for state in self.tiers]
        record["parts"] = [vars(state) for state in self.parts]
        record["transitions"] = list(self.transitions)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any], version: int) -> "Batch":
        known = {f.name for f in fields(cls)} - {"version"}
        values = {key: value for key, value in record.items() if key in known}
        values["object_ids"] = tuple(values.get("object_ids") or ())
        values["retrying"] = tuple(values.get("retrying") or ())
        values["collection_ids"] = tuple(values.get("collection_ids") or ())
        values["dag_tiers"] = tuple(tuple(tier) for tier in values.get("dag_tiers") or ())
        values["failed_objects"] = tuple(FailedObject(**failure) for failure in values.get("failed_objects") or ())
        values["logs"] = tuple(values.get("logs") or ())
        values["tiers"] = tuple(TierState(**state) for state in values.get("tiers") or ())
        values["parts"] = tuple(PartState(**state) for state in values.get("parts") or ())
        values["transitions"] = tuple(values.get("transitions") or ())
        for name in ("cursor", "processed", "documents_written", "documents_replaced", "documents_skipped",
                     "objects_skipped", "failed_object_count", "retry_count", "attempt", "transition_count"):
            if name in values:
                values[name] = int(values[name])
        if values.get("current_tier") is not None:
            values["current_tier"] = int(values["current_tier"])
        return cls(**values, version=version)


def automatic_draft(batch_id: str, org_id: str, namespace_id: str, bucket_id: str, now: datetime,
                    window: timedelta) -> Batch:
    """An empty automatic DRAFT for a bucket's new objects; `collecting` adds them. It replaces what it
    reprocesses: an object registered again under its unique key gets its documents rewritten, not skipped."""
    stamp = isoformat(now)
    return Batch(batch_id=batch_id, org_id=org_id, namespace_id=namespace_id, bucket_id=bucket_id, status=DRAFT,
                 object_ids=(), created_at=stamp, updated_at=stamp, batch_name="automatic: new objects",
                 dedup_strategy="replace", metadata={AUTOMATIC: True, "trigger": AUTOMATIC_TRIGGER},
                 submit_after=isoformat(now + window)).logged(now, f"opened automatically: {AUTOMATIC_TRIGGER}").recorded(
        now, "created", None, AUTOMATIC_TRIGGER)


def check_size(count: int) -> None:
    if count > MAX_OBJECTS:
        raise BadRequest(f"A batch holds at most {MAX_OBJECTS:,} objects; this one would hold {count:,}",
                         code="batch_too_large", details={"max": MAX_OBJECTS, "got": count})


def tier_audit(batch: Batch, tier: int) -> dict[str, Any]:
    """The tier's completion accounting (the SDK's TierAuditInfo): every object the tier was given must be processed,
    failed or skipped; `lost` counts those that are none of these once the tier has ended."""
    state = batch.tier(tier)
    status = batch.tier_status(tier)
    submitted = None if status in (PENDING, SKIPPED) else len(batch.work)
    succeeded = max(state.processed - state.failed - state.skipped, 0)
    # Lost: objects a tier that says it completed never accounted for. A tier that failed or was canceled says
    # loudly that it stopped; the objects it did not reach are noted, not lost.
    completed = status in (COMPLETED, COMPLETED_WITH_ERRORS)
    lost = max(0, submitted - state.processed) if completed and submitted is not None else 0
    notes = []
    if status in (CANCELED, FAILED):
        notes.append(f"{status.lower()} with {max(0, len(batch.work) - state.processed)} object(s) not reached")
    canceled_parts = [part.job_id for part in batch.parts if part.tier == tier and part.status == CANCELED]
    if canceled_parts:
        notes.append(f"canceled job(s): {', '.join(canceled_parts)} (their objects not reached count as skipped)")
    if state.reason:
        notes.append(state.reason)
    return {"tier_num": tier, "submitted": submitted, "processed": succeeded, "failed": state.failed,
            "skipped": state.skipped, "lost": lost,
            "balanced": submitted is not None and submitted == state.processed, "notes": notes or None}


def check_bulk(object_count: int, chunk_size: int, batch_count: int) -> None:
    if batch_count > MAX_BULK_BATCHES:
        raise BadRequest(f"{object_count:,} objects in batches of {chunk_size:,} would make {batch_count:,} batches; "
                         f"one bulk submit makes at most {MAX_BULK_BATCHES}: raise chunk_size or set max_objects",
                         code="too_many_batches", details={"total_objects": object_count, "chunk_size": chunk_size,
                                                           "batches": batch_count, "max_batches": MAX_BULK_BATCHES})


def check_dedup(value: str | None) -> str:
    strategy = value or "skip"
    if strategy not in DEDUP_STRATEGIES:
        raise BadRequest(f"dedup_strategy must be one of {', '.join(DEDUP_STRATEGIES)}; got {value!r}",
                         code="invalid_dedup_strategy", details={"dedup_strategy": value})
    return strategy
