"""Retriever stages on the embedded runtime, over HTTP (`openpeek serve`), on bench/retrieval.py's data (BENCH_DOCS
documents × 384-d, 64 Gaussian clusters on the unit sphere, keyword `category`, integer `price`).

Measured, each against its baseline in the same run on the same data:
- a 4-stage pipeline (feature_search top 200 → attribute_filter → mmr → limit 10) p50/p99, against feature_search
  alone searching the same top 200 and returning 10 (final_top_k), so the difference is the three extra stages plus
  fetching the 200 vectors mmr needs; the server's own per-stage timings (stage_statistics) beside it;
- 50 inputs through one retriever: batch execute (16 queries a request, the SDK's maximum: 4 requests) against 50
  single execute calls, for the 4-stage pipeline and for feature_search alone;
- the same for 50 text queries (feature_search on BENCH_TEXT_DOCS documents, queries embedded by the local model).

Code versions: BENCH_BASELINE_FUNCTIONS=dir (a `functions` directory of another checkout, e.g. the main branch's)
runs every measurement on two servers — that version and this one — in alternation (query by query, round by
round), each loaded with the same data, so that both see the same machine state; each figure is reported per version.

Search mode: past OPENPEEK_EDGE_INDEX_THRESHOLD unindexed points (20,000 by default) a namespace's HNSW index is
built in the background. The bench waits for any build to finish before measuring, and reports per version whether
the searches were exhaustive or used the index (indexed_vectors_count of points_count), so both sides of every
comparison search the same store state.

Targets (issue 16): the three extra stages add ≤ 3 ms p50; batch ≥ 3× faster than single calls.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
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
INDEX_WAIT_S = 1800


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


JSON_HEADERS = {"Content-Type": "application/json"}
NS_HEADERS = {**JSON_HEADERS, "X-Namespace": NAMESPACE}
TEXT_HEADERS = {**JSON_HEADERS, "X-Namespace": TEXT_NAMESPACE}


def load(client, bodies: list[bytes], vectors) -> dict:
    """The vector namespace and its two retrievers, the text namespace and its retriever; the search mode once any
    index build has finished."""
    client.post("/v1/namespaces", json={
        "namespace_name": NAMESPACE, "mode": "standalone",
        "vector_configs": [{"name": "emb", "dimension": retrieval.DIM, "metric": "cosine"}],
        "payload_indexes": [{"field_name": "category", "type": "keyword"},
                            {"field_name": "price", "type": "integer"}],
    }).raise_for_status()
    start = time.perf_counter()
    for body in bodies:
        client.post(f"/v1/namespaces/{NAMESPACE}/documents/upsert", content=body,
                    headers=JSON_HEADERS).raise_for_status()
    setup = {"load seconds": round(time.perf_counter() - start, 1), "retrievers": {}}
    for position, (label, stages) in enumerate(definitions().items()):
        created = client.post("/v1/retrievers", headers=NS_HEADERS, json={
            "retriever_name": f"bench-{position}", "stages": stages,
            "input_schema": {"query_vector": {"type": "array", "required": True}}})
        created.raise_for_status()
        setup["retrievers"][label] = created.json()["retriever_id"]

    # Text queries: a feature_search whose query is text, embedded by the local model (all_minilm_l6_v2) on a
    # namespace of TEXT_DOCS of the vectors; a batch embeds its texts in one call.
    client.post("/v1/namespaces", json={"namespace_name": TEXT_NAMESPACE}).raise_for_status()
    for first in range(0, min(TEXT_DOCS, len(vectors)), 1000):
        client.post(f"/v1/namespaces/{TEXT_NAMESPACE}/documents/upsert", headers=JSON_HEADERS, json={"documents": [
            {"document_id": f"doc-{i}", "vectors": {"text_extractor_v1_embedding": vectors[i].tolist()}}
            for i in range(first, min(first + 1000, TEXT_DOCS, len(vectors)))]}).raise_for_status()
    text_retriever = client.post("/v1/retrievers", headers=TEXT_HEADERS, json={
        "retriever_name": "bench-text", "input_schema": {"query": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "mixpeek://text_extractor@v1/embedding",
             "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 10}]}}}]})
    text_retriever.raise_for_status()
    setup["text retriever"] = text_retriever.json()["retriever_id"]
    setup["search mode"] = search_mode(client)
    return setup


def search_mode(client) -> str:
    """Exhaustive or HNSW, once the namespace's background index build (if one started) has finished."""
    deadline = time.monotonic() + INDEX_WAIT_S
    threshold = int(os.environ.get("OPENPEEK_EDGE_INDEX_THRESHOLD", "20000"))
    while True:
        status = client.get(f"/v1/namespaces/{NAMESPACE}").json().get("qdrant_status") or {}
        indexed, points = status.get("indexed_vectors_count") or 0, status.get("points_count") or 0
        # Past the threshold a build is due: wait for one that covers (nearly) every point, not only for the
        # current build to end (its journaled writes start the next one).
        unindexed = points > threshold and indexed < 0.99 * points
        if (status.get("status") != "yellow" and not unindexed) or time.monotonic() > deadline:
            break
        time.sleep(2)
    mode = "HNSW index" if indexed else "exhaustive (no index built)"
    return f"{mode}: {indexed} of {points} vectors indexed, status {status.get('status')}"


