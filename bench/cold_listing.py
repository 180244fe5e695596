"""Filtered listings of a cold collection, this code against a previous version on the same data in the same run:
N documents × 384-d (N defaults to BENCH_COLD_LIST_DOCS, else 100,000) in one collection, demoted to the embedded
cold tier, then listed over HTTP by a live `openpeek serve` running each code version in turn (alternating, twice
each, so a change of machine load falls on both). `python bench/cold_listing.py --previous PATH [--docs N]`, PATH a
functions/ folder of the version to compare against, e.g. `mkdir -p /tmp/prev && git archive <commit> functions |
tar -x -C /tmp/prev` then `--previous /tmp/prev/functions`.

Each document's payload is {"rank": n % 1000}. Measured, p50 of each version and the ratio previous / this:
- `ns_rare`: the namespace-wide listing (POST /v1/documents/list, 100 a page) of rank = 7 (0.1 %: 100 documents);
- `ns_rare_total`: the same with include_total;
- `ns_one_percent`: rank in 0..9 (1 %), 100 a page;
- `collection_rare_total`: the collection's own listing of rank = 7 with include_total;
- `ns_range`: rank ≥ 990 (1 %, a range: the terms index cannot decide it, every payload is decoded either way);
- `ns_unfiltered`: 100 documents unfiltered (no filter: no change expected).
Previously every filtered listing decoded each cold document until its page was full (all 100,000 for a total or a
rare value); the terms index now counts the passing rows of each part and only the page's documents are decoded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import support

DOCS = int(os.environ.get("BENCH_COLD_LIST_DOCS", "100000"))
NAMESPACE = "bench-cold-list"
DIM = 384
BATCH = 1000
INDEX = "text_extractor_v1_embedding"
ENV = {"OPENPEEK_EDGE_INDEX_THRESHOLD": "0"}  # no background index builds while measuring

RARE = {"AND": [{"field": "rank", "operator": "eq", "value": 7}]}
ONE_PERCENT = {"AND": [{"field": "rank", "operator": "in", "value": list(range(10))}]}
RANGE = {"AND": [{"field": "rank", "operator": "gte", "value": 990}]}
LISTINGS = {  # name: (path, body, calls per round)
    "ns_rare": ("/v1/documents/list", {"filters": RARE, "limit": 100}, 5),
    "ns_rare_total": ("/v1/documents/list", {"filters": RARE, "limit": 100, "include_total": True}, 5),
    "ns_one_percent": ("/v1/documents/list", {"filters": ONE_PERCENT, "limit": 100}, 5),
    "collection_rare_total": ("/v1/collections/alpha/documents/list",
                              {"filters": RARE, "limit": 100, "include_total": True}, 5),
    "ns_range": ("/v1/documents/list", {"filters": RANGE, "limit": 100}, 3),
    "ns_unfiltered": ("/v1/documents/list", {"limit": 100}, 10),
}


def load(data_dir: Path, key: str, collection_id: str) -> float:
    """Upsert through the embedded runtime's document service in this process (the server stopped): seconds."""
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    data = np.random.default_rng(1).standard_normal((DOCS, DIM)).astype(np.float32).round(4)
    services = build_services(Settings().model_copy(update={"data_dir": data_dir, "edge_index_threshold": 0}))
    try:
        caller = services.organizations.authenticate(f"Bearer {key}")
        start = time.perf_counter()
        for first in range(0, DOCS, BATCH):
            services.documents.upsert(caller, NAMESPACE, {"collection_id": collection_id, "documents": [
                {"document_id": f"a-{n}", "vectors": {INDEX: data[n].tolist()}, "payload": {"rank": n % 1000}}
                for n in range(first, min(first + BATCH, DOCS))]})
        return time.perf_counter() - start
    finally:
        services.close()


def measure(data_dir: Path, key: str, functions: str | None) -> dict:
    """Each listing's samples (seconds) and what it answered, on a server running `functions` (None: this tree)."""
    found: dict = {}
    with support.live_server(data_dir, api_key=key, functions=functions, extra_env=ENV) as client:
        client.headers["X-Namespace"] = NAMESPACE
        for name, (path, body, calls) in LISTINGS.items():
            samples, answer = [], None
            for n in range(-1, calls):
                start = time.perf_counter()
                response = client.post(path, json=body)
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                if n >= 0:
                    samples.append(elapsed)
                answer = response.json()
            found[name] = (samples, [d["document_id"] for d in answer["results"]], answer.get("total_documents"))
    return found


def main() -> int:
    global DOCS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=DOCS)
    parser.add_argument("--previous", required=True, help="functions/ folder of the version to compare against")
    arguments = parser.parse_args()
    DOCS = arguments.docs
    this_tree = str(Path(__file__).resolve().parents[1] / "functions")
    versions = {"previous": arguments.previous, "this": this_tree}
    results: dict = {"documents": DOCS, "previous": arguments.previous}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        with support.live_server(data_dir, functions=this_tree, extra_env=ENV) as client:
            key = support.ranked_books_namespace(client, NAMESPACE)
            alpha_id = support.ranked_books_collection(client, "alpha")
        results["load_s"] = round(load(data_dir, key, alpha_id), 1)
        with support.live_server(data_dir, api_key=key, functions=this_tree, extra_env=ENV) as client:
            client.headers["X-Namespace"] = NAMESPACE
            start = time.perf_counter()
            moved = client.patch("/v1/collections/alpha/lifecycle",
                                 json={"lifecycle_state": "cold", "async_transition": False}, timeout=3600)
            moved.raise_for_status()
            results["demote_s"] = round(time.perf_counter() - start, 1)
        samples: dict = {version: {name: [] for name in LISTINGS} for version in versions}
        answers: dict = {}
        for version in ("previous", "this", "previous", "this"):
            for name, (taken, ids, total) in measure(data_dir, key, versions[version]).items():
                samples[version][name] += taken
                answers.setdefault(name, {})[version] = (ids, total)
            print(f"[{time.strftime('%H:%M:%S')}] measured {version}", flush=True)
    for name in LISTINGS:
        same = answers[name]["previous"] == answers[name]["this"]
        before, after = (support.percentiles(samples[version][name]) for version in ("previous", "this"))
        results[name] = {"previous_p50_ms": before["p50_ms"], "this_p50_ms": after["p50_ms"],
                         "previous_over_this": round(before["p50_ms"] / after["p50_ms"], 2),
                         "same_answer": same, "listed": len(answers[name]["this"][0]),
                         "total": answers[name]["this"][1]}
        print(f"{name:22s} previous p50 {before['p50_ms']:9.1f} ms   this p50 {after['p50_ms']:8.1f} ms   "
              f"{results[name]['previous_over_this']:7.2f}×   same answer: {same}")
    results["wall_s"] = round(time.perf_counter() - began)
    print(json.dumps(results))
    return 0 if all(results[name]["same_answer"] for name in LISTINGS) else 1


if __name__ == "__main__":
    sys.exit(main())
