"""A collection against its source (CollectionsApi reconciliation and trigger).

Reconciliation compares what the source holds (a bucket source's objects; a collection source's upstream documents)
with the documents the collection made from it: how many produced at least one document, which produced none and why
(the object's own status), and which documents point at a source object that is gone.

Trigger processes the source now through the batch service, as a batch submitted by hand would: one batch per source
bucket, scoped to this collection (and the collections downstream of it). Batches here are rooted in a bucket, so a
collection-sourced collection is triggered through the bucket its chain of upstream collections starts from, scoped to
the first collection of that chain; with the default dedup strategy (`skip`) every collection on the way skips the
sources it has already materialised, so what runs is what this collection is missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from openpeek.domain import batches as batch_rules
from openpeek.domain.clock import parse, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.services.collections.collections import CollectionService
from openpeek.services.collections.documents import CollectionDocumentService
from openpeek.services.ingestion.batches import BatchAddress, BatchService
from openpeek.services.organizations import Principal

DEFAULT_LIMIT = 100
_REASONS = {"FAILED": "failed", "IN_PROGRESS": "processing", "PENDING": "no_document"}


class CollectionSourcing:
    def __init__(self, collections: CollectionService, documents: Callable[[], CollectionDocumentService],
                 buckets: BucketRepository, objects: ObjectRepository,
                 batches: Callable[[], BatchService | None]) -> None:
        self._collections = collections
        self._documents = documents  # the document service in force: the tiering wiring replaces it at start-up
        self._buckets = buckets
        self._objects = objects
        self._batches = batches

    # -- reconciliation -------------------------------------------------------------------------------------------

    def reconcile(self, namespace: Namespace, identifier: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        collection = self._collections.get(namespace, identifier)
        by_source: dict[str, int] = {}  # source id -> documents made from it
        orphans: list[dict[str, Any]] = []
        document_count = 0
        from_bucket = collection.source.type == "bucket"
        sources = self._bucket_objects(namespace, collection) if from_bucket else self._upstream(namespace, collection)
        for document in self._documents().each(namespace, collection.collection_id):
            document_count += 1
            source_id = document.get("source_object_id" if from_bucket else "source_document_id") \
                or document.get("root_object_id")
            if source_id is None:
                continue
            by_source[source_id] = by_source.get(source_id, 0) + 1
            if source_id not in sources:
                orphans.append({"document_id": document["document_id"], "source_id": source_id})
        now = utcnow()
        produced = 0
        discrepancies = []
        for source_id, obj in sources.items():
            if by_source.get(source_id):
                produced += 1
                continue
            discrepancies.append(_discrepancy(source_id, obj, now))
        return {
            "collection_id": collection.collection_id, "source_object_count": len(sources),
            "produced_object_count": produced, "document_count": document_count,
            "delta": len(sources) - produced, "discrepancies": discrepancies[:limit],
            "discrepancies_truncated": len(discrepancies) > limit, "limit": limit,
            # Beyond the SDK's model (its parser ignores them): documents whose source is gone from the source.
            "orphaned_document_count": len(orphans), "orphaned_documents": orphans[:limit],
        }

    def _bucket_objects(self, namespace: Namespace, collection: Collection) -> dict[str, BucketObject | None]:
        found: dict[str, BucketObject | None] = {}
        for bucket_id in collection.source.bucket_ids:
            for obj in self._objects.iterate_bucket(namespace.org_id, namespace.namespace_id, bucket_id):
                found[obj.object_id] = obj
        return found

    def _upstream(self, namespace: Namespace, collection: Collection) -> dict[str, BucketObject | None]:
        """The upstream collection's documents, the sources of a collection-sourced collection (no object of their
        own: None)."""
        return {document["document_id"]: None
                for document in self._documents().each(namespace, collection.source.collection_id or "")}

    # -- trigger --------------------------------------------------------------------------------------------------

    def trigger(self, caller: Principal, namespace: Namespace, identifier: str,
                request: dict[str, Any]) -> dict[str, Any]:
        """One batch per source bucket holding matching objects, each submitted; a request that selects no object
        is refused (400) and leaves nothing behind."""
        batches = self._batches()
        if batches is None:
            raise BadRequest("batch processing is not configured in this deployment", code="batches_unavailable")
        if request.get("reembed") is not None:
            raise BadRequest("re-embedding stored document text is not available here; trigger with dedup_strategy "
                             "'force' to process the sources again", code="reembed_unsupported",
                             details={"field": "reembed"})
        if request.get("object_ids") is not None and request.get("source_filters") is not None:
            raise BadRequest("give object_ids or source_filters, not both", code="invalid_trigger",
                             details={"fields": ["object_ids", "source_filters"]})
        collection = self._collections.get(namespace, identifier)
        root, chain = self._root_of(namespace, collection)
        if collection.source.type == "bucket":
            if request.get("include_collections"):
                raise BadRequest("include_collections applies to collection-sourced collections; this one reads "
                                 "buckets (use include_buckets)", code="invalid_trigger")
            bucket_ids = self._chosen_buckets(namespace, root, request.get("include_buckets"))
        else:
            if request.get("include_buckets"):
                raise BadRequest("include_buckets applies to bucket-sourced collections; this one reads a "
                                 "collection (use include_collections)", code="invalid_trigger")
            upstream = collection.source.collection_id
            for named in request.get("include_collections") or []:
                found = self._collections.find(namespace, named)
                if found is None:
                    raise NotFound("collection", named)
                if found.collection_id != upstream:
                    raise BadRequest(f"collection '{named}' is not this collection's source ({upstream})",
                                     code="invalid_trigger", details={"collection_id": found.collection_id})
            bucket_ids = list(root.source.bucket_ids)
        selections = self._selections(namespace, bucket_ids, request)
        drafts = []
        try:
            for bucket_id, selection in selections:
                draft = batches.create(namespace, bucket_id, {
                    **selection, "collection_ids": [root.collection_id],
                    "dedup_strategy": request.get("dedup_strategy") or "skip",
                    "batch_name": f"trigger {collection.collection_name}",
                    "metadata": {"trigger": {"collection_id": collection.collection_id}}}, auto_submit=False)
                drafts.append(draft)
        except Exception:  # whatever stopped it, no half-made trigger stays: the drafts so far go, the error stands
            self._discard(caller, namespace, drafts)
            raise
        empty = [draft for draft in drafts if not draft["object_ids"]]
        self._discard(caller, namespace, empty)
        drafts = [draft for draft in drafts if draft["object_ids"]]
        if not drafts:
            raise BadRequest("the source holds no objects that match this trigger", code="nothing_to_process",
                             details={"bucket_ids": bucket_ids})
        tasks = []
        for position, draft in enumerate(drafts):
            try:
                tasks.append(batches.submit(BatchAddress(caller, draft["batch_id"], namespace=namespace,
                                                         bucket_identifier=draft["bucket_id"]), {}))
            except Exception:  # re-raised below, after the drafts it leaves unsubmitted are gone
                # A batch that could not start is already FAILED with the reason; the drafts after it go.
                self._discard(caller, namespace, drafts[position + 1:])
                raise
        submitted = [batches.get(BatchAddress(caller, draft["batch_id"], namespace=namespace,
                                              bucket_identifier=draft["bucket_id"])) for draft in drafts]
        several = len(drafts) > 1
        object_count = sum(len(draft["object_ids"]) for draft in drafts)
        via = "" if not chain else f" through {root.collection_name} (its source chain starts there)"
        return {
            "batch_id": drafts[0]["batch_id"], "task_id": tasks[0]["task_id"],
            "collection_id": collection.collection_id,
            "source_bucket_ids": [draft["bucket_id"] for draft in drafts] if not chain else None,
            "source_collection_ids": [collection.source.collection_id] if chain else None,
            "object_count": object_count,
            "batch_ids": [draft["batch_id"] for draft in drafts] if several else None,
            "task_ids": [task["task_id"] for task in tasks] if several else None,
            "batch_count": len(drafts) if several else None,
            "total_tiers": max(view["total_tiers"] for view in submitted),
            "message": f"{len(drafts)} batch(es) of {object_count} object(s) submitted{via}",
        }

    def _root_of(self, namespace: Namespace, collection: Collection) -> tuple[Collection, list[Collection]]:
        """The bucket-sourced collection a collection's source chain starts from, and the collections between."""
        chain: list[Collection] = []
        current = collection
        while current.source.type == "collection":
            upstream = self._collections.find(namespace, current.source.collection_id or "")
            if upstream is None or len(chain) > 32:
                raise BadRequest(f"collection '{current.collection_name}' reads from a collection that no longer "
                                 "exists", code="source_missing",
                                 details={"collection_id": current.source.collection_id})
            chain.append(upstream)
            current = upstream
        return current, chain

    def _chosen_buckets(self, namespace: Namespace, root: Collection, include: list[str] | None) -> list[str]:
        if not include:
            return list(root.source.bucket_ids)
        chosen = []
        for identifier in include:
            bucket = self._buckets.get(namespace.org_id, namespace.namespace_id, identifier)
            if bucket is None:
                raise NotFound("bucket", identifier)
            if bucket.bucket_id not in root.source.bucket_ids:
                raise BadRequest(f"bucket '{identifier}' is not a source of this collection", code="invalid_trigger",
                                 details={"bucket_id": bucket.bucket_id,
                                          "source_bucket_ids": list(root.source.bucket_ids)})
            chosen.append(bucket.bucket_id)
        return list(dict.fromkeys(chosen))

    def _selections(self, namespace: Namespace, bucket_ids: list[str],
                    request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """What each bucket's batch takes: the named objects that are in it, or its objects passing the filters
        (every object without either). Named objects found in none of the buckets: 400 before anything is made."""
        if request.get("object_ids") is None:
            return [(bucket_id, {"filters": request.get("source_filters") or {}}) for bucket_id in bucket_ids]
        wanted = list(dict.fromkeys(request["object_ids"]))
        batch_rules.check_size(len(wanted))
        placed: dict[str, list[str]] = {bucket_id: [] for bucket_id in bucket_ids}
        missing = []
        for object_id in wanted:
            home = next((bucket_id for bucket_id in bucket_ids if self._objects.get(
                namespace.org_id, namespace.namespace_id, bucket_id, object_id) is not None), None)
            if home is None:
                missing.append(object_id)
            else:
                placed[home].append(object_id)
        if missing:
            raise BadRequest(f"{len(missing)} object(s) are in none of the source buckets: {', '.join(missing[:10])}",
                             code="object_not_found", details={"object_ids": missing[:100]})
        return [(bucket_id, {"object_ids": ids}) for bucket_id, ids in placed.items() if ids]

    def _discard(self, caller: Principal, namespace: Namespace, drafts: list[dict[str, Any]]) -> None:
        batches = self._batches()
        for draft in drafts:
            if batches is not None:
                batches.delete(BatchAddress(caller, draft["batch_id"], namespace=namespace,
                                            bucket_identifier=draft["bucket_id"]))


def _discrepancy(source_id: str, obj: BucketObject | None, now: datetime) -> dict[str, Any]:
    if obj is None:  # an upstream document
        return {"object_id": source_id, "bucket_id": None, "reason": "no_document", "status": None}
    reason = _REASONS.get(obj.status, "unknown")
    if obj.status == "COMPLETED":
        # Processed, but not into this collection: by another collection only, or into nothing at all.
        reason = "no_document" if obj.document_count else "skipped"
    age = None
    if obj.created_at:
        try:
            age = max(0.0, (now - parse(obj.created_at)).total_seconds())
        except ValueError:
            age = None
    return {"object_id": source_id, "bucket_id": obj.bucket_id, "reason": reason, "status": obj.status,
            "age_seconds": age, "error": obj.error}
