"""A cluster run: one execution of a cluster (the API's ClusterExecutionResult, `run_...`), as the table stores it.

The fields every run has, and those its lifecycle sets (completed, failed, renamed, relabelled, its map computed), are
typed; what finalize records about the results (metrics, centroid summaries, reconciliation counts, the composite
mapping, layout stability, the method used) stays in `details`, written and read back as it is."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from openpeek.domain.clusters import ExecutionPlan

PENDING, PROCESSING, COMPLETED, FAILED, CANCELED = "pending", "processing", "completed", "failed", "canceled"
ACTIVE = (PENDING, PROCESSING)


@dataclass(frozen=True)
class ClusterRun:
    run_id: str
    cluster_id: str
    namespace_id: str
    task_id: str
    status: str
    created_at: str
    version: int
    plan: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    num_clusters: int = 0
    num_points: int = 0
    layout: str | None = None
    """inline (computed with the run), deferred, computing (its own job runs: layout_task_id), ready."""
    layout_task_id: str | None = None
    completed_at: str | None = None
    error_message: str | None = None
    run_name: str | None = None
    label_overrides: dict[str, str] | None = None
    source_execution_ids: list[str] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_plan(self) -> ExecutionPlan:
        return ExecutionPlan.from_record(self.plan)

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def usable(self) -> bool:
        """Completed with clusters: later runs (assign, composite) may build on its centroids."""
        return self.completed and bool(self.num_clusters)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "ClusterRun":
        typed = {f.name for f in fields(cls)} - {"details"}
        known = {key: value for key, value in record.items() if key in typed}
        details = {key: value for key, value in record.items() if key not in typed and key not in ("pk", "sk")}
        known.setdefault("num_clusters", 0)
        known.setdefault("num_points", 0)
        known["num_clusters"] = known["num_clusters"] or 0
        known["num_points"] = known["num_points"] or 0
        return cls(**known, details=details)

    def to_record(self) -> dict[str, Any]:
        """The stored attributes: the typed fields (optional ones only when set) and the details."""
        record: dict[str, Any] = dict(self.details)
        for f in fields(self):
            if f.name == "details":
                continue
            value = getattr(self, f.name)
            if value is not None:
                record[f.name] = value
        return record

    def with_changes(self, changes: dict[str, Any]) -> "ClusterRun":
        return ClusterRun.from_record({**self.to_record(), **changes})
