"""The three steps of a cluster job around the engine (DESIGN.md; stacks/clustering.py has the state contract):

prepare  — the selected vectors (collection_ids, filters, at most a million) into parquet parts and job.json under the
           run's `input/` prefix; the task becomes PROCESSING;
(engine  — openpeek.engine on those files, writing result.json and assignments.parquet under `output/`;)
finalize — the execution recorded (metrics, centroids, labels, reconciliation, composite mapping), the map points and
           centroid vectors stored as blobs, documents enriched when asked, task and cluster COMPLETED;
mark_failed — the task and execution FAILED with the reason.

Each step is idempotent: a step retried after a crash rewrites the same files and, once the task has ended, changes
nothing.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from openpeek.garbage_collection import fewer_collections
from openpeek.domain import clusters as rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import tasks as task_rules
from openpeek.domain.clock import utcnow
from openpeek.domain.cluster_labels import ClusterSample
from openpeek.domain.cluster_runs import ClusterRun
from openpeek.domain.clusters import Cluster, ExecutionPlan, Reconciliation
from openpeek.domain.namespace import Namespace
from openpeek.domain.cluster_jobs import ClusterJob, JobEnded
from openpeek.domain.conditions import MatchAny
from openpeek.domain.failures import BlobNotFound
from openpeek.domain.vectors import SparseVector
from openpeek.ports import BlobStore, JobFiles, VectorStore
from openpeek.repositories.clusters import ClusterRepository, run_prefix
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.clustering.ledger import ClusterLedger, JobGone

SCROLL_PAGE = 2_000
MAX_JOB_NAME = 63
CENTROIDS_IN_RECORD_MAX_BYTES = 150_000  # table items stop at 400 KB; larger centroid lists stay in their blob
ENRICH_CHUNK = 1_000
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class PreparedJob:
    """Where the engine reads and writes: blob prefixes for the embedded runtime, URIs and a job name for SageMaker."""

    job_name: str
    input_uri: str
    output_uri: str
    input_prefix: str
    output_prefix: str


def input_prefix(job: ClusterJob) -> str:
    return run_prefix(job.namespace_id, job.cluster_id, job.run_id) + ("input/" if job.kind == "cluster"
                                                                        else "layout-input/")


def output_prefix(job: ClusterJob) -> str:
    return run_prefix(job.namespace_id, job.cluster_id, job.run_id) + ("output/" if job.kind == "cluster"
                                                                        else "layout-output/")


def centroids_key(namespace_id: str, cluster_id: str, run_id: str) -> str:
    return run_prefix(namespace_id, cluster_id, run_id) + "centroids.json"


def points_key(namespace_id: str, cluster_id: str, run_id: str) -> str:
    return run_prefix(namespace_id, cluster_id, run_id) + "points.json.gz"


def cluster_documents_key(namespace_id: str, cluster_id: str, run_id: str) -> str:
    """A finished run's export file: its members and centroids, centroid vectors included."""
    return run_prefix(namespace_id, cluster_id, run_id) + "cluster_documents.parquet"


