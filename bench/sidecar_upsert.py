"""What the vector sidecar (OPENPEEK_EDGE_VECTOR_SIDECAR) adds to an in-process upsert: DOCS × 384-d cosine
documents (bench/retrieval.py's data, with its category and price payload) upserted in batches of 1,000 into two
fresh embedded collections, one under a store with the sidecar off and one with it on (QdrantEdgeStore as the server
builds it: durable writes; no index build meanwhile). The two take turns batch by batch, in the same process, so that
the machine's load weighs on both alike (the one that goes first alternates); each run ends by checking the sidecar's
rows against Edge's, bit for bit. Code versions (`name=functions_dir`, put first on the path, e.g. a `git archive` of
the previous commit) run in alternation, one process per run, several rounds; the report gives per version the median
over rounds of the on/off ratio of the whole run's seconds and of the median batch's.

    .venv/bin/python bench/sidecar_upsert.py [DOCS] [ROUNDS] [name=functions_dir ...]"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH = 1000


def one_run(docs: int) -> dict:
    """In this process (the code first on the path): both modes' upserts, interleaved and timed."""
    sys.path.insert(0, str(Path(__file__).parent))
    import numpy as np
    import retrieval

    from openpeek.adapters.qdrant import edge as edge_adapter
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint

    os.environ["BENCH_DOCS"] = str(docs)
    vectors, _, categories, prices = retrieval.make_data()

    def batch(number: int) -> list[VectorPoint]:  # fresh objects for each store, as each request would bring
        return [VectorPoint(f"doc-{i}", {"emb": vectors[i].tolist()},
                            {"category": f"c{categories[i]}", "price": int(prices[i])})
                for i in range(number * BATCH, min((number + 1) * BATCH, docs))]

    with tempfile.TemporaryDirectory() as tmp:
        stores = {mode: QdrantEdgeStore(Path(tmp) / mode, index_threshold=None, vector_sidecar=mode == "on")
                  for mode in ("off", "on")}
        try:
            for store in stores.values():
                store.create_collection("bench", [VectorIndexSpec("emb", retrieval.DIM, "cosine")],
                                        [PayloadIndexSpec("category", "keyword"),
                                         PayloadIndexSpec("price", "integer")])
            samples: dict[str, list[float]] = {mode: [] for mode in stores}
            for number in range(-(-docs // BATCH)):
                for mode in (("off", "on") if number % 2 == 0 else ("on", "off")):
                    points = batch(number)
                    start = time.perf_counter()
                    stores[mode].upsert("bench", points)
                    samples[mode].append(time.perf_counter() - start)
            found: dict = {mode: {"seconds": round(sum(samples[mode]), 4),
                                  "p50_batch_ms": round(statistics.median(samples[mode]) * 1000, 2)}
                           for mode in stores}
            # The copy the sidecar kept must be Edge's, bit for bit (once any rebuild it started has finished).
            store = stores["on"]
            copy = edge_adapter._SIDECARS[store._path("bench")]
            deadline = time.monotonic() + 120
            while (not copy.ready or copy.rebuilding) and time.monotonic() < deadline:
                time.sleep(0.01)
            held = {p.id: p.vectors["emb"] for p in store.retrieve("bench", [f"doc-{i}" for i in range(docs)],
                                                                     with_vectors=True)}
            rows = copy.read(list(held))["emb"][1]
            found["sidecar_equals_edge"] = rows.tobytes() == np.asarray(list(held.values()),
                                                                        dtype=np.float32).tobytes()
        finally:
            for store in stores.values():
                store.close()
    return found


def measure(functions: str, docs: int) -> dict:
    output = subprocess.run([sys.executable, __file__, "--one", str(docs)], env={**os.environ, "PYTHONPATH": functions},
                            capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one_run(int(sys.argv[2]))))
        return
    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    versions = dict(arg.split("=", 1) for arg in sys.argv[3:]) or {"current": str(REPO / "functions")}
    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    for round_ in range(rounds):
        for name, functions in (list(versions.items()) if round_ % 2 == 0 else list(versions.items())[::-1]):
            found = measure(functions, docs)
            runs[name].append(found)
            print(round_, name, found, flush=True)

    def median(name: str, pick) -> float:
        return round(statistics.median(pick(run) for run in runs[name]), 3)

    summary = {name: {
        "median_s_off": median(name, lambda run: run["off"]["seconds"]),
        "median_s_on": median(name, lambda run: run["on"]["seconds"]),
        "median_ratio_on_off": median(name, lambda run: run["on"]["seconds"] / run["off"]["seconds"]),
        "ratios_on_off": [round(run["on"]["seconds"] / run["off"]["seconds"], 3) for run in runs[name]],
        "median_ratio_on_off_p50_batch": median(name, lambda run: run["on"]["p50_batch_ms"] /
                                                run["off"]["p50_batch_ms"]),
        "sidecar_equals_edge": all(run["sidecar_equals_edge"] for run in runs[name]),
    } for name in versions}
    print(json.dumps({"documents": docs, "batch": BATCH, "rounds": rounds,
                      "load_average": [round(load, 2), round(os.getloadavg()[0], 2)], **summary}, indent=1))


if __name__ == "__main__":
    main()
