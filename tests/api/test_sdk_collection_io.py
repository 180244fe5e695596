"""The official SDK's CollectionsApi clone, trigger, reconciliation, export, import, import/infer and
import/validate-mapping against a live `openpeek serve`: the SDK serialises each request and parses each answer into
its own models, so a field either side gets wrong fails here."""

from __future__ import annotations

import json
import time
import urllib.request

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BucketCreateRequest,
    CloneCollectionRequest,
    CollectionExportRequest,
    CreateCollectionRequest,
    CreateObjectsBatchRequest,
    ImportRequest,
    MappingValidationRequest,
    SchemaInferenceRequest,
    TriggerCollectionRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-collection-io"


@pytest.fixture(scope="module")
def client(server):
    api_client = sdk_client(server, NAMESPACE).api_client
    mixpeek.BucketsApi(api_client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "notes", "bucket_schema": {"properties": {"body": {"type": "text"},
                                                                 "topic": {"type": "string"}}}}))
    mixpeek.BucketObjectsApi(api_client).create_objects_batch_buckets("notes", CreateObjectsBatchRequest.from_dict({
        "objects": [{"blobs": [{"property": "body", "type": "text", "data": f"note {topic}"}],
                     "metadata": {"topic": topic}} for topic in ("tea", "jazz")]}))
    mixpeek.CollectionsApi(api_client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "notes-rows", "source": {"type": "bucket", "bucket_ids": ["notes"]},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "topic"}]}}))
    return api_client


def test_clone_trigger_reconcile_and_export(client):
    collections = mixpeek.CollectionsApi(client)
    cloned = collections.clone_collection("notes-rows", CloneCollectionRequest.from_dict({
        "collection_name": "notes-rows-2", "metadata": {"variant": "b"}}))
    assert cloned.collection.collection_name == "notes-rows-2" and cloned.collection.metadata == {"variant": "b"}
    assert cloned.source_collection_id == collections.get_collection("notes-rows").collection_id

    before = collections.reconcile_collection_reconciliation("notes-rows-2", limit=10)
    assert (before.source_object_count, before.produced_object_count, before.delta) == (2, 0, 2)

    triggered = collections.trigger_collection("notes-rows-2", TriggerCollectionRequest.from_dict({
        "dedup_strategy": "skip"}))
    assert triggered.object_count == 2 and triggered.total_tiers == 1
    batches = mixpeek.BatchesApi(client)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch = batches.get_batch_by_id_batches(triggered.batch_id)
        if batch.status in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED") and batch.documents_resolvable:
            break
        time.sleep(0.3)
    assert batch.status == "COMPLETED", batch.failure_reason
    after = collections.reconcile_collection_reconciliation("notes-rows-2")
    assert (after.produced_object_count, after.document_count, after.delta) == (2, 2, 0)
    assert collections.reconcile_collection_reconciliation("notes-rows").delta == 2  # the source collection untouched

    exported = collections.export_collection("notes-rows-2", CollectionExportRequest.from_dict({"format": "json"}))
    assert exported.document_count == 2
    with urllib.request.urlopen(exported.download_url) as response:  # no API key: the URL is signed
        rows = [json.loads(line) for line in response.read().splitlines()]
    assert sorted(row["topic"] for row in rows) == ["jazz", "tea"]

    with pytest.raises(ApiException) as missing:
        collections.trigger_collection("nowhere", TriggerCollectionRequest())
    assert missing.value.status == 404


def test_infer_validate_and_import(client):
    collections = mixpeek.CollectionsApi(client)
    sample = {"sku": "A-1", "title": "Kettle", "price": 30, "added": "2026-01-02T10:00:00Z"}
    inferred = collections.infer_import_schema(SchemaInferenceRequest.from_dict({"sample_rows": [sample]}))
    types = {field.path: field.type for field in inferred.fields}
    assert types == {"sku": "string", "title": "string", "price": "integer", "added": "datetime"}
    mapping = {"source_type": "bucket", "fields": [
        {"source_field": field.path, "target": field.suggested_target.to_dict()} for field in inferred.fields]}
    checked = collections.validate_import_mapping(MappingValidationRequest.from_dict({
        "mapping": mapping, "source_fields": [{"path": f.path, "type": f.type} for f in inferred.fields]}))
    assert checked.ok is True and not checked.errors
    imported = collections.import_collection("notes-rows", ImportRequest.from_dict({
        "export": sample, "mapping": mapping}))
    assert (imported.imported, imported.reconstructed, imported.skipped) == (1, 1, 0)
    listed = mixpeek.CollectionDocumentsApi(client).list_documents("notes-rows").results
    assert [doc.to_dict()["metadata"] for doc in listed] == [
        {"sku": "A-1", "title": "Kettle", "price": 30, "added": "2026-01-02T10:00:00Z"}]
