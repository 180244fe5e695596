"""Namespace snapshots (the SDK's NamespaceSnapshotsApi): take, list, read, delete, verify and restore point-in-time
copies of a namespace.

A snapshot holds the namespace's configuration (its record: extractors, vector configs, payload indexes) and its
documents with their vectors and payloads, exported a page at a time by the clone's exporter into parts in the blob
store (domain/snapshots.py names the artifacts); its record keeps the sha256 of each. Taking one and restoring one
are tasks: small namespaces are done before the answer, larger ones by the runtime's background runner.

Verify re-reads every artifact and compares it with the recorded digests (deep: also decodes each part and counts
its documents). Restore verifies first, so a damaged snapshot is refused before anything changes; then it
either makes a new namespace with the snapshot's configuration (target_namespace_name) or brings the namespace back in
place: its payload indexes become the snapshot's, every document of the snapshot is written back (deleted ones
return, changed ones revert) and documents added since are removed. An in-place restore that fails half way (the
vector store went away) ends its task FAILED with what it did; running it again finishes it, since every step is
idempotent.

Not here: `import_from` (another plane's backup bucket), `copy_s3_objects` (the bucket objects' bytes), WAL
`restore_point`s and `isolated` shards. This deployment has no cross-plane backup buckets, no WAL retention and no
per-restore shards, so those requests are refused with a 400 naming why. Documents of collections in the cold or
archived tier live outside the vector store and are not part of a snapshot (verify names such collections), and a
restore in place needs every collection active (a 409 naming those that are not).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable

from openpeek.domain import snapshots as rules
from openpeek.domain import tasks as task_rules
from openpeek.domain import tiering as tier_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DomainError, NotFound
from openpeek.domain.failures import BlobNotFound, CollectionNotFound, ConditionFailed, DependencyUnavailable
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.snapshots import Snapshot, Verification
from openpeek.domain.tasks import COMPLETED, FAILED, PROCESSING, Task
from openpeek.ports import BlobStore, Table, UploadUrls, VectorStore
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.snapshots import SnapshotRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.clone import INLINE_MAX_POINTS, Runner, inline, move_task, moved_to, points_in_pages
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal

logger = logging.getLogger(__name__)

MAX_RUNTIME_S = 6 * 3600
SAVE_ATTEMPTS = 16
DELETE_PAGE = 500
DOWNLOAD_URL_TTL_S = 3600  # the SDK: download URLs are "valid for one hour"


class NamespaceSnapshots:
    def __init__(self, namespaces: NamespaceService, table: Table, vectors: VectorStore, blobs: BlobStore, *,
                 background: Runner = inline, download_urls: UploadUrls | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """`download_urls`: signs the artifact URLs of GET ?download=true (None where none can be signed)."""
        self._namespaces = namespaces
        self._table = table
        self._vectors = vectors
        self._blobs = blobs
        self._snapshots = SnapshotRepository(table)
        self._collections = CollectionRepository(table)
        self._tiers = TierStateRepository(table)
        self._tasks = TaskRepository(table)
        self._background = background
        self._download_urls = download_urls
        self._clock = clock

    # -- reads ----------------------------------------------------------------------------------------------------

    def _find(self, principal: Principal, identifier: str, snapshot_id: str) -> tuple[Namespace, Snapshot]:
        """Another organisation's namespace, or a snapshot of another namespace, is 'not found' too."""
        namespace = self._namespaces.resolve(principal, identifier)
        snapshot = self._snapshots.get(namespace.namespace_id, snapshot_id)
        if snapshot is None:
            raise NotFound("snapshot", snapshot_id)
        return namespace, self._settled(snapshot)

    def _settled(self, snapshot: Snapshot) -> Snapshot:
        """A snapshot still being taken whose task ended without completing (canceled) or passed its deadline (its
        worker stopped: a restart) is failed, so that it can be deleted and is never restored."""
        if snapshot.status not in (rules.PENDING, rules.IN_PROGRESS) or snapshot.task_id is None:
            return snapshot
        task = self._tasks.get(snapshot.namespace_id, snapshot.task_id)
        now = self._clock()
        if task is not None and not task.overdue(now) and (not task.terminal or task.status == COMPLETED):
            return snapshot
        reason = task.error if task is not None and task.error else task_rules.DEADLINE_MESSAGE
        failed = self._update(snapshot.namespace_id, snapshot.snapshot_id, lambda s: s.failed(reason, isoformat(now))
                              if s.status in (rules.PENDING, rules.IN_PROGRESS) else s)
        self._move(snapshot.namespace_id, snapshot.task_id, FAILED, error=reason)
        return failed or snapshot

    def list(self, principal: Principal, identifier: str, *, skip: int, limit: int) -> dict[str, Any]:
        """ListSnapshotsResponse, newest first."""
        namespace = self._namespaces.resolve(principal, identifier)
        found = [self._settled(snapshot) for snapshot in self._snapshots.list(namespace.namespace_id)]
        return {"results": [present(snapshot) for snapshot in found[skip:skip + limit]], "total_count": len(found)}

    def get(self, principal: Principal, identifier: str, snapshot_id: str, *,
            download_base_url: str | None = None) -> dict[str, Any]:
        """SnapshotDetailResponse; with `download_base_url` (where this API answers), a signed URL per artifact."""
        _, snapshot = self._find(principal, identifier, snapshot_id)
        checked = Verification()
        stored = self._stored_manifest(snapshot, checked) if snapshot.status == rules.COMPLETED else None
        detail = present(snapshot, stored)
        if download_base_url is not None:
            detail["download"] = self._download(snapshot, stored, checked, download_base_url)
        return detail

    def _download(self, snapshot: Snapshot, stored: dict[str, Any] | None, checked: Verification,
                  base_url: str) -> dict[str, Any]:
        if snapshot.status != rules.COMPLETED:
            raise Conflict(f"snapshot '{snapshot.snapshot_id}' is {snapshot.status}; only a completed snapshot can "
                           "be downloaded", code="snapshot_not_completed", details={"status": snapshot.status})
        if stored is None:
            raise Conflict(f"snapshot '{snapshot.snapshot_id}' cannot be downloaded: " + _errors(checked),
                           code="snapshot_damaged", details={"issues": checked.issues})
        if self._download_urls is None:
            raise BadRequest("this deployment cannot sign download URLs", code="download_unavailable")
        prefix = rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id)
        expires_at = self._clock() + timedelta(seconds=DOWNLOAD_URL_TTL_S)
        named = {**rules.digests_of(stored), rules.MANIFEST_ARTIFACT: snapshot.manifest_digest}
        artifacts = [{"path": path, "sha256": recorded["sha256"], "size": recorded["size"],
                      "url": self._download_urls.download_url(prefix + path, _content_type(path),
                                                              expires_at=int(expires_at.timestamp()),
                                                              base_url=base_url)}
                     for path, recorded in sorted(named.items())]
        return {"expires_at": isoformat(expires_at), "artifacts": artifacts}

    # -- take -----------------------------------------------------------------------------------------------------

    def create(self, principal: Principal, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        """CreateSnapshotResponse. The snapshot and its task are recorded together; the export runs before the answer
        for a small namespace and in the background otherwise."""
        if request.get("import_from") is not None:
            raise BadRequest("importing a snapshot from another plane's backup bucket is not available: this "
                             "deployment has no backup buckets; take a snapshot here instead",
                             code="snapshot_import_unsupported")
        if request.get("copy_s3_objects"):
            raise BadRequest("copy_s3_objects is not available: a snapshot here holds the namespace's configuration, "
                             "documents and vectors, not its bucket objects' bytes; leave it false",
                             code="snapshot_object_copy_unsupported")
        namespace = self._namespaces.resolve(principal, identifier)
        elsewhere = {collection_id: found for collection_id, found in self._collections_not_active(namespace).items()
                     if found["lifecycle_state"] != tier_rules.FROZEN}  # frozen documents are in the vector store
        include_vectors = request.get("include_vectors") is not False
        total = self._count(namespace) if include_vectors else 0
        now = self._clock()
        task_id = new_id("task")
        snapshot = Snapshot(new_id("snap"), namespace.namespace_id, namespace.public_id, namespace.namespace_name,
                            namespace.org_id, isoformat(now), include_vectors=include_vectors, task_id=task_id,
                            uncaptured_collections=elsewhere if include_vectors else {})
        task = Task.new(task_id, namespace.namespace_id, rules.CREATE_TASK_TYPE, now, MAX_RUNTIME_S,
                        inputs=[{"namespace_id": namespace.public_id, "snapshot_id": snapshot.snapshot_id}],
                        additional_data={"snapshot_id": snapshot.snapshot_id,
                                         "progress": {"exported": 0, "total": total}})
        self._table.transact_write([*self._tasks.creation(task, namespace.org_id), self._snapshots.creation(snapshot)])
        job = lambda: self._export(namespace, snapshot.snapshot_id, total)  # noqa: E731
        finished = inline(job) if total <= INLINE_MAX_POINTS else self._background(job)
        final = self._snapshots.get(namespace.namespace_id, snapshot.snapshot_id) or snapshot
        if not finished:
            message = f"Snapshot of {total} documents started; poll task {task_id}"
        elif final.status == rules.COMPLETED:
            message = f"Snapshot completed: {final.point_count} documents"
        else:
            message = f"Snapshot failed: {final.error}"
        return {"task_id": task_id, "snapshot_id": snapshot.snapshot_id, "message": message}

    def _collections_not_active(self, namespace: Namespace) -> dict[str, dict[str, str]]:
        """Collection id -> {collection_name, lifecycle_state ('moving' while a transition runs)} of every collection
        whose documents are not simply in the vector store taking writes."""
        tiers = self._tiers.list_in(namespace.namespace_id)
        found = {}
        for collection in self._collections.list_in(namespace.namespace_id):
            tier = tiers.get(collection.collection_id)
            moving = tier is not None and tier.transition is not None
            if moving or collection.lifecycle_state != tier_rules.ACTIVE:
                found[collection.collection_id] = {"collection_name": collection.collection_name,
                                                   "lifecycle_state": "moving" if moving else collection.lifecycle_state}
        return found

    def _count(self, namespace: Namespace) -> int:
        try:
            return self._vectors.count(namespace.collection)
        except CollectionNotFound:
            return 0

    def _export(self, namespace: Namespace, snapshot_id: str, total: int) -> None:
        """Write the artifacts, then record them. A failure leaves no artifacts behind and the snapshot and its task
        FAILED with the reason."""
        snapshot = self._update(namespace.namespace_id, snapshot_id, lambda s: replace(s, status=rules.IN_PROGRESS)
                                if s.status == rules.PENDING else s)
        if snapshot is None or snapshot.status != rules.IN_PROGRESS:
            return  # deleted, or failed at its deadline before a worker got to it
        self._move(namespace.namespace_id, snapshot.task_id, PROCESSING, progress={"exported": 0, "total": total})
        prefix = rules.artifacts_prefix(namespace.namespace_id, snapshot_id)
        exported = 0
        try:
            counted_before = self._count(namespace)
            config = json.dumps(_configuration(namespace), sort_keys=True, default=str).encode()
            self._blobs.put(prefix + rules.CONFIG_ARTIFACT, config, "application/json")
            digests = {rules.CONFIG_ARTIFACT: rules.digest(config)}
            if snapshot.include_vectors and counted_before:
                for part, points in enumerate(points_in_pages(self._vectors, namespace.collection)):
                    data = rules.encode_points(points)
                    self._blobs.put(prefix + rules.part_artifact(part), data, "application/gzip")
                    digests[rules.part_artifact(part)] = rules.digest(data)
                    exported += len(points)
                    self._move(namespace.namespace_id, snapshot.task_id, PROCESSING,
                               progress={"exported": exported, "total": total})
            manifest = rules.manifest(snapshot, point_count=exported, digests=digests, counted_before=counted_before,
                                      counted_after=self._count(namespace) if snapshot.include_vectors else 0)
            stored = json.dumps(manifest, sort_keys=True).encode()
            self._blobs.put(prefix + rules.MANIFEST_ARTIFACT, stored, "application/json")
            now = isoformat(self._clock())
            # completed only if still being taken: one deleted meanwhile, or failed by its task's cancel, keeps nothing
            saved = self._update(namespace.namespace_id, snapshot_id, lambda s: s.completed(manifest, stored, now)
                                 if s.status == rules.IN_PROGRESS else s)
            if saved is None or saved.status != rules.COMPLETED:
                self._discard(prefix)
                return
        except Exception as error:  # noqa: BLE001 - the snapshot and its task record any failure
            logger.exception("snapshot %s of %s failed", snapshot_id, namespace.namespace_id)
            reason = f"exporting failed after {exported} documents: {_reason(error)}"
            self._discard(prefix)
            now = isoformat(self._clock())
            self._update(namespace.namespace_id, snapshot_id, lambda s: s.failed(reason, now))
            self._move(namespace.namespace_id, snapshot.task_id, FAILED, error=reason)
            return
        self._move(namespace.namespace_id, snapshot.task_id, COMPLETED, progress={"exported": exported, "total": total},
                   outputs=[{"snapshot_id": snapshot_id, "points": exported}])

    def _discard(self, prefix: str) -> None:
        try:
            self._blobs.delete_prefix(prefix)
        except DependencyUnavailable:  # a failed snapshot's leftovers are never read; its deletion retries this
            logger.warning("could not remove the artifacts under %s", prefix, exc_info=True)

    # -- delete ---------------------------------------------------------------------------------------------------

    def delete(self, principal: Principal, identifier: str, snapshot_id: str) -> dict[str, Any]:
        """Artifacts first, the record last: a deletion that failed half way can be sent again."""
        namespace, snapshot = self._find(principal, identifier, snapshot_id)
        if snapshot.status in (rules.PENDING, rules.IN_PROGRESS):
            raise Conflict(f"snapshot '{snapshot_id}' is still being taken; delete it once its task "
                           f"{snapshot.task_id} ended", code="snapshot_in_progress",
                           details={"task_id": snapshot.task_id})
        self._blobs.delete_prefix(rules.artifacts_prefix(namespace.namespace_id, snapshot_id))
        try:
            self._table.transact_write([self._snapshots.deletion(snapshot)])
        except ConditionFailed:
            current = self._snapshots.get(namespace.namespace_id, snapshot_id)
            if current is not None:
                self._table.transact_write([self._snapshots.deletion(current)])
        return {"success": True, "message": f"Snapshot '{snapshot_id}' deleted", "snapshot_id": snapshot_id}

    # -- verify ---------------------------------------------------------------------------------------------------

    def verify(self, principal: Principal, identifier: str, snapshot_id: str, *, deep: bool) -> dict[str, Any]:
        """SnapshotVerifyResponse: read only."""
        _, snapshot = self._find(principal, identifier, snapshot_id)
        verification, stored = self._verification(snapshot, deep=deep)
        return {
            "snapshot_id": snapshot.snapshot_id, "status": snapshot.status,
            "restorable": verification.restorable, "issues": verification.issues,
            "collections_verified": verification.parts_verified,
            "vector_source": ("self" if snapshot.include_vectors and snapshot.point_count else "none")
            if snapshot.status == rules.COMPLETED else None,
            "vector_capture": verification.vector_capture,
            "frontier": stored["frontier"] if stored is not None else None,
            "digests_verified": verification.digests_verified, "last_restore": snapshot.last_restore,
        }

    def _stored_manifest(self, snapshot: Snapshot, verification: Verification) -> dict[str, Any] | None:
        """manifest.json, when it matches the digest the record keeps of it (else None, the issue recorded)."""
        data = self._read(rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id) + rules.MANIFEST_ARTIFACT)
        if not rules.check_artifact(verification, rules.MANIFEST_ARTIFACT, data, snapshot.manifest_digest or {}):
            return None
        return json.loads(data or b"")

    def _verification(self, snapshot: Snapshot, *, deep: bool) -> tuple[Verification, dict[str, Any] | None]:
        """manifest.json checked against the record's digest of it, then every artifact it names re-read and its
        sha256 compared (deep: each part decoded and its documents counted too). Returns what was found and the
        stored manifest (None when it could not be trusted)."""
        verification = Verification()
        if snapshot.status != rules.COMPLETED:
            verification.error("snapshot_not_completed", f"the snapshot is {snapshot.status}" + (
                f": {snapshot.error}" if snapshot.error else "") + "; only a completed snapshot can be restored")
            return verification, None
        stored = self._stored_manifest(snapshot, verification)
        if stored is None:
            return verification, None
        prefix = rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id)
        parts = rules.parts_of(stored)
        decoded_every_part = True
        for path, recorded in sorted(rules.digests_of(stored).items()):
            data = self._read(prefix + path)
            if not rules.check_artifact(verification, path, data, recorded):
                decoded_every_part = decoded_every_part and path not in parts
                continue
            if path not in parts:
                continue
            verification.parts_verified += 1
            if deep:
                try:
                    points = rules.decode_points(data or b"")
                except rules.UnreadablePart as error:
                    verification.error("unreadable_part", f"{path} does not decode: {error}")
                    decoded_every_part = False
                    continue
                verification.points_read += len(points)
                verification.points_without_vectors += sum(1 for point in points if not point.vectors)
        for found in sorted(snapshot.uncaptured_collections.values(), key=lambda found: found["collection_name"]):
            verification.warning("collection_not_captured", f"collection '{found['collection_name']}' was "
                                 f"{found['lifecycle_state']} when the snapshot was taken: its documents were outside "
                                 "the vector store and are not in the snapshot (a restore in place leaves them alone)")
        if deep and decoded_every_part:
            verification.measured = True
            if verification.points_read != snapshot.point_count:
                verification.error("point_count_mismatch", f"the parts hold {verification.points_read} documents "
                                                           f"where {snapshot.point_count} were recorded")
        return verification, stored

    def _read(self, key: str) -> bytes | None:
        try:
            return self._blobs.get(key)
        except BlobNotFound:
            return None

    # -- restore --------------------------------------------------------------------------------------------------

    def restore(self, principal: Principal, identifier: str, snapshot_id: str,
                request: dict[str, Any]) -> dict[str, Any]:
        """RestoreSnapshotResponse. The snapshot is verified before anything changes: a damaged one is a 409 naming
        what is wrong, and nothing is written."""
        if request.get("restore_point") is not None:
            raise BadRequest("restore_point is not available: the vector store here keeps no write-ahead log to replay "
                             "to an instant; restore the snapshot as taken", code="restore_point_unsupported")
        if request.get("isolated"):
            raise BadRequest("isolated restores are not available: this deployment has no temporary vector shards; "
                             "restore into a target_namespace_name instead", code="isolated_restore_unsupported")
        target_name = request.get("target_namespace_name")
        if target_name is None and not request.get("confirm_in_place"):
            raise BadRequest("restoring in place deletes the namespace's current documents and replaces them with "
                             "the snapshot's: send confirm_in_place: true, or a target_namespace_name to restore into "
                             "a new namespace", code="confirm_in_place_required")
        source, snapshot = self._find(principal, identifier, snapshot_id)
        # Every artifact's sha256 matching the export's is proof enough that its parts decode as written: decoding
        # them here too (deep) would read the documents twice.
        verification, stored = self._verification(snapshot, deep=False)
        if not verification.restorable or stored is None:
            raise Conflict(f"snapshot '{snapshot_id}' cannot be restored: " + _errors(verification),
                           code="snapshot_not_restorable", details={"issues": verification.issues})
        stored_configuration = self._read(rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id) +
                                          rules.CONFIG_ARTIFACT)
        if stored_configuration is None:  # deleted since it was verified a moment ago
            raise NotFound("snapshot", snapshot_id)
        configuration = Namespace.from_record({**json.loads(stored_configuration), "org_id": principal.org_id},
                                              version=1)
        in_place = target_name is None
        if in_place:
            self._refuse_concurrent_restore(source)
            self._refuse_tiered_collections(source)
            target = self._namespaces.restore_schema(source, configuration)
        else:
            # The copy lives where the namespace's vectors live now (its dedicated store with its key, as a clone's
            # does): the snapshot keeps no secrets, and the store it named may have moved since.
            placed = replace(configuration, infrastructure=source.infrastructure).with_secret_values(
                source.secret_values())
            target = self._namespaces.create_copy(principal, placed, target_name, description=None,
                                                  ttl_seconds=None).namespace
        now = self._clock()
        task = Task.new(new_id("task"), target.namespace_id, rules.RESTORE_TASK_TYPE, now, MAX_RUNTIME_S,
                        inputs=[{"snapshot_id": snapshot_id, "namespace_id": target.public_id}],
                        additional_data={"snapshot_id": snapshot_id, "source_namespace_id": source.public_id,
                                         "in_place": in_place,
                                         "progress": {"restored": 0, "total": snapshot.point_count}})
        self._table.transact_write(self._tasks.creation(task, principal.org_id))
        parts = rules.parts_of(stored)
        job = lambda: self._restore(snapshot, parts, target, task.task_id, in_place=in_place)  # noqa: E731
        finished = inline(job) if snapshot.point_count <= INLINE_MAX_POINTS else self._background(job)
        final = self._tasks.get(target.namespace_id, task.task_id) or task
        if not finished:
            message = f"Restoring {snapshot.point_count} documents; poll task {task.task_id}"
        elif final.status == COMPLETED:
            message = f"Restored {snapshot.point_count} documents into '{target.namespace_name}'"
        else:
            message = f"Restore failed: {final.error}"
        return {"task_id": task.task_id, "snapshot_id": snapshot_id, "target_namespace_id": target.public_id,
                "message": message, "isolated": False}

    def _refuse_tiered_collections(self, namespace: Namespace) -> None:
        """A restore in place writes the vector store and removes what the snapshot lacks: a cold or archived
        collection's documents would come back beside their other tier's copy, a frozen one takes no writes, and a
        moving one is between stores."""
        outside = {found["collection_name"]: found["lifecycle_state"]
                   for found in self._collections_not_active(namespace).values()}
        if outside:
            listed = ", ".join(f"'{name}' is {state}" for name, state in sorted(outside.items()))
            raise Conflict(f"a restore in place needs every collection of the namespace active: {listed}; make them "
                           "active first (PATCH /v1/collections/{id}/lifecycle), or restore into a "
                           "target_namespace_name", code="collections_not_active", details={"collections": outside})

    def _refuse_concurrent_restore(self, namespace: Namespace) -> None:
        """Two restores in place at once would each remove what the other wrote back."""
        now = self._clock()
        running = [task for task in self._tasks.list(namespace.namespace_id)
                   if task.task_type == rules.RESTORE_TASK_TYPE and not task.terminal and not task.overdue(now)]
        if running:
            raise Conflict(f"namespace '{namespace.public_id}' is being restored already (task "
                           f"{running[0].task_id}); restore again once it ended", code="restore_in_progress",
                           details={"task_id": running[0].task_id})

    def _restore(self, snapshot: Snapshot, parts: list[str], target: Namespace, task_id: str, *,
                 in_place: bool) -> None:
        prefix = rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id)
        total = snapshot.point_count
        self._move(target.namespace_id, task_id, PROCESSING, progress={"restored": 0, "total": total})
        restored = removed = 0
        kept: set[str] = set()
        try:
            for path in parts:
                points = rules.decode_points(self._blobs.get(prefix + path))
                if not in_place:
                    moved_to(points, target)
                self._vectors.upsert(target.collection, points)
                kept.update(point.id for point in points)
                restored += len(points)
                self._move(target.namespace_id, task_id, PROCESSING, progress={"restored": restored, "total": total})
            if in_place and snapshot.include_vectors:
                removed = self._remove_documents_not_in(target, kept, spared=set(snapshot.uncaptured_collections))
        except Exception as error:  # noqa: BLE001 - the task and the snapshot's last_restore record any failure
            logger.exception("restoring snapshot %s into %s failed", snapshot.snapshot_id, target.namespace_id)
            reason = f"restoring failed after {restored} of {total} documents: {_reason(error)}"
            self._record_restore(snapshot, target, restored, complete=False, skipped=[reason])
            self._move(target.namespace_id, task_id, FAILED, error=reason)
            return
        self._record_restore(snapshot, target, restored, complete=True, skipped=[])
        self._move(target.namespace_id, task_id, COMPLETED, progress={"restored": restored, "total": total},
                   outputs=[{"namespace_id": target.public_id, "points": restored, "removed": removed}])

    def _remove_documents_not_in(self, target: Namespace, kept: set[str], *, spared: set[str]) -> int:
        """Documents written since the snapshot go, except those of the collections it could not capture (`spared`
        ids). Listed first, deleted after: the scroll never runs over points deleted under it."""
        extra = [point.id for points in points_in_pages(self._vectors, target.collection, with_vectors=False)
                 for point in points
                 if point.id not in kept and point.payload.get("collection_id") not in spared]
        for start in range(0, len(extra), DELETE_PAGE):
            self._vectors.delete(target.collection, extra[start:start + DELETE_PAGE])
        return len(extra)

    def _record_restore(self, snapshot: Snapshot, target: Namespace, restored: int, *, complete: bool,
                        skipped: list[str]) -> None:
        """The snapshot's last_restore (RestoreReport). Best effort: the task already says how the restore went."""
        expected = snapshot.point_count
        status = "none" if not snapshot.include_vectors else "restored" if complete else (
            "partial" if restored else "failed")
        report = {"snapshot_id": snapshot.snapshot_id, "target_namespace_id": target.public_id, "complete": complete,
                  "vector_expected": expected, "vector_restored": restored, "vector_source": "self",
                  "vector_status": status, "skipped_summary": skipped}
        try:
            self._update(snapshot.namespace_id, snapshot.snapshot_id, lambda s: replace(s, last_restore=report))
        except Conflict:
            logger.warning("could not record the restore report of snapshot %s", snapshot.snapshot_id)

    # -- state ----------------------------------------------------------------------------------------------------

    def _update(self, namespace_id: str, snapshot_id: str,
                change: Callable[[Snapshot], Snapshot]) -> Snapshot | None:
        """Apply `change` to the stored record, retried on a concurrent write; None when the record is gone."""
        def attempt() -> Snapshot | None:
            current = self._snapshots.get(namespace_id, snapshot_id)
            return None if current is None else self._snapshots.save(change(current), current)

        return retry_on_conflict(attempt, attempts=SAVE_ATTEMPTS, gave_up=lambda: Conflict(
            "the snapshot kept changing while it was saved", code="concurrent_modification"))

    def _move(self, namespace_id: str, task_id: str | None, status: str, *, progress: dict[str, int] | None = None,
              error: str | None = None, outputs: list[Any] | None = None) -> None:
        if task_id is not None:
            move_task(self._table, self._tasks, namespace_id, task_id, status, self._clock(), progress=progress,
                      error=error, outputs=outputs)


