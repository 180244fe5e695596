"""The clustering engine on the GPU (RAPIDS cuML) against the CPU engine, on the same machine and data, end to end in
run_job: k-means with the 2-D map, and HDBSCAN, on BENCH_GPU_DOCS (default 1,000,000) points of the benchmark mixture
(bench/clustering_engine.py's). Reports each device's time, the speed-up (target ≥ 10×), and the ARI of the GPU's
labels against the CPU's (target ≥ 0.95). Without a CUDA device and cuML it says what is missing and measures nothing.

    PYTHONPATH=functions python bench/gpu_engine.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clustering_engine import write_parquet  # noqa: E402

from openpeek.engine.devices import DeviceUnavailable, select_device  # noqa: E402

DOCS = int(os.environ.get("BENCH_GPU_DOCS", "1000000"))
JOBS = {
    "kmeans_with_map": {"method": "kmeans", "method_params": {"n_clusters": 20}, "layout": True},
    "hdbscan": {"method": "hdbscan", "method_params": {"min_cluster_size": 50}, "layout": False},
}


def main() -> int:
    try:
        device = select_device("gpu")
    except DeviceUnavailable as missing:
        print(json.dumps({"measured": False, "reason": str(missing)}))
        return 0
    import pyarrow.parquet as pq
    from sklearn.metrics import adjusted_rand_score

    from openpeek.engine.processing import run_job

    report = {"measured": True, "points": DOCS, "gpu": device.report()}
    with tempfile.TemporaryDirectory(prefix="openpeek-bench-gpu-") as work:
        folder = Path(work) / "input"
        truth = write_parquet(folder, DOCS, seed=11)
        files = sorted(folder.glob("*.parquet"))
        for name, job in JOBS.items():
            timings, labels = {}, {}
            for chosen in ("gpu", "cpu"):
                output = Path(work) / f"{name}-{chosen}"
                clock = time.perf_counter()
                run_job(files, {**job, "compute_device": chosen, "seed": 42}, output)
                timings[chosen] = round(time.perf_counter() - clock, 2)
                labels[chosen] = pq.read_table(output / "assignments.parquet").column("cluster").to_numpy()
            report[name] = {"cpu_s": timings["cpu"], "gpu_s": timings["gpu"],
                            "speedup": round(timings["cpu"] / max(timings["gpu"], 1e-9), 2),
                            "ari_gpu_vs_cpu": round(float(adjusted_rand_score(labels["cpu"], labels["gpu"])), 4),
                            "ari_gpu_vs_truth": round(float(adjusted_rand_score(truth, labels["gpu"])), 4)}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
