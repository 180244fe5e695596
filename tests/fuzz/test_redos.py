"""A hostile regular expression must not stall the server: while requests filter long values with `^(a+)+$` (which
Python's backtracking `re` takes seconds on, holding the interpreter), health keeps answering promptly."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from .mutation import Connection, call

pytestmark = pytest.mark.slow

NAMESPACE = "redos"
HOSTILE = {"AND": [{"field": "title", "operator": "regex", "value": "^(a+)+$"}]}
PROBES = 20


def test_health_answers_within_100_ms_while_hostile_regexes_run(server):
    base, key, _ = server
    conn = Connection(base)
    assert call(conn, key, "POST", "/v1/namespaces/standalone", {
        "namespace_id": NAMESPACE, "vector_configs": [{"name": "emb", "dimension": 4}]})[0] == 200
    # 30 characters already cost Python's re ~30 s each; these are hundreds long.
    documents = [{"document_id": f"d{i}", "vectors": {"emb": [1, i / 100, 0, 0]},
                  "payload": {"title": "a" * (200 + i) + "!"}} for i in range(50)]
    assert call(conn, key, "POST", f"/v1/namespaces/{NAMESPACE}/documents/upsert", {"documents": documents})[0] == 200
    status, retriever = call(conn, key, "POST", "/v1/retrievers", {
        "retriever_name": "hostile", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search",
                    "parameters": {"searches": [{"feature_uri": "emb", "query": {
                        "input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 50}]}}}]}, namespace=NAMESPACE)
    assert status == 200, retriever

    stop = threading.Event()
    answers: list[int] = []

    def hostile_load() -> None:
        attacker = Connection(base)
        try:
            while not stop.is_set():
                answers.append(call(attacker, key, "POST", f"/v1/retrievers/{retriever['retriever_id']}/execute",
                                    {"inputs": {"v": [1, 0, 0, 0]}, "filters": HOSTILE}, namespace=NAMESPACE)[0])
        finally:
            attacker.close()

    attacker = threading.Thread(target=hostile_load, daemon=True)
    attacker.start()
    probe = Connection(base)
    latencies = []
    try:
        while not answers:
            time.sleep(0.01)  # the hostile requests are running
        for _ in range(PROBES):
            started = time.perf_counter()
            status, _, _ = probe.request("GET", "/v1/health", None, {})
            latencies.append(time.perf_counter() - started)
            assert status == 200
            time.sleep(0.02)
    finally:
        stop.set()
        attacker.join(timeout=60)
        probe.close()
        conn.close()
    assert answers and set(answers) == {200}, answers
    # The median bounds the stall; the maximum allows for a scheduling hiccup on a shared machine.
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 1.0, latencies
