"""The clustering engine alone (`openpeek.engine.processing.run_job`), on parquet in a temporary folder, as the
container runs it. Each run is a child process, so its peak memory (ru_maxrss) is its own.

Data: a mixture of BENCH_ENGINE_K (default 20) Gaussian components in 384-d, unit-normalized, spread
BENCH_ENGINE_SPREAD (default 0.035: scikit-learn's KMeans scores ARI ≈ 0.94 on it), written in batches so the
generator never holds the whole matrix. Measured:
- full kmeans (k known) on BENCH_ENGINE_DOCS (default 100,000) points, with and without the 2-D map: time, ARI;
- hdbscan on BENCH_ENGINE_HDBSCAN (default 50,000) points: time, ARI (noise counted as its own label);
- kmeans without the map on BENCH_ENGINE_BIG (default 1,000,000; 0 skips it) points: time, ARI, peak memory;
- baseline: scikit-learn's KMeans (n_init=1) on the in-memory 100k array.
Targets: ARI ≥ 0.9; 100k with map ≤ 60 s, without ≤ 15 s (run_job's own time; the child's wall adds imports).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

DOCS = int(os.environ.get("BENCH_ENGINE_DOCS", "100000"))
HDBSCAN_DOCS = int(os.environ.get("BENCH_ENGINE_HDBSCAN", "50000"))
BIG = int(os.environ.get("BENCH_ENGINE_BIG", "1000000"))
K = int(os.environ.get("BENCH_ENGINE_K", "20"))
SPREAD = float(os.environ.get("BENCH_ENGINE_SPREAD", "0.035"))
DIMENSION = 384
BATCH = 50_000
WORDS = ["alpha", "bravo", "cedar", "delta", "ember", "fjord", "glade", "harbor", "iris", "juniper", "kelp",
         "lumen", "maple", "nectar", "onyx", "prism", "quartz", "raven", "sable", "tundra"]


def centres(seed: int = 5) -> np.ndarray:
    c = np.random.default_rng(seed).normal(size=(K, DIMENSION)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def batches(count: int, seed: int):
    """(labels, vectors) in batches of BATCH rows."""
    rng, centre = np.random.default_rng(seed), centres()
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        labels = rng.integers(0, K, size)
        vectors = centre[labels] + rng.normal(0, SPREAD, (size, DIMENSION)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield labels, vectors.astype(np.float32)


def write_parquet(folder: Path, count: int, seed: int) -> np.ndarray:
    """The prepare step's output, written batch by batch; returns the known labels."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    truth = []
    schema = pa.schema([("document_id", pa.string()), ("feature_0", pa.list_(pa.float32(), DIMENSION)),
                        ("text", pa.string())])
    with pq.ParquetWriter(str(folder / "part-0.parquet"), schema) as writer:
        row = 0
        for labels, vectors in batches(count, seed):
            ids = [f"doc_{row + i}" for i in range(len(labels))]
            texts = [f"{WORDS[t % len(WORDS)]} report about {WORDS[(t * 7 + 3) % len(WORDS)]} number {i}"
                     for i, t in enumerate(labels)]
            column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION)
            writer.write_table(pa.table([pa.array(ids), column, pa.array(texts)], schema=schema))
            truth.append(labels)
            row += len(labels)
    return np.concatenate(truth)


def child(folder: str, params: str, output: str) -> None:
    """One run_job in this process; prints its own time and peak memory."""
    from openpeek.engine.processing import run_job

    start = time.perf_counter()
    summary = run_job(sorted(Path(folder).glob("*.parquet")), json.loads(params), Path(output))
    print(json.dumps({"run_s": time.perf_counter() - start, "summary": summary,
                      "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def engine_run(folder: Path, params: dict, output: Path, truth: np.ndarray) -> dict:
    import pyarrow.parquet as pq
    from sklearn.metrics import adjusted_rand_score

    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", str(folder), json.dumps(params), str(output)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    labels = pq.read_table(output / "assignments.parquet", columns=["cluster"]).column("cluster").to_numpy()
    return {"run_s": round(report["run_s"], 2), "child_wall_s": round(wall, 2),
            "ari": round(float(adjusted_rand_score(truth, labels)), 4),
            "clusters": report["summary"]["num_clusters"], "max_rss_mib": round(report["max_rss_mib"]),
            "timings_s": report["summary"]["timings_s"]}


def baseline(count: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    labels, vectors = zip(*batches(count, seed=11))
    truth, matrix = np.concatenate(labels), np.vstack(vectors)
    start = time.perf_counter()
    found = KMeans(n_clusters=K, n_init=1, random_state=42).fit_predict(matrix)
    return {"run_s": round(time.perf_counter() - start, 2),
            "ari": round(float(adjusted_rand_score(truth, found)), 4)}


def main() -> None:
    rows = []
    kmeans = {"mode": "full", "method": "kmeans", "method_params": {"n_clusters": K}, "seed": 42}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        truth = write_parquet(base / "docs", DOCS, seed=11)
        rows.append((f"sklearn KMeans in memory {DOCS:,}", baseline(DOCS)))
        rows.append((f"engine kmeans {DOCS:,} no map",
                     engine_run(base / "docs", {**kmeans, "layout": False}, base / "o1", truth)))
        rows.append((f"engine kmeans {DOCS:,} + 2-D map",
                     engine_run(base / "docs", {**kmeans, "layout": True}, base / "o2", truth)))
        if HDBSCAN_DOCS:
            truth = write_parquet(base / "hdb", HDBSCAN_DOCS, seed=13)
            params = {"mode": "full", "method": "hdbscan", "layout": False, "seed": 42,
                      "method_params": {"min_cluster_size": max(10, HDBSCAN_DOCS // (K * 10)), "min_samples": 5}}
            rows.append((f"engine hdbscan {HDBSCAN_DOCS:,} no map", engine_run(base / "hdb", params, base / "o3", truth)))
        if BIG:
            (base / "docs").rename(base / "old")  # free the disk before the big file
            truth = write_parquet(base / "big", BIG, seed=17)
            rows.append((f"engine kmeans {BIG:,} no map",
                         engine_run(base / "big", {**kmeans, "layout": False}, base / "o4", truth)))
    print(f"{'run':<36} {'run_s':>7} {'wall_s':>7} {'ARI':>7} {'k':>4} {'peak MiB':>9}  stages")
    for name, row in rows:
        print(f"{name:<36} {row['run_s']:>7} {row.get('child_wall_s', ''):>7} {row['ari']:>7} "
              f"{row.get('clusters', ''):>4} {row.get('max_rss_mib', ''):>9}  {row.get('timings_s', '')}")
    print(json.dumps({name: row for name, row in rows}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
