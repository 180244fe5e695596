"""The status of a cluster job in one place: its task, its execution record and its cluster move together, in one
transaction, and a task that has ended never moves again (so a late finalize cannot undo a cancel, and a retried step
changes nothing twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from openpeek.domain import tasks as task_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.clock import parse as parse_time
from openpeek.domain.tasks import Task, TerminalTask
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Put
from openpeek.ports import EventBus, Metrics, Table
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.tasks import TaskRepository

ATTEMPTS = 16
RUN_STATUS = {task_rules.PENDING: "pending", task_rules.PROCESSING: "processing", task_rules.COMPLETED: "completed",
              task_rules.FAILED: "failed", task_rules.CANCELED: "canceled"}
_EVENTS = {task_rules.PROCESSING: "cluster.execution.started", task_rules.COMPLETED: "cluster.execution.completed",
           task_rules.FAILED: "cluster.execution.failed", task_rules.CANCELED: "cluster.execution.canceled"}


class JobGone(Exception):
    """The task, execution or namespace of a job no longer exists (deleted meanwhile)."""


class ClusterLedger:
    def __init__(self, table: Table, clusters: ClusterRepository, tasks: TaskRepository, events: EventBus,
                 clock: Callable[[], datetime] = utcnow, *, metrics: Metrics | None = None) -> None:
        self._table = table
        self._metrics = metrics
        self._clusters = clusters
        self._tasks = tasks
        self._events = events
        self._clock = clock

    def task(self, job: ClusterJob) -> Task:
        task = self._tasks.get(job.namespace_id, job.task_id)
        if task is None:
            raise JobGone(job.task_id)
        return task

    def move(self, job: ClusterJob, status: str, *, error: str | None = None, run_changes: dict[str, Any] | None = None,
             outputs: list[Any] | None = None, update_cluster: bool = True) -> Task | None:
        """Move the job to `status`. Returns the moved task, or None when the task had ended already (nothing is
        written then). For a layout job only the execution's own fields change, never its status."""

        def attempt() -> tuple[Task, Task] | None:
            task = self.task(job)
            try:
                moved = task.moved(status, self._clock(), error=error, outputs=outputs)
            except TerminalTask:
                return None
            run = self._clusters.get_run(job.namespace_id, job.cluster_id, job.run_id)
            operations: list[Put] = [self._tasks.update(moved, task)]
            if run is not None:
                changes = dict(run_changes or {})
                if job.kind == "cluster":
                    changes["status"] = RUN_STATUS[status]
                    if status in task_rules.TERMINAL:
                        changes["completed_at"] = isoformat(self._clock())
                    if error is not None:
                        changes["error_message"] = error
                operations.append(self._clusters.update_run(job.namespace_id, run, changes))
            cluster = self._clusters.get(job.namespace_id, job.cluster_id) if update_cluster else None
            if cluster is not None and job.kind == "cluster":
                cluster_changes: dict[str, Any] = {"status": status, "task_id": job.task_id,
                                                   "updated_at": isoformat(self._clock())}
                if status == task_rules.COMPLETED and run is not None and run.mode != "layout":
                    cluster_changes.update(last_run_id=job.run_id, num_clusters=(run_changes or {}).get("num_clusters"))
                operations.append(self._clusters.update(cluster.with_changes(cluster_changes), cluster))
            self._table.transact_write(operations)
            return task, moved

        written = retry_on_conflict(attempt, attempts=ATTEMPTS, gave_up=lambda: ConditionFailed(
            f"task {job.task_id} kept changing"))
        if written is None:
            return None
        task, moved = written
        if job.kind == "cluster" and status in _EVENTS:
            self._publish(job, _EVENTS[status], {"error": error} if error else {})
        if job.kind == "cluster" and status == task_rules.COMPLETED and self._metrics is not None:
            started = parse_time(task.created_at)
            self._metrics.milliseconds("ClusterRunDuration", (self._clock() - started).total_seconds() * 1000)
        return moved

    def _publish(self, job: ClusterJob, event_type: str, extra: dict[str, Any]) -> None:
        self._events.publish(DomainEvent(
            type=event_type, org_id=job.org_id, namespace_id=job.namespace_id,
            data={"cluster_id": job.cluster_id, "run_id": job.run_id, "task_id": job.task_id, **extra},
            occurred_at=isoformat(self._clock()),
        ))
