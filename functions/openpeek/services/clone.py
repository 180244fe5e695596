"""Namespace clone (seed 003's environment branching; the SDK's CloneNamespaceRequest): a new namespace with the
source's configuration, the chosen resources, and its documents and vectors copied as they are (no re-embedding).

The copy is a task with progress. Small namespaces are copied before the answer; larger ones by the runtime's
background runner, and the answer says `cloning` with the task to poll. Afterwards the two share nothing: the clone has
its own collection, records and ids, so a write to one never shows in the other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterator

from openpeek.domain import tasks as task_rules
from openpeek.domain.clock import utcnow
from openpeek.domain.errors import BadRequest
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task, TerminalTask
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.vectors import VectorPoint
from openpeek.ports import Table, VectorStore
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.retrievers import RetrieverRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.services.content.copying import ContentCopier
from openpeek.services.collections.collections import CollectionService
from openpeek.services.namespaces import NamespaceService, NamespaceView
from openpeek.services.organizations import Principal

COPY_PAGE = 500
TASK_MOVE_ATTEMPTS = 8
INLINE_MAX_POINTS = 5_000  # copied before answering; larger namespaces are copied in the background
CLONE_TASK_TYPE = "api_namespaces_create"
Runner = Callable[[Callable[[], None]], bool]
"""Runs a job: returns True when it ran to its end before returning, False when it was started in the background."""


def inline(job: Callable[[], None]) -> bool:
    job()
    return True


class NamespaceCloner:
    def __init__(self, namespaces: NamespaceService, table: Table, vectors: VectorStore,
                 retrievers: RetrieverRepository, clusters: ClusterRepository, tasks: TaskRepository, *,
                 background: Runner = inline, max_runtime_s: int = 6 * 3600,
                 clock: Callable[[], datetime] = utcnow, content: ContentCopier | None = None,
                 collections: CollectionService | None = None) -> None:
        self._content = content
        self._collections = collections
        self._namespaces = namespaces
        self._table = table
        self._vectors = vectors
        self._retrievers = retrievers
        self._clusters = clusters
        self._tasks = tasks
        self._background = background
        self._max_runtime_s = max_runtime_s
        self._clock = clock

    def clone(self, principal: Principal, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        mode = request.get("mode") or "copy"
        if mode != "copy":
            raise BadRequest("only mode 'copy' is available: 'branch' (copy-on-write) needs shared storage this "
                             "deployment does not have", code="clone_mode_unsupported", details={"mode": mode})
        if request.get("source_organization_id") not in (None, principal.org_id):
            raise BadRequest("cloning from another organisation is not supported", code="cross_org_clone_refused")
        include = {"collections": True, "retrievers": True, "clusters": False, "taxonomies": False,
                   **{k: v for k, v in (request.get("include_resources") or {}).items() if v is not None}}
        source = self._namespaces.resolve(principal, identifier)
        view = self._namespaces.create_copy(principal, source, request["namespace_name"],
                                            description=request.get("description"),
                                            ttl_seconds=request.get("ttl_seconds"))
        target = view.namespace
        summary = {"collections": 0, "retrievers": 0, "taxonomies": 0, "buckets": 0, "objects": 0, "points": 0}
        primary = None
        if include["retrievers"]:
            for retriever in sorted(self._retrievers.list(source.namespace_id), key=lambda r: r.created_at):
                copy = replace(retriever, retriever_id=new_id("ret"), namespace_id=target.namespace_id, version=1)
                self._retrievers.create(copy)
                primary = primary or copy.retriever_id
                summary["retrievers"] += 1
        if self._content is not None:
            summary.update(self._content.copy(source, target))  # buckets, objects and their blobs
        if include["clusters"]:
            for cluster in self._clusters.list(source.namespace_id):
                self._clusters.create(replace(cluster, cluster_id=new_id("clust"), namespace_id=target.namespace_id,
                                              status=None, task_id=None, last_run_id=None, num_clusters=None,
                                              version=1))
        total = self._vectors.count(source.collection) if include["collections"] else 0
        task = Task.new(new_id("task"), target.namespace_id, CLONE_TASK_TYPE, self._clock(), self._max_runtime_s,
                        inputs=[{"source_namespace_id": source.namespace_id, "namespace_id": target.namespace_id}],
                        additional_data={"source_namespace_id": source.namespace_id, "clone": True,
                                         "progress": {"copied": 0, "total": total}})
        self._table.transact_write(self._tasks.creation(task, principal.org_id))
        if include["collections"]:
            summary["collections"] = 1  # the namespace's documents, in one vector collection
            summary["points"] = total
            if self._collections is not None:  # the collection definitions too, before their documents arrive
                summary["collections"] = self._collections.copy_into(source, target) or summary["collections"]
        job = lambda: self._copy_documents(source, target, task.task_id, total)  # noqa: E731
        finished = inline(job) if total <= INLINE_MAX_POINTS else self._background(job)
        final = self._tasks.get(target.namespace_id, task.task_id) or task
        status = {task_rules.COMPLETED: "ready", task_rules.FAILED: "failed"}.get(final.status, "cloning")
        return {"view": NamespaceView(target, self._namespaces.live_info(target),
                                      counts=self._namespaces.content_counts(target)) if finished else view,
                "source_namespace_id": source.public_id, "status": status, "task_id": task.task_id,
                "cloned_resources": summary, "primary_retriever_id": primary}

    def _copy_documents(self, source: Namespace, target: Namespace, task_id: str, total: int) -> None:
        copied = 0
        self._move(target, task_id, task_rules.PROCESSING, progress={"copied": 0, "total": total})
        try:
            for points in points_in_pages(self._vectors, source.collection) if total else ():
                self._vectors.upsert(target.collection, moved_to(points, target))
                copied += len(points)
                self._move(target, task_id, task_rules.PROCESSING, progress={"copied": copied, "total": total})
        except Exception as error:  # noqa: BLE001 - the task records any failure; the clone stays for inspection
            self._move(target, task_id, task_rules.FAILED, error=f"copying documents failed after {copied}: {error}")
            return
        self._move(target, task_id, task_rules.COMPLETED, progress={"copied": copied, "total": total},
                   outputs=[{"namespace_id": target.namespace_id, "points": copied}])

    def _move(self, target: Namespace, task_id: str, status: str, *, progress: dict[str, int] | None = None,
              error: str | None = None, outputs: list[Any] | None = None) -> None:
        move_task(self._table, self._tasks, target.namespace_id, task_id, status, self._clock(), progress=progress,
                  error=error, outputs=outputs)


def points_in_pages(vectors: VectorStore, collection: str, *, page: int | None = None,
                    with_vectors: bool = True) -> Iterator[list[VectorPoint]]:
    """Every point of a namespace's collection, a page at a time in the store's stable order, with vectors and
    payloads: what a clone copies and a snapshot exports."""
    offset: str | None = None
    while True:
        points, offset = vectors.scroll(collection, limit=page or COPY_PAGE, offset=offset, with_vectors=with_vectors)
        if points:
            yield points
        if offset is None:
            return


def moved_to(points: list[VectorPoint], target: Namespace) -> list[VectorPoint]:
    """The points as `target` holds them: the namespace id in their payload is the target's (ids, vectors and the
    rest of the payload stay)."""
    for point in points:
        if "namespace_id" in point.payload:
            point.payload["namespace_id"] = target.public_id
    return points


def move_task(table: Table, tasks: TaskRepository, namespace_id: str, task_id: str, status: str, now: datetime, *,
              progress: dict[str, int] | None = None, error: str | None = None,
              outputs: list[Any] | None = None) -> None:
    """Move a copy's task to `status`, retried on a concurrent write; a task deleted or ended meanwhile stays as the
    other writer left it."""
    def attempt() -> None:
        task = tasks.get(namespace_id, task_id)
        if task is None:
            return  # its namespace was deleted meanwhile
        try:
            moved = task.moved(status, now, error=error, outputs=outputs,
                               data={"progress": progress} if progress else None)
        except TerminalTask:
            return
        table.transact_write([tasks.update(moved, task)])

    try:
        retry_on_conflict(attempt, attempts=TASK_MOVE_ATTEMPTS)
    except ConditionFailed:
        pass  # another writer kept moving the task (a cancel, a delete): its state is the newer one


def thread_runner(job: Callable[[], None]) -> bool:
    """The embedded runtime's background runner: a daemon thread."""
    import threading

    threading.Thread(target=job, name="openpeek-clone", daemon=True).start()
    return False