class ClusterSteps:
    def __init__(self, namespaces: NamespaceRepository, clusters: ClusterRepository, ledger: ClusterLedger,
                 vectors: VectorStore, blobs: BlobStore, files: JobFiles, *, job_prefix: str = "openpeek-",
                 labeler: Any = None, clock: Callable[[], datetime] = utcnow) -> None:
        self._namespaces = namespaces
        self._clusters = clusters
        self._ledger = ledger
        self._vectors = vectors
        self._blobs = blobs
        self._files = files
        self._job_prefix = job_prefix
        self.labeler = labeler  # public: tests give it providers over a mocked transport
        self._clock = clock

    # -- prepare -----------------------------------------------------------------------------------------------------

    def prepare(self, job: ClusterJob) -> PreparedJob:
        if self._ledger.task(job).terminal:
            raise JobEnded(f"task {job.task_id} has ended; nothing to prepare")
        namespace, cluster, run = self._load(job)
        plan = run.execution_plan
        source, target = input_prefix(job), output_prefix(job)
        self._blobs.delete_prefix(source)  # a retried prepare starts from nothing
        self._blobs.delete_prefix(target)
        counts: dict[str, Any] = {}
        if job.kind == "layout":
            parameters = {"mode": "layout", "features": [{"column": f"feature_{i}", "weight": 1.0}
                                                         for i in range(len(cluster.feature_indexes))],
                          "normalize_features": bool(cluster.vector_config.get("normalize_features", True)),
                          "layout": True, "vis_n_components": plan.vis_n_components, "seed": 42,
                          "compute_device": plan.compute_device}
            for key in self._blobs.list(run_prefix(job.namespace_id, job.cluster_id, job.run_id) + "input/"):
                if key.endswith(".parquet"):
                    self._blobs.put(source + key.rsplit("/", 1)[1], self._blobs.get(key))
        elif plan.mode == "composite":
            parameters = rules.engine_parameters(cluster, plan)
            counts = self._export_centroids(job, plan, source)
        else:
            centroids = self._centroids(job, plan.base_run_id) if plan.mode == "assign" else None
            parameters = rules.engine_parameters(cluster, plan, centroids=centroids)
            counts = self._export_vectors(namespace, cluster, plan, source)
        if job.kind == "cluster" and counts.get("vectors_retrieved", 0) < (1 if plan.mode == "assign" else 2):
            raise ValueError(f"Insufficient documents for clustering: {counts.get('vectors_retrieved', 0)} matching "
                             "document(s) have vectors for the clustered feature(s) (need at least 2)")
        self._blobs.put(source + "job.json", json.dumps(parameters).encode(), "application/json")
        self._ledger.move(job, task_rules.PROCESSING, run_changes=counts)
        return PreparedJob(job_name=self._job_name(job), input_uri=self._blobs.uri(source),
                           output_uri=self._blobs.uri(target), input_prefix=source, output_prefix=target)

    def _job_name(self, job: ClusterJob) -> str:
        return (self._job_prefix + job.task_id.replace("_", "-"))[:MAX_JOB_NAME]

    def _export_vectors(self, namespace: Namespace, cluster: Cluster, plan: ExecutionPlan,
                        prefix: str) -> dict[str, Any]:
        wanted = filter_rules.parse_filter(plan.filters)
        python_filter = wanted if wanted is not None and filter_rules.needs_python(wanted) else None
        store_filter = filter_rules.strip_python_only(wanted) if python_filter is not None else wanted
        if cluster.collection_ids:
            store_filter = filter_rules.combine(store_filter, MatchAny("collection_id", tuple(cluster.collection_ids)))
        collection = namespace.collection
        # The labels' text is all the export needs of the payload (unless a filter must be evaluated here).
        payload_fields = None if python_filter is not None else rules.labeling_fields(plan.llm_labeling)
        source_documents = 0
        retrieved = 0
        label_text = rules.labeling_text_reader(plan.llm_labeling)
        writer = self._files.vector_writer(len(cluster.feature_indexes))
        parts = 0

        def write(data: bytes | None) -> None:
            nonlocal parts
            if data is not None:
                self._blobs.put(f"{prefix}part-{parts:05d}.parquet", data)
                parts += 1

        offset: str | None = None
        with fewer_collections():  # see openpeek/garbage_collection.py
            while True:
                points, offset = self._vectors.scroll(collection, filter=store_filter, limit=SCROLL_PAGE,
                                                      offset=offset, with_vectors=True, payload_fields=payload_fields)
                for point in points:
                    if python_filter is not None and not filter_rules.matches(python_filter, point.payload,
                                                                              point.id):
                        continue
                    source_documents += 1
                    vectors = [point.vectors.get(name) for name in cluster.feature_indexes]
                    if any(v is None or isinstance(v, SparseVector) or not v for v in vectors):
                        continue  # counted as an index gap
                    if retrieved >= rules.MAX_POINTS:
                        continue
                    retrieved += 1
                    write(writer.add(point.id, vectors, label_text(point.payload)))
                if offset is None:
                    break
        write(writer.flush())
        return {"source_documents": source_documents, "vectors_retrieved": retrieved}

    def _export_centroids(self, job: ClusterJob, plan: ExecutionPlan, prefix: str) -> dict[str, Any]:
        writer = self._files.vector_writer(1)
        count = 0
        for run_id in plan.source_execution_ids:
            source = self._find_run(job.namespace_id, run_id)
            for centroid in self._centroids(ClusterJob(job.org_id, job.namespace_id, source.cluster_id, run_id,
                                                       job.task_id), run_id):
                writer.add(f"{run_id}:{centroid['cluster_id']}", [centroid["centroid_vector"]],
                           " ".join(filter(None, [centroid.get("label"), " ".join(centroid.get("keywords") or [])])))
                count += 1
        data = writer.flush()
        if data is not None:
            self._blobs.put(prefix + "part-00000.parquet", data)
        return {"source_documents": count, "vectors_retrieved": count}

    def _find_run(self, namespace_id: str, run_id: str) -> ClusterRun:
        for cluster in self._clusters.list(namespace_id):
            run = self._clusters.get_run(namespace_id, cluster.cluster_id, run_id)
            if run is not None:
                return run
        raise ValueError(f"source execution '{run_id}' no longer exists")

    def _centroids(self, job: ClusterJob, run_id: str | None) -> list[dict[str, Any]]:
        source = self._find_run(job.namespace_id, run_id or "")
        return json.loads(self._blobs.get(centroids_key(job.namespace_id, source.cluster_id, source.run_id)))

    # -- finalize ----------------------------------------------------------------------------------------------------

    def finalize(self, job: ClusterJob) -> dict[str, Any]:
        task = self._ledger.task(job)
        if task.terminal:
            return {"recorded": False, "status": task.status}
        namespace, cluster, run = self._load(job)
        target = output_prefix(job)
        assignments = self._files.read_assignments(self._blobs.get(target + "assignments.parquet"))
        if job.kind == "layout":
            return self._finalize_layout(job, run, assignments)
        result = json.loads(self._blobs.get(target + "result.json"))
        plan = run.execution_plan
        clusters = result["clusters"]
        labeling_errors = self._label(namespace, clusters, plan.llm_labeling)
        self._add_cohesion(clusters, assignments)
        self._blobs.put(centroids_key(job.namespace_id, job.cluster_id, job.run_id), json.dumps([
            {**_centroid_summary(c), "centroid_vector": c["centroid"]} for c in clusters]).encode(), "application/json")
        stability = self._stabilise_layout(job, plan, assignments) if result.get("layout") else {}
        points = self._store_points(job, clusters, assignments)
        self._store_export(job, [{**_centroid_summary(c), "centroid_vector": c["centroid"]} for c in clusters], points)
        summaries = [_centroid_summary(c) for c in clusters]
        clustered = sum(1 for value in assignments["cluster"] if value is not None and value >= 0)
        expects_noise = plan.mode == "assign" or result.get("method") in ("dbscan", "hdbscan", "optics")
        changes: dict[str, Any] = {
            "num_clusters": result["num_clusters"], "num_points": result["num_points"],
            "metrics": _metrics(result, clustered, len(assignments["cluster"])),
            "llm_labeling_errors": labeling_errors or None, "method": result.get("method"),
            "layout": "ready" if result.get("layout") else "deferred", **stability,
            "compute_device": result.get("device"),  # which device ran the engine ({device, library, reason})
            **Reconciliation(run.details.get("source_documents", result["num_points"]),
                             run.details.get("vectors_retrieved", result["num_points"]), clustered,
                             expects_noise).fields(),
        }
        if len(json.dumps(summaries)) <= CENTROIDS_IN_RECORD_MAX_BYTES:
            changes["centroids"] = summaries
        if plan.mode == "composite":
            changes["composite_mapping"] = _composite_mapping(clusters, assignments, self._source_sizes(job, plan))
        if cluster.enrich_source_collection and plan.mode != "composite":
            self._enrich(namespace, clusters, assignments)
        self._ledger.move(job, task_rules.COMPLETED, run_changes=changes, outputs=[
            {"cluster_id": job.cluster_id, "run_id": job.run_id, "num_clusters": result["num_clusters"],
             "num_points": result["num_points"]}])
        return {"recorded": True, "num_clusters": result["num_clusters"]}

    def _label(self, namespace: Namespace, clusters: list[dict[str, Any]], config: dict[str, Any] | None) -> list[str]:
        if self.labeler is None or not (config or {}).get("enabled") or not clusters:
            return []
        samples = [ClusterSample(cluster_id=c["cluster_id"], label=c.get("label"), keywords=c.get("keywords") or [],
                                 summary=c.get("summary"), representative_ids=c.get("representative_ids") or [],
                                 representative_texts=c.get("representative_texts") or [],
                                 size=c.get("num_members")) for c in clusters]
        outcome = self.labeler.label(namespace.namespace_id, samples, config)
        for c in clusters:
            found = outcome.labels.get(c["cluster_id"])
            if found is not None:
                c.update(label=found.label, keywords=found.keywords, summary=found.summary)
                if found.extra:
                    c["extra"] = found.extra
        return list(outcome.errors)

    @staticmethod
    def _add_cohesion(clusters: list[dict[str, Any]], assignments: dict[str, list[Any]]) -> None:
        sums: dict[int, list[float]] = {}
        for index, similarity in zip(assignments["cluster"], assignments["similarity"]):
            if index is not None and index >= 0 and similarity is not None:
                sums.setdefault(index, []).append(similarity)
        for c in clusters:
            values = sums.get(c["index"])
            c["mean_cosine_similarity"] = sum(values) / len(values) if values else None
            c["min_cosine_similarity"] = min(values) if values else None

    def _store_points(self, job: ClusterJob, clusters: list[dict[str, Any]],
                      assignments: dict[str, list[Any]]) -> dict[str, Any]:
        points = {"document_id": assignments["document_id"], "cluster": assignments["cluster"],
                  "x": assignments["x"], "y": assignments["y"], "z": assignments["z"],
                  "cluster_ids": [c["cluster_id"] for c in clusters]}
        points["centres"] = _map_centres(points)
        self._blobs.put(points_key(job.namespace_id, job.cluster_id, job.run_id),
                        gzip.compress(json.dumps(points).encode(), compresslevel=5), "application/gzip")
        return points

    def _store_export(self, job: ClusterJob, centroids: list[dict[str, Any]], points: dict[str, Any]) -> None:
        """cluster_documents.parquet, what GET .../executions/{run_id}/export?format=parquet hands out: one row per
        member (its cluster and map position) and one per centroid (position, stats, keywords, summary, vector),
        with the labels the run gave. Written again when a deferred map arrives, with its positions."""
        names = points["cluster_ids"]
        labels = {c["cluster_id"]: c.get("label") for c in centroids}
        centres = points.get("centres") or {}
        columns: dict[str, list[Any]] = {name: [] for name in (
            "row_type", "document_id", "cluster_id", "cluster_label", "x", "y", "z", "num_members",
            "mean_cosine_similarity", "min_cosine_similarity", "keywords", "summary", "centroid_vector")}

        def add(**row: Any) -> None:
            for name, values in columns.items():
                values.append(row.get(name))

        for position, document_id in enumerate(points["document_id"]):
            index = points["cluster"][position]
            cluster_id = names[index] if index is not None and 0 <= index < len(names) else None
            add(row_type="member", document_id=document_id, cluster_id=cluster_id, cluster_label=labels.get(cluster_id),
                x=points["x"][position], y=points["y"][position], z=points["z"][position], keywords=[],
                centroid_vector=[])
        for centroid in centroids:
            x, y, z = (list(centres.get(centroid["cluster_id"]) or [centroid.get("x"), centroid.get("y"),
                                                                    centroid.get("z")]) + [None] * 3)[:3]
            add(row_type="centroid", cluster_id=centroid["cluster_id"], cluster_label=centroid.get("label"), x=x, y=y,
                z=z, num_members=centroid.get("num_members"),
                mean_cosine_similarity=centroid.get("mean_cosine_similarity"),
                min_cosine_similarity=centroid.get("min_cosine_similarity"),
                keywords=[str(k) for k in centroid.get("keywords") or []], summary=centroid.get("summary"),
                centroid_vector=list(centroid.get("centroid_vector") or []))
        self._blobs.put(cluster_documents_key(job.namespace_id, job.cluster_id, job.run_id),
                        self._files.cluster_documents(columns), "application/vnd.apache.parquet")

    def _source_sizes(self, job: ClusterJob, plan: ExecutionPlan) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for run_id in plan.source_execution_ids:
            for centroid in self._centroids(job, run_id):
                sizes[f"{run_id}:{centroid['cluster_id']}"] = centroid.get("num_members") or 0
        return sizes

    def _enrich(self, namespace: Namespace, clusters: list[dict[str, Any]], assignments: dict[str, list[Any]]) -> None:
        """cluster_id and cluster_label into each clustered document's payload (noise: both null)."""
        by_cluster: dict[int, list[str]] = {}
        for document_id, index in zip(assignments["document_id"], assignments["cluster"]):
            by_cluster.setdefault(index if index is not None else -1, []).append(document_id)
        names = {c["index"]: (c["cluster_id"], c.get("label")) for c in clusters}
        for index, ids in by_cluster.items():
            cluster_id, label = names.get(index, (None, None))
            for start in range(0, len(ids), ENRICH_CHUNK):
                self._vectors.set_payload(namespace.collection, ids[start:start + ENRICH_CHUNK],
                                          {"cluster_id": cluster_id, "cluster_label": label})

    def _stabilise_layout(self, job: ClusterJob, plan: ExecutionPlan, assignments: dict[str, list[Any]]
                          ) -> dict[str, Any]:
        """The new map registered onto the previous run's (the SDK's layout_stability): assignments' x, y, z are
        moved in place; returns what the execution records about it."""
        if plan.layout_stability == "none":
            return _stability("none", "layout_stability is none for this run")
        previous = next((run for run in self._clusters.runs(job.namespace_id, job.cluster_id)
                         if run.run_id != job.run_id and run.completed and run.layout == "ready"), None)
        if previous is None:
            return _stability("none", "no earlier completed run with a map to align to")
        try:
            earlier = json.loads(gzip.decompress(self._blobs.get(points_key(job.namespace_id, job.cluster_id,
                                                                            previous.run_id))))
        except BlobNotFound:
            return _stability("none", f"the map of run {previous.run_id} is no longer stored")
        from openpeek.engine.alignment import align_map  # numpy: the steps' bundle has it, the API's never runs this

        outcome = align_map(assignments, earlier, plan.vis_n_components)
        if outcome.columns is not None:
            assignments.update(outcome.columns)
        reason = outcome.reason
        if plan.layout_stability == "transform":
            reason = f"{reason}; the previous run's projection is not kept here, so transform fell back to align"
        return _stability("aligned" if outcome.columns is not None else "none", reason)

    def _finalize_layout(self, job: ClusterJob, run: ClusterRun, assignments: dict[str, list[Any]]
                         ) -> dict[str, Any]:
        stability = self._stabilise_layout(job, run.execution_plan, assignments)
        key = points_key(job.namespace_id, job.cluster_id, job.run_id)
        points = json.loads(gzip.decompress(self._blobs.get(key)))
        coordinates = {document_id: (x, y, z) for document_id, x, y, z in
                       zip(assignments["document_id"], assignments["x"], assignments["y"], assignments["z"])}
        for axis, position in (("x", 0), ("y", 1), ("z", 2)):
            points[axis] = [coordinates.get(document_id, (None, None, None))[position]
                            for document_id in points["document_id"]]
        points["centres"] = _map_centres(points)
        self._blobs.put(key, gzip.compress(json.dumps(points).encode(), compresslevel=5), "application/gzip")
        self._store_export(job, json.loads(self._blobs.get(centroids_key(job.namespace_id, job.cluster_id,
                                                                         job.run_id))), points)
        self._ledger.move(job, task_rules.COMPLETED, run_changes={"layout": "ready", "layout_task_id": None,
                                                                  **stability}, update_cluster=False)
        return {"recorded": True, "layout": "ready"}

    # -- mark failed -------------------------------------------------------------------------------------------------

    def mark_failed(self, job: ClusterJob, reason: str) -> dict[str, Any]:
        message = reason[:MAX_REASON_LENGTH]
        try:
            moved = self._ledger.move(job, task_rules.FAILED, error=message,
                                      run_changes={"layout": "deferred", "layout_task_id": None}
                                      if job.kind == "layout" else None,
                                      update_cluster=job.kind == "cluster")
        except JobGone:
            return {"marked": False, "reason": "the job's records no longer exist"}
        return {"marked": moved is not None, "error": message}

    def _load(self, job: ClusterJob) -> tuple[Namespace, Cluster, ClusterRun]:
        namespace = self._namespaces.get(job.org_id, job.namespace_id)
        cluster = self._clusters.get(job.namespace_id, job.cluster_id)
        run = self._clusters.get_run(job.namespace_id, job.cluster_id, job.run_id)
        if namespace is None or cluster is None or run is None:
            raise JobGone(f"the namespace, cluster or execution of task {job.task_id} was deleted")
        return namespace, cluster, run


