"""Reading what cluster executions produced: execution records (ClusterExecutionResult), the map (visualization),
the groups, and the per-run edits a user may make afterwards (label overrides, run name)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from openpeek.domain.cluster_runs import ClusterRun
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DependencyFailed, DomainError, NotFound, TooLarge
from openpeek.domain.namespace import Namespace
from openpeek.domain.failures import BlobNotFound
from openpeek.ports import BlobStore, UploadUrls
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.services.clustering.runs import ClusterRunService
from openpeek.services.clustering.steps import centroids_key, cluster_documents_key, points_key
from openpeek.services.clustering.clusters import ClusterService
from openpeek.services.tasks import TaskService

LABEL_MAX = 200
EXPORT_MAX_ROWS = 100_000  # a CSV export's rows (members and centroids); the SDK's limit
EXPORT_CHUNK_ROWS = 1000  # rows encoded per piece of the streamed CSV
EXPORT_URL_TTL_S = 900  # a parquet export's download URL: short-lived, as the SDK says
RUN_NAME_MAX = 120
PATCH_ATTEMPTS = 16
_RECONCILIATION = ("source_documents", "vectors_retrieved", "vectors_clustered", "index_gap", "pipeline_drop",
                   "input_reconciliation_ok", "input_reconciliation_reasons", "pipeline_drop_expected_as_noise")


class ClusterResults:
    def __init__(self, clusters: ClusterService, repository: ClusterRepository, blobs: BlobStore,
                 runs: ClusterRunService, tasks: TaskService) -> None:
        self._tasks = tasks
        self._clusters = clusters
        self._repository = repository
        self._blobs = blobs
        self._runs = runs
        self._urls: UploadUrls | None = None

    # -- executions --------------------------------------------------------------------------------------------------

    def latest(self, namespace: Namespace, identifier: str, *, include_vectors: bool = False) -> dict[str, Any] | None:
        cluster = self._clusters.get(namespace, identifier)
        runs = self._repository.runs(namespace.namespace_id, cluster.cluster_id)
        return self.present(namespace, runs[0], include_vectors=include_vectors) if runs else None

    def execution(self, namespace: Namespace, identifier: str, run_id: str, *,
                  include_vectors: bool = False) -> dict[str, Any]:
        return self.present(namespace, self._run(namespace, identifier, run_id), include_vectors=include_vectors)

    def executions(self, namespace: Namespace, identifier: str, *, status: str | None = None,
                   search: str | None = None, ascending: bool = False) -> list[dict[str, Any]]:
        cluster = self._clusters.get(namespace, identifier)
        runs = self._repository.runs(namespace.namespace_id, cluster.cluster_id)
        if status:
            runs = [run for run in runs if run.status == status.lower()]
        if search:
            needle = search.lower()
            runs = [run for run in runs if needle in run.run_id.lower()
                    or needle in (run.error_message or "").lower() or needle in (run.run_name or "").lower()]
        if ascending:
            runs.reverse()
        return [self.present(namespace, run) for run in runs]

    def present(self, namespace: Namespace, run: ClusterRun, *, include_vectors: bool = False) -> dict[str, Any]:
        """ClusterExecutionResult."""
        completed = run.completed
        overrides = run.label_overrides or {}
        centroids = self._centroids(namespace, run, with_vectors=include_vectors) if completed else None
        if centroids is not None:
            for centroid in centroids:
                centroid.pop("x", None), centroid.pop("y", None), centroid.pop("z", None), centroid.pop("extra", None)
                if centroid["cluster_id"] in overrides:
                    centroid["label"] = overrides[centroid["cluster_id"]]
        details = run.details
        view: dict[str, Any] = {
            "run_id": run.run_id, "cluster_id": run.cluster_id, "status": run.status,
            "num_clusters": run.num_clusters, "num_points": run.num_points,
            "metrics": details.get("metrics") if completed else None, "centroids": centroids,
            "created_at": run.created_at, "completed_at": run.completed_at,
            "error_message": run.error_message, "llm_labeling_errors": details.get("llm_labeling_errors"),
            "mode": run.mode, "member_counts_stale": False,
        }
        view.update({key: details[key] for key in _RECONCILIATION if details.get(key) is not None})
        for key, value in (("source_execution_ids", run.source_execution_ids),
                           ("composite_mapping", details.get("composite_mapping")), ("run_name", run.run_name),
                           ("compute_device", details.get("compute_device"))):
            if value:
                view[key] = value
        if overrides:
            view["label_overrides"] = overrides
        view["layout_stability_applied"] = details.get("layout_stability_applied") or "none"
        if details.get("layout_stability_reason"):
            view["layout_stability_reason"] = details["layout_stability_reason"]
        return view

    def _centroids(self, namespace: Namespace, run: ClusterRun, *, with_vectors: bool) -> list[dict[str, Any]]:
        summaries = run.details.get("centroids")
        if summaries is not None and not with_vectors:
            return [dict(c) for c in summaries]
        try:
            stored = json.loads(self._blobs.get(centroids_key(namespace.namespace_id, run.cluster_id, run.run_id)))
        except BlobNotFound:
            return [dict(c) for c in summaries or []]
        if not with_vectors:
            for centroid in stored:
                centroid.pop("centroid_vector", None)
        return stored

    def cancel(self, namespace: Namespace, identifier: str, run_id: str) -> dict[str, Any]:
        """POST .../executions/{run_id}/cancel: the execution's task is canceled as DELETE /v1/tasks/{id} would;
        answers the execution's status afterwards."""
        run = self._run(namespace, identifier, run_id)
        self._runs.cancel(namespace, self._tasks.get(namespace, run.task_id))
        return {"cluster_id": run.cluster_id, "run_id": run_id, "status": self._run(namespace, identifier, run_id).status}

    def _run(self, namespace: Namespace, identifier: str, run_id: str) -> ClusterRun:
        cluster = self._clusters.get(namespace, identifier)
        run = self._repository.get_run(namespace.namespace_id, cluster.cluster_id, run_id)
        if run is None:
            raise NotFound("execution", run_id)
        return run

    def _chosen_run(self, namespace: Namespace, identifier: str, run_id: str | None) -> ClusterRun:
        """The named run, or the cluster's newest completed one."""
        if run_id:
            run = self._run(namespace, identifier, run_id)
        else:
            cluster = self._clusters.get(namespace, identifier)
            run = next((r for r in self._repository.runs(namespace.namespace_id, cluster.cluster_id) if r.completed),
                       None)
            if run is None:
                raise NotFound("execution", f"{cluster.cluster_id} (no completed execution)",
                               code="no_completed_execution")
        if not run.completed:
            raise BadRequest(f"execution '{run.run_id}' is {run.status}; its results exist once it completes",
                             code="execution_not_completed", details={"run_id": run.run_id, "status": run.status})
        return run

    # -- export ------------------------------------------------------------------------------------------------------

    def use_download_urls(self, urls: UploadUrls | None) -> None:
        """Where download URLs come from (S3 presigned GETs; embedded, URLs on this server signed with its key)."""
        self._urls = urls

    def export_parquet(self, namespace: Namespace, identifier: str, run_id: str, *, base_url: str) -> dict[str, Any]:
        """A short-lived download URL of the run's cluster_documents.parquet (written when the run finished: members
        and centroids, centroid vectors included, the labels the run gave)."""
        run = self._run(namespace, identifier, run_id)
        if not run.completed:
            raise ExportNotAvailable(f"execution '{run_id}' is {run.status}: its export exists once it completes",
                                     code="export_not_available", details={"run_id": run_id, "status": run.status})
        key = cluster_documents_key(namespace.namespace_id, run.cluster_id, run.run_id)
        if not self._blobs.exists(key):
            raise ExportNotAvailable(f"execution '{run_id}' has no cluster_documents.parquet in object storage (the "
                                     "run finished before exports were written, or the file was removed); "
                                     "format=csv is built from the run's map data",
                                     code="export_not_available",
                                     details={"run_id": run_id, "missing": "cluster_documents.parquet"})
        if self._urls is None:
            raise DependencyFailed("download URLs are not configured in this deployment", code="downloads_unavailable")
        expires_at = int(utcnow().timestamp()) + EXPORT_URL_TTL_S
        return {"cluster_id": run.cluster_id, "run_id": run.run_id, "format": "parquet",
                "filename": "cluster_documents.parquet",
                "download_url": self._urls.download_url(key, "application/vnd.apache.parquet", expires_at=expires_at,
                                                        base_url=base_url),
                "expires_at": isoformat(datetime.fromtimestamp(expires_at, timezone.utc)),
                "expires_in_seconds": EXPORT_URL_TTL_S}

    def export_csv(self, namespace: Namespace, identifier: str, run_id: str, *,
                   cluster_label: str | None = None) -> CsvExport:
        """The rows behind a run's map as CSV: one per member (document id, cluster id, current label, x, y[, z])
        and one per centroid (its id, current label, position, member count, similarity stats, keywords, summary and
        custom LLM fields as `extra.<name>`), columns in a fixed order, no vectors. `cluster_label` keeps one
        cluster (its id, like cl_3, or its current label). Refused with 413 past EXPORT_MAX_ROWS rows."""
        run = self._run(namespace, identifier, run_id)  # exactly the run asked for: never another one
        if not run.completed:
            raise ExportNotAvailable(f"execution '{run_id}' is {run.status}: its rows exist once it completes",
                                     code="export_not_available", details={"run_id": run_id, "status": run.status})
        try:
            points = json.loads(gzip.decompress(self._blobs.get(points_key(namespace.namespace_id, run.cluster_id,
                                                                           run.run_id))))
        except BlobNotFound:
            raise ExportNotAvailable(f"execution '{run_id}' has no member rows in object storage (its "
                                     "points.json.gz is missing: removed, or never written)",
                                     code="export_not_available",
                                     details={"run_id": run_id, "missing": "points.json.gz"}) from None
        overrides = run.label_overrides or {}
        centroids = self._centroids(namespace, run, with_vectors=False)
        labels = {c["cluster_id"]: overrides.get(c["cluster_id"], c.get("label")) for c in centroids}
        names = points["cluster_ids"]
        chosen = None
        if cluster_label is not None:
            chosen = cluster_label if cluster_label in labels else next(
                (cid for cid, label in labels.items() if label == cluster_label), None)
            if chosen is None:
                raise ExportNotAvailable(f"execution '{run_id}' has no cluster with id or label '{cluster_label}'",
                                         code="cluster_not_in_run",
                                         details={"run_id": run_id, "clusters": sorted(labels)[:100]})
        members = [i for i, index in enumerate(points["cluster"])
                   if chosen is None or (index is not None and 0 <= index < len(names) and names[index] == chosen)]
        kept = [c for c in centroids if chosen is None or c["cluster_id"] == chosen]
        total = len(members) + len(kept)
        if total > EXPORT_MAX_ROWS:
            raise TooLarge(f"this export has {total:,} rows, more than a CSV export's {EXPORT_MAX_ROWS:,}: "
                                 "ask for format=parquet, or one cluster with cluster_label",
                                 code="export_too_large", details={"rows": total, "limit": EXPORT_MAX_ROWS})
        three_d = any(value is not None for value in points.get("z") or [])
        centres = points.get("centres") or {}
        extra_keys = sorted({key for c in kept for key in (c.get("extra") or {})})
        header = ["row_type", "document_id", "cluster_id", "cluster_label", "x", "y", *(["z"] if three_d else []),
                  "num_members", "mean_cosine_similarity", "min_cosine_similarity", "keywords", "summary",
                  *(f"extra.{key}" for key in extra_keys)]
        tail = [""] * (len(header) - (7 if three_d else 6))

        def member_row(i: int) -> list[Any]:
            index = points["cluster"][i]
            cluster_id = names[index] if index is not None and 0 <= index < len(names) else None
            return ["member", points["document_id"][i], _cell(cluster_id), _cell(labels.get(cluster_id)),
                    _cell(points["x"][i]), _cell(points["y"][i]), *([_cell(points["z"][i])] if three_d else []),
                    *tail]

        def centroid_row(c: dict[str, Any]) -> list[Any]:
            x, y, z = (list(centres.get(c["cluster_id"]) or [c.get("x"), c.get("y"), c.get("z")]) + [None] * 3)[:3]
            extra = c.get("extra") or {}
            return ["centroid", "", c["cluster_id"], _cell(labels.get(c["cluster_id"])), _cell(x), _cell(y),
                    *([_cell(z)] if three_d else []), c["num_members"], _cell(c.get("mean_cosine_similarity")),
                    _cell(c.get("min_cosine_similarity")), "; ".join(str(k) for k in c.get("keywords") or []),
                    _cell(c.get("summary")), *(_cell(extra.get(key)) for key in extra_keys)]

        def chunks() -> Iterator[str]:
            yield _csv_text([header])
            for start in range(0, len(members), EXPORT_CHUNK_ROWS):
                yield _csv_text([member_row(i) for i in members[start:start + EXPORT_CHUNK_ROWS]])
            yield _csv_text([centroid_row(c) for c in kept])

        scope = f"_{chosen}" if chosen else ""
        return CsvExport(f"{run.cluster_id}_{run.run_id}{scope}.csv", total, chunks())

    # -- edits -------------------------------------------------------------------------------------------------------

    def patch_labels(self, namespace: Namespace, identifier: str, run_id: str, labels: dict[str, Any]) -> dict:
        if not isinstance(labels, dict):
            raise BadRequest("labels maps cluster ids to new labels", code="invalid_labels")

        def attempt() -> dict[str, Any]:
            run = self._chosen_run(namespace, identifier, run_id)
            known = {c["cluster_id"] for c in self._centroids(namespace, run, with_vectors=False)}
            unknown = sorted(set(labels) - known)
            if unknown:
                raise BadRequest(f"execution '{run_id}' has no cluster(s) {', '.join(unknown)}",
                                 code="unknown_cluster_label", details={"unknown": unknown, "known": sorted(known)})
            overrides = dict(run.label_overrides or {})
            for key, value in labels.items():
                if not isinstance(value, str):
                    raise BadRequest("each label is a string (an empty string removes the override)",
                                     code="invalid_labels", details={"cluster_id": key})
                value = value.strip()
                if len(value) > LABEL_MAX:
                    raise BadRequest(f"labels are at most {LABEL_MAX} characters", code="invalid_labels",
                                     details={"cluster_id": key})
                if value:
                    overrides[key] = value
                else:
                    overrides.pop(key, None)
            self._repository.save_run(namespace.namespace_id, run, {"label_overrides": overrides})
            return {"cluster_id": run.cluster_id, "run_id": run.run_id, "label_overrides": overrides}

        return retry_on_conflict(attempt, attempts=PATCH_ATTEMPTS, gave_up=_kept_changing)

    def rename(self, namespace: Namespace, identifier: str, run_id: str, name: Any) -> dict:
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > RUN_NAME_MAX:
            raise BadRequest(f"run_name is a non-empty string of at most {RUN_NAME_MAX} characters",
                             code="invalid_run_name")

        def attempt() -> dict[str, Any]:
            run = self._run(namespace, identifier, run_id)
            self._repository.save_run(namespace.namespace_id, run, {"run_name": name.strip()})
            return {"cluster_id": run.cluster_id, "run_id": run_id, "run_name": name.strip()}

        return retry_on_conflict(attempt, attempts=PATCH_ATTEMPTS, gave_up=_kept_changing)

    # -- map and groups ----------------------------------------------------------------------------------------------

    def groups(self, namespace: Namespace, identifier: str, run_id: str | None = None) -> dict[str, Any]:
        run = self._chosen_run(namespace, identifier, run_id)
        overrides = run.label_overrides or {}
        centroids = self._centroids(namespace, run, with_vectors=False)
        return {
            "cluster_id": run.cluster_id, "run_id": run.run_id, "total_groups": len(centroids),
            "total_documents": sum(c["num_members"] for c in centroids), "member_counts_stale": False,
            "groups": [{"cluster_id": c["cluster_id"], "label": overrides.get(c["cluster_id"], c.get("label")),
                        "summary": c.get("summary"), "keywords": c.get("keywords") or [],
                        "member_count": c["num_members"]} for c in centroids],
        }

    def visualization(self, namespace: Namespace, identifier: str, *, run_id: str | None = None,
                      max_points: int | None = None, centroids_only: bool = False,
                      compact: bool = False) -> tuple[dict[str, Any], bool]:
        """(body, ready). A run whose map was deferred gets it now: computed before answering where the runtime can
        (embedded), else started, and the body names the task to wait for (ready False)."""
        run = self._chosen_run(namespace, identifier, run_id)
        if run.layout in ("deferred", "computing"):
            cluster = self._clusters.get(namespace, identifier)
            task = self._runs.layout_task(namespace, run) if run.layout == "computing" else None
            if task is None:  # never started, or its job ended without a map: (re)start it
                task = self._runs.start_layout(namespace, cluster, run)
            run = self._repository.get_run(namespace.namespace_id, cluster.cluster_id, run.run_id) or run
            if run.layout != "ready":
                return {"cluster_id": run.cluster_id, "run_id": run.run_id, "status": "computing",
                        "task_id": task.task_id,
                        "message": "the map of this execution is being computed; poll the task, then ask again"}, False
        points = json.loads(gzip.decompress(self._blobs.get(points_key(namespace.namespace_id, run.cluster_id,
                                                                           run.run_id))))
        overrides = run.label_overrides or {}
        centroids = self._centroids(namespace, run, with_vectors=False)
        labels = {c["cluster_id"]: overrides.get(c["cluster_id"], c.get("label")) for c in centroids}
        three_d = (run.plan or {}).get("vis_n_components") == 3
        # Maps stored before centres were kept with the points fall back to the engine's (unaligned) centres.
        centres = points.get("centres") or {c["cluster_id"]: [c.get("x"), c.get("y"), c.get("z")] for c in centroids}
        body: dict[str, Any] = {
            "cluster_id": run.cluster_id, "run_id": run.run_id, "n_components": 3 if three_d else 2,
            "total_points": len(points["document_id"]),
            "centroids": [_map_centroid(c, labels[c["cluster_id"]], centres.get(c["cluster_id"]), three_d)
                          for c in centroids],
        }
        if centroids_only:
            body["points"] = []
            body["returned_points"] = 0
            return body, True
        positions = _spread(len(points["document_id"]), max_points)
        names = points["cluster_ids"]

        def cluster_of(index: Any) -> str | None:
            return names[index] if index is not None and 0 <= index < len(names) else None

        if compact:
            members: dict[str, Any] = {
                "document_ids": [points["document_id"][i] for i in positions],
                "cluster_ids": [cluster_of(points["cluster"][i]) for i in positions],
                "x": [points["x"][i] for i in positions], "y": [points["y"][i] for i in positions]}
            if three_d:
                members["z"] = [points["z"][i] for i in positions]
            body["members"] = members
        else:
            body["points"] = [{"document_id": points["document_id"][i], "x": points["x"][i], "y": points["y"][i],
                               **({"z": points["z"][i]} if three_d else {}),
                               "cluster_id": cluster_of(points["cluster"][i]),
                               "cluster_label": labels.get(cluster_of(points["cluster"][i]))} for i in positions]
        body["returned_points"] = len(positions)
        return body, True


class ExportNotAvailable(NotFound):
    """A 404 whose message says exactly what an export lacks (the run's state, or the file that is gone)."""

    def __init__(self, message: str, *, code: str, details: dict[str, Any]) -> None:
        DomainError.__init__(self, message, code=code, details=details)


@dataclass(frozen=True)
class CsvExport:
    filename: str
    rows: int
    chunks: Iterator[str]


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _map_centroid(centroid: dict[str, Any], label: str | None, centre: list[float | None] | None,
                  three_d: bool) -> dict[str, Any]:
    x, y, z = (list(centre or []) + [None, None, None])[:3]
    return {"cluster_id": centroid["cluster_id"], "label": label, "num_members": centroid["num_members"], "x": x,
            "y": y, **({"z": z} if three_d else {})}


def _spread(total: int, wanted: int | None) -> list[int]:
    """Every point, or `wanted` of them evenly spread (the same ones every time)."""
    if wanted is None or wanted >= total:
        return list(range(total))
    step = total / wanted
    return [int(i * step) for i in range(wanted)]


def _kept_changing() -> Conflict:
    return Conflict("The execution kept changing; try again", code="concurrent_modification")
