"""Storage tiers on the embedded runtime, queried over HTTP against a live `openpeek serve`: N documents × 384-d in
one collection. `python bench/tiering.py [--docs N] [--functions PATH] [--load in-process|http] [--index
build|exhaustive]` (N defaults to BENCH_TIER_DOCS, else 100,000; --functions runs the server from another source tree,
e.g. an older checkout's functions/, to compare versions).

Loading: `in-process` (the default) upserts through the embedded runtime's document service in this process while
the server is stopped (it holds the data dir), which spares serialising N × 384 floats as JSON; `http` posts them to
the server. Index: `exhaustive` (the default) leaves Qdrant Edge searching exhaustively (exact, like the cold scan)
and turns the server's background index builds off; `build` builds the active collection's HNSW index (int8
quantized from 50,000 points) before it is measured, which on these isotropic random vectors, the worst case for a
graph index, answers fast but with a low recall@10 (0.14 at 100,000), and at a million takes most of an hour here
(bench/edge_index.py measures indexed search at a million on clustered data). At 1,000,000 the whole run takes about
half an hour.

Reported, each against a baseline measured in the same run:
- query p50/p99 of one retriever (feature search, top 10) with the collection active (the baseline), cold (exact
  numpy scan of parquet parts in the blob store) and mixed (the cold collection plus an active one of a tenth the
  size, merged by score);
- recall@10 of the cold query against brute force (the scan is exact, so 1.0 is expected);
- demote and rehydrate throughput, vectors/s (PATCH …/lifecycle with async_transition false);
- the server's resident memory (VmRSS) after a restart and 50 queries, with only this collection in the namespace,
  active and then cold, each above an empty server's: cold's share = (cold − empty) / (active − empty). The mixed
  collection is loaded only after both were measured, so it is in neither;
- reading one document by id (GET …/documents/{id}) active (the baseline) and cold: the cold store's id index opens
  only the part that holds it;
- a filtered query (rank = 7: 1 % of the documents) active and cold, against the unfiltered cold query of the same
  run: the filter is decided on the parts' terms column, decoding no payload;
- the namespace-wide listing (POST /v1/documents/list, 100 documents) with the collection cold: how many of its
  documents it returns (the listing covers cold collections) and its p50.

Goals (the tiering issue): cold resident memory ≤ 10 % of active (above the empty server); cold p50 ≤ 10× active
p50 at 100k; recall@10 of a cold query = exact.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

import support

DOCS = int(os.environ.get("BENCH_TIER_DOCS", "100000"))  # the default of --docs
FUNCTIONS: str | None = None  # --functions
LOAD = "in-process"  # --load
EXTRA_ENV: dict[str, str] = {}  # the server's environment (--index exhaustive: no background index builds)
NAMESPACE = "bench-tiers"
RARE_RANK = 7  # the filtered query's rank: 1 % of the documents
DIM = 384
BATCH = 1000
CALLS = 100
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
INDEX = "text_extractor_v1_embedding"


def rss_mb_of_server(data_dir: Path) -> float:
    """VmRSS of the `openpeek serve` process that serves data_dir."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"serve" in command and str(data_dir).encode() in command:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    raise RuntimeError("no server process found")


def vectors(count: int, seed: int) -> np.ndarray:
    drawn = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return drawn / np.linalg.norm(drawn, axis=1, keepdims=True)


def batches(collection_id: str, data: np.ndarray, prefix: str) -> Iterator[dict]:
    for start in range(0, len(data), BATCH):
        yield {"collection_id": collection_id, "documents": [
            {"document_id": f"{prefix}-{n}", "vectors": {INDEX: data[n].round(5).tolist()}, "payload": {"rank": n % 100}}
            for n in range(start, min(start + BATCH, len(data)))]}


def load(client, collection_id: str, data: np.ndarray, prefix: str) -> None:
    for body in batches(collection_id, data, prefix):
        client.post(f"/v1/namespaces/{NAMESPACE}/documents/upsert", json=body).raise_for_status()


