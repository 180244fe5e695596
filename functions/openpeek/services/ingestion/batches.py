"""Batches (BucketBatchesApi, BatchesApi): create, add objects, submit, read, list, cancel, retry, resubmit, logs,
failed documents, delete. Running a batch is the BatchRunner's job, started through `start` (the embedded worker
thread, or Step Functions when deployed); this service only records what was asked and hands the work over."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Iterator, Protocol

from openpeek.domain import batches as rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import webhooks as webhook_rules
from openpeek.domain.batches import Batch
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DomainError, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.ports import Table, VectorStore
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal

logger = logging.getLogger(__name__)

MAX_RUNTIME_S = 24 * 3600  # the task's deadline: a batch of 50,000 objects on a laptop fits well inside a day


@dataclass(frozen=True)
class BatchAddress:
    """How a request names one batch: in a bucket of its X-Namespace namespace (`/v1/buckets/{bucket}/batches/{id}`,
    `namespace` already resolved) or by its id alone (`/v1/batches/{id}`, X-Namespace optional). Every operation on a
    batch takes one, so both kinds of route share one method."""

    principal: Principal
    batch_id: str
    namespace: Namespace | None = None
    bucket_identifier: str | None = None
    namespace_header: str | None = None


class BatchStarter(Protocol):
    """Where submitted batches run: `start` hands one over (returns at once); `worker_id` names the live worker."""

    worker_id: str | None

    def start(self, namespace_id: str, batch_id: str, attempt: int) -> None: ...

    def rerun(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        """Run a started attempt again (its parts done already are not run twice)."""


class BatchService:
    def __init__(self, table: Table, namespaces: NamespaceService, batches: BatchRepository,
                 buckets: BucketRepository, objects: ObjectRepository, collections: CollectionRepository,
                 tasks: TaskRepository, vectors: VectorStore, starter: Callable[[], BatchStarter],
                 clock: Callable[[], datetime] = utcnow, *, deployed: bool = False,
                 resolver: webhook_rules.Resolver) -> None:
        self._deployed = deployed
        self._resolver = resolver
        self._table = table
        self._namespaces = namespaces
        self._batches = batches
        self._buckets = buckets
        self._objects = objects
        self._collections = collections
        self._tasks = tasks
        self._vectors = vectors
        self._starter = starter
        self._clock = clock

    # -- lookups -----------------------------------------------------------------------------------------------------

    def _bucket(self, namespace: Namespace, identifier: str):
        bucket = self._buckets.get(namespace.org_id, namespace.namespace_id, identifier)
        if bucket is None:
            raise NotFound("bucket", identifier)
        return bucket

    def _batch(self, namespace: Namespace, batch_id: str, bucket_id: str | None = None) -> Batch:
        batch = self._batches.get(namespace.namespace_id, batch_id)
        if batch is None or batch.org_id != namespace.org_id or (
                bucket_id is not None and batch.bucket_id != bucket_id):
            raise NotFound("batch", batch_id)
        return batch

    def locate(self, principal: Principal, namespace_header: str | None, batch_id: str) -> tuple[Namespace, Batch]:
        """A batch by id alone (`/v1/batches/{id}`): the X-Namespace header when given, else where the batch lives."""
        if namespace_header:
            namespace = self._namespaces.resolve(principal, namespace_header)
            return namespace, self._batch(namespace, batch_id)
        found = self._batches.locate(batch_id)
        if found is None or found[0] != principal.org_id:
            raise NotFound("batch", batch_id)
        namespace = self._namespaces.stored(principal, found[1], missing=NotFound("batch", batch_id))
        return namespace, self._batch(namespace, batch_id)

    def find(self, address: BatchAddress) -> tuple[Namespace, Batch]:
        if address.namespace is not None and address.bucket_identifier is not None:
            bucket = self._bucket(address.namespace, address.bucket_identifier)
            return address.namespace, self._batch(address.namespace, address.batch_id, bucket.bucket_id)
        return self.locate(address.principal, address.namespace_header, address.batch_id)

    # -- create ------------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, bucket_identifier: str, request: dict[str, Any],
               *, auto_submit: bool | None = None) -> dict[str, Any]:
        bucket = self._bucket(namespace, bucket_identifier)
        if request.get("object_ids") is not None and request.get("filters") is not None:
            raise BadRequest("Give either object_ids or filters, not both", code="invalid_batch",
                             details={"fields": ["object_ids", "filters"]})
        if request.get("object_ids") is not None:
            object_ids = list(dict.fromkeys(request["object_ids"]))
            rules.check_size(len(object_ids))
            self._check_objects(namespace, bucket.bucket_id, object_ids)
        elif request.get("filters") is not None:
            object_ids = self._resolve_filters(namespace, bucket.bucket_id, request["filters"],
                                               request.get("limit"))
        else:
            object_ids = []
        requested = list(request.get("collection_ids") or [])
        if requested:
            rules.dag_tiers(bucket.bucket_id, self._graph(namespace), requested)  # unknown or unrelated: a 400 now
        batch = self._new_draft(namespace, bucket.bucket_id, object_ids, requested, request.get("dedup_strategy"),
                                request.get("batch_name"), dict(request.get("metadata") or {}))
        submit = auto_submit if auto_submit is not None else bool(
            request.get("auto_submit") if request.get("auto_submit") is not None else request.get("trigger_processing"))
        if submit:
            self._submit(namespace, batch, None)
        return self.view(self._batch(namespace, batch.batch_id))

    def _new_draft(self, namespace: Namespace, bucket_id: str, object_ids: list[str], requested: list[str],
                   dedup_strategy: str | None, batch_name: str | None, metadata: dict[str, Any]) -> Batch:
        """Store a new DRAFT batch of these objects."""
        now = self._clock()
        batch = Batch(batch_id=new_id("btch", 12), org_id=namespace.org_id, namespace_id=namespace.namespace_id,
                      bucket_id=bucket_id, status=rules.DRAFT, object_ids=tuple(object_ids),
                      created_at=isoformat(now), updated_at=isoformat(now), batch_name=batch_name,
                      collection_ids=tuple(requested), dedup_strategy=rules.check_dedup(dedup_strategy),
                      metadata=metadata).logged(now, f"created with {len(object_ids)} objects").recorded(
            now, "created", None, f"{len(object_ids)} objects")
        self._table.transact_write(self._batches.creation(batch))
        return batch

    # -- many batches at once ----------------------------------------------------------------------------------------

    def bulk_submit(self, namespace: Namespace, bucket_identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        """The bucket's objects (all, or those the filters match, up to max_objects) as batches of chunk_size
        objects, each created and submitted. Everything the request could get wrong is refused before the first
        batch is made; a batch whose start fails is reported (and left FAILED with the reason), the others go on."""
        bucket = self._bucket(namespace, bucket_identifier)
        requested = list(request.get("collection_ids") or [])
        if not rules.dag_tiers(bucket.bucket_id, self._graph(namespace), requested or None):
            raise BadRequest(f"No collection reads from bucket {bucket.bucket_id}: create a collection sourced from "
                             "it before submitting batches", code="no_collections",
                             details={"bucket_id": bucket.bucket_id})
        dedup = rules.check_dedup(request.get("dedup_strategy"))
        chunk_size = min(request.get("chunk_size") or rules.BULK_CHUNK_SIZE, rules.MAX_OBJECTS)
        condition = filter_rules.parse_filter(request["filters"]) if request.get("filters") is not None else None
        cap = request.get("max_objects")
        object_ids: list[str] = []
        for object_id in self._matching_objects(namespace, bucket.bucket_id, condition):
            if cap is not None and len(object_ids) >= cap:
                break
            object_ids.append(object_id)
        chunks = [object_ids[first:first + chunk_size] for first in range(0, len(object_ids), chunk_size)]
        rules.check_bulk(len(object_ids), chunk_size, len(chunks))
        group_id = new_id("bgrp", 12)
        results = []
        for number, chunk in enumerate(chunks):
            batch = self._new_draft(namespace, bucket.bucket_id, chunk, requested, dedup,
                                    f"bulk {group_id} {number + 1}/{len(chunks)}",
                                    {"batch_group_id": group_id, "batch_group_part": number + 1})
            results.append(self._submitted_or_why(namespace, batch) | {"object_count": len(chunk)})
        submitted = sum(1 for result in results if result["error"] is None)
        return {"batch_group_id": group_id, "total_objects": len(object_ids), "total_batches": len(chunks),
                "submitted": submitted, "failed": len(chunks) - submitted, "chunk_size": chunk_size,
                "batches": results}

    def submit_all(self, namespace: Namespace, bucket_identifier: str) -> dict[str, Any]:
        """Every DRAFT batch of the bucket submitted, oldest first; each one that cannot be (it holds no objects,
        or its start failed) is reported with the reason and the others go on."""
        bucket = self._bucket(namespace, bucket_identifier)
        drafts = sorted((batch for batch in self._batches.list(namespace.namespace_id)
                         if batch.bucket_id == bucket.bucket_id and batch.status == rules.DRAFT
                         and batch.org_id == namespace.org_id), key=lambda batch: (batch.created_at, batch.batch_id))
        results = [self._submitted_or_why(namespace, batch) for batch in drafts]
        submitted = sum(1 for result in results if result["error"] is None)
        return {"bucket_id": bucket.bucket_id, "total": len(drafts), "submitted": submitted,
                "failed": len(drafts) - submitted, "batches": results}

    def _submitted_or_why(self, namespace: Namespace, batch: Batch) -> dict[str, Any]:
        try:
            task = self._submit(namespace, batch, None)
        except (DomainError, DependencyUnavailable, ConditionFailed) as error:
            current = self._batches.get(namespace.namespace_id, batch.batch_id)
            return {"batch_id": batch.batch_id, "status": current.status if current else batch.status,
                    "task_id": None, "error": getattr(error, "message", None) or str(error)}
        return {"batch_id": batch.batch_id, "status": rules.PENDING, "task_id": task.task_id, "error": None}

    def _check_objects(self, namespace: Namespace, bucket_id: str, object_ids: list[str]) -> None:
        missing = [object_id for object_id in object_ids
                   if self._objects.get(namespace.org_id, namespace.namespace_id, bucket_id, object_id) is None]
        if missing:
            raise BadRequest(f"{len(missing)} object(s) are not in bucket {bucket_id}: {', '.join(missing[:10])}",
                             code="object_not_found", details={"object_ids": missing[:100], "bucket_id": bucket_id})

    def _resolve_filters(self, namespace: Namespace, bucket_id: str, spec: Any,
                         limit: int | None) -> list[str]:
        condition = filter_rules.parse_filter(spec)
        cap = min(limit or rules.MAX_OBJECTS, rules.MAX_OBJECTS)
        found = []
        for object_id in self._matching_objects(namespace, bucket_id, condition):
            found.append(object_id)
            if len(found) > cap:
                if limit:
                    return found[:cap]
                rules.check_size(len(found))
        return found

    def _matching_objects(self, namespace: Namespace, bucket_id: str, condition: Any) -> Iterator[str]:
        """The ids of the bucket's objects the condition matches (all of them without one), in the bucket's order."""
        for obj in self._objects.iterate_bucket(namespace.org_id, namespace.namespace_id, bucket_id):
            view = {**obj.metadata, "object_id": obj.object_id, "status": obj.status, "bucket_id": obj.bucket_id,
                    "metadata": obj.metadata, "created_at": obj.created_at}
            if condition is None or filter_rules.matches(condition, view, obj.object_id):
                yield obj.object_id

    def _graph(self, namespace: Namespace) -> list[dict[str, Any]]:
        return [{"collection_id": collection.collection_id, "source": collection.source.public()}
                for collection in self._collections.list_in(namespace.namespace_id)]

    # -- changes -----------------------------------------------------------------------------------------------------

    def add_objects(self, address: BatchAddress, object_ids: list[str]) -> dict[str, Any]:
        namespace, batch = self.find(address)
        self._check_objects(namespace, batch.bucket_id, list(dict.fromkeys(object_ids)))
        changed = batch.with_objects(object_ids, self._clock()).logged(self._clock(),
                                                                      f"added {len(object_ids)} object(s)")
        return self.view(self._batches.save(changed, batch))

    def patch(self, address: BatchAddress, changes: dict[str, Any]) -> dict[str, Any]:
        _, batch = self.find(address)
        updates: dict[str, Any] = {}
        if "batch_name" in changes:
            updates["batch_name"] = changes["batch_name"]
        if "metadata" in changes:
            updates["metadata"] = dict(changes["metadata"] or {})
        return self.view(self._batches.save(batch.stamped(self._clock(), **updates), batch))

    def submit(self, address: BatchAddress, request: dict[str, Any]) -> dict[str, Any]:
        namespace, batch = self.find(address)
        if request.get("collection_ids") and batch.collection_ids and \
                sorted(request["collection_ids"]) != sorted(batch.collection_ids):
            raise BadRequest("collection_ids at submit must match those the batch was created with",
                             code="collection_scope_mismatch",
                             details={"batch": list(batch.collection_ids), "submitted": request["collection_ids"]})
        secret = secrets.token_urlsafe(32) if request.get("webhook_url") else None
        answer = self._submit(namespace, batch, request.get("webhook_url"), secret).public()
        if secret:
            # Shown once, like a webhook's signing secret: X-Openpeek-Signature on the POST is made with it.
            answer["additional_data"]["webhook_signing_secret"] = secret
        return answer

    def submit_draft(self, namespace: Namespace, batch: Batch) -> Task:
        """Submit a DRAFT the server opened itself (an automatic batch), as a submit without webhook_url would."""
        return self._submit(namespace, batch, None)

    def planned_tiers(self, namespace: Namespace, batch: Batch) -> list[list[str]]:
        """The tiers of collections a submit of this batch would run now."""
        return self._tiers(namespace, batch)

    def _tiers(self, namespace: Namespace, batch: Batch) -> list[list[str]]:
        return rules.dag_tiers(batch.bucket_id, self._graph(namespace), list(batch.collection_ids) or None)

    def _submit(self, namespace: Namespace, batch: Batch, webhook_url: str | None,
                webhook_secret: str | None = None) -> Task:
        if webhook_url is not None:
            # the subscriptions' SSRF rules: a 400
            webhook_rules.check_url(webhook_url, deployed=self._deployed, resolver=self._resolver)
        now = self._clock()
        task = self._new_task(namespace, batch, now)
        changed = batch.submitted(now, task.task_id, self._tiers(namespace, batch), webhook_url, webhook_secret)
        return self._hand_over(namespace, batch, changed, task)

    def _new_task(self, namespace: Namespace, batch: Batch, now: datetime) -> Task:
        return Task.new(new_id("task"), namespace.namespace_id, rules.TASK_TYPE, now, MAX_RUNTIME_S,
                        inputs=[batch.batch_id],
                        additional_data={"batch_id": batch.batch_id, "bucket_id": batch.bucket_id,
                                         "object_count": len(batch.object_ids)})

    def _hand_over(self, namespace: Namespace, previous: Batch, changed: Batch, task: Task) -> Task:
        """Store the moved batch with its new task in one transaction, then start it. A worker that cannot start
        leaves the batch FAILED with the reason (503 to the caller), never PENDING forever."""
        self._table.transact_write([*self._batches.update(changed, previous),
                                    *self._tasks.creation(task, namespace.org_id)])
        saved = replace(changed, version=previous.version + 1)
        try:
            self._starter().start(namespace.namespace_id, saved.batch_id, saved.attempt)
        except DependencyUnavailable as error:
            self._batches.save(saved.failed(self._clock(), f"the batch could not be started: {error}"), saved)
            current = self._tasks.get(namespace.namespace_id, task.task_id)
            if current is not None:
                self._table.transact_write([self._tasks.update(
                    current.moved("FAILED", self._clock(), error=str(error)), current)])
            raise
        return self._tasks.get(namespace.namespace_id, task.task_id) or task

    def cancel(self, address: BatchAddress, reason: str | None = None) -> dict[str, Any]:
        namespace, batch = self.find(address)
        return self._cancel(namespace, batch, reason)

    def cancel_task(self, namespace: Namespace, task: Task) -> dict[str, Any]:
        """DELETE /v1/tasks/{id} on a batch's task: the batch is canceled (an ended one is returned as it is)."""
        batch = self._batches.get(namespace.namespace_id, task.additional_data.get("batch_id") or "")
        if task.terminal or batch is None or batch.terminal or batch.task_id != task.task_id:
            return task.public()
        return self._cancel(namespace, batch)

    def _cancel(self, namespace: Namespace, batch: Batch, reason: str | None = None,
                tier: int | None = None) -> dict[str, Any]:
        """Stops the batch: the worker sees it between two groups of objects (within seconds) and stops there."""
        now = self._clock()
        what = "canceled by request" if tier is None else f"tier {tier} canceled by request"
        for _ in range(5):
            try:
                canceled = self._batches.save(batch.canceled(now, f"{what}: {reason}" if reason else what,
                                                             tier=tier), batch)
                break
            except ConditionFailed:
                batch = self._batch(namespace, batch.batch_id)
        else:
            raise ConditionFailed(f"batch {batch.batch_id} kept changing while it was canceled")
        task = self._tasks.get(namespace.namespace_id, canceled.task_id) if canceled.task_id else None
        if task is not None and not task.terminal:
            self._table.transact_write([self._tasks.update(
                task.moved("CANCELED", now, data={"batch_status": "CANCELED"}), task)])
            task = self._tasks.get(namespace.namespace_id, task.task_id)
        if task is None:
            task = Task(task_id=canceled.task_id or f"task_{canceled.batch_id}", namespace_id=namespace.namespace_id,
                        task_type=rules.TASK_TYPE, status="CANCELED", created_at=canceled.created_at,
                        updated_at=canceled.updated_at, deadline_at=canceled.updated_at,
                        inputs=[canceled.batch_id], additional_data={"batch_id": canceled.batch_id})
        return task.public()

    # -- tiers and their jobs ----------------------------------------------------------------------------------------

    def cancel_tier(self, address: BatchAddress, tier: int, reason: str | None = None) -> dict[str, Any]:
        """The tier running now stops with its batch (the tiers before it keep what they wrote, the ones after it,
        which read its output, are skipped); a tier still to come is canceled and the batch ends when it gets
        there."""
        namespace, batch = self.find(address)
        if batch.status == rules.DRAFT:
            raise Conflict(f"Batch {batch.batch_id} is a DRAFT: it has no tiers running yet",
                           code="batch_not_submitted", details={"batch_id": batch.batch_id})
        batch.check_tier(tier)
        running = batch.current_tier if batch.current_tier is not None else 0
        if not batch.terminal and tier == running:
            self._cancel(namespace, batch, reason, tier=tier)
        else:
            text = f"tier {tier} canceled by request: {reason}" if reason else f"tier {tier} canceled by request"
            self._changed(namespace, batch, lambda current: current.tier_canceled(self._clock(), tier, text))
        current = self._batch(namespace, batch.batch_id)
        return {"batch_id": current.batch_id, "tier_num": tier, "status": current.tier_status(tier),
                "batch_status": current.status, "collection_ids": list(current.dag_tiers[tier]),
                "skipped_tiers": [number for number in range(len(current.dag_tiers))
                                  if current.tier_status(number) == rules.SKIPPED],
                "message": f"tier {tier} canceled" + ("" if current.terminal else
                                                      "; the tiers before it run to their end")}

    def retry_tier(self, address: BatchAddress, tier: int, request: dict[str, Any]) -> dict[str, Any]:
        """A new attempt from this tier on, over all the batch's objects (dedup applies as it did at submit)."""
        namespace, batch = self.find(address)
        now = self._clock()
        task = self._new_task(namespace, batch, now)
        changed = batch.tier_retried(now, task.task_id, tier)
        if request.get("reason"):
            changed = changed.logged(now, f"tier {tier} retry: {request['reason']}")
        started = self._hand_over(namespace, batch, changed, task)
        return {"batch_id": batch.batch_id, "tier_num": tier, "status": rules.PENDING, "task_id": started.task_id,
                "tiers_to_run": list(range(tier, len(changed.dag_tiers))), "object_count": len(changed.work),
                "retry_count": changed.retry_count}

    def cancel_job(self, address: BatchAddress, tier: int, job_id: str, reason: str | None = None) -> dict[str, Any]:
        """One part of a tier stops (its worker at its next checkpoint; a part not started yet is never run): the
        rest of its objects are skipped, the other parts and tiers go on."""
        namespace, batch = self.find(address)
        batch.check_tier(tier)
        parsed = rules.parse_job_id(job_id)
        if parsed is None or parsed[0] != tier:
            raise NotFound("job", job_id, code="job_not_found")
        text = f"canceled by request: {reason}" if reason else "canceled by request"
        changed = self._changed(namespace, batch,
                                lambda current: current.part_canceled(self._clock(), tier, parsed[1], text))
        first, end = changed.part_range(parsed[1])
        return {"batch_id": batch.batch_id, "tier_num": tier, "job_id": job_id, "status": rules.CANCELED,
                "object_count": end - first, "processed_before_cancel": changed.part(tier, parsed[1]).processed,
                "batch_status": changed.status}

    def heal_tier(self, address: BatchAddress, tier: int, action: str) -> dict[str, Any]:
        """detect_stuck: running jobs whose lease ran out (their worker stopped) go back to PENDING and the batch's
        attempt is handed to its worker again, which resumes it from its last checkpoint. sync_status: the tier's
        and the task's recorded states are made to agree with the batch's."""
        namespace, batch = self.find(address)
        batch.check_tier(tier)
        now = self._clock()
        if action == "kill_duplicates":
            raise BadRequest("kill_duplicates has nothing to act on here: a job is claimed by one worker with a "
                             "conditional write, and a run of an older attempt stops at its next checkpoint. "
                             "Use detect_stuck or sync_status", code="heal_action_not_applicable",
                             details={"action": action, "actions": ["detect_stuck", "sync_status"]})
        if action == "detect_stuck":
            stuck = batch.stuck_parts(now, tier)
            restarted = False
            if stuck and not batch.terminal:
                requeued = self._changed(namespace, batch,
                                         lambda current: current.requeued(now, current.stuck_parts(now, tier)))
                self._starter().rerun(namespace.namespace_id, requeued.batch_id, requeued.attempt)
                restarted = True
            return {"batch_id": batch.batch_id, "tier_num": tier, "action": action,
                    "stuck_jobs": [_job_view(batch, state, now) for state in stuck], "requeued": len(stuck),
                    "restarted": restarted}
        changes: list[str] = []

        def sync(current: Batch) -> Batch:
            synced, found = current.synced(now, tier)
            changes[:] = found
            return synced

        synced = self._changed(namespace, batch, sync)
        task = self._tasks.get(namespace.namespace_id, synced.task_id) if synced.task_id else None
        if task is not None and synced.terminal and not task.terminal:
            self._table.transact_write([self._tasks.update(task.moved(synced.status, now,
                                                                      error=synced.failure_reason), task)])
            changes.append(f"task {task.task_id}: {task.status} → {synced.status}")
        return {"batch_id": batch.batch_id, "tier_num": tier, "action": action, "changes": changes,
                "tier_status": synced.tier_status(tier), "batch_status": synced.status}

    def jobs(self, batch: Batch, tier: int, now: datetime) -> list[dict[str, Any]]:
        """The tier's jobs (parts) as the diagnose answer shows them."""
        return [_job_view(batch, batch.part(tier, number), now) for number in range(batch.part_count)]

    def _changed(self, namespace: Namespace, batch: Batch, change: Callable[[Batch], Batch]) -> Batch:
        """Store `change(batch)`, again on a fresh copy when the worker saved the batch meanwhile."""
        for _ in range(10):
            try:
                return self._batches.save(change(batch), batch)
            except ConditionFailed:
                batch = self._batch(namespace, batch.batch_id)
        raise ConditionFailed(f"batch {batch.batch_id} kept changing while it was updated")

    def retry(self, address: BatchAddress, request: dict[str, Any]) -> dict[str, Any]:
        namespace, batch = self.find(address)
        now = self._clock()
        task = self._new_task(namespace, batch, now)
        changed = batch.retried(now, task.task_id, self._tiers(namespace, batch),
                                transient_only=(request.get("retry_mode") or "transient_only") == "transient_only")
        started = self._hand_over(namespace, batch, changed, task)
        return {"batch_id": batch.batch_id, "status": rules.PENDING, "task_id": started.task_id,
                "retried_object_count": len(changed.work), "retry_count": changed.retry_count}

    def resubmit(self, address: BatchAddress) -> dict[str, Any]:
        namespace, batch = self.find(address)
        now = self._clock()
        task = self._new_task(namespace, batch, now)
        changed = batch.resubmitted(now, task.task_id, self._tiers(namespace, batch))
        started = self._hand_over(namespace, batch, changed, task)
        return {"batch_id": batch.batch_id, "status": rules.PENDING, "task_id": started.task_id,
                "object_count": len(changed.object_ids)}

    def delete(self, address: BatchAddress) -> dict[str, Any]:
        """The batch and the documents it wrote (a running batch is canceled first)."""
        namespace, batch = self.find(address)
        if not batch.terminal and batch.status != rules.DRAFT:
            self._cancel(namespace, batch)
        removed = self._delete_documents(namespace, batch)
        self._batches.delete(batch)
        return {"success": True, "message": f"Batch {batch.batch_id} deleted with {removed} document(s)",
                "deleted_id": batch.batch_id}

    def delete_documents(self, address: BatchAddress) -> dict[str, Any]:
        namespace, batch = self.find(address)
        if not batch.terminal and batch.status != rules.DRAFT:
            raise BadRequest(f"Batch {batch.batch_id} is {batch.status}: cancel it before deleting its documents",
                             code="batch_active", details={"status": batch.status})
        removed = self._delete_documents(namespace, batch)
        return {"batch_id": batch.batch_id, "documents_deleted": removed}

    def _delete_documents(self, namespace: Namespace, batch: Batch) -> int:
        written = Filter(must=(MatchValue("batch_id", batch.batch_id),))
        if not self._vectors.collection_exists(namespace.collection):
            return 0
        count = self._vectors.count(namespace.collection, written)
        if count:
            self._vectors.delete_by_filter(namespace.collection, written)
        return count

    # -- reads -------------------------------------------------------------------------------------------------------

    def get(self, address: BatchAddress) -> dict[str, Any]:
        return self.view(self.find(address)[1])

    def list(self, principal: Principal, query: dict[str, Any], *, namespace: Namespace | None = None,
             bucket_identifier: str | None = None, namespace_header: str | None = None) -> dict[str, Any]:
        """A bucket's batches (`namespace` and `bucket_identifier` given), or `/v1/batches/list`: one namespace's
        (X-Namespace or the query's namespace_id, which must agree) or else the organisation's."""
        bucket_id = query.get("bucket_id")
        if namespace is None:
            namespace = self._listed_namespace(principal, namespace_header, query.get("namespace_id"))
        elif bucket_identifier is not None:
            bucket_id = self._bucket(namespace, bucket_identifier).bucket_id
        found = self._batches.list(namespace.namespace_id) if namespace is not None \
            else self._batches.list_for_org(principal.org_id)
        status, collection_id = query.get("status"), query.get("collection_id")
        found = [batch for batch in found if batch.org_id == principal.org_id
                 and (bucket_id is None or batch.bucket_id == bucket_id)
                 and (status is None or batch.status == status)
                 and (collection_id is None or any(collection_id in tier for tier in batch.dag_tiers)
                      or collection_id in batch.collection_ids)]
        found.sort(key=lambda batch: (batch.created_at, batch.batch_id), reverse=True)
        offset, limit = query.get("offset") or 0, query.get("limit") or 100
        page = found[offset:offset + limit]
        return {"results": [self.view(batch) for batch in page], "total_count": len(found),
                "pagination": {"offset": offset, "limit": limit, "has_more": offset + limit < len(found),
                               "next_cursor": None}}

    def queue(self, principal: Principal, namespace_header: str | None = None) -> dict[str, Any]:
        """`GET /v1/batches/queue`: where this deployment's submitted batches stand. openpeek has no Ray job queue;
        its nearest is the queue of submitted batch records, oldest submission first (no priorities: first come,
        first served), and the runner that takes them (embedded: one worker thread, one batch at a time; deployed:
        one Step Functions execution per batch, no limit of its own). The counts are the deployment's; the batches
        listed are the caller's (of the X-Namespace namespace when sent), each waiting one with its place in line."""
        namespace = self._listed_namespace(principal, namespace_header, None)
        runner = self._starter()
        running_total = waiting_total = 0
        active: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        for namespace_id, batch_id in self._batches.active():
            batch = self._batches.get(namespace_id, batch_id)  # the index may lag: the record decides
            if batch is None or batch.status not in rules.ACTIVE:
                continue
            if batch.status == rules.IN_PROGRESS:
                running_total += 1
            else:
                waiting_total += 1
            if batch.org_id != principal.org_id or (namespace is not None
                                                     and batch.namespace_id != namespace.namespace_id):
                continue
            entry = {"batch_id": batch.batch_id, "batch_name": batch.batch_name, "bucket_id": batch.bucket_id,
                     "namespace_id": batch.namespace_id, "status": batch.status, "task_id": batch.task_id,
                     "submitted_at": batch.submitted_at, "object_count": len(batch.object_ids)}
            if batch.status == rules.IN_PROGRESS:
                active.append({**entry, "started_at": batch.started_at, "current_tier": batch.current_tier,
                               "progress": batch.progress()})
            else:
                waiting.append({**entry, "position": waiting_total})
        limit = getattr(runner, "max_concurrent_batches", None)
        return {"active_jobs": running_total, "queued_jobs": waiting_total, "max_concurrent_jobs": limit,
                "available_slots": None if limit is None else max(0, limit - running_total),
                "runner": getattr(runner, "runner_name", type(runner).__name__), "ordering": "first_submitted_first",
                "active": active, "waiting": waiting}

    def _listed_namespace(self, principal: Principal, namespace_header: str | None,
                          named: str | None) -> Namespace | None:
        header = (namespace_header or "").strip() or None
        namespace = self._namespaces.resolve(principal, header) if header else None
        if named:
            chosen = self._namespaces.resolve(principal, named)
            if namespace is not None and chosen.namespace_id != namespace.namespace_id:
                raise BadRequest("namespace_id and the X-Namespace header name different namespaces",
                                 code="namespace_conflict", details={"namespace_id": named, "x_namespace": header})
            namespace = chosen
        return namespace

    def logs(self, address: BatchAddress, *, level: str | None = None, limit: int = 100,
             offset: int = 0) -> dict[str, Any]:
        _, batch = self.find(address)
        entries = [entry for entry in batch.logs if level is None or entry["level"] == level.upper()]
        return {"batch_id": batch.batch_id, "logs": entries[offset:offset + limit], "total": len(entries)}

    def failed_documents(self, address: BatchAddress, *, collection_id: str | None = None, limit: int = 100,
                         offset: int = 0) -> dict[str, Any]:
        _, batch = self.find(address)
        records = [failure.public() | {"collection_id": failure.collection_id} for failure in batch.failed_objects
                   if collection_id is None or failure.collection_id in (None, collection_id)]
        return {"batch_id": batch.batch_id, "failed_documents": records[offset:offset + limit],
                "total": batch.failed_object_count, "limit": limit, "offset": offset}

    def view(self, batch: Batch) -> dict[str, Any]:
        """The SDK's BatchModel."""
        lifecycle, reason = batch.lifecycle()
        tier_tasks = []
        for number, tier in enumerate(batch.dag_tiers):
            state = batch.tier(number)
            recorded = number < len(batch.tiers)
            tier_tasks.append({"tier_num": number, "task_id": batch.task_id, "status": batch.tier_status(number),
                               "collection_ids": list(tier), "source_type": "bucket" if number == 0 else "collection",
                               "source_collection_ids": None if number == 0 else list(batch.dag_tiers[number - 1]),
                               "started_at": state.started_at, "completed_at": state.completed_at,
                               "documents_written": state.documents_written if recorded else None,
                               "audit": rules.tier_audit(batch, number) if recorded else None})
        return {
            "batch_id": batch.batch_id, "bucket_id": batch.bucket_id, "namespace_id": batch.namespace_id,
            "batch_name": batch.batch_name, "status": batch.status, "object_ids": list(batch.object_ids),
            "dedup_strategy": batch.dedup_strategy,
            "collection_ids": [cid for tier in batch.dag_tiers for cid in tier] or list(batch.collection_ids),
            "failure_reason": batch.failure_reason, "error": batch.failure_reason,
            "failed_objects": [failure.public() for failure in batch.failed_objects] or None,
            "failed_object_count": batch.failed_object_count, "type": "BUCKET", "task_id": batch.task_id,
            "metadata": batch.metadata or None, "tier_tasks": tier_tasks, "current_tier": batch.current_tier,
            "total_tiers": max(1, len(batch.dag_tiers)), "dag_tiers": [list(tier) for tier in batch.dag_tiers] or None,
            "created_at": batch.created_at, "updated_at": batch.updated_at, "progress": batch.progress(),
            "documents_written": batch.documents_written if batch.status not in (rules.DRAFT, rules.PENDING) else None,
            "documents_replaced": batch.documents_replaced if batch.dedup_strategy == "replace" else None,
            "documents_resolvable": batch.documents_resolvable, "retry_count": batch.retry_count,
            "webhook_url": batch.webhook_url, "max_node_death_resubmits": 0, "max_deploy_resubmits": 0,
            "lifecycle": lifecycle, "lifecycle_reason": reason,
            "health": "healthy" if batch.status == rules.IN_PROGRESS else None,
            "status_message": _status_message(batch),
        }

    # -- housekeeping ------------------------------------------------------------------------------------------------

    def reap_drafts(self, now: datetime | None = None) -> int:
        """Cancel the DRAFT batches older than 30 minutes; returns how many."""
        now = now or self._clock()
        canceled = 0
        for namespace_id, batch_id in self._batches.drafts_created_before(isoformat(now - rules.DRAFT_TTL)):
            batch = self._batches.get(namespace_id, batch_id)
            if batch is None or not batch.draft_expired(now):
                continue
            try:
                self._batches.save(batch.canceled(now, rules.DRAFT_EXPIRED_REASON), batch)
                canceled += 1
            except ConditionFailed:
                continue  # submitted meanwhile
        return canceled


