"""What a batch execution can save, in process (no HTTP), on bench/retrieval_stages.py's data and retrievers: the
vector store's own time for the searches every input needs, against the whole pipeline per input, single and batched.

A batch shares what surrounds the inputs (the request, the key, namespace and retriever lookups, the history write);
each input's search and stages remain. So the time a batch cannot go below is the store's time per search. Measured
per query, top 200, 16 searches per store call (a batch request's maximum), each variant in turn round by round:
- the store call alone: whole payloads; only the fields the later stages read (`payload_fields`, what a retriever
  whose stages declare them asks for); only the document ids; the projected one with the hits' vectors as float32
  rows (what the 4-stage pipeline asks for, its mmr reads them);
- the whole retriever per input through the service: one execute per input, and execute_batch of 16.

    BENCH_DOCS=100000 PYTHONPATH=functions .venv/bin/python bench/search_floor.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

import retrieval
import retrieval_stages
from openpeek.api.app import create_app
from openpeek.domain.vectors import SearchRequest
from openpeek.runtime import build_services
from openpeek.settings import Settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PER_CALL = 16


def per_query_ms(call, batches: list) -> float:
    """Median over the batches of one call's time divided by its queries."""
    samples = []
    for batch in batches:
        begin = time.perf_counter()
        call(batch)
        samples.append((time.perf_counter() - begin) / len(batch) * 1000)
    return statistics.median(samples)


def main() -> int:
    vectors, queries, categories, prices = retrieval.make_data()
    bodies = retrieval.upsert_bodies(vectors, categories, prices)
    report: dict = {"documents": len(vectors), "queries": len(queries), "load average at start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(runtime="embedded", data_dir=Path(tmp) / "data"))
        try:
            org = services.organizations.ensure_org("bench")
            key = services.organizations.issue_key(org["org_id"]).plain_key
            client = TestClient(create_app(services), headers={"Authorization": f"Bearer {key}"})
            setup = retrieval_stages.load(client, bodies, vectors)
            report["search mode"] = setup["search mode"]
            principal = services.organizations.authenticate(f"Bearer {key}")
            namespace = services.namespaces.resolve(principal, retrieval_stages.NAMESPACE)
            store, collection = services.vectors, namespace.collection

            base = [SearchRequest("emb", query.tolist(), limit=retrieval_stages.SEARCH_TOP_K) for query in queries]
            variants = {
                "whole payloads": base,
                "projected (price)": [replace(r, payload_fields=("price",)) for r in base],
                "document ids only": [replace(r, payload_fields=()) for r in base],
                "projected + vectors as float32 rows (the 4-stage search)": [
                    replace(r, payload_fields=("price",), with_vectors=True, vectors_as_arrays=True) for r in base],
            }
            retrievers = {label: services.retrievers.get(namespace, retriever_id)
                          for label, retriever_id in setup["retrievers"].items()}
            inputs = [{"query_vector": query.tolist()} for query in queries]
            pipeline: dict = {}
            for label, retriever in retrievers.items():
                pipeline[f"{label}: one execute per input"] = (
                    lambda batch, retriever=retriever: [services.retrieval.execute(
                        namespace, retriever, {"inputs": item, "limit": 10}) for item in batch], inputs)
                pipeline[f"{label}: execute_batch of {PER_CALL}"] = (
                    lambda batch, retriever=retriever: services.retrieval.execute_batch(
                        namespace, retriever, [{"inputs": item} for item in batch], {}), inputs)
            measured: dict = {name: [] for name in [*variants, *pipeline]}
            for round_number in range(ROUNDS + 1):  # the first round warms up
                for name, requests in variants.items():
                    batches = [requests[i:i + PER_CALL] for i in range(0, len(requests), PER_CALL)]
                    figure = per_query_ms(lambda batch: store.query(collection, batch), batches)
                    if round_number:
                        measured[name].append(figure)
                for name, (call, items) in pipeline.items():
                    figure = per_query_ms(call, [items[i:i + PER_CALL] for i in range(0, len(items), PER_CALL)])
                    if round_number:
                        measured[name].append(figure)
            report["store call, per search (16 a call), median of rounds, ms"] = {
                name: round(statistics.median(measured[name]), 3) for name in variants}
            report["retriever through the service, per input, median of rounds, ms"] = {
                name: round(statistics.median(measured[name]), 3) for name in pipeline}
        finally:
            services.close()
    report["load average at end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
