"""Clustering on the embedded runtime, end to end (execute → prepare → engine → finalize → task COMPLETED).

Data: BENCH_CLUSTER_DOCS (default 100,000) documents × 384-d from a mixture of BENCH_CLUSTER_K (default 20)
Gaussian components on the unit sphere, with the component as the known label. Measured, in one run:
- a full kmeans run with the 2-D map, and one with defer_visualization (then the map's first GET); ARI against the labels;
- an hdbscan run on BENCH_CLUSTER_HDBSCAN (default 50,000) of the documents; ARI;
- baseline: scikit-learn's KMeans (k known, n_init=1) on the same array in memory.
The 1,000,000-point peak-memory measure is engine-level: bench/clustering_engine.py.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

DOCS = int(os.environ.get("BENCH_CLUSTER_DOCS", "100000"))
K = int(os.environ.get("BENCH_CLUSTER_K", "20"))
HDBSCAN_DOCS = int(os.environ.get("BENCH_CLUSTER_HDBSCAN", "50000"))
DIMENSION = 384
SPREAD = float(os.environ.get("BENCH_CLUSTER_SPREAD", "0.035"))


def make_data(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, DIMENSION)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, K, DOCS)
    vectors = centres[labels] + rng.normal(0, SPREAD, (DOCS, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), labels


def ari(truth: dict[str, int], found: dict[str, str | None]) -> float:
    from sklearn.metrics import adjusted_rand_score

    ids = sorted(truth)
    return float(adjusted_rand_score([truth[i] for i in ids], [found.get(i) or "noise" for i in ids]))


def main() -> int:
    from openpeek.domain.namespace import Namespace  # noqa: F401 - imported early so timing excludes it
    from openpeek.runtime import build_services
    from openpeek.services.organizations import Principal
    from openpeek.settings import Settings

    vectors, labels = make_data()
    truth = {f"p{i}": int(labels[i]) for i in range(DOCS)}
    report: dict = {"documents": DOCS, "dimension": DIMENSION, "components": K}

    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    start = time.perf_counter()
    baseline = KMeans(n_clusters=K, n_init=1, random_state=0).fit_predict(vectors)
    report["baseline_sklearn_kmeans"] = {"seconds": round(time.perf_counter() - start, 2),
                                         "ari": round(float(adjusted_rand_score(labels, baseline)), 4)}

    with tempfile.TemporaryDirectory(prefix="openpeek-bench-cluster-") as work:
        services = build_services(Settings(runtime="embedded", data_dir=Path(work), local_inference=False))
        org = services.organizations.ensure_org("bench")
        principal = Principal(org_id=org["org_id"], key_id="bench")
        namespace = services.namespaces.create(principal, {"namespace_name": "bench", "mode": "standalone",
                                                           "vector_configs": [{"name": "emb",
                                                                               "dimension": DIMENSION}]}).namespace
        start = time.perf_counter()
        for offset in range(0, DOCS, 1000):
            services.documents.upsert(principal, namespace.namespace_id, {"documents": [
                {"document_id": f"p{i}", "vectors": {"emb": vectors[i].tolist()},
                 "payload": {"text": f"topic{labels[i]} word{labels[i]}x", "half": i % 2}}
                for i in range(offset, min(DOCS, offset + 1000))]})
        report["load_seconds"] = round(time.perf_counter() - start, 1)

        def execute(cluster_id: str, **overrides) -> float:
            started = time.perf_counter()
            task = services.cluster_runs.execute(namespace, cluster_id, overrides)
            while True:
                task = services.tasks.get(namespace, task.task_id)
                if task.terminal:
                    break
                time.sleep(0.2)
            if task.status != "COMPLETED":
                raise RuntimeError(f"run failed: {task.error}")
            return time.perf_counter() - started

        def members(cluster_id: str) -> dict[str, str | None]:
            body, _ = services.cluster_results.visualization(namespace, cluster_id)
            return {p["document_id"]: p["cluster_id"] for p in body["points"]}

        from openpeek.cli import warm_up_engine

        warm_up_engine().join()  # what `openpeek serve` does at start-up, so no run pays the engine's first load
        kmeans = services.clusters.create(namespace, {"cluster_name": "kmeans", "vector_config": {
            "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": K}}})
        if os.environ.get("BENCH_CLUSTER_SKIP_MAP") != "1":
            with_map = execute(kmeans.cluster_id)
            report["kmeans_full_with_map"] = {"seconds": round(with_map, 2), "ari": round(ari(truth, members(
                kmeans.cluster_id)), 4)}
        deferred = execute(kmeans.cluster_id, defer_visualization=True)
        start = time.perf_counter()
        deferred_members = members(kmeans.cluster_id)
        report["kmeans_full_deferred_map"] = {"seconds": round(deferred, 2),
                                              "first_visualization_seconds": round(time.perf_counter() - start, 2),
                                              "ari": round(ari(truth, deferred_members), 4)}

        if os.environ.get("BENCH_CLUSTER_SKIP_HDBSCAN") == "1":
            services.close()
            print(json.dumps(report, indent=2))
            return 0
        hdbscan = services.clusters.create(namespace, {"cluster_name": "hdbscan", "vector_config": {
            "feature_uris": ["emb"], "clustering_method": "hdbscan", "sample_size": HDBSCAN_DOCS,
            "hdbscan_parameters": {"min_cluster_size": 50}}})
        seconds = execute(hdbscan.cluster_id, defer_visualization=True)
        found = services.cluster_results.latest(namespace, hdbscan.cluster_id)
        body, _ = services.cluster_results.visualization(namespace, hdbscan.cluster_id)
        hd_members = {p["document_id"]: p["cluster_id"] for p in body["points"]}
        report["hdbscan"] = {"seconds": round(seconds, 2), "sample_size": HDBSCAN_DOCS,
                             "num_clusters": found["num_clusters"],
                             "noise_ratio": round(found["metrics"].get("noise_ratio", 0), 4),
                             "ari_all_points": round(ari(truth, hd_members), 4)}
        services.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
