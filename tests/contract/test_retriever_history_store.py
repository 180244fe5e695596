"""The retriever execution history and the LLM answer cache on both Table adapters (SQLite, DynamoDB under moto):
records with floats and nested statistics come back as written, newest first, and expired items are not read."""

from __future__ import annotations

from tests.contract.test_table_contract import dynamodb, table, table_name  # noqa: F401  (fixtures)

from openpeek.repositories.llm_answers import LlmAnswerCache
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository


def record(execution_id: str, created_at: str, retriever_id: str | None = "ret_1") -> dict:
    return {"execution_id": execution_id, "retriever_id": retriever_id, "status": "completed",
            "created_at": created_at, "duration_ms": 12.345, "total_returned": 3,
            "stage_statistics": {"stages": {"search": {"input_count": 0, "output_count": 200, "duration_ms": 4.5,
                                                       "efficiency": 0, "metadata": {"stage_id": "feature_search"}}},
                                 "total_time_ms": 12.345},
            "stage_order": [["search", "feature_search"]], "warnings": [], "query_summary": "q=\"x\""}


def test_executions_round_trip_newest_first_and_apart_per_retriever(table):  # noqa: F811
    history = RetrieverExecutionRepository(table, ttl_seconds=3600)
    history.record("ns_a", record("exec_1", "2026-01-01T00:00:00Z"))
    history.record("ns_a", record("exec_2", "2026-01-02T00:00:00Z"))
    history.record("ns_a", record("exec_3", "2026-01-03T00:00:00Z", retriever_id="ret_2"))
    history.record("ns_a", record("exec_4", "2026-01-04T00:00:00Z", retriever_id=None))
    assert [r["execution_id"] for r in history.list("ns_a", "ret_1")] == ["exec_2", "exec_1"]
    assert [r["execution_id"] for r in history.list("ns_a", None)] == ["exec_4"]
    assert history.get("ns_a", "ret_1", "exec_1") == record("exec_1", "2026-01-01T00:00:00Z")
    assert history.get("ns_b", "ret_1", "exec_1") is None
    assert [r["execution_id"] for r in history.recent_queries("ns_a", 10)] == ["exec_4", "exec_3", "exec_2", "exec_1"]


def test_a_batch_of_executions_written_together_reads_back_like_single_ones(table):  # noqa: F811
    history = RetrieverExecutionRepository(table, ttl_seconds=3600)
    batch = [record(f"exec_{i:02d}", f"2026-02-01T00:00:{i:02d}Z", retriever_id=None if i == 7 else "ret_1")
             for i in range(30)]  # more than one write's worth
    history.record_many("ns_a", batch)
    assert [r["execution_id"] for r in history.list("ns_a", "ret_1")] == [
        f"exec_{i:02d}" for i in reversed(range(30)) if i != 7]
    assert [r["execution_id"] for r in history.list("ns_a", None)] == ["exec_07"]
    assert history.get("ns_a", "ret_1", "exec_03") == batch[3]


def test_expired_executions_and_answers_are_not_read(table):  # noqa: F811
    gone = RetrieverExecutionRepository(table, ttl_seconds=-1)
    gone.record("ns_a", record("exec_old", "2026-01-01T00:00:00Z"))
    assert gone.get("ns_a", "ret_1", "exec_old") is None and gone.list("ns_a", "ret_1") == []
    cache = LlmAnswerCache(table, ttl_seconds=3600)
    cache.put("ns_a", "abc", {"keep": True, "score": 0.5})
    assert cache.get("ns_a", "abc") == {"keep": True, "score": 0.5} and cache.get("ns_b", "abc") is None
    LlmAnswerCache(table, ttl_seconds=-1).put("ns_a", "old", {"keep": False})
    assert cache.get("ns_a", "old") is None