def latency(servers: dict, query_bodies: list[bytes]) -> dict:
    """Each retriever on each server, query by query in alternation between the servers."""
    report: dict = {}
    for label in definitions():
        for client, setup in servers.values():
            path = f"/v1/retrievers/{setup['retrievers'][label]}/execute"
            for body in query_bodies[:20]:  # warm-up
                client.post(path, content=body, headers=NS_HEADERS).raise_for_status()
        samples: dict = {version: ([], {}, []) for version in servers}
        for body in query_bodies:
            for version, (client, setup) in servers.items():
                wall, stage_ms, server_ms = samples[version]
                begin = time.perf_counter()
                response = client.post(f"/v1/retrievers/{setup['retrievers'][label]}/execute", content=body,
                                        headers=NS_HEADERS)
                wall.append(time.perf_counter() - begin)
                response.raise_for_status()
                figures = response.json()["stage_statistics"]
                server_ms.append(figures["total_time_ms"])
                for name, stage in figures["stages"].items():
                    stage_ms.setdefault(name, []).append(stage["duration_ms"])
        for version, (wall, stage_ms, server_ms) in samples.items():
            report.setdefault(version, {})[label] = {
                **support.percentiles(wall), "server pipeline p50 ms": round(statistics.median(server_ms), 3),
                "server stage p50 ms": {name: round(statistics.median(values), 3)
                                        for name, values in stage_ms.items()}}
    return report


def batch_against_single(servers: dict, label: str | None, inputs_for_round, batch_suffix: str = "") -> dict:
    """Median over rounds of 50 single execute calls and of the same 50 inputs in 4 batch calls, per server; the
    servers take turns within each round. `label` None: the text retriever."""
    timings: dict = {version: ([], []) for version in servers}
    for round_number in range(BATCH_ROUNDS + 1):  # the first round warms up
        chosen = inputs_for_round(round_number)
        for version, (client, setup) in servers.items():
            if label is None:
                retriever_id, headers = setup["text retriever"], TEXT_HEADERS
            else:
                retriever_id, headers = setup["retrievers"][label], NS_HEADERS
            begin = time.perf_counter()
            for inputs in chosen:
                client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers,
                            json={"inputs": inputs}).raise_for_status()
            single = time.perf_counter() - begin
            begin = time.perf_counter()
            for first in range(0, BATCH_INPUTS, BATCH_SIZE):
                batch = [{"inputs": {key: value + batch_suffix if isinstance(value, str) else value
                                     for key, value in inputs.items()}} for inputs in chosen[first:first + BATCH_SIZE]]
                answer = client.post(f"/v1/retrievers/{retriever_id}/execute/batch", headers=headers,
                                     json={"queries": batch})
                answer.raise_for_status()
                assert all(result["status"] == "completed" for result in answer.json()["results"]), answer.text
            batched = time.perf_counter() - begin
            if round_number:
                timings[version][0].append(single)
                timings[version][1].append(batched)
    report = {}
    for version, (single_s, batch_s) in timings.items():
        single_ms, batch_ms = statistics.median(single_s) * 1000, statistics.median(batch_s) * 1000
        report[version] = {"50 single calls ms (median of rounds)": round(single_ms, 1),
                           "4 batch calls ms (median of rounds)": round(batch_ms, 1),
                           "speed-up": round(single_ms / batch_ms, 2)}
    return report


