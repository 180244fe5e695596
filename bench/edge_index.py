"""Embedded approximate search: Qdrant Edge exhaustive (the baseline) against the HNSW index built off the request
path (adapters/qdrant/edge_index.py), with and without scalar int8 quantization, in one run, on the same data. A
mixture of clusters, N × D (`--data isotropic` for the worst case, see mixture()).

In process (the default, `--points 50000`): the data is loaded once into a store; exact search is measured on it;
then each build plan (`unquantized`: Qdrant's defaults, the build before quantization; `int8`: BuildPlan's quantized
build) indexes its own copy of the shard while a thread keeps querying. For each: build time and the build child's
CPU time, top-10 p50/p99 unfiltered and keyword-filtered (10% of the points), recall@10 against the exact answers, p99
during the build, and the resident memory (VmRSS, anonymous and file-backed) of a fresh process that opens the
indexed shard and answers the same queries.

    PYTHONPATH=functions .venv/bin/python bench/edge_index.py --points 50000

Over HTTP (`--http`): the issue's measurement, as a user runs it. `openpeek serve` (builds only on request; quantizing
from `--quantize-from` points), a standalone namespace with a keyword payload index, N documents upserted in batches
of 1,000; retriever execute top-10 p50/p99 unfiltered and filtered, exhaustive first (on `--exact-queries` queries,
it is slow at size), then `openpeek optimize` run beside the server (it asks the server to build) while a thread
keeps querying (p99 during the build), then indexed; recall@10 against numpy brute force on the same queries; the
server's resident memory before the build, after it, and its peak. One command for the million:

    PYTHONPATH=functions .venv/bin/python bench/edge_index.py --http --points 1000000 --queries 200

(needs about 1.6 GB for the data in the bench process, the server's own share, and roughly an hour on 4 cores.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402
from support import percentiles  # noqa: E402

from openpeek.adapters.qdrant.edge import QdrantEdgeStore  # noqa: E402
from openpeek.adapters.qdrant.edge_index import BuildPlan  # noqa: E402
from openpeek.domain.conditions import Filter, MatchValue  # noqa: E402
from openpeek.domain.vectors import PayloadIndexSpec, SearchRequest, VectorIndexSpec, VectorPoint  # noqa: E402

TAGS = 10  # the keyword filter selects one of them: 10% of the points
FILTER_TAG = "t3"
BATCH = 1000
STATE_FILE = "bench-state.json"  # --keep: the key and retrievers of a kept build


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


def tag_of(i: int) -> str:
    return f"t{i % TAGS}"


def recall(exact: list[list[str]], found: list[list[str]]) -> float:
    return round(float(np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(exact, found)])), 4)


def memory_of(pid: int | str = "self") -> dict:
    """Resident memory in MiB: total (VmRSS), anonymous (the heap: what the process owns) and file-backed (mapped
    files the page cache keeps: memory-mapped vectors read so far), and the peak (VmHWM)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = round(int(value.split()[0]) / 1024, 1)
    return fields


# -- in process -------------------------------------------------------------------------------------------------------

def search_in(store: QdrantEdgeStore, vector: np.ndarray, filtered: bool) -> list[str]:
    request = SearchRequest("emb", vector.tolist(), limit=10, with_payload=False,
                            filter=Filter(must=(MatchValue("tag", FILTER_TAG),)) if filtered else None)
    return [hit.id for hit in store.query("bench", [request])[0]]


def measure_in(store: QdrantEdgeStore, probes: np.ndarray, filtered: bool) -> tuple[dict, list[list[str]]]:
    samples, answers = [], []
    for vector in probes:
        clock = time.perf_counter()
        answers.append(search_in(store, vector, filtered))
        samples.append(time.perf_counter() - clock)
    return percentiles(samples), answers


