"""Executing a cluster (seed 004): check the request and the mode's preconditions, record the execution and its task,
and hand the job to the orchestrator. Returns the TaskResponse at once; the steps do the work."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Callable

from openpeek.domain import clusters as rules
from openpeek.domain import tasks as task_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.cluster_runs import ACTIVE, PENDING, ClusterRun
from openpeek.domain.clusters import Cluster
from openpeek.domain.errors import BadRequest, Conflict, DependencyFailed
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.failures import ComputeUnavailable, DependencyUnavailable
from openpeek.ports import Orchestrator, Table
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.tasks import TaskRepository
from openpeek.services.clustering.ledger import ClusterLedger
from openpeek.services.clustering.clusters import ClusterService


class ClusterRunService:
    def __init__(self, table: Table, clusters: ClusterService, repository: ClusterRepository, tasks: TaskRepository,
                 ledger: ClusterLedger, orchestrator: Orchestrator, *, max_runtime_s: int,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._table = table
        self._clusters = clusters
        self._repository = repository
        self._tasks = tasks
        self._ledger = ledger
        self._orchestrator = orchestrator
        self._max_runtime_s = max_runtime_s
        self._clock = clock

    def execute(self, namespace: Namespace, identifier: str, overrides: dict[str, Any]) -> Task:
        cluster = self._clusters.get(namespace, identifier)
        plan = rules.plan_execution(cluster, overrides, has_sources=bool(cluster.source_cluster_ids))
        runs = self._repository.runs(namespace.namespace_id, cluster.cluster_id)
        busy = [run for run in runs if run.status in ACTIVE and not self._overdue(namespace.namespace_id, run)]
        if busy:
            raise Conflict(f"cluster '{cluster.cluster_id}' is executing already (run {busy[0].run_id}); wait for "
                           "its task to end or cancel it", code="execution_in_progress",
                           details={"run_id": busy[0].run_id, "task_id": busy[0].task_id})
        if plan.mode == "assign":
            base = next((run for run in runs if run.usable and run.mode in ("full", "assign")), None)
            if base is None:
                raise BadRequest("mode 'assign' needs a completed execution of this cluster with centroids; run "
                                 "mode 'full' first", code="no_completed_execution",
                                 details={"cluster_id": cluster.cluster_id})
            plan = replace(plan, base_run_id=base.run_id)
        if plan.mode == "composite":
            plan = replace(plan, source_execution_ids=self._composite_sources(namespace, cluster, plan))
        return self._start(namespace, cluster, plan, kind="cluster", compute=overrides.get("compute"))

    def _composite_sources(self, namespace: Namespace, cluster: Cluster, plan: rules.ExecutionPlan) -> tuple[str, ...]:
        if plan.source_execution_ids:
            wanted = list(dict.fromkeys(plan.source_execution_ids))
        elif cluster.source_cluster_ids:
            wanted = []
            for source_id in cluster.source_cluster_ids:
                newest = next((run for run in self._repository.runs(namespace.namespace_id, source_id)
                               if run.usable), None)
                if newest is not None:
                    wanted.append(newest.run_id)
        else:
            raise BadRequest("mode 'composite' needs source_execution_ids (at least 2 completed executions)",
                             code="composite_sources_required")
        if len(wanted) < 2:
            raise BadRequest("mode 'composite' needs at least 2 completed source executions with centroids",
                             code="too_few_source_executions", details={"source_execution_ids": wanted})
        known = {run.run_id: run for run in self._repository.runs_in_namespace(namespace.namespace_id)}
        for run_id in wanted:
            if run_id not in known:
                raise BadRequest(f"source execution '{run_id}' does not exist in this namespace",
                                 code="unknown_source_execution", details={"run_id": run_id})
            if not known[run_id].usable:
                raise BadRequest(f"source execution '{run_id}' is {known[run_id].status}, not completed with "
                                 "centroids", code="source_execution_not_completed",
                                 details={"run_id": run_id, "status": known[run_id].status})
            if known[run_id].mode == "composite":
                raise BadRequest(f"source execution '{run_id}' is itself a composite", code="invalid_source_execution",
                                 details={"run_id": run_id})
        return tuple(wanted)

    def start_layout(self, namespace: Namespace, cluster: Cluster, run: ClusterRun) -> Task:
        """The deferred map of a completed run, as its own job."""
        return self._start(namespace, cluster, run.execution_plan, kind="layout", run=run)

    def _start(self, namespace: Namespace, cluster: Cluster, plan: rules.ExecutionPlan, *, kind: str,
               run: ClusterRun | None = None, compute: dict[str, Any] | None = None) -> Task:
        """`compute`: the execution's choice of where the engine runs ({"backend", "instance_type"}), if it made
        one."""
        now = self._clock()
        run_id = run.run_id if run else new_id("run")
        compute = {key: value for key, value in (compute or {}).items() if value is not None} or None
        task = Task.new(new_id("task"), namespace.namespace_id, task_rules.CLUSTER_BUILD, now, self._max_runtime_s,
                        inputs=[{"cluster_id": cluster.cluster_id, "run_id": run_id, "mode": plan.mode,
                                 "kind": kind}],
                        additional_data={"cluster_id": cluster.cluster_id, "run_id": run_id, "mode": plan.mode,
                                         "kind": kind, "worker": self._orchestrator.driver_process_id,
                                         **({"compute": compute} if compute else {})})
        operations = list(self._tasks.creation(task, namespace.org_id))
        if run is None:
            created = ClusterRun(run_id=run_id, cluster_id=cluster.cluster_id, namespace_id=namespace.namespace_id,
                                 task_id=task.task_id, status=PENDING, mode=plan.mode, plan=plan.to_record(),
                                 created_at=isoformat(now), version=1,
                                 layout="deferred" if plan.defer_visualization else "inline",
                                 source_execution_ids=list(plan.source_execution_ids) or None)
            operations.append(self._repository.create_run(created))
            operations.append(self._repository.update(cluster.with_changes(
                {"status": task_rules.PENDING, "task_id": task.task_id, "updated_at": isoformat(now)}), cluster))
        else:
            operations.append(self._repository.update_run(namespace.namespace_id, run,
                                                           {"layout": "computing", "layout_task_id": task.task_id}))
        self._table.transact_write(operations)
        job = ClusterJob(org_id=namespace.org_id, namespace_id=namespace.namespace_id, cluster_id=cluster.cluster_id,
                         run_id=run_id, task_id=task.task_id, kind=kind,
                         compute=(compute or {}).get("backend"), instance_type=(compute or {}).get("instance_type"))
        try:
            if kind == "layout":
                self._orchestrator.run_now(job)  # embedded: the map exists when this returns; AWS: started
            else:
                self._orchestrator.start(job)
        except DependencyUnavailable as error:
            self._undo_start(namespace, cluster, job, kind, run)
            raise DependencyFailed(f"the clustering job could not be started: {error}; nothing was recorded",
                                   code="orchestrator_unavailable") from error
        except ComputeUnavailable as error:
            self._undo_start(namespace, cluster, job, kind, run)
            raise BadRequest(f"the clustering job could not be started: {error}; nothing was recorded",
                             code="compute_unavailable",
                             details={"compute": compute, "how_to_enable": error.how_to_enable}) from error
        return task

    def layout_task(self, namespace: Namespace, run: ClusterRun) -> Task | None:
        """The running job computing a run's deferred map; None when there is none still going."""
        task = self._tasks.get(namespace.namespace_id, run.layout_task_id or "")
        if task is None or task.terminal or task.overdue(self._clock()):
            return None
        return task

    def _undo_start(self, namespace: Namespace, cluster: Cluster, job: ClusterJob, kind: str,
                    run: ClusterRun | None) -> None:
        """Remove what _start wrote, so a job that never started leaves no trace (and no task stuck PENDING)."""
        operations: list[Any] = self._tasks.deletion(namespace.namespace_id, job.task_id)
        if run is None:
            operations.append(self._repository.run_deletion(namespace.namespace_id, cluster.cluster_id, job.run_id))
            current = self._repository.get(namespace.namespace_id, cluster.cluster_id)
            if current is not None:
                operations.append(self._repository.update(current.with_changes(
                    {"status": cluster.status, "task_id": cluster.task_id}), current))
        else:
            current_run = self._repository.get_run(namespace.namespace_id, cluster.cluster_id, job.run_id)
            if current_run is not None:
                operations.append(self._repository.update_run(namespace.namespace_id, current_run,
                                                              {"layout": "deferred", "layout_task_id": None}))
        self._table.transact_write(operations)

    def _overdue(self, namespace_id: str, run: ClusterRun) -> bool:
        task = self._tasks.get(namespace_id, run.task_id)
        driver = task.additional_data.get("worker") if task else None  # the key tasks have always been stored with
        orphaned = driver is not None and driver != self._orchestrator.driver_process_id
        return task is None or task.terminal or orphaned or task.overdue(self._clock())

    def cancel(self, namespace: Namespace, task: Task) -> Task:
        """DELETE /v1/tasks/{id}: an active cluster job becomes CANCELED and its worker is stopped; an ended task is
        returned as it is."""
        if task.terminal:
            return task
        data = task.additional_data
        if "cluster_id" not in data or "run_id" not in data:
            # A clone copies points in one pass that cannot stop half-way and leave a usable namespace.
            raise Conflict(f"a {task.task_type} task cannot be canceled; it ends on its own",
                           code="task_not_cancelable", details={"task_type": task.task_type})
        job = ClusterJob(org_id=namespace.org_id, namespace_id=namespace.namespace_id, cluster_id=data["cluster_id"],
                         run_id=data["run_id"], task_id=task.task_id, kind=data.get("kind", "cluster"))
        moved = self._ledger.move(job, task_rules.CANCELED, error=None,
                                  run_changes={"layout": "deferred"} if job.kind == "layout" else None)
        try:
            self._orchestrator.cancel(job)
        except DependencyUnavailable:
            pass  # the task is CANCELED; a step that still runs finds it so and records nothing
        return moved or self._ledger.task(job)
