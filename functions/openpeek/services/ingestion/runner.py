"""Runs a submitted batch: its objects through each tier of collections, a group of objects at a time.

Each group is read, extracted, embedded and written, then the batch's checkpoint (`cursor`, counts) is saved. A run
that stops anywhere — a killed process, a restarted server — resumes from the last checkpoint; the group it was in
is written again onto the same document ids (derived from collection, source and chunk), so nothing is duplicated
and no acknowledged object is lost. Cancel is seen between groups (within seconds); a run whose batch was
resubmitted meanwhile (a newer `attempt`) stops the same way.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

from openpeek.garbage_collection import fewer_collections
from openpeek.domain import batches as rules
from openpeek.domain import documents as document_rules
from openpeek.domain import tiering
from openpeek.domain.batches import Batch, FailedObject
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import Conflict, DomainError
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.domain.tasks import TerminalTask
from openpeek.domain.conditions import Filter, HasIds, MatchAny, MatchValue
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import BlobNotFound, ConditionFailed, DependencyUnavailable, EmbeddingInputRejected
from openpeek.domain.vectors import VectorPoint
from openpeek.ports import Embedder, EventBus, VectorStore, BlobStore, Table
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.ingestion import extractors
from openpeek.services.ingestion.extractors import Draft, ExtractionFailed, Extractor, Source, SourceBlob

logger = logging.getLogger(__name__)

GROUP_SIZE = 128  # objects per checkpoint: large enough to batch the model, small enough to resume cheaply
UPSERT_SIZE = 1000  # points per vector-store call
MAX_EVENT_IDS = 100


@dataclass
class _GroupResult:
    written: int = 0
    replaced: int = 0
    skipped_objects: int = 0
    missing_input: int = 0  # sources without the property the extractor reads: nothing to make, not a failure
    failures: list[FailedObject] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)
    per_collection: dict[str, list[str]] = field(default_factory=dict)


def _advanced(batch: Batch, now: datetime, cursor: int, count: int, result: _GroupResult, tier: int | None = None,
              part: int | None = None) -> Batch:
    """The batch with a group's outcome counted (and its checkpoint at `cursor`), in its tier and part."""
    return batch.advanced(now, cursor=cursor, processed=count, written=result.written, replaced=result.replaced,
                          skipped_docs=result.missing_input, skipped_objects=result.skipped_objects,
                          failures=result.failures, tier=tier, part=part)


class BatchStopped(Exception):
    """The batch was canceled, deleted or resubmitted while this run held it."""


# Fills the drafts (by source id) of one collection with their vectors; returns the sources whose vectors could not be
# made, each with an ExtractionFailed saying why and whether retrying can help. DependencyUnavailable fails them all
# as transient (`retry` finishes them).
Completer = Callable[[Collection, Extractor, dict[str, list[Draft]]], dict[str, ExtractionFailed]]


def complete_here(collection: Collection, extractor: Extractor,
                  drafts: dict[str, list[Draft]]) -> dict[str, ExtractionFailed]:
    """The extractor's model, in this process (Lambda, the embedded worker). When the model refuses an input of the
    group, the sources are embedded one by one so only the refused ones fail (as permanent)."""
    try:
        extractor.complete([draft for group in drafts.values() for draft in group])
        return {}
    except EmbeddingInputRejected:
        pass
    refused: dict[str, ExtractionFailed] = {}
    for source_id, group in drafts.items():
        try:
            extractor.complete(group)
        except EmbeddingInputRejected as error:
            refused[source_id] = ExtractionFailed(str(error), rules.PERMANENT)
    return refused


@dataclass(frozen=True)
class StagedDraft:
    """A draft a heavy tier's extraction job embeds: where it goes, and what the model reads."""

    collection_id: str
    source_id: str
    chunk_key: str
    text: str | None
    image: bytes | None