def _job_view(batch: Batch, state: rules.PartState, now: datetime) -> dict[str, Any]:
    first, end = batch.part_range(state.part)
    stuck = state.status == rules.RUNNING and state.lease_until is not None and parse(state.lease_until) < now
    return {"job_id": state.job_id, "tier_num": state.tier, "part": state.part, "status": state.status,
            "object_count": max(end - first, 0), "processed": state.processed, "worker": state.worker,
            "claimed_at": state.claimed_at, "lease_until": state.lease_until, "completed_at": state.completed_at,
            "stuck": stuck, "reason": state.reason}


def _status_message(batch: Batch) -> str:
    total = batch.total
    if batch.status == rules.IN_PROGRESS:
        percent = 100.0 * batch.processed / total if total else 100.0
        return f"Processing {batch.processed:,}/{total:,} objects ({percent:.1f}%)"
    if batch.status == rules.PENDING:
        return "Queued for the ingestion worker"
    if batch.status == rules.DRAFT:
        return f"Draft with {len(batch.object_ids):,} objects; submit it to process them"
    if batch.status == rules.COMPLETED:
        return f"Completed: {batch.documents_written:,} documents written"
    if batch.status == rules.COMPLETED_WITH_ERRORS:
        return (f"Completed with errors: {batch.documents_written:,} documents written, "
                f"{batch.failed_object_count:,} objects failed")
    return f"{batch.status.capitalize()}: {batch.failure_reason or ''}".strip()
