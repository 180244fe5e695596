"""Cluster triggers: a cluster executed automatically on a schedule (cron, interval) or once enough documents were
added (event), through the same execution service `POST /v1/clusters/{id}/execute` calls.

`fire_due` is the check the schedules run: the embedded scheduler thread every 30 seconds, the deployed
cluster-triggers Lambda every minute (EventBridge). It claims each due trigger by moving its next time forward with a
conditional write (two checkers never fire one trigger twice), starts the run and records the firing: the run id, or
why none was started (a run of the cluster still active, the cluster gone, the orchestrator failing)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from openpeek.domain import cluster_triggers as rules
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.cluster_triggers import ClusterTrigger, Firing
from openpeek.domain.clusters import Cluster
from openpeek.domain.errors import BadRequest, Conflict, DomainError, NotFound
from openpeek.domain.failures import CollectionNotFound, ConditionFailed, DependencyUnavailable
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task
from openpeek.ports import VectorStore
from openpeek.repositories.cluster_triggers import ClusterTriggerRepository
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.services.clustering.clusters import ClusterService
from openpeek.services.collections.collections import documents_of

logger = logging.getLogger(__name__)
ATTEMPTS = 8


class ClusterExecutions(Protocol):
    def execute(self, namespace: Namespace, identifier: str, overrides: dict[str, Any]) -> Task: ...


@dataclass(frozen=True)
class HistoryEntry:
    """A firing as the history shows it: its started run's current state read back."""

    firing: Firing
    run_status: str | None = None
    execution_time_ms: int | None = None
    num_clusters: int | None = None
    num_documents: int | None = None

    @property
    def status(self) -> str:
        return self.run_status or self.firing.outcome


@dataclass(frozen=True)
class FiringReport:
    checked: int = 0
    started: int = 0
    skipped: int = 0
    failed: int = 0

    def public(self) -> dict[str, int]:
        return {"checked": self.checked, "started": self.started, "skipped": self.skipped, "failed": self.failed}


def execution_config_of(cluster: Cluster, namespace_id: str) -> dict[str, Any]:
    """TriggerExecutionConfig of the cluster a trigger runs: its collections (the namespace itself when the cluster
    reads the namespace's documents directly) and its algorithm with that algorithm's parameters."""
    method = cluster.method
    parameters = cluster.vector_config.get("method_params") or {}  # what the engine is given (domain/clusters.py)
    return {"collection_ids": list(cluster.collection_ids) or [namespace_id],
            # the method last: k-means' own parameters carry an `algorithm` of their own (lloyd, elkan)
            "config": {**parameters, "algorithm": method}}


