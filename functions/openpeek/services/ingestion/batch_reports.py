"""What a batch tells about itself, read-only: diagnose (what is wrong and what to do), audit (each tier's object
accounting and the recorded state changes) and the pre-flight estimate (what submitting it would run).

Everything here is read from the batch's recorded state, its task, its objects, its collections and the vector store:
nothing is inferred from timings alone, and no figure is shown that this deployment does not have (it bills no
credits, so an estimate counts objects, bytes, jobs and models, and leaves the price out).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Callable

from openpeek.domain import batches as rules
from openpeek.domain.batches import Batch
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.conditions import Filter, MatchAny, MatchValue
from openpeek.domain.errors import DomainError
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.ports import VectorStore
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.services.ingestion.batches import BatchAddress, BatchService
from openpeek.services.ingestion.extractors import HEAVY_EXTRACTORS

IDS_PER_COUNT = 1000  # object ids per vector-store count (a filter of 50,000 ids at once is too large a request)
LOOKUPS_BEFORE_SCAN = 1000  # up to this many objects are read one by one; more, and the bucket is read through once
NO_BILLING = ("openpeek bills no credits: estimated_credits and estimated_repay_credits are 0 and estimated_usd is "
              "absent; content_summary counts what submitting the batch runs (objects, bytes, jobs, models)")


class BatchReports:
    def __init__(self, batches: BatchService, objects: ObjectRepository, collections: CollectionRepository,
                 tasks: TaskRepository, vectors: VectorStore, live_worker: Callable[[], str | None],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._batches = batches
        self._objects = objects
        self._collections = collections
        self._tasks = tasks
        self._vectors = vectors
        self._live_worker = live_worker
        self._clock = clock

    # -- diagnose ----------------------------------------------------------------------------------------------------

    def diagnose(self, address: BatchAddress) -> dict[str, Any]:
        """The SDK's BatchDiagnostics: status, timing, each tier with its jobs, the collections it writes, health
        (ok | stuck | degraded) with the reason, and what to do next."""
        namespace, batch = self._batches.find(address)
        now = self._clock()
        collections = {collection.collection_id: collection for collection in
                       self._collections.list_in(namespace.namespace_id)}
        progress = batch.progress() or {}
        health, blocked, stuck_seconds = self._health(batch, now)
        tiers = [self._tier(batch, number, collections, now) for number in range(len(batch.dag_tiers))]
        failed_tiers = [tier["tier_num"] for tier in tiers if tier["status"] == rules.FAILED]
        eta = progress.get("eta_seconds")
        return {
            "batch_id": batch.batch_id, "batch_name": batch.batch_name or batch.batch_id, "status": batch.status,
            "bucket_id": batch.bucket_id, "current_tier": batch.current_tier or 0,
            "total_tiers": max(1, len(batch.dag_tiers)), "overall_progress": progress.get("percent", 0.0),
            "created_at": batch.created_at, "submitted_at": batch.submitted_at, "started_at": batch.started_at,
            "completed_at": batch.completed_at, "duration_seconds": _seconds(batch.started_at, batch.completed_at),
            "estimated_completion": isoformat(now + timedelta(seconds=eta)) if eta else None,
            "tiers": tiers,
            "collections": [self._collection(namespace, batch, collections[cid])
                            for tier in batch.dag_tiers for cid in tier if cid in collections],
            "performance_summary": self._performance(batch) if batch.terminal else None,
            "insights": self._insights(batch),
            "has_failures": bool(batch.failed_object_count) or batch.status == rules.FAILED,
            "failed_tier_count": len(failed_tiers), "health": health, "blocked_reason": blocked,
            "stuck_seconds": stuck_seconds, "total_objects": len(batch.work),
            "next_actions": self._next_actions(batch, health, failed_tiers),
        }

    def _health(self, batch: Batch, now: datetime) -> tuple[str, str | None, float | None]:
        if batch.status in rules.ACTIVE:
            stuck = batch.stuck_parts(now)
            if stuck:
                oldest = min(stuck, key=lambda state: state.lease_until or "")
                return ("stuck", f"job {oldest.job_id} of tier {oldest.tier} is RUNNING but its lease ran out at "
                                 f"{oldest.lease_until} (worker {oldest.worker or 'a step function task'} stopped "
                                 "without finishing it)", round((now - parse(oldest.lease_until)).total_seconds(), 1))
            live = self._live_worker()
            if batch.status == rules.IN_PROGRESS and batch.worker and live and batch.worker != live:
                return ("stuck", f"the batch was running on worker {batch.worker}, which is no longer this "
                                 f"process's worker ({live})", round((now - parse(batch.updated_at)).total_seconds(), 1))
        if batch.failed_object_count or batch.status == rules.FAILED:
            return "degraded", None, None
        return "ok", None, None

    def _tier(self, batch: Batch, number: int, collections: dict[str, Collection], now: datetime) -> dict[str, Any]:
        state = batch.tier(number)
        status = batch.tier_status(number)
        in_tier = set(batch.dag_tiers[number])
        failures = [record for record in batch.failed_objects
                    if record.collection_id in in_tier or (number == 0 and record.collection_id is None)]
        total = len(batch.work)
        return {
            "tier_num": number, "task_id": batch.task_id, "status": status, "started_at": state.started_at,
            "completed_at": state.completed_at, "duration_seconds": _seconds(state.started_at, state.completed_at),
            "progress": {"processed_documents": state.processed, "total_documents": total,
                         "percentage": round(100.0 * min(state.processed, total) / total, 2) if total else 0.0},
            "error": state.reason if status in (rules.FAILED, rules.CANCELED, rules.SKIPPED) else (
                failures[0].error if failures else None),
            "error_type": failures[0].error_type if failures else None,
            "requires_gpu": any(collections[cid].feature_extractor.feature_extractor_name in HEAVY_EXTRACTORS
                                for cid in in_tier if cid in collections),
            "jobs": self._batches.jobs(batch, number, now),
        }

    def _collection(self, namespace: Namespace, batch: Batch, collection: Collection) -> dict[str, Any]:
        count = 0
        if self._vectors.collection_exists(namespace.collection):
            count = self._vectors.count(namespace.collection, Filter(must=(
                MatchValue("collection_id", collection.collection_id),)))
        tier = next(number for number, tier in enumerate(batch.dag_tiers) if collection.collection_id in tier)
        if batch.tier_status(tier) == rules.IN_PROGRESS:
            status = "processing"
        else:
            status = "ready" if count else "empty"
        return {"collection_id": collection.collection_id, "collection_name": collection.collection_name,
                "document_count": count, "expected_documents": None, "status": status}

    def _performance(self, batch: Batch) -> dict[str, Any]:
        progress = batch.progress() or {}
        return {"duration_seconds": _seconds(batch.started_at, batch.completed_at),
                "objects_per_second": progress.get("items_per_second"),
                "documents_written": batch.documents_written, "objects_failed": batch.failed_object_count,
                "objects_skipped": batch.objects_skipped, "attempt": batch.attempt, "retry_count": batch.retry_count}

    def _insights(self, batch: Batch) -> list[dict[str, Any]]:
        insights = []
        kinds = Counter(record.error_type for record in batch.failed_objects)
        for kind, count in sorted(kinds.items()):
            advice = {rules.TRANSIENT: "retry the batch: these failures may pass",
                      rules.RESOURCE: "retry the batch: these failures may pass with resources freed",
                      rules.PERMANENT: "fix or remove these objects: retrying gives the same error"}.get(kind)
            insights.append({"type": "warning", "severity": "critical" if kind == rules.PERMANENT else "warning",
                             "message": f"{count} object(s) failed with {kind} errors "
                                        f"(first: {next(r.error for r in batch.failed_objects if r.error_type == kind)})",
                             "stage": "extraction", "metric_value": count, "recommendation": advice})
        if batch.objects_skipped:
            insights.append({"type": "optimization", "severity": "info",
                             "message": f"{batch.objects_skipped} object(s) were skipped: already written "
                                        f"(dedup_strategy {batch.dedup_strategy}) or in a canceled job",
                             "stage": "dedup", "metric_value": batch.objects_skipped,
                             "recommendation": "use dedup_strategy 'replace' to write them again"})
        if batch.documents_skipped:
            insights.append({"type": "warning", "severity": "info",
                             "message": f"{batch.documents_skipped} source(s) lacked the property the extractor "
                                        "reads and made no document", "stage": "extraction",
                             "metric_value": batch.documents_skipped,
                             "recommendation": "check the collection's input_mappings"})
        return insights

    def _next_actions(self, batch: Batch, health: str, failed_tiers: list[int]) -> list[str]:
        base = f"/v1/buckets/{batch.bucket_id}/batches/{batch.batch_id}"
        if batch.status == rules.DRAFT:
            return [f"POST {base}/objects to add objects" if not batch.object_ids else f"POST {base}/submit"]
        actions = []
        if health == "stuck":
            tier = batch.current_tier or 0
            actions.append(f'POST {base}/tiers/{tier}/heal {{"action": "detect_stuck"}} to requeue the stuck job(s)')
        if batch.status in (rules.COMPLETED_WITH_ERRORS, rules.FAILED) and batch.failed_objects:
            actions.append(f"GET {base}/failed-documents, then POST {base}/retry to run the failed objects again")
        for tier in failed_tiers:
            actions.append(f"POST {base}/tiers/{tier}/retry to run tier {tier} and the tiers after it again")
        if batch.status == rules.CANCELED:
            canceled = [number for number in range(len(batch.dag_tiers))
                        if batch.tier_status(number) == rules.CANCELED]
            actions.append(f"POST {base}/tiers/{canceled[0]}/retry to run the canceled tier and the ones after it"
                           if canceled else f"POST {base}/resubmit to run the batch again")
        if batch.terminal and not batch.documents_resolvable and batch.documents_written:
            actions.append(f"GET {base} until documents_resolvable is true: the documents are being indexed")
        return actions

    # -- audit -------------------------------------------------------------------------------------------------------

    def audit(self, address: BatchAddress) -> dict[str, Any]:
        """Each tier's completion accounting (the SDK's TierAuditInfo) and the recorded state changes, oldest
        first."""
        _, batch = self._batches.find(address)
        tiers = [rules.tier_audit(batch, number) for number in range(len(batch.dag_tiers))]
        return {"batch_id": batch.batch_id, "status": batch.status, "attempt": batch.attempt,
                "total_objects": len(batch.work), "tiers": tiers,
                "has_lost_objects": any(tier["lost"] for tier in tiers),
                "transitions": list(batch.transitions), "transitions_total": batch.transition_count,
                "transitions_kept": len(batch.transitions)}

    # -- estimate ----------------------------------------------------------------------------------------------------

    def estimate(self, address: BatchAddress) -> dict[str, Any]:
        """The SDK's BatchCostEstimate, from what this deployment has: what the batch would run (objects, bytes by
        type, tiers, jobs, models, heavy tiers) and how much of it was extracted before. Changes nothing."""
        namespace, batch = self._batches.find(address)
        warnings = [NO_BILLING]
        try:
            tiers = [list(tier) for tier in batch.dag_tiers] or self._batches.planned_tiers(namespace, batch)
        except DomainError as error:
            tiers = []
            warnings.append(f"the batch cannot be submitted as it is: {error.message}")
        if not tiers:
            warnings.append(f"no collection reads from bucket {batch.bucket_id}: submitting would be refused")
        collections = {collection.collection_id: collection for collection in
                       self._collections.list_in(namespace.namespace_id)}
        used = [collections[cid] for tier in tiers for cid in tier if cid in collections]
        work = list(batch.work)
        found = self._objects_of(namespace, batch, work)
        extracted = [obj for obj in found if obj.status == "COMPLETED"]
        types: Counter[str] = Counter()
        for obj in found:
            for blob in obj.blobs:
                types[blob.get("type") or "text"] += 1
        parts = batch.part_count if work else 0
        heavy = [number for number, tier in enumerate(tiers)
                 if any(collections[cid].feature_extractor.feature_extractor_name in HEAVY_EXTRACTORS
                        for cid in tier if cid in collections)]
        summary = {
            "objects": len(work), "objects_missing": len(work) - len(found),
            "blobs_by_type": dict(sorted(types.items())), "bytes": sum(obj.size_bytes for obj in found),
            "tiers": len(tiers), "jobs_per_tier": parts, "jobs": parts * len(tiers), "objects_per_job": rules.PART_SIZE,
            "models": sorted({index.inference_service for collection in used for index in collection.vector_indexes
                              if index.inference_service}),
            "heavy_tiers": heavy,
        }
        if len(found) < len(work):
            warnings.append(f"{len(work) - len(found)} object(s) of the batch are no longer in the bucket: they "
                            "would fail")
        if extracted and batch.dedup_strategy in ("replace", "force"):
            warnings.append(f"{len(extracted)} object(s) were extracted before and would be extracted again "
                            f"(dedup_strategy {batch.dedup_strategy})")
        answer = {
            "batch_id": batch.batch_id, "collection_ids": [cid for tier in tiers for cid in tier],
            "dedup_strategy": batch.dedup_strategy, "object_count": len(work),
            "already_extracted_count": len(extracted), "estimated_credits": 0, "estimated_usd": None,
            "estimated_repay_credits": 0,
            "features": sorted({index.feature_uri for collection in used for index in collection.vector_indexes}),
            "extractors": sorted({f"{collection.feature_extractor.feature_extractor_name}@"
                                  f"{collection.feature_extractor.version}" for collection in used}),
            "content_summary": summary, "warnings": warnings,
        }
        if batch.dedup_strategy == "replace":
            answer["documents_to_remove"] = self._documents_of(namespace, [c.collection_id for c in used], work)
        return answer

    def _objects_of(self, namespace: Namespace, batch: Batch, object_ids: list[str]) -> list[BucketObject]:
        if len(object_ids) <= LOOKUPS_BEFORE_SCAN:
            found = (self._objects.get(namespace.org_id, namespace.namespace_id, batch.bucket_id, object_id)
                     for object_id in object_ids)
            return [obj for obj in found if obj is not None]
        wanted = set(object_ids)
        return [obj for obj in self._objects.iterate_bucket(namespace.org_id, namespace.namespace_id, batch.bucket_id)
                if obj.object_id in wanted]

    def _documents_of(self, namespace: Namespace, collection_ids: list[str], object_ids: list[str]) -> int:
        """Documents the objects have now in these collections (what a replace may remove)."""
        if not collection_ids or not object_ids or not self._vectors.collection_exists(namespace.collection):
            return 0
        total = 0
        for first in range(0, len(object_ids), IDS_PER_COUNT):
            total += self._vectors.count(namespace.collection, Filter(must=(
                MatchAny("collection_id", tuple(collection_ids)),
                MatchAny("root_object_id", tuple(object_ids[first:first + IDS_PER_COUNT])))))
        return total


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((parse(end) - parse(start)).total_seconds(), 3)
