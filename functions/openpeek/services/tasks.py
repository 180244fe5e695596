"""Tasks: read, list and cancel (seed 004). A task past its deadline is ended FAILED when read, so nothing stays
PENDING or PROCESSING forever even when its worker died."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from openpeek.domain import tasks as task_rules
from openpeek.domain.clock import utcnow
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.repositories.tasks import TaskRepository
from openpeek.services.clustering.ledger import ClusterLedger


class TaskService:
    def __init__(self, tasks: TaskRepository, ledger: ClusterLedger, clock: Callable[[], datetime] = utcnow, *,
                 live_driver_process_id: str | None = None) -> None:
        """`live_driver_process_id`: this process's Orchestrator.driver_process_id; an active task that recorded
        another one was orphaned by a restart."""
        self._tasks = tasks
        self._ledger = ledger
        self._clock = clock
        self._live_driver_process_id = live_driver_process_id

    def locate(self, org_id: str, task_id: str) -> str:
        """The namespace of one of this organisation's tasks; another organisation's task is 404."""
        found = self._tasks.locate(task_id)
        if found is None or found[0] != org_id:
            raise NotFound("task", task_id)
        return found[1]

    def get(self, namespace: Namespace, task_id: str) -> Task:
        task = self._tasks.get(namespace.namespace_id, task_id)
        if task is None:
            raise NotFound("task", task_id)
        return self._expire_if_overdue(namespace.org_id, task)

    def list(self, org_id: str, namespace: Namespace | None, *, status: str | None = None,
             task_type: str | None = None, search: str | None = None) -> list[Task]:
        """Newest first; one namespace's, or the organisation's in every namespace."""
        tasks = self._tasks.list(namespace.namespace_id) if namespace else self._tasks.list_for_org(org_id)
        found = [self._expire_if_overdue(org_id, task) for task in tasks]
        if status is not None:
            found = [task for task in found if task.status == status]
        if task_type is not None:
            found = [task for task in found if task.task_type == task_type]
        if search:
            needle = search.lower()
            found = [task for task in found if needle in task.task_id.lower()
                     or needle in str(task.additional_data).lower()]
        return sorted(found, key=lambda task: (task.created_at, task.task_id), reverse=True)

    def _expire_if_overdue(self, org_id: str, task: Task) -> Task:
        driver = task.additional_data.get("worker")  # the key tasks have always been stored with
        orphaned = not task.terminal and driver is not None and driver != self._live_driver_process_id
        if not orphaned and not task.overdue(self._clock()):
            return task
        data = task.additional_data
        if task.task_type != task_rules.CLUSTER_BUILD or "run_id" not in data:
            return task
        job = ClusterJob(org_id=org_id, namespace_id=task.namespace_id, cluster_id=data["cluster_id"],
                         run_id=data["run_id"], task_id=task.task_id, kind=data.get("kind", "cluster"))
        reason = task_rules.ORPHAN_MESSAGE if orphaned else task_rules.DEADLINE_MESSAGE
        self._ledger.move(job, task_rules.FAILED, error=reason,
                          run_changes={"layout": "deferred"} if job.kind == "layout" else None,
                          update_cluster=job.kind == "cluster")
        return self._ledger.task(job)


def check_status(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in task_rules.ACTIVE | task_rules.TERMINAL | {
            "UNKNOWN", "SKIPPED", "DRAFT", "ACTIVE", "ARCHIVED", "SUSPENDED", "INTERRUPTED"}:
        raise BadRequest("status must be a TaskStatusEnum value", code="invalid_status", details={"status": value})
    return value.upper()
