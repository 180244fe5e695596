"""The swap that ends an embedded index build (adapters/qdrant/edge_index.py), against a baseline source tree (by
default `main`), in one run on the same data: how long the swap held writes (and reads) off, and what queries and
writes issued during the swap waited.

One Edge collection of N × D (bench/edge_index.py's mixture, a keyword payload index) is loaded once; each variant
builds the index of its own copy of it in a child process of its own (PYTHONPATH at that variant's `functions/`),
with a thread querying top 10 every few milliseconds and a writer that, once the build's copy is taken, upserts the
journal (`--journal` points in batches of `--batch`: all of it replayed at the swap) and then keeps writing small
batches until the build returns, so that writes race the swap itself. The swap window runs from the build child's exit
(edge_index._optimize_in_child returning, in both trees) to optimize() returning; a query or write counts for it when
it was running at any moment of that window. Every written point is checked afterwards.

    PYTHONPATH=functions .venv/bin/python bench/edge_swap.py --points 50000 --rounds 2

Over HTTP (`--http`): each variant's `openpeek serve` loads the documents through the upsert route, `openpeek optimize`
asks it to build, queries are retriever executions and writes upserts (measure_over_http).

    PYTHONPATH=functions .venv/bin/python bench/edge_swap.py --http --points 200000

Variants alternate (baseline, this tree, baseline, ...) so that the shared machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
sys.path.insert(0, str(BENCH))
from support import percentiles  # noqa: E402

QUERY_EVERY_S = 0.005
LATE_BATCH, LATE_EVERY_S = 10, 0.02


def load(root: Path, points: int, dimension: int) -> None:
    from edge_index import mixture, tag_of

    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint

    data = mixture(points, dimension)
    store = QdrantEdgeStore(root, durable_writes=False, index_threshold=None)
    store.create_collection("bench", [VectorIndexSpec("emb", dimension)])
    for start in range(0, points, 1000):
        store.upsert("bench", [VectorPoint(f"d{i}", {"emb": data[i].tolist()}, {"tag": tag_of(i)})
                               for i in range(start, min(points, start + 1000))])
    store.create_payload_index("bench", PayloadIndexSpec("tag", "keyword"))
    store.close()


def in_window(samples: list[tuple[float, float]], opened: float, closed: float) -> list[float]:
    """The durations of the calls (start, duration) that ran at some moment of [opened, closed]."""
    return [duration for start, duration in samples if start <= closed and start + duration >= opened]


def summary(durations: list[float]) -> dict | None:
    if not durations:
        return None
    return {**percentiles(durations), "max_ms": round(max(durations) * 1000, 3)}


def measure(root: Path, points: int, journal: int, batch: int) -> dict:
    """In the variant's child: build the index while querying and writing; the swap's numbers."""
    from edge_index import mixture

    from openpeek.adapters.qdrant import edge_index
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.domain.vectors import SearchRequest, VectorPoint

    store = QdrantEdgeStore(root, index_threshold=None, build_plan=edge_index.BuildPlan(quantize_from_points=1))
    dimension = len(store.retrieve("bench", ["d0"], with_vectors=True)[0].vectors["emb"])
    probes = mixture(64, dimension, seed=1)
    written_vectors = mixture(journal + 50_000, dimension, seed=2)
    copied, done = threading.Event(), threading.Event()
    marks: dict[str, float] = {}
    queries: list[tuple[float, float]] = []
    writes: list[tuple[float, float]] = []
    written: list[str] = []
    real_optimize = edge_index._optimize_in_child

    def optimize_in_child(copy, config):
        copied.set()  # the copy is taken: writes from here on are journaled
        real_optimize(copy, config)
        marks["built"] = time.perf_counter()

    edge_index._optimize_in_child = optimize_in_child

    def query() -> None:
        index = 0
        while not done.is_set():
            clock = time.perf_counter()
            store.query("bench", [SearchRequest("emb", probes[index % len(probes)].tolist(), limit=10,
                                                with_payload=False)])
            queries.append((clock, time.perf_counter() - clock))
            index += 1
            time.sleep(QUERY_EVERY_S)

    def write(start: int, count: int) -> None:
        batch_points = [VectorPoint(f"w{i}", {"emb": written_vectors[i].tolist()}, {"tag": "t1"})
                        for i in range(start, start + count)]
        clock = time.perf_counter()
        store.upsert("bench", batch_points)
        writes.append((clock, time.perf_counter() - clock))
        written.extend(p.id for p in batch_points)

    def writer() -> None:
        copied.wait()
        for start in range(0, journal, batch):
            write(start, min(batch, journal - start))
        marks["journal_written"] = time.perf_counter()
        start = journal
        while not done.is_set() and start + LATE_BATCH <= len(written_vectors):
            write(start, LATE_BATCH)
            start += LATE_BATCH
            time.sleep(LATE_EVERY_S)

    threads = [threading.Thread(target=query), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    try:
        store.optimize("bench")
        marks["swapped"] = time.perf_counter()
    finally:
        done.set()
        copied.set()
        for thread in threads:
            thread.join()
    state = store.index_state("bench")
    window = (marks["built"], marks["swapped"])
    present = {p.id for p in store.retrieve("bench", written)}
    result = {
        "build_s": round(marks["built"] - started, 2),
        "journal_written_before_build_ended": marks.get("journal_written", float("inf")) <= marks["built"],
        "swap_window_s": round(window[1] - window[0], 3),
        "last_swap_s": state.get("last_swap_s"),
        # The baseline reports no blocked time: its whole swap held every call off the shard.
        "last_swap_blocked_s": state.get("last_swap_blocked_s", state.get("last_swap_s")),
        "reads_held_off_by_the_swap": "last_swap_blocked_s" not in state,
        "queries_during_swap": summary(in_window(queries, *window)),
        "writes_during_swap": summary(in_window(writes, *window)),
        "queries_during_build": summary([d for s, d in queries if s < window[0]]),
        "points_written": len(written),
        "every_write_present": len(present) == len(written)
                               and store.count("bench") == points + len(written),
    }
    store.close()
    return result


def measure_over_http(functions: Path, data_dir: Path, points: int, dimension: int, journal: int,
                      batch: int) -> dict:
    """`openpeek serve` from `functions`, N documents upserted, then `openpeek optimize` beside it while a thread
    runs a retriever (top 10) every few milliseconds and a writer upserts the journal once the build is under way
    (the namespace's status yellow) and small batches after it. The swap's window is taken from the server: it ends
    when the build request finished (its status file's finished_at) and lasted the stats' last_swap_s."""
    import httpx

    from edge_index import mixture, retriever, tag_of
    from support import live_server

    data = mixture(points, dimension)
    written_vectors = mixture(journal + 50_000, dimension, seed=2)
    probes = mixture(64, dimension, seed=1)
    bodies = [json.dumps({"inputs": {"query_vector": probe.tolist()}}).encode() for probe in probes]
    environment = {"OPENPEEK_EDGE_INDEX_THRESHOLD": "0", "OPENPEEK_EDGE_QUANTIZATION_THRESHOLD": "50000"}
    json_headers = {"Content-Type": "application/json"}
    with live_server(data_dir, functions=str(functions), extra_env=environment) as client:
        client.post("/v1/namespaces", json={
            "namespace_name": "bench-index", "mode": "standalone",
            "vector_configs": [{"name": "emb", "dimension": dimension, "metric": "cosine"}],
            "payload_indexes": [{"field_name": "tag", "type": "keyword"}],
        }).raise_for_status()

        def upsert(http: httpx.Client, ids: range, vectors: np.ndarray, prefix: str) -> None:
            documents = [{"document_id": f"{prefix}{i}", "vectors": {"emb": vectors[i].tolist()},
                          "payload": {"tag": tag_of(i)}} for i in ids]
            http.post("/v1/namespaces/bench-index/documents/upsert", content=json.dumps({"documents": documents}),
                      headers=json_headers).raise_for_status()

        for start in range(0, points, 1000):
            upsert(client, range(start, min(points, start + 1000)), data, "d")
        path = retriever(client, "bench-swap", False)
        done = threading.Event()
        queries: list[tuple[float, float]] = []
        writes: list[tuple[float, float]] = []
        written: list[int] = []
        failed: list[str] = []

        def query() -> None:
            with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=120) as http:
                index = 0
                while not done.is_set():
                    clock, wall = time.perf_counter(), time.time()
                    http.post(path, content=bodies[index % len(bodies)],
                              headers={**json_headers, "X-Namespace": "bench-index"}).raise_for_status()
                    queries.append((wall, time.perf_counter() - clock))
                    index += 1
                    time.sleep(QUERY_EVERY_S)

        def write(http: httpx.Client, start: int, count: int) -> None:
            clock, wall = time.perf_counter(), time.time()
            try:
                upsert(http, range(start, start + count), written_vectors, "w")
            except httpx.HTTPStatusError as error:  # reported, and not counted as written
                failed.append(f"{error.response.status_code} at {wall:.3f}: {error.response.text[:300]}")
                return
            writes.append((wall, time.perf_counter() - clock))
            written.extend(range(start, start + count))

        def writer() -> None:
            with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=120) as http:
                while not done.is_set():  # the build has copied the shard once the status is yellow
                    if http.get("/v1/namespaces/bench-index").json()["qdrant_status"]["status"] == "yellow":
                        break
                    time.sleep(0.05)
                for start in range(0, journal, batch):
                    if done.is_set():
                        return
                    write(http, start, min(batch, journal - start))
                start = journal
                while not done.is_set() and start + LATE_BATCH <= len(written_vectors):
                    write(http, start, LATE_BATCH)
                    start += LATE_BATCH
                    time.sleep(LATE_EVERY_S)

        threads = [threading.Thread(target=query), threading.Thread(target=writer)]
        for thread in threads:
            thread.start()
        clock = time.perf_counter()
        try:
            optimize = subprocess.run([sys.executable, "-m", "openpeek.cli", "optimize", "--data-dir", str(data_dir)],
                                      capture_output=True, text=True, check=False,
                                      env={**os.environ, "PYTHONPATH": str(functions)})
        finally:
            done.set()
            for thread in threads:
                thread.join()
        build_s = time.perf_counter() - clock
        stats = client.get("/v1/namespaces/bench-index").json()["qdrant_status"]
    statuses = [json.loads(f.read_text()) for f in (data_dir / "index-builds").glob("*.status.json")]
    finished = max(status["finished_at"] for status in statuses)
    index = stats["index"]
    window = (finished - index["last_swap_s"], finished)
    return {
        "optimize_exit": optimize.returncode, "build_s": round(build_s, 1),
        "last_swap_s": index["last_swap_s"],
        "last_swap_blocked_s": index.get("last_swap_blocked_s", index["last_swap_s"]),
        "reads_held_off_by_the_swap": "last_swap_blocked_s" not in index,
        "queries_during_swap": summary(in_window(queries, *window)),
        "writes_during_swap": summary(in_window(writes, *window)),
        "queries_during_build": summary([d for s, d in queries if s < window[0]]),
        "points_written": len(written), "failed_writes": failed, "swap_window": window,
        "indexed_vectors_count": stats["indexed_vectors_count"],
        "every_write_present": stats["points_count"] == points + len(written),
    }


def baseline_tree(reference: str, into: Path) -> Path:
    """The `functions/` tree of `reference` (a git revision of this repository), unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", reference, "functions"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "functions"


def run_variant(functions: Path, root: Path, points: int, journal: int, batch: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(functions)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(root), "--points",
                           str(points), "--journal", str(journal), "--batch", str(batch)],
                          capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"variant at {functions} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(after: float | None, before: float | None) -> float | None:
    return None if after is None or not before else round(after / before, 4)


def compare(points: int, dimension: int, journal: int, batch: int, rounds: int, reference: str,
            over_http: bool = False) -> dict:
    result: dict = {"over_http": over_http, "points": points, "dimension": dimension, "journal_points": journal, "batch": batch,
                    "baseline": reference, "runs": {"baseline": [], "this": []}}
    with tempfile.TemporaryDirectory(prefix="openpeek-bench-swap-") as scratch_name:
        scratch = Path(scratch_name)
        loaded = scratch / "loaded"
        if not over_http:  # over HTTP each variant's server loads the documents itself
            clock = time.perf_counter()
            load(loaded, points, dimension)
            result["load_s"] = round(time.perf_counter() - clock, 1)
        (scratch / "baseline").mkdir()
        variants = {"baseline": baseline_tree(reference, scratch / "baseline"), "this": REPOSITORY / "functions"}
        for round_index in range(rounds):
            for name, functions in variants.items():
                root = scratch / f"{name}-{round_index}"
                if over_http:
                    result["runs"][name].append(measure_over_http(functions, root, points, dimension, journal, batch))
                else:
                    shutil.copytree(loaded, root)
                    result["runs"][name].append(run_variant(functions, root, points, journal, batch))
                shutil.rmtree(root, ignore_errors=True)

    def median(name: str, *keys: str) -> float | None:
        values = []
        for run in result["runs"][name]:
            value = run
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                values.append(value)
        return float(np.median(values)) if values else None

    result["this_against_baseline_medians"] = {
        label: ratio(median("this", *keys), median("baseline", *keys)) for label, keys in {
            "swap_blocked_s": ("last_swap_blocked_s",),
            "swap_s": ("last_swap_s",),
            "query_p99_during_swap": ("queries_during_swap", "p99_ms"),
            "query_max_during_swap": ("queries_during_swap", "max_ms"),
            "write_max_during_swap": ("writes_during_swap", "max_ms"),
        }.items()}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--journal", type=int, default=None, help="points written during the build (default N/5)")
    parser.add_argument("--batch", type=int, default=1000, help="points per journaled write")
    parser.add_argument("--rounds", type=int, default=1, help="builds per variant, alternating")
    parser.add_argument("--baseline", default="main", help="git revision whose functions/ is the baseline")
    parser.add_argument("--http", action="store_true", help="against `openpeek serve`, the build asked by the CLI")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a variant's child
    arguments = parser.parse_args()
    journal_points = arguments.points // 5 if arguments.journal is None else arguments.journal
    if arguments.measure:
        print(json.dumps(measure(arguments.measure, arguments.points, journal_points, arguments.batch)))
    else:
        print(json.dumps(compare(arguments.points, arguments.dimension, journal_points, arguments.batch,
                                 arguments.rounds, arguments.baseline, arguments.http), indent=2))
