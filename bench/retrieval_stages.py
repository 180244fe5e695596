"""Retriever stages on the embedded runtime, over HTTP (`openpeek serve`), on bench/retrieval.py's data (BENCH_DOCS
documents × 384-d, 64 Gaussian clusters on the unit sphere, keyword `category`, integer `price`).

Measured, each against its baseline in the same run on the same data:
- a 4-stage pipeline (feature_search top 200 → attribute_filter → mmr → limit 10) p50/p99, against feature_search
  alone searching the same top 200 and returning 10 (final_top_k), so the difference is the three extra stages plus
  fetching the 200 vectors mmr needs; the server's own per-stage timings (stage_statistics) beside it;
- 50 inputs through one retriever: batch execute (16 queries a request, the SDK's maximum: 4 requests) against 50
  single execute calls, for the 4-stage pipeline and for feature_search alone;
- the same for 50 text queries (feature_search on BENCH_TEXT_DOCS documents, queries embedded by the local model).

Targets (issue 16): the three extra stages add ≤ 3 ms p50; batch ≥ 3× faster than single calls.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import retrieval
import support

QUERIES = int(os.environ.get("BENCH_QUERIES", "300"))
SEARCH_TOP_K = 200
BATCH_INPUTS = 50
BATCH_SIZE = 16  # ExecuteBatchRequest.queries max_length
BATCH_ROUNDS = int(os.environ.get("BENCH_BATCH_ROUNDS", "5"))
NAMESPACE = "bench-stages"
TEXT_NAMESPACE = "bench-stages-text"
TEXT_DOCS = int(os.environ.get("BENCH_TEXT_DOCS", "5000"))


def search_stage() -> dict:
    return {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {
        "searches": [{"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
                      "top_k": SEARCH_TOP_K}], "final_top_k": SEARCH_TOP_K}}}


def definitions() -> dict[str, list[dict]]:
    alone = search_stage()
    alone["config"]["parameters"]["final_top_k"] = 10
    return {
        "feature_search alone (top 200 searched, 10 returned)": [alone],
        "4 stages (feature_search 200 → attribute_filter → mmr → limit 10)": [
            search_stage(),
            {"stage_name": "affordable", "config": {"stage_id": "attribute_filter", "parameters": {
                "filters": {"AND": [{"field": "price", "operator": "lt", "value": 900}]}}}},
            {"stage_name": "diverse", "config": {"stage_id": "mmr", "parameters": {"lambda": 0.7}}},  # top_k 25
            {"stage_name": "top", "config": {"stage_id": "limit", "parameters": {"limit": 10}}},
        ],
    }


def main() -> int:
    vectors, queries, categories, prices = retrieval.make_data()
    bodies = retrieval.upsert_bodies(vectors, categories, prices)
    query_inputs = [{"query_vector": query.tolist()} for query in queries]
    query_bodies = [json.dumps({"inputs": inputs}).encode() for inputs in query_inputs]
    json_headers = {"Content-Type": "application/json"}
    ns_headers = {**json_headers, "X-Namespace": NAMESPACE}
    report: dict = {"documents": len(vectors), "dimension": retrieval.DIM, "queries": len(queries),
                    "load average at start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp, support.live_server(Path(tmp) / "data") as client:
        client.post("/v1/namespaces", json={
            "namespace_name": NAMESPACE, "mode": "standalone",
            "vector_configs": [{"name": "emb", "dimension": retrieval.DIM, "metric": "cosine"}],
            "payload_indexes": [{"field_name": "category", "type": "keyword"},
                                {"field_name": "price", "type": "integer"}],
        }).raise_for_status()
        start = time.perf_counter()
        for body in bodies:
            client.post(f"/v1/namespaces/{NAMESPACE}/documents/upsert", content=body,
                        headers=json_headers).raise_for_status()
        report["load seconds"] = round(time.perf_counter() - start, 1)

        retrievers = {}
        for position, (label, stages) in enumerate(definitions().items()):
            created = client.post("/v1/retrievers", headers=ns_headers, json={
                "retriever_name": f"bench-{position}", "stages": stages,
                "input_schema": {"query_vector": {"type": "array", "required": True}}})
            created.raise_for_status()
            retrievers[label] = created.json()["retriever_id"]

        latency = {}
        for label, retriever_id in retrievers.items():
            path = f"/v1/retrievers/{retriever_id}/execute"
            for body in query_bodies[:20]:  # warm-up
                client.post(path, content=body, headers=ns_headers).raise_for_status()
            samples, stage_ms, server_ms = [], {}, []
            for body in query_bodies:
                begin = time.perf_counter()
                response = client.post(path, content=body, headers=ns_headers)
                samples.append(time.perf_counter() - begin)
                response.raise_for_status()
                server_ms.append(response.json()["stage_statistics"]["total_time_ms"])
                for name, figures in response.json()["stage_statistics"]["stages"].items():
                    stage_ms.setdefault(name, []).append(figures["duration_ms"])
            latency[label] = {**support.percentiles(samples),
                              "server pipeline p50 ms": round(statistics.median(server_ms), 3),
                              "server stage p50 ms": {name: round(statistics.median(values), 3)
                                                      for name, values in stage_ms.items()}}
        report["execute (HTTP)"] = latency
        alone, piped = (latency[label]["p50_ms"] for label in retrievers)
        report["added by the three stages, p50 ms"] = round(piped - alone, 3)

        batches = {}
        for label, retriever_id in retrievers.items():
            single_s, batch_s = [], []
            for round_number in range(BATCH_ROUNDS + 1):  # the first round warms up
                chosen = query_inputs[(round_number * BATCH_INPUTS) % len(query_inputs):][:BATCH_INPUTS]
                chosen = (chosen + query_inputs)[:BATCH_INPUTS]
                begin = time.perf_counter()
                for inputs in chosen:
                    client.post(f"/v1/retrievers/{retriever_id}/execute", headers=ns_headers,
                                json={"inputs": inputs}).raise_for_status()
                single = time.perf_counter() - begin
                begin = time.perf_counter()
                for first in range(0, BATCH_INPUTS, BATCH_SIZE):
                    answer = client.post(f"/v1/retrievers/{retriever_id}/execute/batch", headers=ns_headers, json={
                        "queries": [{"inputs": inputs} for inputs in chosen[first:first + BATCH_SIZE]]})
                    answer.raise_for_status()
                    assert all(result["status"] == "completed" for result in answer.json()["results"])
                batched = time.perf_counter() - begin
                if round_number:
                    single_s.append(single)
                    batch_s.append(batched)
            single_ms, batch_ms = statistics.median(single_s) * 1000, statistics.median(batch_s) * 1000
            batches[label] = {"50 single calls ms (median of rounds)": round(single_ms, 1),
                              "4 batch calls ms (median of rounds)": round(batch_ms, 1),
                              "speed-up": round(single_ms / batch_ms, 2)}
        report[f"{BATCH_INPUTS} inputs: batch vs single (HTTP)"] = batches

        # Text queries: the same comparison for a feature_search whose query is text, embedded by the local model
        # (all_minilm_l6_v2) on a namespace of TEXT_DOCS of the vectors; a batch embeds its texts in one call.
        client.post("/v1/namespaces", json={"namespace_name": TEXT_NAMESPACE}).raise_for_status()
        for start in range(0, min(TEXT_DOCS, len(vectors)), 1000):
            client.post(f"/v1/namespaces/{TEXT_NAMESPACE}/documents/upsert", headers=json_headers, json={"documents": [
                {"document_id": f"doc-{i}", "vectors": {"text_extractor_v1_embedding": vectors[i].tolist()}}
                for i in range(start, min(start + 1000, TEXT_DOCS, len(vectors)))]}).raise_for_status()
        text_headers = {**json_headers, "X-Namespace": TEXT_NAMESPACE}
        text_retriever = client.post("/v1/retrievers", headers=text_headers, json={
            "retriever_name": "bench-text", "input_schema": {"query": {"type": "string", "required": True}},
            "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
                {"feature_uri": "mixpeek://text_extractor@v1/embedding",
                 "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 10}]}}}]})
        text_retriever.raise_for_status()
        text_id = text_retriever.json()["retriever_id"]
        words = ["contract", "renewal", "invoice", "late", "payment", "shipping", "delay", "refund", "policy", "terms"]
        single_s, batch_s = [], []
        for round_number in range(BATCH_ROUNDS + 1):
            # Distinct texts for the single calls and the batch: the query-embedding cache must not serve either.
            texts = [f"{words[(i + round_number) % 10]} {words[(i * 3 + 1) % 10]} question {round_number}-{i}"
                     for i in range(BATCH_INPUTS)]
            begin = time.perf_counter()
            for text in texts:
                client.post(f"/v1/retrievers/{text_id}/execute", headers=text_headers,
                            json={"inputs": {"query": text}}).raise_for_status()
            single = time.perf_counter() - begin
            begin = time.perf_counter()
            for first in range(0, BATCH_INPUTS, BATCH_SIZE):
                answer = client.post(f"/v1/retrievers/{text_id}/execute/batch", headers=text_headers, json={
                    "queries": [{"inputs": {"query": text + " (batched)"}}
                                for text in texts[first:first + BATCH_SIZE]]})
                answer.raise_for_status()
                assert all(result["status"] == "completed" for result in answer.json()["results"]), answer.text
            batched = time.perf_counter() - begin
            if round_number:
                single_s.append(single)
                batch_s.append(batched)
        single_ms, batch_ms = statistics.median(single_s) * 1000, statistics.median(batch_s) * 1000
        report[f"{BATCH_INPUTS} text queries (local model), feature_search top 10 on {TEXT_DOCS} docs"] = {
            "50 single calls ms (median of rounds)": round(single_ms, 1),
            "4 batch calls ms (median of rounds)": round(batch_ms, 1), "speed-up": round(single_ms / batch_ms, 2)}

    report["load average at end"] = os.getloadavg()[0]
    report["targets met"] = {
        "3 extra stages add <= 3 ms p50": report["added by the three stages, p50 ms"] <= 3,
        "batch >= 3x faster (4-stage pipeline)": list(batches.values())[1]["speed-up"] >= 3,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