class BatchRunner:
    def __init__(self, table: Table, batches: BatchRepository, namespaces: NamespaceRepository,
                 collections: CollectionRepository,
                 objects: ObjectRepository, tasks: TaskRepository, vectors: VectorStore, blobs: BlobStore,
                 events: EventBus, embedder_for: Callable[[str], Embedder], *,
                 notify: Callable[[str, str, str, DomainEvent], Any] | None = None,
                 clock: Callable[[], datetime] = utcnow, group_size: int = GROUP_SIZE) -> None:
        self._table = table
        self._batches = batches
        self._namespaces = namespaces
        self._collections = collections
        self._objects = objects
        self._tasks = tasks
        self._vectors = vectors
        self._blobs = blobs
        self._events = events
        self._embedder_for = embedder_for
        self._notify = notify
        self._clock = clock
        self._group_size = group_size

    # -- entry point -------------------------------------------------------------------------------------------------

    def run(self, namespace_id: str, batch_id: str, attempt: int, worker: str | None = None) -> Batch | None:
        """Run (or resume) the batch's given attempt to its end. Returns the batch as it ended, or None when there
        was nothing to run (gone, ended, or a newer attempt owns it)."""
        held = self._held(namespace_id, batch_id, attempt)
        if held is None:
            return None
        namespace, batch = held
        try:
            batch = self._save(batch, batch.started(self._clock(), worker))
            self._move_task(batch, "PROCESSING")
            tiers = [self._tier_collections(namespace, tier) for tier in batch.dag_tiers]
            while batch.current_tier is not None and batch.current_tier < len(tiers):
                batch = self._run_tier(namespace, batch, tiers[batch.current_tier], worker)
                if batch.current_tier + 1 < len(tiers) and batch.runs_tier(batch.current_tier + 1):
                    batch = self._update(batch, lambda current: current.next_tier(self._clock()))
                else:
                    break  # the last tier, or the next one was canceled: the batch ends here
            batch = self._finish(namespace, batch)
        except BatchStopped:
            current = self._batches.get(namespace_id, batch_id)
            if current is not None and current.status == rules.CANCELED and current.attempt == attempt:
                self._announce(namespace, current)  # its webhook_url hears of the cancel too
            return current
        except DomainError as error:  # the run cannot start (a collection's extractor is unusable here)
            batch = self._fail(namespace_id, batch_id, attempt, error.message)
        except DependencyUnavailable as error:
            batch = self._fail(namespace_id, batch_id, attempt, f"a dependency failed: {error}")
        except Exception as error:  # noqa: BLE001 - the batch ends FAILED with the reason, never stuck
            logger.exception("batch %s failed", batch_id)
            batch = self._fail(namespace_id, batch_id, attempt, f"{type(error).__name__}: {error}")
        if batch is not None and batch.terminal:
            self._announce(namespace, batch)
        return batch

    # -- the same run in steps (Step Functions: begin once, run_part per manifest part in parallel, conclude) ---------

    def begin(self, namespace_id: str, batch_id: str, attempt: int) -> Batch | None:
        """Mark the batch IN_PROGRESS; None when there is nothing to run (gone, ended, or a newer attempt owns it).
        Raises DomainError when a collection's extractor cannot run here (the caller fails the batch)."""
        held = self._held(namespace_id, batch_id, attempt)
        if held is None:
            return None
        namespace, batch = held
        for tier in batch.dag_tiers:
            self._tier_collections(namespace, tier)  # refuse now, not in every part
        try:
            batch = self._save(batch, batch.started(self._clock(), None))
        except BatchStopped:
            return None
        self._move_task(batch, "PROCESSING")
        return batch

    def run_part(self, namespace_id: str, batch_id: str, attempt: int, tier: int, object_ids: list[str],
                 completer: Completer = complete_here, part: int = 0) -> int:
        """One manifest part (a job) of one tier: its objects processed a group at a time, the counts added to the
        batch. Parts of a tier run in parallel, each claiming its part first; returns the documents written (0 when
        the batch, the tier or the part was stopped: a canceled part's remaining objects are counted as skipped).
        `completer` makes the vectors: the model here, or (heavy tiers) what the tier's extraction job made of
        `stage_part`."""
        held = self._held(namespace_id, batch_id, attempt)
        if held is None:
            return 0
        namespace, batch = held
        if not batch.runs_tier(tier):
            return 0
        collections = self._tier_collections(namespace, batch.dag_tiers[tier])
        try:
            batch = self._update(batch, lambda current: current.claimed(self._clock(), tier, part, None))
        except BatchStopped:
            return 0
        except Conflict:  # canceled before it started (its objects are skipped), or done by an earlier try
            if batch.part(tier, part).status == rules.CANCELED:
                self._skip_rest(batch, tier, part, len(object_ids))
            return 0
        written = 0
        # A retried step (its Lambda timed out) starts after the groups the earlier try counted already.
        for first in range(batch.part(tier, part).processed, len(object_ids), self._group_size):
            if batch.part(tier, part).status == rules.CANCELED:
                self._skip_rest(batch, tier, part, len(object_ids))
                return written
            group = object_ids[first:first + self._group_size]
            with fewer_collections():
                if tier == 0:
                    result = self._objects_group(namespace, batch, group, collections, completer)
                else:
                    result = self._documents_group(namespace, batch, group, collections, completer)
            try:
                batch = self._count(batch, len(group), result, tier, part)
            except BatchStopped:
                return written + result.written
            written += result.written
            self._publish_written(namespace, batch, result)
        try:
            self._update(batch, lambda current: current.part_finished(self._clock(), tier, part))
        except BatchStopped:
            pass
        return written

    def _update(self, batch: Batch, change: Callable[[Batch], Batch]) -> Batch:
        """Apply `change` to the stored batch, again on a fresher copy when someone else saved it meanwhile (parts of
        a tier save the same item in parallel). BatchStopped when the attempt has ended or been taken over."""
        for _ in range(20):
            try:
                return self._batches.save(change(batch), batch)
            except ConditionFailed:
                current = self._batches.get(batch.namespace_id, batch.batch_id)
                if current is None or current.attempt != batch.attempt or current.terminal:
                    raise BatchStopped() from None
                batch = current
        raise ConditionFailed(f"batch {batch.batch_id} kept changing while it was updated")

    def _skip_rest(self, batch: Batch, tier: int, part: int, size: int, cursor: int | None = None) -> Batch:
        """A canceled part of `size` objects: those it had not reached are counted as deliberately not processed."""
        try:
            return self._update(batch, lambda current: current.part_skipped(self._clock(), tier, part, size, cursor))
        except BatchStopped:
            return batch

    def heavy_tiers(self, batch: Batch) -> list[bool]:
        """Per tier, whether its extractors embed images (deployed, such a tier runs as a SageMaker Processing job)."""
        namespace = self._namespaces.get(batch.org_id, batch.namespace_id)
        if namespace is None:
            return [False] * len(batch.dag_tiers)
        return [any(collection.feature_extractor.feature_extractor_name in extractors.HEAVY_EXTRACTORS
                    for collection, _ in self._tier_collections(namespace, tier)) for tier in batch.dag_tiers]

    def tier_collections(self, namespace_id: str, batch_id: str, tier: int) -> list[Collection]:
        batch = self._batches.get(namespace_id, batch_id)
        namespace = None if batch is None else self._namespaces.get(batch.org_id, namespace_id)
        if batch is None or namespace is None:
            return []
        return [collection for collection, _ in self._tier_collections(namespace, batch.dag_tiers[tier])]

    def stage_part(self, namespace_id: str, batch_id: str, attempt: int, tier: int,
                   object_ids: list[str], part: int = 0) -> Iterator[list[StagedDraft]]:
        """What a heavy tier's extraction job must embed for a manifest part: every source's drafts, per collection,
        a group of objects at a time (images are large: the caller writes each group out before the next is read).
        Sources that cannot be read or drafted are left out; `run_part` meets them again and records why. Nothing
        when the tier or the part was canceled or the part is done: its job has nothing to embed."""
        held = self._held(namespace_id, batch_id, attempt)
        if held is None:
            return
        namespace, batch = held
        if not batch.runs_tier(tier) or batch.part(tier, part).status in (rules.CANCELED, rules.COMPLETED):
            return
        collections = self._tier_collections(namespace, batch.dag_tiers[tier])
        for first in range(0, len(object_ids), self._group_size):
            group = object_ids[first:first + self._group_size]
            staged: list[StagedDraft] = []
            for collection, extractor in collections:
                for source_id, source in self._sources(namespace, batch, collection, tier, group).items():
                    try:
                        drafts = extractor.drafts(source)
                    except ExtractionFailed:
                        continue
                    staged.extend(StagedDraft(collection.collection_id, source_id, draft.chunk_key, draft.text,
                                              draft.image)
                                  for draft in drafts if draft.text or draft.image is not None)
            yield staged

    def _sources(self, namespace: Namespace, batch: Batch, collection: Collection, tier: int,
                 object_ids: list[str]) -> dict[str, Source]:
        if tier > 0:
            parent = collection.source.collection_id or ""
            upstream = self._scroll(namespace, Filter(must=(MatchValue("collection_id", parent),
                                                            MatchAny("root_object_id", tuple(object_ids)))))
            return {point.id: Source(point.id, {k: v for k, v in point.payload.items()
                                                if k != document_rules.INTERNAL}) for point in upstream}
        sources = {}
        for object_id in object_ids:
            obj = self._objects.get(batch.org_id, batch.namespace_id, batch.bucket_id, object_id)
            if obj is None:
                continue
            try:
                sources[object_id] = self._source(obj)
            except ExtractionFailed:
                continue
        return sources

    def _held(self, namespace_id: str, batch_id: str, attempt: int) -> tuple[Namespace, Batch] | None:
        """The batch and its namespace while this attempt still owns a running batch; None when it is gone, has
        ended, or a newer attempt took it over."""
        batch = self._batches.get(namespace_id, batch_id)
        if batch is None or batch.terminal or batch.attempt != attempt:
            return None
        namespace = self._namespaces.get(batch.org_id, namespace_id)
        return None if namespace is None else (namespace, batch)

    def conclude(self, namespace_id: str, batch_id: str, attempt: int) -> Batch | None:
        """Every part has run: the batch ends (COMPLETED, with errors, or FAILED) and says so."""
        batch = self._batches.get(namespace_id, batch_id)
        if batch is None or batch.attempt != attempt:
            return batch
        namespace = self._namespaces.get(batch.org_id, namespace_id)
        if namespace is None or batch.terminal:
            if namespace is not None and batch.status == rules.CANCELED:
                self._announce(namespace, batch)
            return batch
        try:
            batch = self._finish(namespace, batch)
        except BatchStopped:
            return self._batches.get(namespace_id, batch_id)
        self._announce(namespace, batch)
        return batch

    def mark_failed(self, namespace_id: str, batch_id: str, attempt: int, reason: str) -> Batch | None:
        batch = self._fail(namespace_id, batch_id, attempt, reason)
        if batch is not None and batch.terminal and batch.attempt == attempt:
            namespace = self._namespaces.get(batch.org_id, namespace_id)
            if namespace is not None:
                self._announce(namespace, batch)
        return batch

    def _count(self, batch: Batch, count: int, result: "_GroupResult", tier: int, part: int) -> Batch:
        """Add a part's group to the batch's counts (no cursor: parts finish in any order)."""
        now = self._clock()
        saved = self._update(batch, lambda current: _advanced(current, now, current.cursor, count, result, tier, part))
        self._task_progress(saved)
        return saved

    # -- tiers -------------------------------------------------------------------------------------------------------

    def _tier_collections(self, namespace: Namespace, tier: Sequence[str]) -> list[tuple[Collection, Extractor]]:
        found = []
        for collection_id in tier:
            collection = self._collections.find_in(namespace.namespace_id, collection_id)
            if collection is None:
                continue  # deleted since the batch was submitted: nothing to write into
            # Documents are written to active collections only (frozen, cold, archived or moving: the batch fails
            # naming the collection and its state).
            tier_state = TierStateRepository(self._table).get(namespace.namespace_id, collection.collection_id)
            if collection.lifecycle_state != tiering.ACTIVE or tier_state.transition is not None:
                tiering.refuse_write(collection.collection_name, collection.lifecycle_state, tier_state.transition)
            config = collection.feature_extractor.public()
            index_names = {index.vector_name: index.vector_name for index in collection.vector_indexes}
            # The model the collection's index was made for embeds its documents, whatever this deployment's default.
            model = next((index.inference_service for index in collection.vector_indexes if index.inference_service),
                         None)
            extractor = extractors.build(config, self._embedder_for, index_names, model=model)
            found.append((collection, extractor))
        return found

    def _run_tier(self, namespace: Namespace, batch: Batch, collections: list[tuple[Collection, Extractor]],
                  worker: str | None = None) -> Batch:
        """The tier's parts in order, each claimed before its first group; a group never crosses into the next part,
        so a part's checkpoint is its own. A part canceled meanwhile is skipped from where it had got to."""
        tier = batch.current_tier or 0
        while batch.cursor < len(batch.work):
            current = self._batches.get(batch.namespace_id, batch.batch_id)
            if current is None or current.terminal or current.attempt != batch.attempt:
                raise BatchStopped()
            batch = current
            part = batch.cursor // rules.PART_SIZE
            end = batch.part_range(part)[1]
            claim = batch.part(tier, part)
            if claim.status == rules.COMPLETED:  # run by another path of the same attempt (a step function's rerun)
                batch = self._update(batch, lambda current: current.stamped(self._clock(), cursor=end))
                continue
            if claim.status == rules.CANCELED:
                first = batch.part_range(part)[0]
                skipped = self._skip_rest(batch, tier, part, end - first, cursor=end)
                if skipped is batch:
                    raise BatchStopped()
                batch = skipped
                continue
            if claim.status != rules.RUNNING or claim.worker != worker:
                try:
                    batch = self._update(batch, lambda current: current.claimed(self._clock(), tier, part, worker))
                except Conflict:
                    continue  # canceled just now: the next round skips it (a COMPLETED part is behind the cursor)
            group = list(batch.work[batch.cursor:min(batch.cursor + self._group_size, end)])
            with fewer_collections():  # the group's drafts and points are many short-lived lists
                if tier == 0:
                    result = self._objects_group(namespace, batch, group, collections)
                else:
                    result = self._documents_group(namespace, batch, group, collections)
            batch = self._checkpoint(batch, len(group), result, tier, part)
            if batch.cursor >= end:
                batch = self._update(batch, lambda current: current.part_finished(self._clock(), tier, part))
            self._publish_written(namespace, batch, result)
        return batch

    def _objects_group(self, namespace: Namespace, batch: Batch, object_ids: list[str],
                       collections: list[tuple[Collection, Extractor]],
                       completer: Completer = complete_here) -> _GroupResult:
        result = _GroupResult()
        now = isoformat(self._clock())
        sources: dict[str, tuple[BucketObject, Source]] = {}
        failed: dict[str, FailedObject] = {}
        found: dict[str, BucketObject] = {}
        for object_id in object_ids:
            obj = self._objects.get(batch.org_id, batch.namespace_id, batch.bucket_id, object_id)
            if obj is None:
                failed[object_id] = FailedObject(object_id, "the object was deleted before it was processed",
                                                 rules.PERMANENT, now)
                continue
            found[object_id] = obj
            try:
                sources[object_id] = (obj, self._source(obj))
            except ExtractionFailed as error:
                failed[object_id] = FailedObject(object_id, str(error), error.error_type, now)
        counts: dict[str, int] = {object_id: 0 for object_id in sources}
        for collection, extractor in collections:
            # Every stored string costs Edge a conversion per point: tier 0 keeps the lineage a reader needs
            # (the object, its bucket), not a path that only repeats them.
            lineage = {object_id: {"source_type": "bucket", "root_object_id": object_id,
                                   "root_bucket_id": batch.bucket_id, "source_object_id": object_id}
                       for object_id in sources}
            pending = {object_id: source for object_id, (_, source) in sources.items() if object_id not in failed}
            written = self._extract_and_write(namespace, batch, collection, extractor, pending, lineage, failed,
                                              result, now, completer)
            for object_id, count in written.items():
                counts[object_id] += count
        for object_id in object_ids:
            if object_id in failed:
                saved = self._objects.update_status(batch.org_id, batch.namespace_id, batch.bucket_id, object_id,
                                                    "FAILED", error=failed[object_id].error, updated_at=now)
            elif object_id in sources:
                saved = self._objects.update_status(batch.org_id, batch.namespace_id, batch.bucket_id, object_id,
                                                    "COMPLETED", error=None, document_count=counts[object_id],
                                                    updated_at=now)
            else:
                continue
            if saved is not None:
                before = found.get(object_id)
                self._publish_outcome(batch, before.status if before is not None else None, saved, now)
        result.failures.extend(failed.values())
        return result

    def _publish_outcome(self, batch: Batch, previous_status: str | None, obj: BucketObject, now: str) -> None:
        """object.updated for each object a batch processed: its new status (COMPLETED or FAILED), with the error
        or the number of documents it made. The outcome is recorded already: a bus that cannot take the event loses
        the event, not the batch."""
        try:
            self._events.publish(DomainEvent(
                type="object.updated", org_id=batch.org_id, namespace_id=batch.namespace_id, occurred_at=now,
                data={"object_id": obj.object_id, "bucket_id": obj.bucket_id, "status": obj.status,
                      "previous_status": previous_status, "error": obj.error, "document_count": obj.document_count,
                      "batch_id": batch.batch_id, "change": "processing_status"}))
        except DependencyUnavailable:
            logger.warning("batch %s: object.updated for %s could not be published", batch.batch_id, obj.object_id,
                           exc_info=True)

    def _documents_group(self, namespace: Namespace, batch: Batch, object_ids: list[str],
                         collections: list[tuple[Collection, Extractor]],
                         completer: Completer = complete_here) -> _GroupResult:
        """Tier N: the upstream collections' documents made from these objects are the sources."""
        result = _GroupResult()
        now = isoformat(self._clock())
        failed: dict[str, FailedObject] = {}
        for collection, extractor in collections:
            parent = collection.source.collection_id or ""
            upstream = self._scroll(namespace, Filter(must=(MatchValue("collection_id", parent),
                                                            MatchAny("root_object_id", tuple(object_ids)))))
            pending = {point.id: Source(point.id, {k: v for k, v in point.payload.items()
                                                   if k != document_rules.INTERNAL}) for point in upstream}
            lineage = {point.id: {"source_type": "collection", "root_object_id": point.payload.get("root_object_id"),
                                  "root_bucket_id": point.payload.get("root_bucket_id"),
                                  "source_document_id": point.id, "source_collection_id": parent,
                                  "lineage_path": f"{point.payload.get('lineage_path') or parent}/"
                                                  f"{collection.collection_id}"}
                       for point in upstream}
            self._extract_and_write(namespace, batch, collection, extractor, pending, lineage, failed, result, now,
                                    completer)
        # A failed upstream document fails the object it came from.
        by_object: dict[str, FailedObject] = {}
        for record in failed.values():
            by_object.setdefault(record.object_id, record)
        result.failures.extend(by_object.values())
        return result

    def _extract_and_write(self, namespace: Namespace, batch: Batch, collection: Collection, extractor: Extractor,
                           sources: dict[str, Source], lineage: dict[str, dict[str, Any]],
                           failed: dict[str, FailedObject], result: _GroupResult, now: str,
                           completer: Completer = complete_here) -> dict[str, int]:
        """Drafts of every source, embedded together, written as points; returns documents written per source."""
        if batch.dedup_strategy == "skip":
            done = self._already_written(namespace, collection, list(sources), lineage)
            for source_id, count in done.items():
                result.skipped_objects += 1
                sources.pop(source_id)
        else:
            done = {}
        drafts: dict[str, list[Draft]] = {}
        for source_id, source in sources.items():
            try:
                drafts[source_id] = extractor.drafts(source)
            except extractors.MissingInput:
                result.missing_input += 1
            except ExtractionFailed as error:
                root = lineage[source_id].get("root_object_id") or source_id
                failed.setdefault(root, FailedObject(root, str(error), error.error_type, now,
                                                     collection.collection_id))
        try:
            unembedded = completer(collection, extractor, drafts)
        except DependencyUnavailable as error:
            # The model is down: these objects fail as transient (retry finishes them later); nothing is written.
            unembedded = {source_id: ExtractionFailed(str(error), rules.TRANSIENT) for source_id in drafts}
        for source_id, reason in unembedded.items():
            drafts.pop(source_id, None)
            root = lineage[source_id].get("root_object_id") or source_id
            failed.setdefault(root, FailedObject(root, f"embedding failed: {reason}", reason.error_type, now,
                                                 collection.collection_id))
        if not drafts:
            return dict(done)
        ids_by_source: dict[str, list[str]] = {}
        written_ids: list[str] = []
        pending_points: list[VectorPoint] = []
        # One write in flight while the next thousand points are built: the store's write runs outside the GIL.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="openpeek-batch-write") as writer:
            in_flight: Future | None = None

            def write(points: list[VectorPoint]) -> None:
                nonlocal in_flight
                if in_flight is not None:
                    in_flight.result()  # a failed write fails the group here
                in_flight = writer.submit(self._vectors.upsert, namespace.collection, points)
                written_ids.extend(point.id for point in points)

            for source_id, group in drafts.items():
                ids_by_source[source_id] = []
                for draft in group:
                    point = self._point(namespace, batch, collection, source_id, draft, lineage[source_id], now)
                    ids_by_source[source_id].append(point.id)
                    pending_points.append(point)
                    if len(pending_points) >= UPSERT_SIZE:
                        write(pending_points)
                        pending_points = []
                group.clear()  # a parquet object's rows: let each slice go once it is written
            if pending_points:
                write(pending_points)
            if in_flight is not None:
                in_flight.result()
        if batch.dedup_strategy == "replace" and ids_by_source:
            result.replaced += self._drop_stale(namespace, collection, ids_by_source, lineage)
        result.written += len(written_ids)
        result.document_ids.extend(written_ids[-10:])
        result.per_collection.setdefault(collection.collection_id, []).extend(written_ids[:MAX_EVENT_IDS])
        counts = {source_id: len(ids) for source_id, ids in ids_by_source.items()}
        counts.update(done)
        return counts

    def _point(self, namespace: Namespace, batch: Batch, collection: Collection, source_id: str, draft: Draft,
               lineage: dict[str, Any], now: str) -> VectorPoint:
        document_id = rules.document_id(collection.collection_id, source_id, draft.chunk_key)
        payload = {key: value for key, value in draft.payload.items() if key not in document_rules.SYSTEM_FIELDS}
        # Rows read from parquet carry numpy rows (views of one matrix): a list only now, a thousand at a time.
        vectors = {name: value.tolist() if hasattr(value, "tolist") else value for name, value in draft.vectors.items()}
        checked = document_rules.CheckedDocument(document_id, vectors, payload)
        point = document_rules.build_point(namespace, checked, lineage, collection_id=collection.collection_id,
                                           created_at=now, updated_at=now)
        point.payload["batch_id"] = batch.batch_id
        return point

    def _source_key(self, lineage: dict[str, Any]) -> tuple[str, str]:
        if lineage.get("source_document_id"):
            return "source_document_id", lineage["source_document_id"]
        return "source_object_id", lineage["source_object_id"]

    def _already_written(self, namespace: Namespace, collection: Collection, source_ids: list[str],
                         lineage: dict[str, dict[str, Any]]) -> dict[str, int]:
        """Sources that already have documents in the collection (dedup 'skip'), with how many."""
        if not source_ids:
            return {}
        key = self._source_key(lineage[source_ids[0]])[0]
        points = self._scroll(namespace, Filter(must=(MatchValue("collection_id", collection.collection_id),
                                                      MatchAny(key, tuple(source_ids)))), fields=[key])
        counts: dict[str, int] = {}
        for point in points:
            counts[point.payload[key]] = counts.get(point.payload[key], 0) + 1
        return counts

    def _drop_stale(self, namespace: Namespace, collection: Collection, ids_by_source: dict[str, list[str]],
                    lineage: dict[str, dict[str, Any]]) -> int:
        """dedup 'replace': the sources' earlier documents that this run did not write again go."""
        key = self._source_key(lineage[next(iter(ids_by_source))])[0]
        fresh = tuple(document_id for ids in ids_by_source.values() for document_id in ids)
        stale = Filter(must=(MatchValue("collection_id", collection.collection_id),
                             MatchAny(key, tuple(ids_by_source))), must_not=(HasIds(fresh),))
        removed = self._vectors.count(namespace.collection, stale)
        if removed:
            self._vectors.delete_by_filter(namespace.collection, stale)
        return removed

    def _scroll(self, namespace: Namespace, filter: Filter, fields: list[str] | None = None) -> list[VectorPoint]:
        found: list[VectorPoint] = []
        offset = None
        while True:
            page, offset = self._vectors.scroll(namespace.collection, filter=filter, limit=1000, offset=offset,
                                                payload_fields=fields)
            found.extend(page)
            if offset is None:
                return found

    def _source(self, obj: BucketObject) -> Source:
        blobs = {}
        for blob in obj.blobs:
            try:
                data = self._blobs.get(blob["blob_key"])
            except BlobNotFound as error:
                raise ExtractionFailed(f"the blob of '{blob['property']}' is missing from storage") from error
            except DependencyUnavailable as error:
                raise ExtractionFailed(f"the blob of '{blob['property']}' could not be read: {error}",
                                       rules.TRANSIENT) from error
            blobs[blob["property"]] = SourceBlob(blob["property"], blob.get("type") or "text", data,
                                                 blob.get("mime_type"), blob.get("filename"))
        return Source(obj.object_id, dict(obj.metadata), blobs)

    # -- state -------------------------------------------------------------------------------------------------------

    def _save(self, previous: Batch, changed: Batch) -> Batch:
        try:
            return self._batches.save(changed, previous)
        except ConditionFailed:
            current = self._batches.get(previous.namespace_id, previous.batch_id)
            if current is None or current.terminal or current.attempt != previous.attempt:
                raise BatchStopped() from None
            raise

    def _checkpoint(self, batch: Batch, count: int, result: _GroupResult, tier: int, part: int) -> Batch:
        now = self._clock()
        for _ in range(5):
            changed = _advanced(batch, now, batch.cursor + count, count, result, tier, part)
            try:
                saved = self._batches.save(changed, batch)
                self._task_progress(saved)
                return saved
            except ConditionFailed:
                current = self._batches.get(batch.namespace_id, batch.batch_id)
                if current is None or current.attempt != batch.attempt:
                    raise BatchStopped() from None
                if current.terminal:
                    # Canceled while this group was written: its counts still go on the batch, so they match what
                    # is in the collection.
                    counted = _advanced(current, now, current.cursor, count, result, tier, part)
                    try:
                        self._batches.save(counted, current)
                    except ConditionFailed:
                        pass
                    raise BatchStopped() from None
                batch = current
        raise ConditionFailed(f"batch {batch.batch_id} kept changing while its progress was saved")

    def _finish(self, namespace: Namespace, batch: Batch) -> Batch:
        resolvable = self._resolvable(namespace, batch)
        return self._update(batch, lambda current: current.finished(self._clock(), resolvable=resolvable))

    def _resolvable(self, namespace: Namespace, batch: Batch) -> bool:
        """True once documents this batch wrote are found by a filtered read: a confirmation, not a guess."""
        if not batch.documents_written:
            return True
        written = Filter(must=(MatchValue("batch_id", batch.batch_id),))
        for _ in range(20):
            found, _ = self._vectors.scroll(namespace.collection, filter=written, limit=1, payload_fields=["batch_id"])
            if found:
                return True
            time.sleep(0.25)
        return False

    def _fail(self, namespace_id: str, batch_id: str, attempt: int, reason: str) -> Batch | None:
        for _ in range(5):
            current = self._batches.get(namespace_id, batch_id)
            if current is None or current.terminal or current.attempt != attempt:
                return current
            try:
                return self._batches.save(current.failed(self._clock(), reason), current)
            except ConditionFailed:
                continue
        return None

    def _task_progress(self, batch: Batch) -> None:
        self._move_task(batch, None)

    def _move_task(self, batch: Batch, status: str | None) -> None:
        """The batch's task follows it: PROCESSING while it runs, its terminal status at the end, progress as data."""
        if not batch.task_id:
            return
        for _ in range(3):
            task = self._tasks.get(batch.namespace_id, batch.task_id)
            if task is None or task.terminal:
                return
            try:
                moved = task.moved(status or task.status, self._clock(),
                                   error=batch.failure_reason if status in (rules.FAILED,) else None,
                                   data={"progress": batch.progress(), "batch_status": batch.status,
                                         "documents_written": batch.documents_written})
                self._table.transact_write([self._tasks.update(moved, task)])
                return
            except (ConditionFailed, TerminalTask):
                continue

    def _announce(self, namespace: Namespace, batch: Batch) -> None:
        task_status = batch.status if batch.status != rules.IN_PROGRESS else "PROCESSING"
        self._move_task(batch, task_status)
        now = isoformat(self._clock())
        data = {"batch_id": batch.batch_id, "bucket_id": batch.bucket_id, "status": batch.status,
                "failure_reason": batch.failure_reason, "documents_written": batch.documents_written,
                "progress": batch.progress(), "completed_at": batch.completed_at,
                "failed_object_count": batch.failed_object_count}
        for tier in batch.dag_tiers:
            for collection_id in tier:
                self._events.publish(DomainEvent(
                    type="collection.documents.batch_completed", org_id=batch.org_id,
                    namespace_id=batch.namespace_id, occurred_at=now,
                    data={**data, "collection_id": collection_id}))
        if batch.status in (rules.COMPLETED, rules.COMPLETED_WITH_ERRORS):
            event_type = "batch.completed"
        elif batch.status == rules.FAILED:
            event_type = "batch.failed"
        else:
            event_type = None
        if event_type:
            self._events.publish(DomainEvent(type=event_type, org_id=batch.org_id, namespace_id=batch.namespace_id,
                                             occurred_at=now, data=data))
        if batch.webhook_url and batch.webhook_secret and self._notify is not None:
            try:
                self._notify(batch.org_id, batch.webhook_url, batch.webhook_secret, DomainEvent(
                    type=event_type or "batch.canceled", org_id=batch.org_id, namespace_id=batch.namespace_id,
                    occurred_at=now, data=data))
            except Exception:  # noqa: BLE001 - fire and forget, as the SDK documents; the batch has ended anyway
                logger.warning("batch %s: its webhook_url could not be notified", batch.batch_id, exc_info=True)

    def _publish_written(self, namespace: Namespace, batch: Batch, result: _GroupResult) -> None:
        now = isoformat(self._clock())
        for collection_id, ids in result.per_collection.items():
            if ids:
                self._events.publish(DomainEvent(
                    type="collection.documents.written", org_id=batch.org_id, namespace_id=batch.namespace_id,
                    occurred_at=now, data={"collection_id": collection_id, "batch_id": batch.batch_id,
                                           "count": len(ids), "document_ids": ids[:MAX_EVENT_IDS]}))

