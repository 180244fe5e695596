"""Collection lifecycle (GET | PATCH /v1/collections/{c}/lifecycle): moving a collection between the vector store
(active, frozen) and the cold store (cold), or to metadata only (archived).

Every data-moving transition is a sequence of idempotent steps recorded on the collection's tier state, so a crash
anywhere resumes at the step that was running and never loses or duplicates a document:

    demote   copy pages of points into cold parts (part n is written again on resume, replacing itself) → verify the
             cold count equals the hot count → flip lifecycle_state to cold (queries now go to the cold store) →
             drop the points from the vector store
    rehydrate  copy the cold parts back (upsert by document id) and re-create the payload indexes → verify → flip to
             active → drop the cold copy
    archive  write the documents' payloads (metadata and lineage, no vectors) to the blob store → flip to archived →
             drop the vectors everywhere

Freezing and unfreezing move no data and complete within the request.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from openpeek.domain import tiering as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, Conflict, DomainError, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import COMPLETED, FAILED, PROCESSING, Task
from openpeek.domain.tiering import TieringPolicy, TierState, Transition
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import CollectionNotFound, ConditionFailed
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import PayloadIndexSpec, VectorPoint
from openpeek.ports import BlobStore, ColdStore, EventBus, Table, VectorStore
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.collections.documents import TieredDocuments

logger = logging.getLogger(__name__)

# The SDK's TaskType enum has no lifecycle entry; moving a collection's vectors into another store is materialising
# it there. additional_data.operation says which move it is.
TASK_TYPE = "materialize"
TRANSITION_REQUESTED = "collection.lifecycle.requested"  # deployed: the event that starts a transition's Lambda
# Points per copied page, and so per cold part: a cold query opens every part, so fewer, larger parts scan faster
# (at 100,000 × 384, parts of 1,000 cost 10× the active p50); S3 Vectors' adapter splits a page into writes of 500.
PAGE = 5_000
MAX_RUNTIME_S = 6 * 3600
# Dropped points past which the vector store is compacted after a move: below it the resident memory they hold is
# small, and a compaction (a child process rebuilding the namespace's shard) costs more than it frees.
RECLAIM_MIN_POINTS = 5_000
SAVE_ATTEMPTS = 16
# How long a runner's claim on a transition lasts without a step being saved (each saved step renews it). A runner
# whose lease another took over stops without undoing anything.
LEASE_S = 900.0


def documents_of(collection_id: str) -> Filter:
    return Filter(must=(MatchValue("collection_id", collection_id),))


def archive_prefix(namespace_id: str, collection_id: str) -> str:
    """Under the namespace's own prefix, so deleting the namespace deletes its archives."""
    return f"namespaces/{namespace_id}/archives/{collection_id}/"


@dataclass(frozen=True)
class LifecycleView:
    collection: Collection
    tier: TierState
    hot_count: int
    cold_count: int | None
    task_id: str | None = None
    warning: str | None = None


class LeaseLost(Exception):
    """Another runner holds the transition now (this one's lease expired or was never granted): stop, undo nothing."""