def answer_in_fresh_process(root: Path, probes_file: Path) -> dict:
    """A fresh process opens the indexed shard and answers every probe, both ways: its resident memory is what a
    server holding this collection pays for it."""
    code = (
        "import json, sys, numpy as np\n"
        "sys.path.insert(0, %r)\n"
        "from edge_index import search_in, memory_of\n"
        "from openpeek.adapters.qdrant.edge import QdrantEdgeStore\n"
        "store = QdrantEdgeStore(%r, durable_writes=False, index_threshold=None)\n"
        "before = memory_of()\n"
        "for vector in np.load(%r):\n"
        "    search_in(store, vector, False); search_in(store, vector, True)\n"
        "print(json.dumps({'opened': before, 'after_queries': memory_of()}))\n"
    ) % (str(Path(__file__).resolve().parent), str(root), str(probes_file))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_in_process(points: int, dimension: int, queries: int, kind: str) -> dict:
    data = mixture(points, dimension, kind=kind)
    probes = mixture(queries, dimension, seed=1, kind=kind)
    plans = {"unquantized": BuildPlan(quantize_from_points=0), "int8": BuildPlan(quantize_from_points=1)}
    result: dict = {"data": kind, "points": points, "dimension": dimension, "queries": queries, "plans": {}}
    with tempfile.TemporaryDirectory(prefix="openpeek-bench-index-") as scratch:
        loaded = Path(scratch) / "loaded"
        probes_file = Path(scratch) / "probes.npy"
        np.save(probes_file, probes)
        store = QdrantEdgeStore(loaded, durable_writes=False, index_threshold=None)
        store.create_collection("bench", [VectorIndexSpec("emb", dimension)])
        started = time.perf_counter()
        for start in range(0, points, BATCH):
            store.upsert("bench", [VectorPoint(f"d{i}", {"emb": data[i].tolist()}, {"tag": tag_of(i)})
                                   for i in range(start, min(points, start + BATCH))])
        store.create_payload_index("bench", PayloadIndexSpec("tag", "keyword"))
        result["load_s"] = round(time.perf_counter() - started, 2)
        result["exact_unfiltered"], exact_answers = measure_in(store, probes, False)
        result["exact_keyword_filtered"], exact_filtered_answers = measure_in(store, probes, True)
        store.close()
        result["exact_process_memory_mib"] = answer_in_fresh_process(loaded, probes_file)

        for label, plan in plans.items():
            root = Path(scratch) / label
            shutil.copytree(loaded, root)
            store = QdrantEdgeStore(root, durable_writes=False, index_threshold=None, build_plan=plan)
            during: list[float] = []
            done = threading.Event()

            def query_during_build() -> None:
                index = 0
                while not done.is_set():
                    clock = time.perf_counter()
                    search_in(store, probes[index % len(probes)], False)
                    during.append(time.perf_counter() - clock)
                    index += 1
                    time.sleep(0.01)

            watcher = threading.Thread(target=query_during_build)
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            watcher.start()
            clock = time.perf_counter()
            try:
                built = store.optimize("bench")
            finally:
                done.set()
                watcher.join()
            build_s = time.perf_counter() - clock
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            plain, plain_answers = measure_in(store, probes, False)
            filtered, filtered_answers = measure_in(store, probes, True)
            state = store.index_state("bench")
            store.close()
            result["plans"][label] = {
                "index_build_s": round(build_s, 2),
                "build_child_cpu_s": round(children_after.ru_utime - children_before.ru_utime
                                           + children_after.ru_stime - children_before.ru_stime, 2),
                "built": built, "quantization": state["quantization"], "swap_s": state["last_swap_s"],
                "during_build": percentiles(during) if during else None,
                "indexed_unfiltered": plain, "indexed_keyword_filtered": filtered,
                "recall_at_10_unfiltered": recall(exact_answers, plain_answers),
                "recall_at_10_filtered": recall(exact_filtered_answers, filtered_answers),
                "speedup_p50_unfiltered": round(result["exact_unfiltered"]["p50_ms"] / max(plain["p50_ms"], 1e-6), 2),
                "speedup_p50_filtered": round(result["exact_keyword_filtered"]["p50_ms"]
                                              / max(filtered["p50_ms"], 1e-6), 2),
                "process_memory_mib": answer_in_fresh_process(root, probes_file),
            }
            shutil.rmtree(root, ignore_errors=True)
    unquantized, int8 = result["plans"]["unquantized"], result["plans"]["int8"]
    result["int8_against_unquantized"] = {
        "build_s_ratio": round(int8["index_build_s"] / max(unquantized["index_build_s"], 1e-6), 3),
        "build_cpu_ratio": round(int8["build_child_cpu_s"] / max(unquantized["build_child_cpu_s"], 1e-6), 3),
        "p50_unfiltered_ratio": round(int8["indexed_unfiltered"]["p50_ms"]
                                      / max(unquantized["indexed_unfiltered"]["p50_ms"], 1e-6), 3),
        "rss_ratio": round(int8["process_memory_mib"]["after_queries"]["VmRSS"]
                                / max(unquantized["process_memory_mib"]["after_queries"]["VmRSS"], 1e-6), 3),
    }
    return result


# -- over HTTP --------------------------------------------------------------------------------------------------------

def exact_top10(data: np.ndarray, probes: np.ndarray, mask: np.ndarray | None) -> list[list[str]]:
    """numpy brute force (cosine on unit vectors): the ground truth, in blocks (bounded memory at a million)."""
    best_scores = np.full((len(probes), 10), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(probes), 10), dtype=np.int64)
    for start in range(0, len(data), 100_000):
        block = data[start:start + 100_000]
        scores = probes @ block.T
        if mask is not None:
            scores[:, ~mask[start:start + 100_000]] = -np.inf
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + len(block)),
                                                        (len(probes), len(block)))], axis=1)
        top = np.argsort(-scores, axis=1)[:, :10]
        best_scores, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return [[f"d{i}" for i in row] for row in best_ids]


