"""What the vector sidecar (OPENPEEK_EDGE_VECTOR_SIDECAR) adds to an in-process upsert: DOCS × 384-d cosine
documents (bench/retrieval.py's data, with its category and price payload) upserted into a fresh embedded collection
in batches of 1,000 (QdrantEdgeStore as the server builds it: durable writes, no index build meanwhile), with the
sidecar off and on. Each measurement runs in its own process; code versions (`name=functions_dir`, put first on the
path, e.g. a `git archive` of the previous commit) and the two modes run in alternation, several rounds, and the
report gives each one's median seconds and the median of the on/off ratios paired within a round (of the whole run,
and of its median batch).

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


def one_run(docs: int, sidecar: bool) -> dict:
    """In this process (the code first on the path): the upserts, timed; and the sidecar checked against Edge."""
    sys.path.insert(0, str(Path(__file__).parent))
    import numpy as np
    import retrieval

    from openpeek.adapters.qdrant import edge as edge_adapter
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint

    os.environ["BENCH_DOCS"] = str(docs)
    vectors, _, categories, prices = retrieval.make_data()
    batches = [[VectorPoint(f"doc-{i}", {"emb": vectors[i].tolist()},
                            {"category": f"c{categories[i]}", "price": int(prices[i])})
                for i in range(start, min(start + BATCH, docs))] for start in range(0, docs, BATCH)]
    with tempfile.TemporaryDirectory() as tmp:
        store = QdrantEdgeStore(tmp, index_threshold=None, vector_sidecar=sidecar)
        try:
            store.create_collection("bench", [VectorIndexSpec("emb", retrieval.DIM, "cosine")],
                                    [PayloadIndexSpec("category", "keyword"), PayloadIndexSpec("price", "integer")])
            samples = []
            for batch in batches:
                start = time.perf_counter()
                store.upsert("bench", batch)
                samples.append(time.perf_counter() - start)
            found = {"seconds": round(sum(samples), 4), "p50_batch_ms": round(statistics.median(samples) * 1000, 2)}
            if sidecar:  # the copy it kept must be Edge's, bit for bit (once a rebuild it started has finished)
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
            store.close()
    return found


def measure(functions: str, docs: int, sidecar: bool) -> dict:
    output = subprocess.run([sys.executable, __file__, "--one", str(docs), "on" if sidecar else "off"],
                            env={**os.environ, "PYTHONPATH": functions}, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one_run(int(sys.argv[2]), sys.argv[3] == "on")))
        return
    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    versions = dict(arg.split("=", 1) for arg in sys.argv[3:]) or {"current": str(REPO / "functions")}
    load = os.getloadavg()[0]
    seconds: dict[str, dict[str, list[float]]] = {name: {"off": [], "on": []} for name in versions}
    ratios: dict[str, list[float]] = {name: [] for name in versions}
    batch_ratios: dict[str, list[float]] = {name: [] for name in versions}
    checks: dict[str, list[bool]] = {name: [] for name in versions}
    for round_ in range(rounds):
        for name, functions in versions.items():
            modes = ("off", "on") if round_ % 2 == 0 else ("on", "off")  # neither always runs first
            found = {mode: measure(functions, docs, mode == "on") for mode in modes}
            for mode in modes:
                seconds[name][mode].append(found[mode]["seconds"])
            ratios[name].append(found["on"]["seconds"] / found["off"]["seconds"])
            batch_ratios[name].append(found["on"]["p50_batch_ms"] / found["off"]["p50_batch_ms"])
            checks[name].append(found["on"]["sidecar_equals_edge"])
            print(round_, name, found, flush=True)
    summary = {name: {"median_s_off": statistics.median(seconds[name]["off"]),
                      "median_s_on": statistics.median(seconds[name]["on"]),
                      "median_ratio_on_off": round(statistics.median(ratios[name]), 3),
                      "ratios_on_off": [round(r, 3) for r in ratios[name]],
                      # the median batch: without what happens once (the sidecar's creation, a background flush)
                      "median_ratio_on_off_p50_batch": round(statistics.median(batch_ratios[name]), 3),
                      "sidecar_equals_edge": all(checks[name])} for name in versions}
    print(json.dumps({"documents": docs, "batch": BATCH, "rounds": rounds,
                      "load_average": [round(load, 2), round(os.getloadavg()[0], 2)], **summary}, indent=1))


if __name__ == "__main__":
    main()
