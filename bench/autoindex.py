"""Automatic payload indexes on the embedded runtime: filtered retriever latency before and after the auto-indexer.

BENCH_AUTOINDEX_DOCS (default 100,000) documents × 384-d with a keyword field `brand` (200 values) and a float
`price`, in a namespace with auto_create_indexes. A retriever filters on brand; its executions (through the service,
so HTTP does not blur the difference) are timed, which also gives the auto-indexer its >100 uses; then one
auto-index run, and the same executions again. The seed claims a 50–90 % reduction.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import percentiles  # noqa: E402

DOCS = int(os.environ.get("BENCH_AUTOINDEX_DOCS", "100000"))
QUERIES = int(os.environ.get("BENCH_AUTOINDEX_QUERIES", "200"))
DIMENSION = 384


def main() -> int:
    from openpeek.runtime import build_services
    from openpeek.services.organizations import Principal
    from openpeek.settings import Settings

    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="openpeek-bench-autoindex-") as work:
        services = build_services(Settings(runtime="embedded", data_dir=Path(work), local_inference=False))
        org = services.organizations.ensure_org("bench")
        principal = Principal(org["org_id"], "bench")
        namespace = services.namespaces.create(principal, {
            "namespace_name": "shop", "mode": "standalone", "auto_create_indexes": True,
            "vector_configs": [{"name": "emb", "dimension": DIMENSION}]}).namespace
        for offset in range(0, DOCS, 1000):
            count = min(1000, DOCS - offset)
            vectors = rng.normal(size=(count, DIMENSION)).astype(np.float32)
            services.documents.upsert(principal, namespace.namespace_id, {"documents": [
                {"document_id": f"p{offset + i}", "vectors": {"emb": vectors[i].tolist()},
                 "payload": {"brand": f"brand{(offset + i) % 200}", "price": float((offset + i) % 997)}}
                for i in range(count)]})
        retriever = services.retrievers.create(namespace, {
            "retriever_name": "by-brand", "input_schema": {"brand": {"type": "string", "required": True},
                                                   "q": {"type": "array", "required": True}},
            "stages": [{"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
                {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.q}}"},
                 "filters": {"AND": [{"field": "brand", "operator": "eq", "value": "{{INPUT.brand}}"}]},
                 "top_k": 10}]}}}]})
        queries = rng.normal(size=(QUERIES, DIMENSION)).astype(np.float32)

        def measure() -> dict:
            samples = []
            for position, query in enumerate(queries):
                request = {"inputs": {"brand": f"brand{position % 200}", "q": query.tolist()}}
                started = time.perf_counter()
                services.retrieval.execute(namespace, retriever, request)
                samples.append(time.perf_counter() - started)
            return percentiles(samples)

        before = measure()
        started = time.perf_counter()
        result = services.auto_index.run()
        indexing_seconds = time.perf_counter() - started
        after = measure()
        services.close()
    report = {
        "documents": DOCS, "queries": QUERIES, "before_index": before, "auto_index_run_seconds": round(
            indexing_seconds, 2), "indexes_created": result.created, "after_index": after,
        "p50_reduction_percent": round(100 * (1 - after["p50_ms"] / before["p50_ms"]), 1),
        "p99_reduction_percent": round(100 * (1 - after["p99_ms"] / before["p99_ms"]), 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
