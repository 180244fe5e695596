"""Retrieval on the embedded runtime, over HTTP, as a user runs it (`openpeek serve`).

Data: BENCH_DOCS (default 100,000) documents × 384-d, drawn from a mixture of 64 Gaussian clusters on the unit sphere
(not uniform noise: neighbours are meaningful and the index has structure to exploit), with a keyword field
`category` (20 values, so one value selects ~5%) and an integer field `price`, both with payload indexes.

Measured:
- upsert throughput, documents/s, in batches of 1,000 (request bodies encoded before the clock starts);
- retriever execute, one feature_search, top 10: p50/p99 without and with a keyword filter;
- recall@10 against exact brute force (with and without the filter).
Baselines in the same run, on the same data: numpy brute force (exact), and qdrant-client's own local mode.

Targets (issue 3): filtered p50 ≤ 15 ms, recall@10 ≥ 0.95, upsert ≥ 5,000 documents/s.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import support

DOCS = int(os.environ.get("BENCH_DOCS", "100000"))
DIM = 384
CLUSTERS = 64
CATEGORIES = 20
QUERIES = int(os.environ.get("BENCH_QUERIES", "300"))
BATCH = 1000
TOP_K = 10
FILTER_CATEGORY = "cat-7"


def make_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(count: int) -> np.ndarray:
        members = rng.integers(0, CLUSTERS, count)
        spread = rng.uniform(0.5, 1.0, (count, 1)).astype(np.float32)  # clusters of varying tightness
        points = centres[members] + spread * rng.standard_normal((count, DIM)).astype(np.float32) / np.sqrt(DIM)
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    vectors = draw(DOCS)
    queries = draw(QUERIES)
    categories = rng.integers(0, CATEGORIES, DOCS)
    prices = rng.integers(0, 1000, DOCS)
    return vectors, queries, categories, prices


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, mask: np.ndarray | None) -> tuple[list[list[int]], dict]:
    """Brute force cosine (the vectors are unit length, so a dot product), timed per query: the exact baseline."""
    candidates = np.arange(len(vectors)) if mask is None else np.flatnonzero(mask)
    subset = vectors[candidates]
    answers, samples = [], []
    for query in queries:
        start = time.perf_counter()
        scores = subset @ query
        best = np.argpartition(-scores, TOP_K)[:TOP_K]
        best = best[np.argsort(-scores[best])]
        samples.append(time.perf_counter() - start)
        answers.append(candidates[best].tolist())
    return answers, support.percentiles(samples)


def recall(found: list[list[str]], exact: list[list[int]]) -> float:
    hits = sum(len({f"doc-{i}" for i in truth} & set(got)) for got, truth in zip(found, exact))
    return round(hits / (len(exact) * TOP_K), 4)


def upsert_bodies(vectors: np.ndarray, categories: np.ndarray, prices: np.ndarray) -> list[bytes]:
    bodies = []
    for start in range(0, len(vectors), BATCH):
        documents = [
            {
                "document_id": f"doc-{i}",
                "vectors": {"emb": vectors[i].tolist()},
                "payload": {"category": f"cat-{categories[i]}", "price": int(prices[i])},
            }
            for i in range(start, min(start + BATCH, len(vectors)))
        ]
        bodies.append(json.dumps({"documents": documents}).encode())
    return bodies


def retriever_body(name: str, filters: dict | None) -> dict:
    search = {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
              "top_k": TOP_K}
    if filters:
        search["filters"] = filters
    return {
        "retriever_name": name,
        "input_schema": {"query_vector": {"type": "array", "required": True}},
        "stages": [{
            "stage_name": "search",
            "stage_type": "filter",
            "config": {"stage_id": "feature_search", "parameters": {"searches": [search], "final_top_k": TOP_K}},
        }],
    }


def openpeek_over_http(data_dir: Path, vectors, queries, categories, prices) -> dict:
    results: dict = {}
    bodies = upsert_bodies(vectors, categories, prices)
    query_bodies = [json.dumps({"inputs": {"query_vector": query.tolist()}}).encode() for query in queries]
    json_headers = {"Content-Type": "application/json"}
    with support.live_server(data_dir) as client:
        client.post("/v1/namespaces", json={
            "namespace_name": "bench-retrieval",
            "mode": "standalone",
            "vector_configs": [{"name": "emb", "dimension": DIM, "metric": "cosine"}],
            "payload_indexes": [{"field_name": "category", "type": "keyword"},
                                {"field_name": "price", "type": "integer"}],
        }).raise_for_status()

        start = time.perf_counter()
        for body in bodies:
            client.post("/v1/namespaces/bench-retrieval/documents/upsert", content=body,
                        headers=json_headers).raise_for_status()
        elapsed = time.perf_counter() - start
        results["upsert"] = {"documents": len(vectors), "seconds": round(elapsed, 2),
                             "documents_per_s": round(len(vectors) / elapsed)}

        ns_headers = {**json_headers, "X-Namespace": "bench-retrieval"}
        for label, filters in (("unfiltered", None),
                               ("filtered", {"must": [{"key": "category", "match": {"value": FILTER_CATEGORY}}]})):
            created = client.post("/v1/retrievers", json=retriever_body(f"bench-{label}", filters),
                                  headers={"X-Namespace": "bench-retrieval"})
            created.raise_for_status()
            retriever_id = created.json()["retriever_id"]
            path = f"/v1/retrievers/{retriever_id}/execute"
            for body in query_bodies[:20]:  # warm-up
                client.post(path, content=body, headers=ns_headers).raise_for_status()
            found, samples = [], []
            for body in query_bodies:
                start = time.perf_counter()
                response = client.post(path, content=body, headers=ns_headers)
                samples.append(time.perf_counter() - start)
                response.raise_for_status()
                found.append([doc["document_id"] for doc in response.json()["documents"]])
            results[f"execute {label}"] = {**support.percentiles(samples), "found": found}
    return results


def qdrant_local_mode(vectors, queries, categories, prices, unfiltered: int = 20, filtered: int = 5) -> dict:
    """qdrant-client's in-process local mode on the same data (a baseline: few queries, it is brute force in Python)."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(location=":memory:")
    client.create_collection("bench", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    start = time.perf_counter()
    for begin in range(0, len(vectors), BATCH):
        end = min(begin + BATCH, len(vectors))
        client.upsert("bench", points=models.Batch(
            ids=list(range(begin, end)), vectors=vectors[begin:end].tolist(),
            payloads=[{"category": f"cat-{categories[i]}", "price": int(prices[i])} for i in range(begin, end)],
        ))
    upsert_s = time.perf_counter() - start
    category = models.Filter(must=[models.FieldCondition(key="category",
                                                         match=models.MatchValue(value=FILTER_CATEGORY))])
    out = {"upsert_documents_per_s": round(len(vectors) / upsert_s)}
    for label, query_filter, count in (("unfiltered", None, unfiltered), ("filtered", category, filtered)):
        samples = []
        for query in queries[:count]:
            start = time.perf_counter()
            client.query_points("bench", query=query.tolist(), query_filter=query_filter, limit=TOP_K)
            samples.append(time.perf_counter() - start)
        out[label] = support.percentiles(samples)
    client.close()
    return out


def main() -> int:
    vectors, queries, categories, prices = make_data()
    mask = categories == int(FILTER_CATEGORY.split("-")[1])
    exact_all, numpy_all = exact_top_k(vectors, queries, None)
    exact_filtered, numpy_filtered = exact_top_k(vectors, queries, mask)

    with tempfile.TemporaryDirectory() as tmp:
        ours = openpeek_over_http(Path(tmp) / "data", vectors, queries, categories, prices)
    report = {
        "documents": DOCS, "dimension": DIM, "queries": QUERIES,
        "openpeek upsert (HTTP, batches of 1,000)": ours["upsert"],
        "openpeek execute unfiltered (HTTP)": {k: v for k, v in ours["execute unfiltered"].items() if k != "found"},
        "openpeek execute filtered (HTTP)": {k: v for k, v in ours["execute filtered"].items() if k != "found"},
        "openpeek recall@10 unfiltered": recall(ours["execute unfiltered"]["found"], exact_all),
        "openpeek recall@10 filtered": recall(ours["execute filtered"]["found"], exact_filtered),
        "baseline numpy brute force unfiltered (in process)": numpy_all,
        "baseline numpy brute force filtered (in process)": numpy_filtered,
    }
    if os.environ.get("BENCH_SKIP_QDRANT_LOCAL") != "1":
        report["baseline qdrant-client local mode"] = qdrant_local_mode(vectors, queries, categories, prices)

    filtered = report["openpeek execute filtered (HTTP)"]
    targets = {
        "filtered p50 <= 15 ms": filtered["p50_ms"] <= 15,
        "recall@10 >= 0.95": min(report["openpeek recall@10 unfiltered"], report["openpeek recall@10 filtered"]) >= 0.95,
        "upsert >= 5000 docs/s": report["openpeek upsert (HTTP, batches of 1,000)"]["documents_per_s"] >= 5000,
    }
    report["targets met"] = targets
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