class LifecycleService:
    def __init__(self, table: Table, vectors: VectorStore, cold: ColdStore, blobs: BlobStore, events: EventBus,
                 start_in_background: Callable[[str, str, str], None], *, cold_index_name: Callable[
                     [ColdCollection], str] | None = None,
                 compact_vectors: Callable[[str], object] | None = None, lease_s: float = LEASE_S) -> None:
        """`compact_vectors(store collection)`: reclaims the space of deleted points where the vector store does not
        by itself (Qdrant Edge keeps them in its segments, in memory, until optimized); None where it does.
        `lease_s`: how long a runner's claim on a transition lasts between saved steps; 0 where this process is the
        only one that runs transitions (embedded: the server holds the data dir's lock), so a restart resumes at once."""
        self._table = table
        self._collections = CollectionRepository(table)
        self._namespaces = NamespaceRepository(table)
        self._tiers = TierStateRepository(table)
        self._tasks = TaskRepository(table)
        self._vectors = vectors
        self._cold = cold
        self._blobs = blobs
        self._events = events
        self._background = start_in_background
        self._cold_index_name = cold_index_name or (lambda target: f"{target.namespace_id}/{target.collection_id}")
        self._compact_vectors = compact_vectors
        self._running: set[tuple[str, str]] = set()
        self._running_lock = threading.Lock()
        self._lease_s = lease_s
        self._owner = new_id("runner")

    # -- reads ----------------------------------------------------------------------------------------------------

    def _collection(self, namespace: Namespace, identifier: str) -> Collection:
        found = self._collections.find_in(namespace.namespace_id, identifier)
        if found is None:
            raise NotFound("collection", identifier)
        return found

    def cold_target(self, namespace: Namespace, collection: Collection) -> ColdCollection:
        names = {index.vector_name for index in collection.vector_indexes}
        specs = tuple(spec for spec in namespace.vector_indexes() if spec.name in names and not spec.sparse)
        return ColdCollection(namespace.namespace_id, collection.collection_id, specs)

    def _hot_count(self, namespace: Namespace, collection_id: str) -> int:
        try:
            return self._vectors.count(namespace.collection, documents_of(collection_id))
        except CollectionNotFound:
            return 0

    def status(self, namespace: Namespace, identifier: str, *, task_id: str | None = None,
               warning: str | None = None) -> LifecycleView:
        collection = self._collection(namespace, identifier)
        self._tiers.register(namespace.namespace_id)
        tier = self._tiers.get(namespace.namespace_id, collection.collection_id)
        cold_count = None
        if collection.lifecycle_state == rules.COLD or tier.transition is not None:
            cold_count = self._cold.count(self.cold_target(namespace, collection))
        hot = 0 if collection.lifecycle_state in (rules.COLD, rules.ARCHIVED) and tier.transition is None else (
            self._hot_count(namespace, collection.collection_id))
        return LifecycleView(collection, tier, hot, cold_count,
                             task_id or (tier.transition.task_id if tier.transition else None), warning)

    def present(self, namespace: Namespace, view: LifecycleView) -> dict[str, Any]:
        """LifecycleStatusResponse."""
        collection, tier = view.collection, view.tier
        cold = collection.lifecycle_state == rules.COLD or (tier.transition is not None)
        return {
            "collection_id": collection.collection_id,
            "lifecycle_state": collection.lifecycle_state,
            "s3_vector_index": self._cold_index_name(self.cold_target(namespace, collection)) if cold else None,
            "vector_document_count": view.hot_count,
            "s3_vector_count": view.cold_count,
            "last_transitioned_at": tier.last_transitioned_at,
            "task_id": view.task_id,
            "warning": view.warning,
            "namespace_storage_tier": self.storage_tier(namespace),
        }

    def storage_tier(self, namespace: Namespace) -> dict[str, Any]:
        """NamespaceStorageTier: the rung its collections put it on (domain.tiering.namespace_rung); changed_at is
        the namespace's latest collection transition; storage is the class the files are kept in (one class here:
        nothing moves between storage classes)."""
        collections = self._collections.list_in(namespace.namespace_id)
        moved = [tier.last_transitioned_at for tier in self._tiers.list_in(namespace.namespace_id).values()
                 if tier.last_transitioned_at]
        return {"rung": rules.namespace_rung([collection.lifecycle_state for collection in collections]),
                "storage": "standard", "changed_at": max(moved) if moved else None}

    def check_writable(self, namespace: Namespace, collection_id: str) -> None:
        """Document writes reach active collections only (409 naming the state otherwise); documents that belong to
        no collection item (bring-your-own upserts) are not tiered."""
        collection = self._collections.find_in(namespace.namespace_id, collection_id)
        if collection is None:
            return
        tier = self._tiers.get(namespace.namespace_id, collection_id)
        if collection.lifecycle_state != rules.ACTIVE or tier.transition is not None:
            rules.refuse_write(collection.collection_name, collection.lifecycle_state, tier.transition)

    # -- transitions ----------------------------------------------------------------------------------------------

    def transition(self, namespace: Namespace, identifier: str, target: str, *,
                   async_transition: bool = True) -> LifecycleView:
        """Start (or, with async_transition false, run to the end) the move to `target`. A move that is not allowed
        is a 400 naming the allowed ones; a collection already moving is a 409 naming the move under way."""
        collection = self._collection(namespace, identifier)
        self._tiers.register(namespace.namespace_id)
        tier = self._tiers.get(namespace.namespace_id, collection.collection_id)
        if tier.transition is not None:
            raise Conflict(f"collection '{collection.collection_name}' is already moving from "
                           f"{tier.transition.source} to {tier.transition.target}",
                           code="lifecycle_transition_in_progress",
                           details={"task_id": tier.transition.task_id, "target": tier.transition.target})
        rules.check_move(collection.collection_name, collection.lifecycle_state, target)
        now = isoformat(utcnow())
        if target == rules.FROZEN or collection.lifecycle_state == rules.FROZEN:
            saved, tier = self._flip(collection, tier, target, now, transition=None)
            self._publish(namespace, saved, collection.lifecycle_state, target)
            return self.status(namespace, saved.collection_id)
        if target == rules.COLD and not self.cold_target(namespace, collection).vectors:
            raise BadRequest(f"collection '{collection.collection_name}' has no dense vectors to keep in the cold "
                             "store; archive it instead", code="nothing_to_demote")
        task = Task.new(new_id("task"), namespace.namespace_id, TASK_TYPE, utcnow(), MAX_RUNTIME_S,
                        inputs=[{"collection_id": collection.collection_id, "lifecycle_state": target}],
                        additional_data={"operation": "collection_lifecycle_transition",
                                         "collection_id": collection.collection_id, "source": collection.lifecycle_state,
                                         "target": target, "progress": 0})
        moving = Transition(collection.lifecycle_state, target, task_id=task.task_id, started_at=now)
        try:
            self._table.transact_write([
                *self._tasks.creation(task, namespace.org_id),
                self._tiers.write(namespace.namespace_id, replace(tier, transition=moving), tier),
            ])
        except ConditionFailed:
            raise Conflict("the collection's tier changed while this request was applied; try again",
                           code="concurrent_modification") from None
        if async_transition:
            # (org, namespace, collection): run() is called on a thread embedded, by the tiering Lambda deployed
            self._background(namespace.org_id, namespace.namespace_id, collection.collection_id)
            return self.status(namespace, collection.collection_id, task_id=task.task_id)
        self.run(namespace.namespace_id, collection.collection_id)
        return self.status(namespace, collection.collection_id, task_id=task.task_id)

    def run(self, namespace_id: str, collection_id: str) -> None:
        """Run the collection's transition in progress to its end, from the step recorded (resume after a crash).
        A failure before the flip undoes the partial copy and leaves the collection where it was, with the task
        FAILED; a failure after the flip is retried by the next run (the sweeper resumes transitions)."""
        # One runner per collection in this process: the sweeper resumes recorded transitions, and one it resumed
        # while the request that started it was still running would rewind the recorded step under it.
        with self._running_lock:
            if (namespace_id, collection_id) in self._running:
                return
            self._running.add((namespace_id, collection_id))
        try:
            if self._claim(namespace_id, collection_id):
                self._run(namespace_id, collection_id)
        finally:
            with self._running_lock:
                self._running.discard((namespace_id, collection_id))

    def _claim(self, namespace_id: str, collection_id: str) -> bool:
        """Take the transition's lease (conditional on the record read): False when there is nothing to run, another
        runner holds an unexpired lease, or another runner wrote the record meanwhile."""
        if not self._lease_s:
            return True
        tier = self._tiers.get(namespace_id, collection_id)
        moving = tier.transition
        if moving is None or moving.leased_to_another(self._owner, isoformat(utcnow())):
            return False
        try:
            self._tiers.save(namespace_id, replace(tier, transition=self._leased(moving)), tier)
        except ConditionFailed:
            return False
        return True

    def _leased(self, moving: Transition | None) -> Transition | None:
        """The transition with this runner's lease renewed (unchanged where leases are off)."""
        if moving is None or not self._lease_s:
            return moving
        until = isoformat(utcnow() + timedelta(seconds=self._lease_s))
        return replace(moving, lease_owner=self._owner, lease_until=until)

    def _check_lease(self, fresh: TierState) -> None:
        """After a conflicting write: carry on only while the transition is still this runner's."""
        if self._lease_s and (fresh.transition is None or fresh.transition.lease_owner != self._owner):
            raise LeaseLost(f"the transition of {fresh.collection_id} is run by another runner now")

    def _run(self, namespace_id: str, collection_id: str) -> None:
        namespace = self._namespaces.get_by_id(namespace_id)
        collection = self._collections.find_in(namespace_id, collection_id) if namespace else None
        if namespace is None or collection is None:
            return
        tier = self._tiers.get(namespace_id, collection_id)
        moving = tier.transition
        if moving is None:
            return
        if collection.lifecycle_state == moving.target and moving.step != rules.DROP:
            # Flipped already (a record rewound by another runner): only dropping the source copy is left; copying or
            # verifying again would compare against a source that may be gone.
            tier = self._save_tier(namespace, tier, moving.advanced(step=rules.DROP))
            moving = tier.transition
        self._task_progress(namespace_id, moving.task_id, PROCESSING, progress=0)
        try:
            if moving.target == rules.ARCHIVED:
                self._archive(namespace, collection, tier)
            elif moving.target == rules.COLD:
                self._demote(namespace, collection, tier)
            else:
                self._rehydrate(namespace, collection, tier)
        except LeaseLost:
            logger.warning("lifecycle transition of %s: another runner took it over; this one stops", collection_id)
            return
        except Exception as error:  # noqa: BLE001 - any failure must end the task, never leave it PROCESSING
            logger.exception("lifecycle transition of %s to %s failed", collection_id, moving.target)
            self._abandon(namespace, collection_id, moving, error)
            return
        self._task_progress(namespace_id, moving.task_id, COMPLETED, progress=100)

    # -- the three data-moving transitions ------------------------------------------------------------------------

    def _demote(self, namespace: Namespace, collection: Collection, tier: TierState) -> None:
        target = self.cold_target(namespace, collection)
        moving = tier.transition
        assert moving is not None
        total = max(1, self._hot_count(namespace, collection.collection_id))
        if moving.step == rules.COPY:
            part, cursor, copied = moving.part, moving.cursor, moving.copied
            while True:
                points, following = self._vectors.scroll(namespace.collection, filter=documents_of(
                    collection.collection_id), limit=PAGE, offset=cursor, with_vectors=True)
                if points:
                    self._cold.write_part(target, part, points)
                    part, copied = part + 1, copied + len(points)
                cursor = following
                step = rules.COPY if following is not None else rules.VERIFY
                tier = self._save_tier(namespace, tier, moving.advanced(step=step, part=part, cursor=cursor,
                                                                       copied=copied))
                moving = tier.transition
                self._task_progress(namespace.namespace_id, moving.task_id, PROCESSING,
                                    progress=min(99, int(80 * copied / total)))
                if following is None:
                    break
        if moving.step == rules.VERIFY:
            hot, cold = self._hot_count(namespace, collection.collection_id), self._cold.count(target)
            if hot != cold:
                raise RuntimeError(f"verification failed: {hot} documents in the vector store, {cold} in the cold "
                                   "store (documents were written during the copy?)")
            tier = self._save_tier(namespace, tier, moving.advanced(step=rules.FLIP), cold_count=cold)
            moving = tier.transition
        if moving.step == rules.FLIP:
            collection, tier = self._flip(collection, tier, rules.COLD, isoformat(utcnow()),
                                          transition=moving.advanced(step=rules.DROP))
            self._publish(namespace, collection, moving.source, rules.COLD)
            moving = tier.transition
        if moving.step == rules.DROP:
            self._drop_hot(namespace, collection.collection_id, dropped=tier.cold_vector_count or moving.copied)
            self._save_tier(namespace, tier, None)

    def _rehydrate(self, namespace: Namespace, collection: Collection, tier: TierState) -> None:
        target = self.cold_target(namespace, collection)
        moving = tier.transition
        assert moving is not None
        total = max(1, tier.cold_vector_count or self._cold.count(target))
        if moving.step == rules.COPY:
            copied = moving.copied
            for part, points in self._cold.read_parts(target, from_part=moving.part):
                self._vectors.upsert(namespace.collection, points)
                copied += len(points)
                tier = self._save_tier(namespace, tier, moving.advanced(part=part + 1, copied=copied))
                moving = tier.transition
                self._task_progress(namespace.namespace_id, moving.task_id, PROCESSING,
                                    progress=min(99, int(80 * copied / total)))
            for index in collection.payload_indexes:
                self._vectors.create_payload_index(namespace.collection,
                                                   PayloadIndexSpec(index["field_name"], index["type"]))
            tier = self._save_tier(namespace, tier, moving.advanced(step=rules.VERIFY))
            moving = tier.transition
        if moving.step == rules.VERIFY:
            hot, cold = self._hot_count(namespace, collection.collection_id), self._cold.count(target)
            if hot != cold:
                raise RuntimeError(f"verification failed: {cold} documents in the cold store, {hot} back in the "
                                   "vector store")
            tier = self._save_tier(namespace, tier, moving.advanced(step=rules.FLIP))
            moving = tier.transition
        if moving.step == rules.FLIP:
            collection, tier = self._flip(collection, tier, rules.ACTIVE, isoformat(utcnow()),
                                          transition=moving.advanced(step=rules.DROP))
            self._publish(namespace, collection, rules.COLD, rules.ACTIVE)
            moving = tier.transition
        if moving.step == rules.DROP:
            self._cold.drop(target)
            self._save_tier(namespace, tier, None, cold_count=0)

    def _archive(self, namespace: Namespace, collection: Collection, tier: TierState) -> None:
        """Metadata and lineage (every payload, no vectors) as JSON lines in the blob store, one part per page,
        then the vectors go from both stores."""
        target = self.cold_target(namespace, collection)
        moving = tier.transition
        assert moving is not None
        prefix = archive_prefix(namespace.namespace_id, collection.collection_id)
        if moving.step == rules.COPY:
            part, copied = moving.part, moving.copied
            if moving.source == rules.COLD:
                for number, points in self._cold.read_parts(target, from_part=part):
                    self._blobs.put(f"{prefix}part-{number:06d}.jsonl", _lines(points), "application/x-ndjson")
                    copied += len(points)
                    tier = self._save_tier(namespace, tier, moving.advanced(part=number + 1, copied=copied))
                    moving = tier.transition
            else:
                cursor = moving.cursor
                while True:
                    points, following = self._vectors.scroll(namespace.collection, filter=documents_of(
                        collection.collection_id), limit=PAGE, offset=cursor, with_vectors=False)
                    if points:
                        self._blobs.put(f"{prefix}part-{part:06d}.jsonl", _lines(points), "application/x-ndjson")
                        part, copied = part + 1, copied + len(points)
                    cursor = following
                    tier = self._save_tier(namespace, tier, moving.advanced(part=part, cursor=cursor, copied=copied))
                    moving = tier.transition
                    if following is None:
                        break
            tier = self._save_tier(namespace, tier, moving.advanced(step=rules.FLIP))
            moving = tier.transition
        if moving.step in (rules.VERIFY, rules.FLIP):
            collection, tier = self._flip(collection, tier, rules.ARCHIVED, isoformat(utcnow()),
                                          transition=moving.advanced(step=rules.DROP))
            self._publish(namespace, collection, moving.source, rules.ARCHIVED)
            moving = tier.transition
        if moving.step == rules.DROP:
            self._drop_hot(namespace, collection.collection_id, dropped=moving.copied)
            self._cold.drop(target)
            self._save_tier(namespace, tier, None, cold_count=0)

    def tiered_documents(self, namespace: Namespace, collection_id: str) -> TieredDocuments | None:
        """Where a cold or an archived collection's documents are read from (documents list / get / count); None
        for a collection whose documents are in the vector store."""
        collection = self._collections.find_in(namespace.namespace_id, collection_id)
        if collection is None or collection.lifecycle_state not in (rules.COLD, rules.ARCHIVED):
            return None
        if collection.lifecycle_state == rules.ARCHIVED:
            def archived(with_vectors: bool = False) -> Iterator[VectorPoint]:
                for record in self._archive_records(namespace, collection):
                    document_id = record.pop("document_id")
                    yield VectorPoint(document_id, {}, record)

            return TieredDocuments(
                rules.ARCHIVED, lambda: sum(1 for _ in self._archive_records(namespace, collection)), archived)
        target = self.cold_target(namespace, collection)

        def cold(with_vectors: bool = False) -> Iterator[VectorPoint]:
            for _, points in self._cold.read_parts(target, with_vectors=with_vectors):
                yield from points

        def named(document_ids: list[str], with_vectors: bool = False) -> list[VectorPoint]:
            return self._cold.get(target, document_ids, with_vectors=with_vectors)

        return TieredDocuments(rules.COLD, lambda: self._cold.count(target), cold, named,
                               lambda condition: self._cold.select(target, condition))

    def _archive_records(self, namespace: Namespace, collection: Collection) -> Iterator[dict[str, Any]]:
        for key in sorted(self._blobs.list(archive_prefix(namespace.namespace_id, collection.collection_id))):
            for line in self._blobs.get(key).decode().splitlines():
                if line:
                    yield json.loads(line)

    def archived_documents(self, namespace: Namespace, identifier: str) -> list[dict[str, Any]]:
        """What an archived collection keeps: each document's metadata and lineage."""
        return list(self._archive_records(namespace, self._collection(namespace, identifier)))

    # -- the collection's tiering override -----------------------------------------------------------------------

    def set_override(self, namespace: Namespace, collection: Collection, spec: dict[str, Any]) -> None:
        """PATCH /v1/collections/{c} `tiering`: kept on the collection's tier state, where the sweeper reads it;
        {} clears it (every part inherits again)."""
        policy = TieringPolicy.parse(spec, "tiering") if spec else None
        self._tiers.register(namespace.namespace_id)
        for _ in range(SAVE_ATTEMPTS):
            tier = self._tiers.get(namespace.namespace_id, collection.collection_id)
            try:
                self._tiers.save(namespace.namespace_id, replace(tier, policy=policy), tier)
                return
            except ConditionFailed:
                continue
        raise Conflict("the collection's tier state kept changing", code="concurrent_modification")

    def effective(self, namespace: Namespace, collection: Collection) -> dict[str, Any]:
        """The policy the sweeper applies to the collection (TieringOverride) and, in `inherited_from`, where each
        part comes from: the collection's override, its namespace's, or the default."""
        own = self._tiers.get(namespace.namespace_id, collection.collection_id).policy
        return rules.explain_policy(own, TieringPolicy.parse((namespace.extra or {}).get("tiering")))

    # -- deletion -------------------------------------------------------------------------------------------------

    def forget_collection(self, namespace: Namespace, collection: Collection) -> None:
        """A deleted collection's cold copy (S3 Vectors indexes, or embedded parts) and archive go with it."""
        self._cold.drop(self.cold_target(namespace, collection))
        self._blobs.delete_prefix(archive_prefix(namespace.namespace_id, collection.collection_id))

    def forget_namespace(self, namespace: Namespace) -> None:
        """A deleted (or expired) namespace's collections leave nothing in the cold store."""
        for collection in self._collections.list_in(namespace.namespace_id):
            self.forget_collection(namespace, collection)
        self._tiers.unregister(namespace.namespace_id)

    # -- state ----------------------------------------------------------------------------------------------------

    def _drop_hot(self, namespace: Namespace, collection_id: str, *, dropped: int = 0) -> None:
        try:
            self._vectors.delete_by_filter(namespace.collection, documents_of(collection_id))
        except CollectionNotFound:
            return
        if dropped >= RECLAIM_MIN_POINTS:
            self._reclaim(namespace)

    def _reclaim(self, namespace: Namespace) -> None:
        """Without this a demoted collection's vectors stay resident in the vector store (deleted, not removed) and
        the cold tier saves disk but not memory. Best effort: the move is done either way, and the store's own
        index builds reclaim them later."""
        if self._compact_vectors is None:
            return
        try:
            self._compact_vectors(namespace.collection)
        except Exception:  # noqa: BLE001 - a failed compaction loses nothing; it is retried by the next build
            logger.warning("compacting %s after a lifecycle move failed", namespace.collection, exc_info=True)

    def _save_tier(self, namespace: Namespace, tier: TierState, moving: Transition | None, *,
                   cold_count: int | None = None) -> TierState:
        changed = replace(tier, transition=self._leased(moving),
                          cold_vector_count=cold_count if cold_count is not None else tier.cold_vector_count)
        for _ in range(SAVE_ATTEMPTS):
            try:
                return self._tiers.save(namespace.namespace_id, changed, tier)
            except ConditionFailed:  # a query's last-query write raced this one: keep its fields, ours win the rest
                fresh = self._tiers.get(namespace.namespace_id, tier.collection_id)
                self._check_lease(fresh)
                changed = replace(fresh, transition=changed.transition, cold_vector_count=changed.cold_vector_count)
                tier = fresh
        raise Conflict("the collection's tier state kept changing", code="concurrent_modification")

    def _flip(self, collection: Collection, tier: TierState, state: str, now: str,
              transition: Transition | None) -> tuple[Collection, TierState]:
        transition = self._leased(transition)
        for _ in range(SAVE_ATTEMPTS):
            changed = collection.with_changes({"lifecycle_state": state, "updated_at": now})
            try:
                return self._tiers.save_with_collection(
                    changed, collection, replace(tier, transition=transition, last_transitioned_at=now), tier)
            except ConditionFailed:
                collection = self._collections.find_in(collection.namespace_id, collection.collection_id) or collection
                tier = self._tiers.get(collection.namespace_id, collection.collection_id)
                if transition is not None:
                    self._check_lease(tier)
        raise Conflict("the collection kept changing while its lifecycle moved", code="concurrent_modification")

    def _abandon(self, namespace: Namespace, collection_id: str, moving: Transition, error: Exception) -> None:
        """Before the flip: undo the partial copy and forget the transition (the collection stays where it was).
        After it: keep the transition so the next run finishes the drop."""
        tier = self._tiers.get(namespace.namespace_id, collection_id)
        collection = self._collections.find_in(namespace.namespace_id, collection_id)
        current = tier.transition
        if current is not None and current.leased_to_another(self._owner, isoformat(utcnow())):
            logger.warning("lifecycle transition of %s failed here (%s); another runner holds it now and goes on",
                           collection_id, error)
            return  # its runner owns the copy and the task now: undoing either would pull data from under it
        # Once the collection is in the target state its source copy may be gone: the new copy is then the only one and
        # is never undone, whatever step the record shows.
        flipped = collection is not None and current is not None and collection.lifecycle_state == current.target
        if current is not None and current.step != rules.DROP and collection is not None and not flipped:
            try:
                if current.target == rules.COLD:
                    self._cold.drop(self.cold_target(namespace, collection))
                elif current.target == rules.ARCHIVED:
                    self._blobs.delete_prefix(archive_prefix(namespace.namespace_id, collection_id))
                # a failed rehydration keeps the cold copy (the source of truth) and leaves upserted points to be
                # replaced by the next attempt: the cold tier stays the one queried until the flip
                elif current.target == rules.ACTIVE:
                    self._drop_hot(namespace, collection_id)
                self._save_tier(namespace, tier, None)
            except Exception:  # noqa: BLE001 - the transition stays recorded; the sweeper retries it
                logger.exception("could not undo the partial transition of %s", collection_id)
        message = error.message if isinstance(error, DomainError) else str(error)
        self._task_progress(namespace.namespace_id, moving.task_id, FAILED, error=message)

    def _task_progress(self, namespace_id: str, task_id: str | None, status: str, *, progress: int | None = None,
                       error: str | None = None) -> None:
        if task_id is None:
            return
        for _ in range(SAVE_ATTEMPTS):
            task = self._tasks.get(namespace_id, task_id)
            if task is None or task.terminal:
                return
            data = {"progress": progress} if progress is not None else {}
            try:
                self._table.transact_write([self._tasks.update(task.moved(status, utcnow(), error=error, data=data),
                                                               task)])
                return
            except ConditionFailed:
                continue

    def _publish(self, namespace: Namespace, collection: Collection, source: str, target: str) -> None:
        self._events.publish(DomainEvent(
            type="collection.updated", org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"collection_id": collection.collection_id, "collection_name": collection.collection_name,
                  "lifecycle_transition": {"from": source, "to": target}},
            occurred_at=isoformat(utcnow()),
        ))

    # -- the sweeper's side ---------------------------------------------------------------------------------------

    def pending(self, namespace_id: str) -> list[str]:
        """Collections of the namespace with a transition recorded (to resume)."""
        return [collection_id for collection_id, tier in self._tiers.list_in(namespace_id).items()
                if tier.transition is not None]


def _lines(points: list) -> bytes:
    return "".join(json.dumps({"document_id": point.id, **point.payload}, default=str) + "\n"
                   for point in points).encode()