def _map_centres(points: dict[str, Any]) -> dict[str, list[float]]:
    """Each cluster's place on the map: the mean of its members' coordinates (those of the stored, possibly aligned
    map, so the centres move with it; a deferred map gets them when it is computed)."""
    sums: dict[int, list[float]] = {}
    axes = [axis for axis in ("x", "y", "z") if any(value is not None for value in points.get(axis) or [])]
    for row, index in enumerate(points["cluster"]):
        values = [points[axis][row] for axis in axes]
        if index is None or index < 0 or not axes or any(value is None for value in values):
            continue
        total = sums.setdefault(index, [0.0] * (len(axes) + 1))
        for position, value in enumerate(values):
            total[position] += value
        total[-1] += 1
    names = points["cluster_ids"]
    return {names[index]: [value / total[-1] for value in total[:-1]]
            for index, total in sums.items() if 0 <= index < len(names)}


def _stability(applied: str, reason: str) -> dict[str, str]:
    return {"layout_stability_applied": applied, "layout_stability_reason": reason}


def _centroid_summary(c: dict[str, Any]) -> dict[str, Any]:
    return {"cluster_id": c["cluster_id"], "num_members": c["num_members"], "label": c.get("label"),
            "summary": c.get("summary"), "keywords": c.get("keywords") or [],
            "mean_cosine_similarity": c.get("mean_cosine_similarity"),
            "min_cosine_similarity": c.get("min_cosine_similarity"),
            "representative_ids": [{"document_id": d} for d in (c.get("representative_ids") or [])],
            "x": c.get("x"), "y": c.get("y"), "z": c.get("z"), **({"extra": c["extra"]} if c.get("extra") else {})}


def _metrics(result: dict[str, Any], clustered: int, total: int) -> dict[str, Any]:
    metrics = {key: value for key, value in (result.get("metrics") or {}).items() if value is not None}
    sizes = [c["num_members"] for c in result["clusters"]]
    if sizes:
        metrics["avg_cluster_size"] = sum(sizes) / len(sizes)
    if total:
        metrics["noise_ratio"] = (total - clustered) / total
    return metrics


def _composite_mapping(clusters: list[dict[str, Any]], assignments: dict[str, list[Any]],
                       sizes: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    names = {c["index"]: c["cluster_id"] for c in clusters}
    mapping: dict[str, list[dict[str, Any]]] = {c["cluster_id"]: [] for c in clusters}
    for row_id, index in zip(assignments["document_id"], assignments["cluster"]):
        if index is None or index < 0:
            continue
        run_id, original = row_id.split(":", 1)
        mapping[names[index]].append({"source_run_id": run_id, "original_cluster_id": original,
                                      "num_members": sizes.get(row_id, 0)})
    return mapping