def _configuration(namespace: Namespace) -> dict[str, Any]:
    """The namespace's record as a snapshot keeps it: no secret values, nor where its secrets are kept."""
    return {**namespace.with_secret_values({}).to_record(), "secrets": None}


def _errors(verification: Verification) -> str:
    return "; ".join(issue["detail"] for issue in verification.issues if issue["severity"] == "error")


def _content_type(path: str) -> str:
    return "application/gzip" if path.endswith(".gz") else "application/json"


def _reason(error: Exception) -> str:
    return error.message if isinstance(error, DomainError) else (str(error) or type(error).__name__)


def present(snapshot: Snapshot, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """SnapshotModel: the record's manifest, or `stored` (manifest.json, checked) with its artifacts' digests."""
    return {
        "snapshot_id": snapshot.snapshot_id, "namespace_id": snapshot.public_namespace_id,
        "namespace_name": snapshot.namespace_name, "internal_id": snapshot.org_id,
        "snapshot_type": snapshot.snapshot_type, "status": snapshot.status, "created_at": snapshot.created_at,
        "dispatch_at": snapshot.created_at, "completed_at": snapshot.completed_at, "expires_at": None,
        "schema_version": rules.SCHEMA_VERSION,
        "s3_prefix": rules.artifacts_prefix(snapshot.namespace_id, snapshot.snapshot_id),
        "s3_objects_copied": False, "manifest": stored or snapshot.manifest, "error": snapshot.error,
        "task_id": snapshot.task_id, "include_vectors": snapshot.include_vectors, "vector_shard_key": None,
        "copy_out": {"status": "not_configured"}, "imported_from": None, "last_restore": snapshot.last_restore,
    }