def retriever(client, name: str, filtered: bool) -> str:
    search = {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
              "top_k": 10}
    if filtered:
        search["filters"] = {"must": [{"key": "tag", "match": {"value": FILTER_TAG}}]}
    created = client.post("/v1/retrievers", headers={"X-Namespace": "bench-index"}, json={
        "retriever_name": name, "input_schema": {"query_vector": {"type": "array"}},
        "stages": [{"stage_name": "search", "stage_type": "filter",
                    "config": {"stage_id": "feature_search",
                               "parameters": {"searches": [search], "final_top_k": 10}}}]})
    created.raise_for_status()
    return f"/v1/retrievers/{created.json()['retriever_id']}/execute"


def measure_over_http(client, path: str, bodies: list[bytes]) -> tuple[dict, list[list[str]]]:
    headers = {"Content-Type": "application/json", "X-Namespace": "bench-index"}
    samples, answers = [], []
    for body in bodies:
        clock = time.perf_counter()
        response = client.post(path, content=body, headers=headers)
        samples.append(time.perf_counter() - clock)
        response.raise_for_status()
        answers.append([document["document_id"] for document in response.json()["documents"]])
    return percentiles(samples), answers


@contextlib.contextmanager
def scratch_dir(keep: Path | None) -> Iterator[str]:
    """A temporary folder, or `keep` (created if needed, never removed) so a later run can reuse what was built."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="openpeek-bench-index-http-") as scratch:
            yield scratch
    else:
        keep.mkdir(parents=True, exist_ok=True)
        yield str(keep)


def rerun_indexed_over_http(keep: Path, result: dict, bodies: list[bytes], data: np.ndarray,
                            probes: np.ndarray) -> dict:
    """Only the indexed measurements, against a data dir a `--keep` run built (its state file names the key and the
    retrievers): the build takes most of an hour at a million, the query phase a few minutes, so the latency can be
    measured again on a quiet machine without rebuilding."""
    state = json.loads((keep / STATE_FILE).read_text())
    server: dict = {}
    env = {"OPENPEEK_EDGE_INDEX_THRESHOLD": "0", "OPENPEEK_EDGE_QUANTIZATION_THRESHOLD": str(state["quantize_from"])}
    with support.live_server(keep / "data", extra_env=env, api_key=state["api_key"],
                             started=lambda process: server.update(pid=process.pid)) as client:
        result["reused_data_dir"] = str(keep)
        result["qdrant_status"] = client.get("/v1/namespaces/bench-index").json().get("qdrant_status")
        for body in bodies[:10]:  # warm-up
            client.post(state["plain_path"], content=body, headers={"Content-Type": "application/json",
                                                                    "X-Namespace": "bench-index"}).raise_for_status()
        result["indexed_unfiltered"], plain_answers = measure_over_http(client, state["plain_path"], bodies)
        result["indexed_keyword_filtered"], filtered_answers = measure_over_http(client, state["filtered_path"], bodies)
        result["server_memory_mib_after_build"] = memory_of(server["pid"])
    mask = np.array([i % TAGS == int(FILTER_TAG[1:]) for i in range(len(data))])
    result["recall_at_10_unfiltered"] = recall(exact_top10(data, probes, None), plain_answers)
    result["recall_at_10_filtered"] = recall(exact_top10(data, probes, mask), filtered_answers)
    return result


def run_over_http(points: int, dimension: int, queries: int, exact_queries: int, kind: str,
                  quantize_from: int, keep: Path | None = None) -> dict:
    data = mixture(points, dimension, kind=kind)
    probes = mixture(queries, dimension, seed=1, kind=kind)
    bodies = [json.dumps({"inputs": {"query_vector": probe.tolist()}}).encode() for probe in probes]
    result: dict = {"data": kind, "points": points, "dimension": dimension, "queries": queries,
                    "exact_queries": exact_queries, "quantize_from_points": quantize_from}
    if keep is not None and (keep / STATE_FILE).exists():
        return rerun_indexed_over_http(keep, result, bodies, data, probes)
    server: dict = {}
    with scratch_dir(keep) as scratch:
        data_dir = Path(scratch) / "data"
        env = {"OPENPEEK_EDGE_INDEX_THRESHOLD": "0", "OPENPEEK_EDGE_QUANTIZATION_THRESHOLD": str(quantize_from)}
        with support.live_server(data_dir, extra_env=env, started=lambda process: server.update(pid=process.pid)) \
                as client:
            client.post("/v1/namespaces", json={
                "namespace_name": "bench-index", "mode": "standalone",
                "vector_configs": [{"name": "emb", "dimension": dimension, "metric": "cosine"}],
                "payload_indexes": [{"field_name": "tag", "type": "keyword"}],
            }).raise_for_status()
            started = time.perf_counter()
            for start in range(0, points, BATCH):
                documents = [{"document_id": f"d{i}", "vectors": {"emb": data[i].tolist()}, "payload": {"tag": tag_of(i)}}
                             for i in range(start, min(points, start + BATCH))]
                client.post("/v1/namespaces/bench-index/documents/upsert", content=json.dumps({"documents": documents}),
                            headers={"Content-Type": "application/json"}).raise_for_status()
            load_s = time.perf_counter() - started
            result["upsert"] = {"seconds": round(load_s, 1), "documents_per_s": round(points / load_s)}
            plain_path, filtered_path = retriever(client, "bench-plain", False), retriever(client, "bench-tag", True)
            for body in bodies[:10]:  # warm-up
                client.post(plain_path, content=body, headers={"Content-Type": "application/json",
                                                               "X-Namespace": "bench-index"}).raise_for_status()
            result["server_memory_mib_before_build"] = memory_of(server["pid"])
            result["exhaustive_unfiltered"], _ = measure_over_http(client, plain_path, bodies[:exact_queries])
            result["exhaustive_keyword_filtered"], _ = measure_over_http(client, filtered_path, bodies[:exact_queries])

            during: list[float] = []
            done = threading.Event()

            def query_during_build() -> None:
                index = 0
                while not done.is_set():
                    clock = time.perf_counter()
                    client.post(plain_path, content=bodies[index % len(bodies)],
                                headers={"Content-Type": "application/json", "X-Namespace": "bench-index"})
                    during.append(time.perf_counter() - clock)
                    index += 1
                    time.sleep(0.05)

            watcher = threading.Thread(target=query_during_build)
            watcher.start()
            clock = time.perf_counter()
            try:
                optimize = subprocess.run([sys.executable, "-m", "openpeek.cli", "optimize", "--data-dir",
                                           str(data_dir)], capture_output=True, text=True, check=False)
            finally:
                done.set()
                watcher.join()
            result["index_build_s"] = round(time.perf_counter() - clock, 1)
            result["optimize_output"] = optimize.stdout.strip().splitlines()[-3:] + optimize.stderr.strip().splitlines()[-3:]
            result["during_build"] = percentiles(during) if during else None
            result["qdrant_status"] = client.get("/v1/namespaces/bench-index").json().get("qdrant_status")

            result["indexed_unfiltered"], plain_answers = measure_over_http(client, plain_path, bodies)
            result["indexed_keyword_filtered"], filtered_answers = measure_over_http(client, filtered_path, bodies)
            result["server_memory_mib_after_build"] = memory_of(server["pid"])
            if keep is not None:
                (keep / STATE_FILE).write_text(json.dumps({
                    "api_key": client.headers["Authorization"].removeprefix("Bearer "), "plain_path": plain_path,
                    "filtered_path": filtered_path, "quantize_from": quantize_from}))
    mask = np.array([i % TAGS == int(FILTER_TAG[1:]) for i in range(points)])
    result["recall_at_10_unfiltered"] = recall(exact_top10(data, probes, None), plain_answers)
    result["recall_at_10_filtered"] = recall(exact_top10(data, probes, mask), filtered_answers)
    result["speedup_p50_unfiltered"] = round(result["exhaustive_unfiltered"]["p50_ms"]
                                             / max(result["indexed_unfiltered"]["p50_ms"], 1e-6), 2)
    result["speedup_p50_filtered"] = round(result["exhaustive_keyword_filtered"]["p50_ms"]
                                           / max(result["indexed_keyword_filtered"]["p50_ms"], 1e-6), 2)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["subspace", "isotropic"], default="subspace")
    parser.add_argument("--http", action="store_true", help="over HTTP against `openpeek serve` (the issue's run)")
    parser.add_argument("--exact-queries", type=int, default=50, help="--http: exhaustive queries before the build")
    parser.add_argument("--quantize-from", type=int, default=50_000,
                        help="--http: OPENPEEK_EDGE_QUANTIZATION_THRESHOLD for the server (0: never)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="--http: build in this folder and keep it; when it already holds a kept build, only "
                             "measure the indexed queries again (same --points/--data/--queries)")
    arguments = parser.parse_args()
    if arguments.http:
        measured = run_over_http(arguments.points, arguments.dimension, arguments.queries, arguments.exact_queries,
                                 arguments.data, arguments.quantize_from, arguments.keep)
    else:
        measured = run_in_process(arguments.points, arguments.dimension, arguments.queries, arguments.data)
    print(json.dumps(measured, indent=2))
