"""The official SDK's RetrieversApi against a live `openpeek serve`: create, get, list, patch, execute, delete.
The SDK parses every answer into its own models, so a field we get wrong fails here."""

from __future__ import annotations

import math

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    CreateRetrieverRequest,
    CursorPaginationParams,
    ExecuteRetrieverRequest,
    ExecuteRetrieverResponse,
    ListRetrieversRequest,
    OffsetPaginationParams,
    Pagination1,
    PatchRetrieverRequest,
    RetrieverConfig,
    RetrieverModelOutput,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-retrieval"


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


@pytest.fixture(scope="module")
def retrievers_api(server):
    client = sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 3}], documents=[
        {"document_id": f"d{i}", "vectors": {"emb": vec(10 * i)},
         "payload": {"category": "audio" if i % 2 == 0 else "video", "price": 10 * i}}
        for i in range(6)]).api_client
    return mixpeek.RetrieversApi(client)


def body(name: str, **search_extra) -> dict:
    return {
        "retriever_name": name,
        "description": "nearest products",
        "tags": ["catalogue"],
        "input_schema": {"query_vector": {"type": "array", "required": True},
                         "max_price": {"type": "integer", "default": 1000}},
        "stages": [
            {"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search", "parameters": {
                "searches": [{"feature_uri": "emb",
                              "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
                              "filters": {"AND": [{"field": "price", "operator": "lte",
                                                   "value": "{{INPUT.max_price}}"}]},
                              "top_k": 6, **search_extra}],
                "final_top_k": 6}}},
            {"stage_name": "audio-only", "stage_type": "filter", "config": {"stage_id": "attribute_filter",
                                                                            "parameters": {"filters": {"must": [
                                                                                {"key": "category",
                                                                                 "match": {"value": "audio"}}]}}}},
        ],
    }


def test_create_get_list_patch_execute_delete(retrievers_api):
    created = retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(body("products")))
    assert isinstance(created, RetrieverConfig)
    assert created.retriever_id.startswith("ret_") and created.fusion == "rrf" and created.version == 1
    assert [stage.config["stage_id"] for stage in created.stages] == ["feature_search", "attribute_filter"]
    assert created.input_schema["query_vector"].required is True

    fetched = retrievers_api.get_retriever(created.retriever_id)
    assert isinstance(fetched, RetrieverModelOutput)
    assert fetched.retriever_name == "products" and fetched.tags == ["catalogue"]
    assert retrievers_api.get_retriever("products").retriever_id == created.retriever_id  # by name too

    listed = retrievers_api.list_retrievers(list_retrievers_request=ListRetrieversRequest(search="product"))
    assert [r.retriever_id for r in listed.results] == [created.retriever_id]
    assert listed.total == 1 and listed.pagination.total == 1
    assert [r.retriever_id for r in retrievers_api.list_retrievers_get(page_size=10).results] == \
        [created.retriever_id]

    result = retrievers_api.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(
        inputs={"query_vector": vec(0), "max_price": 30}))
    assert isinstance(result, ExecuteRetrieverResponse) and result.status == "completed"
    assert [d["document_id"] for d in result.documents] == ["d0", "d2"]  # d4 costs 40
    assert result.documents[0]["category"] == "audio" and result.documents[0]["score"] == pytest.approx(1, abs=1e-4)
    stats = result.stage_statistics.stages
    assert (stats["search"].output_count, stats["audio-only"].output_count) == (4, 2)

    patched = retrievers_api.patch_retriever(created.retriever_id, PatchRetrieverRequest(
        description="every product", tags=["catalogue", "v2"]))
    assert patched.retriever.version == 2 and patched.retriever.description == "every product"
    assert len(patched.retriever.stages) == 2  # untouched

    retrievers_api.delete_retriever(created.retriever_id)
    with pytest.raises(ApiException) as gone:
        retrievers_api.get_retriever(created.retriever_id)
    assert gone.value.status == 404


def test_execute_pages_with_the_sdks_pagination_models(retrievers_api):
    created = retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(
        {**body("paged"), "stages": body("paged")["stages"][:1]}))
    inputs = {"query_vector": vec(0)}
    second = retrievers_api.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(
        inputs=inputs, pagination=Pagination1(OffsetPaginationParams(page_size=2, page_number=2))))
    assert [d["document_id"] for d in second.documents] == ["d2", "d3"]
    assert second.pagination["total"] == 6 and second.pagination["has_next"] is True

    first = retrievers_api.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(
        inputs=inputs, pagination=Pagination1(CursorPaginationParams(limit=4))))
    rest = retrievers_api.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(
        inputs=inputs, pagination=Pagination1(CursorPaginationParams(limit=4, cursor=first.pagination["next_cursor"]))))
    assert [d["document_id"] for d in first.documents + rest.documents] == [f"d{i}" for i in range(6)]

    explained = retrievers_api.execute_retriever(created.retriever_id, ExecuteRetrieverRequest(inputs=inputs),
                                                 explain=True, return_vectors=True)
    assert explained.explain_plan["stages"][0]["stage_name"] == "search"
    assert explained.documents[0]["vectors"]["emb"] == pytest.approx(vec(0), abs=1e-5)


def test_errors_come_back_as_the_sdks_exceptions(retrievers_api):
    retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(body("unique")))
    with pytest.raises(ApiException) as taken:
        retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(body("unique")))
    assert taken.value.status == 409 and "retriever_name_taken" in taken.value.body
    with pytest.raises(ApiException) as missing_input:
        retrievers_api.execute_retriever("unique", ExecuteRetrieverRequest(inputs={}))
    assert missing_input.value.status == 400 and "query_vector" in missing_input.value.body
    with pytest.raises(ApiException) as unknown:
        retrievers_api.execute_retriever("ret_nope", ExecuteRetrieverRequest(inputs={"query_vector": vec(0)}))
    assert unknown.value.status == 404