class ClusterTriggerService:
    def __init__(self, repository: ClusterTriggerRepository, clusters: ClusterService,
                 cluster_repository: ClusterRepository, executions: ClusterExecutions,
                 namespaces: NamespaceRepository, collections: CollectionRepository, vectors: VectorStore, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._repository = repository
        self._clusters = clusters
        self._cluster_repository = cluster_repository
        self._executions = executions
        self._namespaces = namespaces
        self._collections = collections
        self._vectors = vectors
        self._clock = clock

    # -- the API -----------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, request: dict[str, Any]) -> ClusterTrigger:
        trigger_type = request["trigger_type"]
        schedule = rules.validate_schedule(trigger_type, request["schedule_config"])
        if request.get("execution_config") is not None:
            raise BadRequest("execution_config is not supported here: a trigger executes an existing cluster "
                             "definition; create it with POST /v1/clusters and pass its cluster_id",
                             code="execution_config_unsupported")
        if not request.get("cluster_id"):
            raise BadRequest("cluster_id is required: the cluster definition the trigger executes",
                             code="cluster_id_required")
        cluster = self._clusters.get(namespace, request["cluster_id"])
        status = request.get("status") or rules.ACTIVE
        self._check_status(status)
        now = self._clock()
        stamp = isoformat(now)
        trigger = ClusterTrigger(
            trigger_id=new_id("trg"), org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            cluster_id=cluster.cluster_id, trigger_type=trigger_type, schedule_config=schedule,
            execution_config=execution_config_of(cluster, namespace.namespace_id), status=status,
            created_at=stamp, updated_at=stamp, description=request.get("description"),
            next_scheduled_at=rules.first_due(trigger_type, schedule, now) if status == rules.ACTIVE else None)
        if trigger_type == rules.EVENT:
            trigger = trigger.with_changes({"event_baseline": self._document_count(namespace, schedule)})
        self._repository.create(trigger)
        return trigger

    def get(self, namespace: Namespace, trigger_id: str) -> ClusterTrigger:
        return self._with_current_config(self._stored(namespace, trigger_id))

    def _stored(self, namespace: Namespace, trigger_id: str) -> ClusterTrigger:
        found = self._repository.get(namespace.namespace_id, trigger_id)
        if found is None:
            raise NotFound("trigger", trigger_id)
        return found

    def _with_current_config(self, trigger: ClusterTrigger, clusters: dict[str, Cluster] | None = None
                             ) -> ClusterTrigger:
        """A firing executes the cluster as it is then: the configuration shown is the cluster's current one (the
        one recorded at creation once the cluster is gone)."""
        cluster = (clusters.get(trigger.cluster_id) if clusters is not None
                   else self._cluster_repository.get(trigger.namespace_id, trigger.cluster_id))
        if cluster is None:
            return trigger
        return trigger.with_changes({"execution_config": execution_config_of(cluster, trigger.namespace_id)})

    def list(self, namespace: Namespace, *, cluster_id: str | None, trigger_type: str | None, status: str | None,
             sort_by: str, descending: bool) -> list[ClusterTrigger]:
        found = [trigger for trigger in self._repository.list(namespace.namespace_id)
                 if (cluster_id is None or trigger.cluster_id == cluster_id)
                 and (trigger_type is None or trigger.trigger_type == trigger_type)
                 and (status is None or trigger.status == status)]
        def key(trigger: ClusterTrigger) -> tuple:
            value = getattr(trigger, sort_by)
            # never-set times sort as the earliest; counts compare as numbers, times and names as text
            return (value is not None, value if value is not None else "", trigger.trigger_id)

        clusters = {cluster.cluster_id: cluster for cluster in self._cluster_repository.list(namespace.namespace_id)}
        return [self._with_current_config(trigger, clusters) for trigger in sorted(found, key=key, reverse=descending)]

    def patch(self, namespace: Namespace, trigger_id: str, changes: dict[str, Any]) -> ClusterTrigger:
        if changes.get("status") is not None:
            self._check_status(changes["status"])

        def attempt() -> ClusterTrigger:
            current = self._stored(namespace, trigger_id)
            now = self._clock()
            update: dict[str, Any] = {"updated_at": isoformat(now)}
            if "description" in changes:
                update["description"] = changes["description"]
            schedule = current.schedule_config
            if changes.get("schedule_config") is not None:
                schedule = rules.validate_schedule(current.trigger_type, changes["schedule_config"])
                update["schedule_config"] = schedule
                if current.trigger_type == rules.EVENT and \
                        schedule.get("collection_id") != current.schedule_config.get("collection_id"):
                    # another set of documents: count from what it holds now
                    update.update(event_baseline=self._document_count(namespace, schedule), event_counter=0)
            status = changes.get("status") or current.status
            update["status"] = status
            if status == rules.ACTIVE and (not current.active or "schedule_config" in update):
                update["next_scheduled_at"] = rules.first_due(current.trigger_type, schedule, now,
                                                              resumed="schedule_config" not in update)
            elif status != rules.ACTIVE:
                update["next_scheduled_at"] = None
            return self._repository.save(current.with_changes(update), current)

        return self._with_current_config(retry_on_conflict(attempt, attempts=ATTEMPTS))

    def delete(self, namespace: Namespace, trigger_id: str) -> ClusterTrigger:
        trigger = self._stored(namespace, trigger_id)
        self._repository.delete(trigger)
        return trigger

    def pause(self, namespace: Namespace, trigger_id: str) -> ClusterTrigger:
        return self.patch(namespace, trigger_id, {"status": rules.PAUSED})

    def resume(self, namespace: Namespace, trigger_id: str) -> ClusterTrigger:
        """Active again, its schedule counted from now (a failed trigger whose cluster is back resumes too)."""
        return self.patch(namespace, trigger_id, {"status": rules.ACTIVE})

    def history(self, namespace: Namespace, trigger_id: str, *, status: str | None = None) -> list[HistoryEntry]:
        trigger = self._stored(namespace, trigger_id)
        firings = self._repository.history(namespace.namespace_id, trigger_id, self._clock())
        entries = [self._entry(trigger, firing) for firing in firings]
        return [entry for entry in entries if status is None or entry.status == status]

    def _entry(self, trigger: ClusterTrigger, firing: Firing) -> HistoryEntry:
        if firing.outcome != rules.STARTED or not firing.run_id:
            return HistoryEntry(firing)
        run = self._cluster_repository.get_run(trigger.namespace_id, trigger.cluster_id, firing.run_id)
        if run is None:  # the cluster (and its runs) were deleted since
            return HistoryEntry(firing)
        elapsed = None
        if run.completed_at:
            elapsed = int((parse(run.completed_at) - parse(run.created_at)).total_seconds() * 1000)
        return HistoryEntry(firing, run_status=run.status, execution_time_ms=elapsed,
                            num_clusters=run.num_clusters if run.completed else None,
                            num_documents=run.num_points if run.completed else None)

    @staticmethod
    def _check_status(status: str) -> None:
        if status not in rules.SETTABLE_STATUSES:
            raise BadRequest(f"status '{status}' cannot be set; use one of {', '.join(rules.SETTABLE_STATUSES)}",
                             code="invalid_trigger_status", details={"status": status})

    def _document_count(self, namespace: Namespace, schedule: dict[str, Any]) -> int:
        collection_id = schedule.get("collection_id")
        selection = None
        if collection_id:
            collection = self._collections.find_in(namespace.namespace_id, collection_id)
            if collection is None:
                raise BadRequest(f"schedule_config.collection_id '{collection_id}' is not a collection of this "
                                 "namespace", code="unknown_collection", details={"collection_id": collection_id})
            selection = documents_of(collection.collection_id)
        return self._vectors.count(namespace.collection, selection)

    # -- the scheduled check -----------------------------------------------------------------------------------------

    def fire_due(self) -> FiringReport:
        """Fire every trigger due now. One trigger's failure is recorded on it and never stops the others."""
        now = self._clock()
        counts = {"checked": 0, "started": 0, "skipped": 0, "failed": 0}
        for namespace_id, trigger_id in self._repository.due(isoformat(now)):
            try:
                outcome = self._check(namespace_id, trigger_id, now)
            except (ConditionFailed, CollectionNotFound, DependencyUnavailable, DomainError):
                logger.warning("cluster trigger %s could not be checked; it is checked again next time", trigger_id,
                               exc_info=True)
                continue
            if outcome is not None:
                counts["checked"] += 1
                if outcome != "waiting":
                    counts[outcome] += 1
        return FiringReport(**counts)

    def _check(self, namespace_id: str, trigger_id: str, now: datetime) -> str | None:
        trigger = self._repository.get(namespace_id, trigger_id)
        if trigger is None or not rules.is_due(trigger, now):
            return None  # deleted, paused or already fired by another checker since the index was read
        namespace = self._namespaces.get(trigger.org_id, namespace_id)
        if namespace is None:
            return None  # its namespace is being deleted; the trigger goes with the namespace's partition
        document_count = None
        if trigger.trigger_type == rules.EVENT:
            document_count = self._document_count(namespace, trigger.schedule_config)
            check = rules.check_documents_added(trigger, document_count, now)
            if not check.fires:
                self._repository.save(trigger.with_changes({"event_counter": check.counter,
                                                            "next_scheduled_at": check.next_check_at}), trigger)
                return "waiting"
        # Claim the firing: a second checker that read the same version fails this write and moves on.
        claimed = self._repository.save(trigger.with_changes(
            {"next_scheduled_at": rules.due_after_firing(trigger, now)}), trigger)
        firing = self._start(namespace, claimed, now)
        self._repository.record(namespace_id, firing)

        def record() -> ClusterTrigger:
            current = self._repository.get(namespace_id, trigger_id)
            if current is None:
                return claimed  # deleted while it fired; its run goes on
            changes = rules.after_firing(current, firing, now, document_count=document_count)
            if not current.active:
                changes["next_scheduled_at"] = None  # paused while it fired: stays paused
            if firing.details.get("cluster_missing"):
                changes.update(status=rules.FAILED, next_scheduled_at=None)
            return self._repository.save(current.with_changes(changes), current)

        retry_on_conflict(record, attempts=ATTEMPTS)
        return firing.outcome

    def _start(self, namespace: Namespace, trigger: ClusterTrigger, now: datetime) -> Firing:
        stamp = isoformat(now)
        try:
            task = self._executions.execute(namespace, trigger.cluster_id, {})
        except Conflict as busy:
            run_id = (busy.details or {}).get("run_id")
            return Firing(trigger.trigger_id, stamp, rules.SKIPPED, run_id=None,
                          error=f"skipped: {busy.message}", details={"active_run_id": run_id, "code": busy.code})
        except NotFound as gone:
            return Firing(trigger.trigger_id, stamp, rules.FAILED_TO_START,
                          error=f"cluster '{trigger.cluster_id}' no longer exists; the trigger stopped",
                          details={"cluster_missing": True, "code": gone.code})
        except (DomainError, DependencyUnavailable) as error:
            message = getattr(error, "message", None) or str(error)
            return Firing(trigger.trigger_id, stamp, rules.FAILED_TO_START, error=message,
                          details={"code": getattr(error, "code", None)})
        return Firing(trigger.trigger_id, stamp, rules.STARTED, run_id=task.additional_data.get("run_id"),
                      details={"task_id": task.task_id})
