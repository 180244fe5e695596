"""Collection documents list over HTTP on the embedded runtime: p50/p99 of a filtered page of 100 at 100,000
documents (`POST /v1/collections/{c}/documents/list`, filter on an indexed passthrough field matching 10%).

Baselines in the same run and server: GET /v1/health (the HTTP stack alone), an unfiltered page of 100 (the same
route without the filter), and a filtered page of 1 (the indexed filter without the cost of a page). Also reported:
the same filtered page deep in the result (offset 5,000: the store steps over the skipped ids) and sorted by a payload
field (every match's sort field read and ordered in Python)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import support

DOCUMENTS = 100_000
BATCH = 1000
GENRES = 10
CALLS = 200


def load(client, collection_id: str) -> float:
    start = time.perf_counter()
    for first in range(0, DOCUMENTS, BATCH):
        documents = [{"document_id": f"d{n}", "payload": {"genre": f"g{n % GENRES}", "year": 1900 + n % 120}}
                     for n in range(first, first + BATCH)]
        client.post("/v1/namespaces/bench-docs/documents/upsert",
                    json={"collection_id": collection_id, "documents": documents}).raise_for_status()
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, support.live_server(Path(tmp)) as client:
        client.post("/v1/namespaces", json={"namespace_name": "bench-docs"}).raise_for_status()
        client.headers["X-Namespace"] = "bench-docs"
        client.post("/v1/buckets", json={"bucket_name": "books", "bucket_schema": {"properties": {
            "body": {"type": "text"}, "genre": {"type": "string"}, "year": {"type": "integer"}}}}).raise_for_status()
        created = client.post("/v1/collections", json={
            "collection_name": "chunks", "source": {"type": "bucket", "bucket_ids": ["books"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "field_passthrough": [{"source_path": "genre"}, {"source_path": "year"}]}})
        created.raise_for_status()
        collection_id = created.json()["collection_id"]
        load_s = load(client, collection_id)
        route = f"/v1/collections/{collection_id}/documents"
        genre = {"AND": [{"field": "genre", "operator": "eq", "value": "g3"}]}
        first = client.post(route + "/list", json={"filters": genre, "limit": 100}).json()
        assert len(first["results"]) == 100 and all(d["genre"] == "g3" for d in first["results"])
        count = client.get(route + "/count").json()["count"]
        assert count == DOCUMENTS, count

        def page(body):
            return lambda: client.post(route + "/list", json=body).raise_for_status()

        results = {
            "HTTP GET /v1/health (baseline)": support.timed(lambda: client.get("/v1/health"), CALLS),
            "unfiltered page of 100 (baseline)": support.timed(page({"limit": 100}), CALLS),
            "filtered page of 1 (baseline: the filter, not the page)": support.timed(
                page({"filters": genre, "limit": 1}), CALLS),
            "filtered page of 100 (genre = g3, 10%)": support.timed(page({"filters": genre, "limit": 100}), CALLS),
            "filtered page of 100 at offset 5,000": support.timed(
                page({"filters": genre, "limit": 100, "offset": 5000}), CALLS // 4, warmup=5),
            "filtered page of 100 sorted by year (reads 10,000)": support.timed(
                page({"filters": genre, "limit": 100, "sort": {"field": "year", "direction": "desc"}}), CALLS // 10,
                warmup=2),
        }
    print(f"loaded {DOCUMENTS:,} documents through the upsert route in {load_s:.1f} s")
    for name, numbers in results.items():
        print(f"{name:52s} p50 {numbers['p50_ms']:9.3f} ms   p99 {numbers['p99_ms']:9.3f} ms   "
              f"({numbers['calls']} calls)")
    print(json.dumps({"documents": DOCUMENTS, "load_s": round(load_s, 1), **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
