"""New objects of a promoted namespace are processed without anyone submitting a batch (seed 002: after promotion
"collections + extractors auto-process" new content).

Objects registered close together join one automatic DRAFT per bucket (the bucket's pointer names it); each arrival
pushes its submission `window` further, never beyond `longest` after the draft opened. When it is due the draft is
submitted like any batch (BatchService), so it runs the same tiers, writes the same documents and is listed with the
others, marked `metadata.auto_processed`. A bulk insert of any size therefore makes a handful of batches, not one per
object. A namespace that is not promoted, or a bucket no collection reads, gets nothing automatically.

Where the wait happens is the caller's `schedule`: embedded, a timer on the batch worker (which also picks up the
drafts a stopped process left); without one (deployed) the draft is submitted at once, one batch per request.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from openpeek.domain import batches as rules
from openpeek.domain.batches import Batch
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.ports import Table
from openpeek.repositories.batches import BatchRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.ingestion.batches import BatchService

logger = logging.getLogger(__name__)

ATTEMPTS = 20  # concurrent registrations race for the same draft; each lost race re-reads and tries again

# (namespace_id, batch_id, seconds from now): call back `submit_due` then.
Schedule = Callable[[str, str, float], None]


class AutoProcessing:
    def __init__(self, table: Table, batches: BatchRepository, collections: CollectionRepository,
                 namespaces: NamespaceRepository, batch_service: BatchService, *, window: timedelta,
                 longest: timedelta, schedule: Schedule | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._table = table
        self._batches = batches
        self._collections = collections
        self._namespaces = namespaces
        self._batch_service = batch_service
        self._window = window
        self._longest = max(longest, window)
        self._schedule = schedule
        self._clock = clock

    def objects_registered(self, namespace: Namespace, bucket_id: str, object_ids: list[str]) -> str | None:
        """New (or replaced) objects of a bucket: the automatic batch they joined, or None when nothing processes
        them automatically. Never fails the registration: a table outage here is logged, and the objects stay
        PENDING for a batch submitted by hand."""
        if not object_ids or not namespace.processes_new_content or not self._has_collections(namespace, bucket_id):
            return None
        try:
            batch = self._join(namespace, bucket_id, object_ids)
            if self._schedule is None:
                self.submit_due(namespace.namespace_id, batch.batch_id, now_anyway=True)
            else:
                self._schedule(namespace.namespace_id, batch.batch_id, self._seconds_until(batch))
            return batch.batch_id
        except (DependencyUnavailable, ConditionFailed, DomainError):
            logger.warning("objects %s of bucket %s were not queued for automatic processing", object_ids[:5],
                           bucket_id, exc_info=True)
            return None

    def submit_due(self, namespace_id: str, batch_id: str, *, now_anyway: bool = False) -> bool:
        """Submit the automatic draft if its time has come (or `now_anyway`); when more objects pushed it later,
        ask to be called again then. True once it is submitted (or has been, or is gone)."""
        for _ in range(ATTEMPTS):
            batch = self._batches.get(namespace_id, batch_id)
            if batch is None or batch.status != rules.DRAFT or not batch.automatic:
                return True
            if not now_anyway and not batch.due(self._clock()):
                if self._schedule is not None:
                    self._schedule(namespace_id, batch_id, self._seconds_until(batch))
                return False
            namespace = self._namespaces.get(batch.org_id, namespace_id)
            if namespace is None:
                return True
            try:
                self._batch_service.submit_draft(namespace, batch)
                return True
            except ConditionFailed:
                continue  # objects joined meanwhile: submit what it holds now
            except BadRequest as refused:
                # Nothing can run it any more (its bucket's collections were deleted meanwhile): it ends CANCELED
                # with the reason rather than waiting as a DRAFT nobody will submit.
                try:
                    self._batches.save(batch.canceled(self._clock(), f"not processed: {refused.message}"), batch)
                except ConditionFailed:
                    continue
                return True
        raise ConditionFailed(f"automatic batch {batch_id} kept changing while it was submitted")

    def pending(self) -> list[tuple[str, str, float]]:
        """(namespace_id, batch_id, seconds until due) of every automatic draft, e.g. left by a stopped process."""
        found = []
        horizon = isoformat(self._clock() + self._longest + timedelta(days=1))
        for namespace_id, batch_id in self._batches.drafts_created_before(horizon, limit=10_000):
            batch = self._batches.get(namespace_id, batch_id)
            if batch is not None and batch.status == rules.DRAFT and batch.automatic:
                found.append((namespace_id, batch_id, self._seconds_until(batch)))
        return found

    def submit_overdue(self) -> int:
        """Submit every automatic draft whose time has passed (a safety net for a lost timer); returns how many."""
        submitted = 0
        for namespace_id, batch_id, seconds in self.pending():
            if seconds <= 0:
                try:
                    submitted += self.submit_due(namespace_id, batch_id)
                except (ConditionFailed, DependencyUnavailable, DomainError):
                    logger.warning("automatic batch %s could not be submitted yet", batch_id, exc_info=True)
        return submitted

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _has_collections(self, namespace: Namespace, bucket_id: str) -> bool:
        graph = [{"collection_id": c.collection_id, "source": c.source.public()}
                 for c in self._collections.list_in(namespace.namespace_id)]
        return bool(rules.dag_tiers(bucket_id, graph))

    def _join(self, namespace: Namespace, bucket_id: str, object_ids: list[str]) -> Batch:
        """Add the objects to the bucket's open automatic draft, opening one when there is none (or it was submitted
        or is full)."""
        for _ in range(ATTEMPTS):
            now = self._clock()
            pointer = self._batches.automatic_draft(namespace.namespace_id, bucket_id)
            current = self._batches.get(namespace.namespace_id, pointer.batch_id) if pointer is not None else None
            if current is not None and current.status == rules.DRAFT and current.automatic and \
                    len(set(current.object_ids) | set(object_ids)) <= rules.MAX_OBJECTS:
                try:
                    return self._batches.save(current.collecting(object_ids, now, self._window, self._longest),
                                              current)
                except ConditionFailed:
                    continue
            if current is not None and current.status == rules.DRAFT and current.automatic:
                # The open one is full: it goes now, and a new one takes these objects.
                self._submit_quietly(namespace.namespace_id, current.batch_id)
            opened = rules.automatic_draft(new_id("btch", 12), namespace.org_id, namespace.namespace_id, bucket_id,
                                           now, self._window).collecting(object_ids, now, self._window, self._longest)
            try:
                self._table.transact_write(self._batches.automatic_creation(opened, pointer))
            except ConditionFailed:
                continue  # another request opened one first: join that
            return opened
        raise ConditionFailed(f"bucket {bucket_id}'s automatic batch kept changing while objects joined it")

    def _submit_quietly(self, namespace_id: str, batch_id: str) -> None:
        try:
            self.submit_due(namespace_id, batch_id, now_anyway=True)
        except (ConditionFailed, DependencyUnavailable, DomainError):
            logger.warning("automatic batch %s could not be submitted yet", batch_id, exc_info=True)

    def _seconds_until(self, batch: Batch) -> float:
        if batch.submit_after is None:
            return 0.0
        return max(0.0, (parse(batch.submit_after) - self._clock()).total_seconds())
