"""Upsert throughput over HTTP (`openpeek serve`, batches of 1,000 × 384-d, as bench/retrieval.py sends them), for
comparing code versions in the same session on a busy machine: each version is given as a `functions` directory
(put first on the server's PYTHONPATH) and the versions are run in alternation, several rounds, medians reported.

    .venv/bin/python bench/upsert_profile.py [DOCS] [ROUNDS] [name=functions_dir ...]

With UPSERT_PROFILE=path the server of the first version runs under cProfile (written at shutdown) instead."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import retrieval  # noqa: E402
import support  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def one_run(functions: str, bodies: list[bytes], profile: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp, \
            support.live_server(Path(tmp) / "data", functions=functions, profile=profile) as client:
        client.post("/v1/namespaces", json={
            "namespace_name": "bench-upsert", "mode": "standalone",
            "vector_configs": [{"name": "emb", "dimension": retrieval.DIM, "metric": "cosine"}],
            "payload_indexes": [{"field_name": "category", "type": "keyword"},
                                {"field_name": "price", "type": "integer"}],
        }).raise_for_status()
        samples = []
        start = time.perf_counter()
        for body in bodies:
            s = time.perf_counter()
            client.post("/v1/namespaces/bench-upsert/documents/upsert", content=body,
                        headers={"Content-Type": "application/json"}).raise_for_status()
            samples.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - start
        # Re-upsert of the first batch (replacing existing documents) is timed apart.
        s = time.perf_counter()
        client.post("/v1/namespaces/bench-upsert/documents/upsert", content=bodies[0],
                    headers={"Content-Type": "application/json"}).raise_for_status()
        replace_ms = (time.perf_counter() - s) * 1000
    return {"docs_per_s": round(len(bodies) * retrieval.BATCH / elapsed),
            "p50_request_ms": round(statistics.median(samples) * 1000, 1), "replace_ms": round(replace_ms, 1)}


def main() -> None:
    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    versions = dict(arg.split("=", 1) for arg in sys.argv[3:]) or {"current": str(REPO / "functions")}
    os.environ["BENCH_DOCS"] = str(docs)
    vectors, _, categories, prices = retrieval.make_data()
    bodies = retrieval.upsert_bodies(vectors[:docs], categories[:docs], prices[:docs])
    profile = os.environ.get("UPSERT_PROFILE")
    if profile:
        name, functions = next(iter(versions.items()))
        print(name, one_run(functions, bodies, profile))
        return
    results: dict[str, list[dict]] = {name: [] for name in versions}
    for round_ in range(rounds):
        for name, functions in versions.items():
            result = one_run(functions, bodies)
            results[name].append(result)
            print(round_, name, result, flush=True)
    summary = {name: {"median_docs_per_s": statistics.median(r["docs_per_s"] for r in runs),
                      "all_docs_per_s": [r["docs_per_s"] for r in runs]} for name, runs in results.items()}
    print(json.dumps({"documents": docs, **summary}, indent=1))


if __name__ == "__main__":
    main()
