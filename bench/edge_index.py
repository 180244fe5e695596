"""Embedded approximate search: Qdrant Edge exhaustive (baseline) against the HNSW index built off the request path
(adapters/qdrant/edge_index.py), in one run, on one store: top-10 p50/p99 unfiltered and keyword-filtered, recall@10
of the index against the exact answers, the build's duration, and query latency *during* the build (the server keeps
answering). A mixture of clusters, N × D (default 50,000 × 384; `--points 1000000` where the machine allows);
`--data isotropic` for the worst case (see mixture()).

    PYTHONPATH=functions .venv/bin/python bench/edge_index.py --points 50000 --dimension 384
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import percentiles  # noqa: E402

from openpeek.adapters.qdrant.edge import QdrantEdgeStore  # noqa: E402
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.vectors import PayloadIndexSpec, SearchRequest, VectorIndexSpec, VectorPoint  # noqa: E402


def mixture(points: int, dimension: int, clusters: int = 50, seed: int = 0, kind: str = "subspace") -> np.ndarray:
    """Unit vectors around `clusters` centres. `subspace` (embedding-like): each cluster spreads in its own 24-d
    subspace, plus a little isotropic noise, so neighbours are well defined. `isotropic` (the worst case for any
    graph index): full-rank Gaussian noise, every point of a cluster almost equidistant from the others."""
    rng, layout = np.random.default_rng(seed), np.random.default_rng(1234)
    centres = layout.normal(size=(clusters, dimension)).astype(np.float32)
    labels = rng.integers(0, clusters, points)
    if kind == "isotropic":
        data = centres[labels] + 0.35 * rng.normal(size=(points, dimension)).astype(np.float32)
    else:
        intrinsic = 24
        bases = layout.normal(size=(clusters, intrinsic, dimension)).astype(np.float32) / np.sqrt(intrinsic)
        data = np.empty((points, dimension), dtype=np.float32)
        for start in range(0, points, 10_000):  # in blocks: bounded memory at a million points
            rows = slice(start, min(points, start + 10_000))
            coefficients = rng.normal(size=(rows.stop - start, intrinsic)).astype(np.float32)
            data[rows] = (centres[labels[rows]] + 1.5 * np.einsum("ni,nid->nd", coefficients, bases[labels[rows]])
                          + 0.05 * rng.normal(size=(rows.stop - start, dimension)).astype(np.float32))
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def run(points: int, dimension: int, queries: int, kind: str) -> dict:
    data = mixture(points, dimension, kind=kind)
    probes = mixture(queries, dimension, seed=1, kind=kind)
    with tempfile.TemporaryDirectory(prefix="openpeek-bench-index-") as root:
        store = QdrantEdgeStore(root, durable_writes=False, index_threshold=None)
        store.create_collection("bench", [VectorIndexSpec("emb", dimension)])
        started = time.perf_counter()
        for start in range(0, points, 2000):
            store.upsert("bench", [VectorPoint(f"d{i}", {"emb": data[i].tolist()}, {"tag": f"t{i % 10}"})
                                   for i in range(start, min(points, start + 2000))])
        load_s = time.perf_counter() - started
        store.create_payload_index("bench", PayloadIndexSpec("tag", "keyword"))

        def search(vector, filtered: bool):
            request = SearchRequest("emb", vector.tolist(), limit=10, with_payload=False,
                                    filter=Filter(must=(MatchValue("tag", "t3"),)) if filtered else None)
            return [hit.id for hit in store.query("bench", [request])[0]]

        def measure(filtered: bool) -> tuple[dict, list[list[str]]]:
            samples, answers = [], []
            for vector in probes:
                clock = time.perf_counter()
                answers.append(search(vector, filtered))
                samples.append(time.perf_counter() - clock)
            return percentiles(samples), answers

        exact_plain, exact_answers = measure(False)
        exact_filtered, exact_filtered_answers = measure(True)

        during: list[float] = []
        done = threading.Event()

        def query_during_build():
            index = 0
            while not done.is_set():
                clock = time.perf_counter()
                search(probes[index % len(probes)], False)
                during.append(time.perf_counter() - clock)
                index += 1
                time.sleep(0.01)

        watcher = threading.Thread(target=query_during_build)
        watcher.start()
        clock = time.perf_counter()
        try:
            built = store.optimize("bench")
        finally:
            done.set()
            watcher.join()
        build_s = time.perf_counter() - clock

        indexed_plain, indexed_answers = measure(False)
        indexed_filtered, indexed_filtered_answers = measure(True)

        def recall(exact, found):
            return round(float(np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(exact, found)])), 4)

        import resource
        result = {
            "data": kind, "points": points, "dimension": dimension, "queries": queries, "load_s": round(load_s, 2),
            "exact_unfiltered": exact_plain, "exact_keyword_filtered": exact_filtered,
            "index_build_s": round(build_s, 2), "built": built,
            "during_build": percentiles(during) if during else None,
            "indexed_unfiltered": indexed_plain, "indexed_keyword_filtered": indexed_filtered,
            "recall_at_10_unfiltered": recall(exact_answers, indexed_answers),
            "recall_at_10_filtered": recall(exact_filtered_answers, indexed_filtered_answers),
            "speedup_p50_unfiltered": round(exact_plain["p50_ms"] / max(indexed_plain["p50_ms"], 1e-6), 2),
            "speedup_p50_filtered": round(exact_filtered["p50_ms"] / max(indexed_filtered["p50_ms"], 1e-6), 2),
            "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        store.close()
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["subspace", "isotropic"], default="subspace")
    arguments = parser.parse_args()
    print(json.dumps(run(arguments.points, arguments.dimension, arguments.queries, arguments.data), indent=2))