def main() -> int:
    vectors, queries, categories, prices = retrieval.make_data()
    bodies = retrieval.upsert_bodies(vectors, categories, prices)
    query_inputs = [{"query_vector": query.tolist()} for query in queries]
    query_bodies = [json.dumps({"inputs": inputs}).encode() for inputs in query_inputs]
    versions = {"this checkout": None}
    if os.environ.get("BENCH_BASELINE_FUNCTIONS"):
        versions = {"baseline": os.environ["BENCH_BASELINE_FUNCTIONS"], **versions}
    report: dict = {"documents": len(vectors), "dimension": retrieval.DIM, "queries": len(queries),
                    "versions": {version: functions or "functions/ of this checkout"
                                 for version, functions in versions.items()},
                    "load average at start": os.getloadavg()[0]}
    with ExitStack() as stack:
        servers = {}
        for version, functions in versions.items():
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            client = stack.enter_context(support.live_server(Path(tmp) / "data", functions=functions))
            servers[version] = (client, load(client, bodies, vectors))
        report["load seconds"] = {version: setup["load seconds"] for version, (_, setup) in servers.items()}
        report["search mode"] = {version: setup["search mode"] for version, (_, setup) in servers.items()}

        execute = latency(servers, query_bodies)
        report["execute (HTTP)"] = execute
        report["added by the three stages, p50 ms"] = {
            version: round(figures[list(definitions())[1]]["p50_ms"] - figures[list(definitions())[0]]["p50_ms"], 3)
            for version, figures in execute.items()}

        def vector_inputs(round_number: int) -> list[dict]:
            chosen = query_inputs[(round_number * BATCH_INPUTS) % len(query_inputs):][:BATCH_INPUTS]
            return (chosen + query_inputs)[:BATCH_INPUTS]

        report[f"{BATCH_INPUTS} inputs: batch vs single (HTTP)"] = {
            label: batch_against_single(servers, label, vector_inputs) for label in definitions()}

        words = ["contract", "renewal", "invoice", "late", "payment", "shipping", "delay", "refund", "policy", "terms"]

        def text_inputs(round_number: int) -> list[dict]:
            # Distinct texts for the single calls and the batch (suffixed): the query-embedding cache must not serve
            # either (each server has its own).
            return [{"query": f"{words[(i + round_number) % 10]} {words[(i * 3 + 1) % 10]} question {round_number}-{i}"}
                    for i in range(BATCH_INPUTS)]

        report[f"{BATCH_INPUTS} text queries (local model), feature_search top 10 on {TEXT_DOCS} docs"] = \
            batch_against_single(servers, None, text_inputs, batch_suffix=" (batched)")

    report["load average at end"] = os.getloadavg()[0]
    pipeline = list(definitions())[1]
    report["targets met"] = {version: {
        "3 extra stages add <= 3 ms p50": report["added by the three stages, p50 ms"][version] <= 3,
        "batch >= 3x faster (4-stage pipeline)":
            report[f"{BATCH_INPUTS} inputs: batch vs single (HTTP)"][pipeline][version]["speed-up"] >= 3,
    } for version in versions}
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
