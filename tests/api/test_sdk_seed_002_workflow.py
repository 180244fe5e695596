"""Seed 002's full workflow through the official SDK against a live `openpeek serve`: standalone → upsert →
retriever in vector mode → validate → promote → the same retriever, switched to text mode, finds the same documents.

The vectors are real all-MiniLM-L6-v2 embeddings (computed through POST /v1/inference), so text queries after
promotion must land on the semantically right documents."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek import Mixpeek
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BYOUpsertRequest,
    CreateRetrieverRequest,
    CreateStandaloneNamespaceRequestModel,
    ExecuteRetrieverRequest,
    PatchRetrieverRequest,
    PromoteNamespaceRequestModel,
    RawInferenceRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

TEXTS = {
    "contract-1": ("This lease agreement is terminated if the tenant fails to pay rent.", "contracts"),
    "contract-2": ("The employment contract includes a non-compete clause for two years.", "contracts"),
    "ruling-1": ("The supreme court ruled that the search violated the fourth amendment.", "rulings"),
    "ruling-2": ("The appeals court overturned the conviction because of jury misconduct.", "rulings"),
    "memo-1": ("Quarterly budget memo: travel expenses must be approved in advance.", "memos"),
}


@pytest.fixture(scope="module")
def api_client(server):
    return sdk_client(server).api_client


def _retriever_body(name: str, mode: str) -> dict:
    value = "{{INPUT.query_vector}}" if mode == "vector" else "{{INPUT.q}}"
    schema = ({"query_vector": {"type": "array", "required": True}} if mode == "vector"
              else {"q": {"type": "string", "required": True}})
    return {
        "retriever_name": name,
        "input_schema": schema,
        "stages": [{
            "stage_name": "search",
            "stage_type": "filter",
            "config": {
                "stage_id": "feature_search",
                "parameters": {
                    "searches": [{
                        "feature_uri": "text_embedding",
                        "query": {"input_mode": mode, "value": value},
                        "top_k": 3,
                    }],
                    "final_top_k": 3,
                },
            },
        }],
    }


def test_seed_002_workflow(api_client):
    inference = mixpeek.InferenceApi(api_client)
    documents_api = mixpeek.BYODocumentsApi(api_client)
    namespaces_api = mixpeek.NamespacesApi(api_client)
    retrievers_api = mixpeek.RetrieversApi(api_client)

    # 0. The user's "own" embeddings: all-MiniLM-L6-v2 vectors, 384-d.
    embedded = inference.execute_raw_inference(RawInferenceRequest(
        inference_name="all_minilm_l6_v2", inputs={"texts": [text for text, _ in TEXTS.values()]}))
    vectors = dict(zip(TEXTS, embedded.data["embeddings"]))
    assert all(len(vector) == 384 for vector in vectors.values())

    # 1. Start standalone.
    created = documents_api.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="legal-docs", vector_configs=[{"name": "text_embedding", "dimension": 384, "metric": "cosine"}]))
    assert created.namespace_id == "legal-docs" and created.mode == "standalone"
    assert namespaces_api.get_namespace("legal-docs").mode == "standalone"

    # 2. Load.
    upserted = documents_api.upsert_documents_byo_namespaces("legal-docs", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": doc_id, "vectors": {"text_embedding": vectors[doc_id]},
         "payload": {"text": text, "category": category}}
        for doc_id, (text, category) in TEXTS.items()
    ]}))
    assert upserted.inserted == 5 and sorted(upserted.document_ids) == sorted(TEXTS)

    # ... and validate retrieval with a vector-mode retriever.
    retrievers_api.api_client.configuration.api_key["NamespaceHeader"] = "legal-docs"
    retriever = retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(
        _retriever_body("legal_search", "vector")))
    by_vector = retrievers_api.execute_retriever(retriever.retriever_id, ExecuteRetrieverRequest(
        inputs={"query_vector": vectors["ruling-1"]}))
    assert by_vector.documents[0]["document_id"] == "ruling-1"
    assert by_vector.documents[0]["category"] == "rulings"

    # A text query before promotion has nothing to embed it with.
    text_retriever_body = _retriever_body("legal_text", "text")
    text_retriever = retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(text_retriever_body))
    with pytest.raises(ApiException) as unmapped:
        retrievers_api.execute_retriever(text_retriever.retriever_id,
                                         ExecuteRetrieverRequest(inputs={"q": "court decision"}))
    assert unmapped.value.status == 400 and "no_inference_service" in unmapped.value.body

    # 3. Validate, then promote.
    mapping = {"vector_mappings": [{"existing_index": "text_embedding", "inference_service": "all_minilm_l6_v2"}]}
    validation = documents_api.validate_promotion_namespaces_id_promote(
        "legal-docs", PromoteNamespaceRequestModel.from_dict(mapping))
    assert validation.valid is True and validation.current_mode == "standalone"
    promoted = documents_api.promote_namespace("legal-docs", PromoteNamespaceRequestModel.from_dict(mapping))
    assert (promoted.previous_mode, promoted.mode) == ("standalone", "managed")
    assert promoted.vector_inference_map == {"text_embedding": "all_minilm_l6_v2"}

    # 4. The same retrievers keep working: the vector one unchanged, the text one now embeds the query.
    again = retrievers_api.execute_retriever(retriever.retriever_id, ExecuteRetrieverRequest(
        inputs={"query_vector": vectors["ruling-1"]}))
    assert [d["document_id"] for d in again.documents] == [d["document_id"] for d in by_vector.documents]
    by_text = retrievers_api.execute_retriever(text_retriever.retriever_id, ExecuteRetrieverRequest(
        inputs={"q": "a judge overturned a criminal conviction"}))
    assert by_text.documents[0]["document_id"] in ("ruling-1", "ruling-2")
    assert {d["document_id"] for d in by_text.documents[:2]} == {"ruling-1", "ruling-2"}

    # The vector retriever flipped to text mode in place (seed 002 step 4) answers the same way.
    patched = retrievers_api.patch_retriever(retriever.retriever_id, PatchRetrieverRequest.from_dict({
        "input_schema": text_retriever_body["input_schema"], "stages": text_retriever_body["stages"]}))
    assert patched.retriever.version == 2
    flipped = retrievers_api.execute_retriever(retriever.retriever_id, ExecuteRetrieverRequest(
        inputs={"q": "a judge overturned a criminal conviction"}))
    assert [d["document_id"] for d in flipped.documents] == [d["document_id"] for d in by_text.documents]

    # Direct upsert keeps working after promotion.
    extra = inference.execute_raw_inference(RawInferenceRequest(
        inference_name="all_minilm_l6_v2", inputs={"text": "The court dismissed the lawsuit for lack of standing."}))
    documents_api.upsert_documents_byo_namespaces("legal-docs", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": "ruling-3", "vectors": {"text_embedding": extra.data["embedding"]},
         "payload": {"category": "rulings"}}]}))
    fetched = documents_api.get_document_byo_namespaces("legal-docs", "ruling-3")
    assert fetched["document_id"] == "ruling-3" and fetched["category"] == "rulings"

    # Promotion is one way.
    with pytest.raises(ApiException) as twice:
        documents_api.promote_namespace("legal-docs", PromoteNamespaceRequestModel.from_dict(mapping))
    assert twice.value.status == 400 and "not_standalone" in twice.value.body


def test_high_level_client_standalone_and_promote(server):
    base, key, _ = server
    client = Mixpeek(key, base_url=f"{base}/v1")
    created = client.namespaces.create(namespace_id="product-search",
                                       vector_configs=[{"name": "text_embedding", "dimension": 384}])
    assert created["namespace_id"] == "product-search" and created["mode"] == "standalone"
    result = client.namespaces.documents.upsert(namespace_id="product-search", documents=[
        {"document_id": "p1", "vectors": {"text_embedding": [0.1] * 384}, "payload": {"category": "audio"}}])
    assert result["inserted"] == 1
    promoted = client.namespaces.promote("product-search", add_vectors=[
        {"name": "image_embedding", "dimension": 512, "metric": "cosine"}])
    assert promoted["mode"] == "managed"
    assert [c["name"] for c in promoted["vector_configs"]] == ["text_embedding", "image_embedding"]


def test_retriever_read_list_and_delete_parse_in_the_sdk(server):
    retrievers_api = mixpeek.RetrieversApi(sdk_client(
        server, "sdk-retrievers", vector_configs=[{"name": "emb", "dimension": 3}]).api_client)
    body = _retriever_body("listed", "vector")
    body["stages"][0]["config"]["parameters"]["searches"][0]["feature_uri"] = "emb"
    created = retrievers_api.create_retriever(CreateRetrieverRequest.from_dict(body))
    fetched = retrievers_api.get_retriever(created.retriever_id)
    assert fetched.retriever_name == "listed" and fetched.stages[0].parameters["final_top_k"] == 3
    listed = retrievers_api.list_retrievers()
    assert [r.retriever_id for r in listed.results] == [created.retriever_id] and listed.total == 1
    retrievers_api.delete_retriever(created.retriever_id)
    with pytest.raises(ApiException) as gone:
        retrievers_api.get_retriever(created.retriever_id)
    assert gone.value.status == 404
