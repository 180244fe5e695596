"""Seed 002, step 5, through the official SDK against a live `openpeek serve`: after promotion a collection with an
extractor processes new objects by itself (no batch submitted), and the documents upserted before promotion stay
beside the extracted ones, both found by one text query."""

from __future__ import annotations

import time

import mixpeek
import pytest
from mixpeek.models import (
    BucketCreateRequest,
    BYOUpsertRequest,
    CreateCollectionRequest,
    CreateObjectRequest,
    CreateObjectsBatchRequest,
    CreateRetrieverRequest,
    CreateStandaloneNamespaceRequestModel,
    ExecuteRetrieverRequest,
    PromoteNamespaceRequestModel,
    RawInferenceRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NS = {"X-Namespace": "product-search"}
NEW = {
    "kettle": "An electric kettle boils water for tea in under three minutes.",
    "tent": "A two-person tent keeps campers dry in wind and heavy rain.",
    "skates": "Inline skates with eight wheels for smooth rides on city streets.",
}


def test_new_objects_of_a_promoted_namespace_become_documents_without_a_submit(server):
    client = sdk_client(server).api_client
    documents = mixpeek.BYODocumentsApi(client)

    # Standalone, with a document of the user's own vectors; then promoted.
    documents.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="product-search", vector_configs=[{"name": "text_embedding", "dimension": 384}]))
    own = mixpeek.InferenceApi(client).execute_raw_inference(RawInferenceRequest(
        inference_name="all_minilm_l6_v2", inputs={"text": "Noise cancelling wireless headphones."}))
    documents.upsert_documents_byo_namespaces("product-search", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": "headphones", "vectors": {"text_embedding": own.data["embedding"]},
         "payload": {"name": "headphones"}}]}))
    documents.promote_namespace("product-search", PromoteNamespaceRequestModel.from_dict({"vector_mappings": [
        {"existing_index": "text_embedding", "inference_service": "all_minilm_l6_v2"}]}))

    # Step 5: a collection with an extractor; new objects, one bulk request and one single.
    mixpeek.BucketsApi(client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "catalog", "bucket_schema": {"properties": {
            "description": {"type": "text"}, "name": {"type": "string"}}}}), _headers=NS)
    mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "products", "source": {"type": "bucket", "bucket_ids": ["catalog"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "description"},
                              "field_passthrough": [{"source_path": "name"}]}}), _headers=NS)
    objects = mixpeek.BucketObjectsApi(client)
    bulk = objects.create_objects_batch_buckets("catalog", CreateObjectsBatchRequest.from_dict({"objects": [
        {"blobs": [{"property": "description", "type": "text", "data": NEW[name]}], "metadata": {"name": name}}
        for name in ("kettle", "tent")]}), _headers=NS)
    single = objects.create_object_buckets("catalog", CreateObjectRequest.from_dict({
        "blobs": [{"property": "description", "type": "text", "data": NEW["skates"]}], "name": "skates"}),
        _headers=NS)
    created = [entry.object_id for entry in bulk.succeeded] + [single.object_id]

    batches = mixpeek.BucketBatchesApi(client)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        listed = batches.list_batches_buckets("catalog", _headers=NS).results
        if listed and all(b.status == "COMPLETED" and b.documents_resolvable for b in listed):
            break
        time.sleep(0.5)
    [batch] = listed
    assert batch.status == "COMPLETED" and batch.documents_written == 3
    assert sorted(batch.object_ids) == sorted(created) and batch.metadata.to_dict()["auto_processed"] is True
    for object_id in created:
        assert objects.get_object_buckets("catalog", object_id, _headers=NS).status == "COMPLETED"

    # The extracted documents are found by a text query; the one upserted before promotion is still there.
    retrievers = mixpeek.RetrieversApi(client)
    retrievers.create_retriever(CreateRetrieverRequest.from_dict({
        "retriever_name": "shop", "collection_identifiers": ["products"],
        "input_schema": {"q": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {
                "searches": [{"feature_uri": "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1",
                              "query": {"input_mode": "text", "value": "{{INPUT.q}}"}, "top_k": 3}],
                "final_top_k": 3}}}]}), _headers=NS)
    hits = retrievers.execute_retriever("shop", ExecuteRetrieverRequest(
        inputs={"q": "camping shelter for rainy weather"}), _headers=NS).documents
    assert hits[0]["name"] == "tent" and hits[0]["source_object_id"] == bulk.succeeded[1].object_id
    kept = documents.get_document_byo_namespaces("product-search", "headphones")
    assert kept["document_id"] == "headphones" and kept["name"] == "headphones"
