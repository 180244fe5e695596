"""Through the official SDK against a live `openpeek serve`: the stage catalogue, a retriever of seven different
stages executed, its run in the execution history with a per-stage profile, an ad-hoc execution of the same
definition giving the same documents, batch, explain and clone."""

from __future__ import annotations

import math

import mixpeek
import pytest
from mixpeek.models import (
    AdhocExecuteRequest,
    CloneRetrieverRequest,
    CreateRetrieverRequest,
    ExecuteBatchRequest,
    ExecuteRetrieverRequest,
    ExplainRetrieverRequest,
    ListExecutionsRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-stages"
WORDS = ["apples orchard", "apple pie", "apple harvest", "guitar strings", "guitar pedals", "bass guitar"]


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


@pytest.fixture(scope="module")
def client(server):
    return sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 3}], documents=[
        {"document_id": f"d{i}", "vectors": {"emb": vec(8 * i if i < 3 else 80 + 8 * i)},
         "payload": {"category": "fruit" if i < 3 else "music", "price": 10 * i, "content": WORDS[i]}}
        for i in range(6)]).api_client


STAGES = [
    {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
        {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"}, "top_k": 6}]}}},
    {"stage_name": "cheap", "config": {"stage_id": "attribute_filter", "parameters": {
        "filters": {"AND": [{"field": "price", "operator": "lte", "value": 45}]}}}},
    {"stage_name": "diverse", "config": {"stage_id": "mmr", "parameters": {"lambda": 0.9, "top_k": 5}}},
    {"stage_name": "by_price", "config": {"stage_id": "sort_attribute", "parameters": {"field": "price"}}},
    {"stage_name": "rescore", "config": {"stage_id": "sort_relevance", "parameters": {}}},
    {"stage_name": "sampled", "config": {"stage_id": "sample", "parameters": {"count": 4, "preserve_top_k": 4}}},
    {"stage_name": "top", "config": {"stage_id": "limit", "parameters": {"limit": 3}}},
]
SCHEMA = {"query_vector": {"type": "array", "required": True}}


def test_the_catalogue_lists_the_stages_with_their_schemas(client):
    stages = mixpeek.RetrieverStagesApi(client).list_stages_retrievers()
    by_id = {stage.stage_id: stage for stage in stages}
    assert {"feature_search", "mmr", "group_by", "aggregate", "cluster", "rag_prepare", "json_transform"} <= set(by_id)
    assert by_id["mmr"].category.value == "sort" and "top_k" in by_id["mmr"].parameter_schema["properties"]


def test_a_seven_stage_retriever_runs_is_profiled_and_equals_its_ad_hoc_twin(client):
    retrievers = mixpeek.RetrieversApi(client)
    created = retrievers.create_retriever(CreateRetrieverRequest.from_dict(
        {"retriever_name": "seven", "input_schema": SCHEMA, "stages": STAGES}))
    assert len({stage.config["stage_id"] for stage in created.stages}) == 7

    result = retrievers.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(
        inputs={"query_vector": vec(3)}))
    assert [d["document_id"] for d in result.documents] == ["d0", "d1", "d2"]

    history = retrievers.list_executions_retrievers(created.retriever_id,
                                                    list_executions_request=ListExecutionsRequest())
    assert [run.execution_id for run in history.results] == [result.execution_id]
    assert history.results[0].total_returned == 3
    detail = retrievers.get_execution_retrievers(created.retriever_id, result.execution_id)
    assert detail.status == "completed" and detail.stage_statistics.stages["top"].output_count == 3
    profile = retrievers.get_execution_profile_retrievers(created.retriever_id, result.execution_id)
    assert [step["stage_name"] for step in profile["stages"]] == [stage["stage_name"] for stage in STAGES]
    assert [step["output_count"] for step in profile["stages"]] == [6, 5, 5, 5, 5, 4, 3]

    ad_hoc = mixpeek.AdhocRetrieversApi(client).execute_adhoc_retriever(AdhocExecuteRequest.from_dict(
        {"stages": STAGES, "input_schema": SCHEMA, "inputs": {"query_vector": vec(3)}}))
    assert [d["document_id"] for d in ad_hoc["documents"]] == [d["document_id"] for d in result.documents]
    assert [d["score"] for d in ad_hoc["documents"]] == [d["score"] for d in result.documents]


def test_batch_explain_and_clone(client):
    retrievers = mixpeek.RetrieversApi(client)
    created = retrievers.create_retriever(CreateRetrieverRequest.from_dict(
        {"retriever_name": "batchable", "input_schema": SCHEMA, "stages": STAGES}))
    batch = retrievers.execute_batch_retrievers(created.retriever_id, ExecuteBatchRequest.from_dict(
        {"queries": [{"inputs": {"query_vector": vec(3)}}, {"inputs": {"query_vector": vec(110)}}]}))
    assert [r["status"] for r in batch["results"]] == ["completed", "completed"]
    assert [d["document_id"] for d in batch["results"][0]["documents"]] == ["d0", "d1", "d2"]
    assert batch["results"][1]["documents"][0]["document_id"] == "d4"

    plan = retrievers.explain_retriever_execution_id_execute(created.retriever_id, ExplainRetrieverRequest())
    assert plan.total_estimated_stages == 7 and plan.execution_plan[-1].estimated_output == 3

    cloned = retrievers.clone_retriever(created.retriever_id, CloneRetrieverRequest(retriever_name="batchable-2"))
    assert cloned.source_retriever_id == created.retriever_id
    assert [stage.config for stage in cloned.retriever.stages] == [stage.config for stage in created.stages]