def load_in_process(data_dir: Path, key: str, collection_id: str, data: np.ndarray, prefix: str, *,
                    build_index: bool) -> float:
    """Upsert through the embedded runtime's document service (the same call the upsert route makes), in this
    process, with the server stopped; then, with `build_index`, build the namespace's HNSW index as `openpeek
    optimize` does. Seconds taken by the upserts."""
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    services = build_services(Settings().model_copy(update={"data_dir": data_dir, "edge_index_threshold": 0}))
    try:
        caller = services.organizations.authenticate(f"Bearer {key}")
        start = time.perf_counter()
        for body in batches(collection_id, data, prefix):
            services.documents.upsert(caller, NAMESPACE, body)
        took = time.perf_counter() - start
        if build_index:
            services.vectors.optimize(services.namespaces.resolve(caller, NAMESPACE).collection)
        return took
    finally:
        services.close()


def retriever(client, name: str, collections: list[str], filters: dict | None = None) -> str:
    search = {"feature_uri": URI, "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 10}
    if filters is not None:
        search["filters"] = filters
    created = client.post("/v1/retrievers", json={
        "retriever_name": name, "collection_identifiers": collections,
        "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {"searches": [search]}}}]})
    created.raise_for_status()
    return created.json()["retriever_id"]


def queries_timed(client, retriever_id: str, queries: np.ndarray, calls: int) -> tuple[dict, list[list[str]]]:
    samples, found = [], []
    for n in range(-5, calls):  # five warm-up calls first
        body = {"inputs": {"v": queries[n % len(queries)].tolist()}}
        start = time.perf_counter()
        response = client.post(f"/v1/retrievers/{retriever_id}/execute", json=body)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        if n >= 0:
            samples.append(elapsed)
            found.append([d["document_id"] for d in response.json()["documents"]])
    return support.percentiles(samples), found


def gets_timed(client, document_ids: list[str], calls: int) -> dict:
    samples = []
    for n in range(-5, calls):
        start = time.perf_counter()
        response = client.get(f"/v1/collections/alpha/documents/{document_ids[n % len(document_ids)]}")
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        if n >= 0:
            samples.append(elapsed)
    return support.percentiles(samples)


def listing_timed(client, calls: int) -> tuple[dict, int]:
    samples, cold = [], 0
    for n in range(-2, calls):
        start = time.perf_counter()
        response = client.post("/v1/documents/list", json={"limit": 100})
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        if n >= 0:
            samples.append(elapsed)
            cold = sum(1 for d in response.json()["results"] if d.get("_source_tier") == "cold")
    return support.percentiles(samples), cold


def transition(client, state: str) -> float:
    start = time.perf_counter()
    # a synchronous move of a million vectors takes minutes: far past the client's default timeout
    response = client.patch("/v1/collections/alpha/lifecycle",
                            json={"lifecycle_state": state, "async_transition": False}, timeout=3600)
    response.raise_for_status()
    assert response.json()["lifecycle_state"] == state, response.text
    return time.perf_counter() - start


def resident_after_queries(data_dir: Path, key: str, queries: np.ndarray, *, open_store: bool = False) -> float:
    """`open_store`: also read one document through the namespace's vector store, which opens its shard (a
    retriever over cold collections only never does): what a cold collection costs in a namespace that also has
    active ones."""
    with support.live_server(data_dir, api_key=key, functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
        client.headers["X-Namespace"] = NAMESPACE
        queries_timed(client, "alpha-only", queries, 50)
        if open_store:
            client.post("/v1/documents/list", json={"limit": 1}).raise_for_status()
        return rss_mb_of_server(data_dir)


def progress(results: dict) -> None:
    """What is measured so far, as it comes (a million-document run takes half an hour)."""
    print(f"[{time.strftime('%H:%M:%S')}] so far: {json.dumps(results)}", flush=True)


def main() -> int:
    global DOCS, FUNCTIONS, LOAD
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=DOCS, help="documents in the measured collection")
    parser.add_argument("--functions", default=None, help="source tree (a functions/ folder) the server runs")
    parser.add_argument("--load", choices=("in-process", "http"), default=LOAD, help="how the documents are loaded")
    parser.add_argument("--index", choices=("build", "exhaustive"), default="exhaustive",
                        help="search the active collection exhaustively, or build its HNSW index before measuring it")
    arguments = parser.parse_args()
    DOCS, FUNCTIONS, LOAD = arguments.docs, arguments.functions, arguments.load
    index = arguments.index
    if index == "exhaustive":
        EXTRA_ENV["OPENPEEK_EDGE_INDEX_THRESHOLD"] = "0"
    began = time.perf_counter()
    alpha, beta = vectors(DOCS, 1), vectors(DOCS // 10, 2)
    queries = vectors(50, 3)
    exact = [[f"a-{i}" for i in np.argsort(-(alpha @ q), kind="stable")[:10]] for q in queries]
    rare = np.flatnonzero(np.arange(DOCS) % 100 == RARE_RANK)
    exact_rare = [[f"a-{rare[i]}" for i in np.argsort(-(alpha[rare] @ q), kind="stable")[:10]] for q in queries]
    probe_ids = [f"a-{n}" for n in np.random.default_rng(4).integers(0, DOCS, size=50)]
    rank_filter = {"AND": [{"field": "rank", "operator": "eq", "value": RARE_RANK}]}
    results: dict = {"documents": DOCS, "dimension": DIM, "functions": FUNCTIONS or "this checkout", "load": LOAD,
                     "index": index}

    def recall(found: list[list[str]], truth: list[list[str]]) -> float:
        return round(float(np.mean([len(set(f) & set(truth[n % 50])) / 10 for n, f in enumerate(found)])), 4)

    with tempfile.TemporaryDirectory() as empty_dir:
        with support.live_server(Path(empty_dir), functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
            results["rss_mb_empty_server"] = round(rss_mb_of_server(Path(empty_dir)), 1)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        with support.live_server(data_dir, functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
            key = support.ranked_books_namespace(client, NAMESPACE)
            alpha_id = support.ranked_books_collection(client, "alpha")
            beta_id = support.ranked_books_collection(client, "beta")
            only_alpha = retriever(client, "alpha-only", ["alpha"])
            rare_alpha = retriever(client, "alpha-rare", ["alpha"], rank_filter)
            if LOAD == "http":
                start = time.perf_counter()
                load(client, alpha_id, alpha, "a")
                results["load_vectors_per_s"] = round(DOCS / (time.perf_counter() - start))
        if LOAD == "in-process":
            results["load_vectors_per_s"] = round(DOCS / load_in_process(data_dir, key, alpha_id, alpha, "a",
                                                                         build_index=index == "build"))
        with support.live_server(data_dir, api_key=key, functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
            client.headers["X-Namespace"] = NAMESPACE
            results["active"], active_found = queries_timed(client, only_alpha, queries, CALLS)
            results["active_recall_at_10"] = recall(active_found, exact)
            results["active_filtered"], found = queries_timed(client, rare_alpha, queries, CALLS // 2)
            results["active_filtered_recall_at_10"] = recall(found, exact_rare)
            results["active_get"] = gets_timed(client, probe_ids, CALLS // 2)
        progress(results)
        results["rss_mb_active"] = round(resident_after_queries(data_dir, key, queries), 1)
        with support.live_server(data_dir, api_key=key, functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
            client.headers["X-Namespace"] = NAMESPACE
            demote_s = transition(client, "cold")
            results["demote_vectors_per_s"] = round(DOCS / demote_s)
            results["cold"], cold_found = queries_timed(client, only_alpha, queries, CALLS)
            results["cold_recall_at_10"] = recall(cold_found, exact)
            results["cold_filtered"], found = queries_timed(client, rare_alpha, queries, CALLS // 2)
            results["cold_filtered_recall_at_10"] = recall(found, exact_rare)
            results["cold_get"] = gets_timed(client, probe_ids, CALLS // 2)
            results["cold_listing"], results["cold_documents_listed"] = listing_timed(client, 10)
        progress(results)
        results["rss_mb_cold"] = round(resident_after_queries(data_dir, key, queries), 1)
        results["rss_mb_cold_store_open"] = round(resident_after_queries(data_dir, key, queries, open_store=True), 1)
        if LOAD == "in-process":
            load_in_process(data_dir, key, beta_id, beta, "b", build_index=False)
        with support.live_server(data_dir, api_key=key, functions=FUNCTIONS, extra_env=EXTRA_ENV) as client:
            client.headers["X-Namespace"] = NAMESPACE
            if LOAD == "http":
                load(client, beta_id, beta, "b")
            both = retriever(client, "both", ["alpha", "beta"])
            results["mixed"], _ = queries_timed(client, both, queries, CALLS)
            rehydrate_s = transition(client, "active")
            results["rehydrate_vectors_per_s"] = round(DOCS / rehydrate_s)
    results["wall_s"] = round(time.perf_counter() - began)
    empty = results["rss_mb_empty_server"]
    results["cold_over_active_p50"] = round(results["cold"]["p50_ms"] / results["active"]["p50_ms"], 2)
    results["mixed_over_active_p50"] = round(results["mixed"]["p50_ms"] / results["active"]["p50_ms"], 2)
    results["cold_resident_share_of_active"] = round(
        max(0.0, results["rss_mb_cold"] - empty) / max(1e-9, results["rss_mb_active"] - empty), 3)
    results["cold_get_over_active_get_p50"] = round(results["cold_get"]["p50_ms"] / results["active_get"]["p50_ms"],
                                                    2)
    results["cold_filtered_over_cold_p50"] = round(results["cold_filtered"]["p50_ms"] / results["cold"]["p50_ms"], 2)
    results["cold_store_open_resident_share_of_active"] = round(
        max(0.0, results["rss_mb_cold_store_open"] - empty) / max(1e-9, results["rss_mb_active"] - empty), 3)
    print(f"{DOCS:,} × {DIM} ({index} active search, loaded {LOAD}, {results['load_vectors_per_s']:,} vectors/s), "
          f"{results['wall_s']} s in all")
    for name in ("active", "cold", "mixed", "active_filtered", "cold_filtered", "active_get", "cold_get",
                 "cold_listing"):
        print(f"{name:15s} p50 {results[name]['p50_ms']:9.2f} ms   p99 {results[name]['p99_ms']:9.2f} ms")
    print(f"cold p50 / active p50 = {results['cold_over_active_p50']}×; mixed {results['mixed_over_active_p50']}×; "
          f"recall@10 active {results['active_recall_at_10']}, cold {results['cold_recall_at_10']}")
    print(f"filtered (rank = {RARE_RANK}, 1 %): cold {results['cold_filtered_over_cold_p50']}× the unfiltered cold "
          f"p50; recall@10 active {results['active_filtered_recall_at_10']}, cold "
          f"{results['cold_filtered_recall_at_10']}. Get by id: cold {results['cold_get_over_active_get_p50']}× "
          f"active. The namespace listing returned {results['cold_documents_listed']} cold documents of 100")
    print(f"demote {results['demote_vectors_per_s']:,} vectors/s; rehydrate {results['rehydrate_vectors_per_s']:,} "
          "vectors/s")
    print(f"resident memory: empty {empty} MB, active {results['rss_mb_active']} MB, cold {results['rss_mb_cold']} MB "
          f"(cold's share of active above empty: {results['cold_resident_share_of_active']}); cold with the vector "
          f"store's shard opened {results['rss_mb_cold_store_open']} MB "
          f"(share {results['cold_store_open_resident_share_of_active']})")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
