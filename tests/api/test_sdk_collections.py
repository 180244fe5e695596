"""The official SDK's CollectionsApi, CollectionDocumentsApi and DocumentsApi against a live `openpeek serve`: the
SDK parses every answer into its own models, so a field we get wrong fails here."""

from __future__ import annotations

import json

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BatchDeleteDocumentsRequest,
    BatchGetDocumentsRequest,
    BucketCreateRequest,
    CreateCollectionRequest,
    DistinctValuesRequest,
    DocumentAggregationRequest,
    DocumentCreateRequest,
    ListCollectionsRequest,
    ListDocumentsRequest,
    NamespaceListDocumentsRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-collections"
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


@pytest.fixture(scope="module")
def client(server):
    api_client = sdk_client(server, NAMESPACE).api_client
    mixpeek.BucketsApi(api_client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "articles",
        "bucket_schema": {"properties": {"body": {"type": "text"}, "section": {"type": "string"},
                                         "words": {"type": "integer"}}}}))
    return api_client


@pytest.fixture(scope="module")
def collection(client):
    return mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "article-chunks", "source": {"type": "bucket", "bucket_ids": ["articles"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "body"},
                              "field_passthrough": [{"source_path": "section"}],
                              "parameters": {"extractor_type": "text_extractor", "split_by": "sentences",
                                             "chunk_size": 3}}}))


def test_create_get_list_and_features_parse(client, collection):
    api = mixpeek.CollectionsApi(client)
    assert collection.collection_id.startswith("col_") and collection.document_count == 0
    assert collection.feature_extractor.feature_extractor_id == "text_extractor_v1"
    assert set(collection.output_schema.properties) == {"section", "text"}
    assert collection.vector_indexes[0].feature_uri == URI
    assert api.get_collection("article-chunks").collection_id == collection.collection_id
    listed = api.list_collections(list_collections_request=ListCollectionsRequest(search="article"))
    assert [c.collection_name for c in listed.results] == ["article-chunks"] and listed.total_count == 1
    assert api.list_collections_get().total_count == 1
    [feature] = api.describe_collection_features(collection.collection_id).features
    assert feature.feature_uri == URI and feature.vector_index.dimensions == 384
    updated = api.update_collection(collection.collection_id, {"description": "chunks of articles"})
    assert updated.description == "chunks of articles"


def test_still_empty_documents_list_and_count(client, collection):
    documents = mixpeek.CollectionDocumentsApi(client)
    assert documents.count_documents(collection.collection_id).count == 0
    assert documents.list_documents_0(collection.collection_id).results == []
    assert documents.list_documents(collection.collection_id).results == []


def test_documents_through_the_sdk(client, collection):
    documents = mixpeek.CollectionDocumentsApi(client)
    made = [documents.create_document(collection.collection_id, DocumentCreateRequest.from_dict({
        "metadata": {"n": n}, "vectors": {URI: [float(n + 1)] * 384}, "section": ["news", "sport"][n % 2]}))
        for n in range(4)]
    assert all(d.collection_id == collection.collection_id for d in made)
    listed = documents.list_documents(collection.collection_id, list_documents_request=ListDocumentsRequest.from_dict(
        {"filters": {"AND": [{"field": "section", "operator": "eq", "value": "news"}]}, "include_total": True}))
    assert listed.total_documents == 2 and len(listed.results) == 2
    by_query = documents.list_documents_0(
        collection.collection_id, filters=json.dumps({"AND": [{"field": "metadata.n", "operator": "gte", "value": 2}]}))
    assert len(by_query.results) == 2
    first = made[0].document_id
    patched = documents.patch_document(collection.collection_id, first, {"section": "opinion"})
    assert patched.to_dict()["section"] == "opinion"
    got = documents.get_document(collection.collection_id, first, return_vectors=True)
    assert len(got.to_dict()["vectors"]["text_extractor_v1_embedding"]) == 384
    distinct = documents.distinct_document_values(collection.collection_id,
                                                  DistinctValuesRequest.from_dict({"field": "section"}))
    assert {v.value: v.count for v in distinct.values} == {"sport": 2, "news": 1, "opinion": 1}
    aggregated = documents.aggregate_documents(collection.collection_id, DocumentAggregationRequest.from_dict(
        {"group_by": [{"field": "section"}], "aggregations": [{"function": "count", "alias": "n"}]}))
    assert aggregated.total_groups == 3

    namespace_wide = mixpeek.DocumentsApi(client)
    everywhere = namespace_wide.list_documents_ns(namespace_list_documents_request=NamespaceListDocumentsRequest
                                                  .from_dict({"collection_ids": [collection.collection_id]}))
    assert len(everywhere.results) == 4 and everywhere.pagination.page_size == 10  # the SDK's default limit
    batch = namespace_wide.batch_get(BatchGetDocumentsRequest(document_ids=[first, "nope"]))
    assert [d.document_id for d in batch.documents] == [first] and batch.not_found == ["nope"]
    replaced = namespace_wide.update_document_ns(first, {"section": "archive"})
    assert replaced.to_dict()["section"] == "archive"

    deleted = documents.batch_delete(collection.collection_id,
                                     BatchDeleteDocumentsRequest(document_ids=[d.document_id for d in made]))
    assert deleted.deleted_count == 4
    assert documents.count_documents(collection.collection_id).count == 0


def test_catalogue_and_refusals(client, collection):
    catalogue = mixpeek.FeatureExtractorsApi(client).list_feature_extractors()
    assert {e.feature_extractor_id for e in catalogue} == {"text_extractor_v1", "passthrough_extractor_v1"}
    api = mixpeek.CollectionsApi(client)
    with pytest.raises(ApiException) as refused:
        api.create_collection(CreateCollectionRequest.from_dict({
            "collection_name": "bad", "source": {"type": "bucket", "bucket_ids": ["articles"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "input_mappings": {"text": "words"}}}))
    assert refused.value.status == 400 and "words" in refused.value.body
    with pytest.raises(ApiException) as missing:
        api.get_collection("col_nope")
    assert missing.value.status == 404


def test_manifest_carries_the_collection_to_a_new_namespace(client, collection):
    import yaml

    manifests = mixpeek.ManifestApi(client)
    exported = manifests.export_manifest_get(_headers={"X-Namespace": NAMESPACE})
    exported = json.loads(exported) if isinstance(exported, (str, bytes)) else exported
    assert [c["collection_name"] for c in exported["collections"]] == ["article-chunks"]
    assert exported["collections"][0]["source"] == {"type": "bucket", "bucket_ids": ["articles"]}
    exported["namespace"]["namespace_name"] = f"{NAMESPACE}-copy"
    assert manifests.apply_manifest(yaml.safe_dump(exported)).success
    copy_client = sdk_client((client.configuration.host, client.configuration.access_token), f"{NAMESPACE}-copy",
                             create=False).api_client
    copy = mixpeek.CollectionsApi(copy_client).get_collection("article-chunks")
    assert copy.collection_id != collection.collection_id and copy.document_count == 0
    assert copy.output_schema.to_dict() == collection.output_schema.to_dict()
