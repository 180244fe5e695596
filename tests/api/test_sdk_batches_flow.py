"""The managed flow through the official SDK against a live `openpeek serve`, as the README shows it: bucket →
collection with text_extractor → objects (inline text and a PDF) → batch submit → poll to COMPLETED → a retriever's
text search finds the right document; a webhook (a loopback receiver) gets batch.completed, signed."""

from __future__ import annotations

import base64
import time

import mixpeek
import pytest
from mixpeek.models import (
    BucketCreateRequest,
    CreateBatchRequest,
    CreateCollectionRequest,
    CreateNamespaceRequest,
    CreateObjectRequest,
    CreateRetrieverRequest,
    ExecuteRetrieverRequest,
    SubmitBatchRequest,
)

from tests.api.conftest import sdk_client
from tests.pdf_bytes import pdf_with_pages
from tests.webhook_receiver import receiver  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

NS = {"X-Namespace": "sdk-ingest"}
ARTICLES = {
    "volcano": "Volcanoes erupt when molten rock from the mantle rises through the crust as lava.",
    "orchestra": "A symphony orchestra has strings, woodwinds, brass and percussion led by a conductor.",
    "espresso": "Espresso is brewed by forcing hot water through finely ground coffee beans under pressure.",
}


def test_bucket_to_searchable_documents_through_the_sdk(server, receiver):
    _, key, _ = server
    client = sdk_client(server).api_client
    mixpeek.NamespacesApi(client).create_namespace(CreateNamespaceRequest.from_dict({
        "namespace_name": "sdk-ingest",
        "feature_extractors": [{"feature_extractor_name": "text_extractor", "version": "v1"}]}))
    hook = client.call_api(*client.param_serialize(
        "POST", "/v1/organizations/webhooks", body={"webhook_name": "ingest", "url": receiver.url,
                                                    "event_types": ["batch.completed"]},
        header_params={"Content-Type": "application/json", "Authorization": f"Bearer {key}"}))
    hook.read()
    assert hook.status == 200, hook.data

    mixpeek.BucketsApi(client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "articles", "bucket_schema": {"properties": {
            "content": {"type": "text"}, "scan": {"type": "pdf"}, "topic": {"type": "string"}}}}), _headers=NS)
    collection = mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "passages", "source": {"type": "bucket", "bucket_ids": ["articles"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "content"}, "field_passthrough": [{"source_path": "topic"}],
                              "parameters": {"extractor_type": "text_extractor", "split_by": "sentences",
                                             "chunk_size": 3}}}), _headers=NS)
    pdf_collection = mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "scans", "source": {"type": "bucket", "bucket_ids": ["articles"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "scan"}, "field_passthrough": [{"source_path": "topic"}],
                              "parameters": {"extractor_type": "text_extractor", "split_by": "sentences",
                                             "chunk_size": 3}}}), _headers=NS)

    objects = mixpeek.BucketObjectsApi(client)
    ids = {}
    for topic, text in ARTICLES.items():
        created = objects.create_object_buckets("articles", CreateObjectRequest.from_dict({
            "blobs": [{"property": "content", "type": "text", "data": text}], "topic": topic}), _headers=NS)
        ids[topic] = created.object_id
    scan = pdf_with_pages(["Glaciers are rivers of ice that carve deep valleys.",
                           "Tides rise and fall with the pull of the moon."])
    ids["tides"] = objects.create_object_buckets("articles", CreateObjectRequest.from_dict({
        "blobs": [{"property": "scan", "type": "pdf", "data": base64.b64encode(scan).decode()}],
        "topic": "tides"}), _headers=NS).object_id

    batches = mixpeek.BucketBatchesApi(client)
    batch = batches.create_batch_buckets_batches("articles", CreateBatchRequest(object_ids=list(ids.values())),
                                                 _headers=NS)
    assert batch.status == "DRAFT"
    task = batches.submit_batch_buckets_batches("articles", batch.batch_id,
                                                submit_batch_request=SubmitBatchRequest(), _headers=NS)
    assert task.task_type == "api_buckets_batches_process"

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        batch = batches.get_batch_buckets_batches("articles", batch.batch_id, _headers=NS)
        if batch.status in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED") and batch.documents_resolvable:
            break
        time.sleep(0.5)
    # Each object is read by one of the two collections; the other finds no input in it and skips it.
    assert batch.status == "COMPLETED", batch.failure_reason
    assert batch.progress.documents_skipped == 4
    assert batch.documents_resolvable is True
    assert sorted(batch.dag_tiers[0]) == sorted([collection.collection_id, pdf_collection.collection_id])

    retrievers = mixpeek.RetrieversApi(client)
    retriever = retrievers.create_retriever(CreateRetrieverRequest.from_dict({
        "retriever_name": "ask", "collection_identifiers": ["passages", "scans"],
        "input_schema": {"q": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {
                "searches": [{"feature_uri": "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1",
                              "query": {"input_mode": "text", "value": "{{INPUT.q}}"}, "top_k": 3}],
                "final_top_k": 3}}}]}), _headers=NS)

    def top(question: str) -> dict:
        result = retrievers.execute_retriever("ask", ExecuteRetrieverRequest(inputs={"q": question}), _headers=NS)
        return result.documents[0]

    assert top("how is coffee brewed under pressure?")["source_object_id"] == ids["espresso"]
    assert top("which instruments does a conductor lead?")["topic"] == "orchestra"
    tides = top("what makes the sea level rise and fall?")
    assert tides["source_object_id"] == ids["tides"] and tides["page_number"] == 2

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not receiver.events("batch.completed"):
        time.sleep(0.2)
    delivered = receiver.events("batch.completed")
    assert len(delivered) == 1
    assert delivered[0]["body"]["data"]["batch_id"] == batch.batch_id
    assert "X-Openpeek-Signature" in delivered[0]["headers"]


def test_bulk_submit_submit_all_and_a_batch_s_reports_through_the_sdk(server):
    from mixpeek.exceptions import ApiException
    from mixpeek.models import (
        BatchDiagnostics,
        BodyHealTierV1BucketsBucketIdentifierBatchesBatchIdTiersTierNumHealPost,
        BulkSubmitBatchesRequest,
        TierAuditInfo,
    )

    client = sdk_client(server).api_client
    ns = {"X-Namespace": "sdk-batch-ops"}
    mixpeek.NamespacesApi(client).create_namespace(CreateNamespaceRequest.from_dict({
        "namespace_name": "sdk-batch-ops",
        "feature_extractors": [{"feature_extractor_name": "text_extractor", "version": "v1"}]}))
    mixpeek.BucketsApi(client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "notes", "bucket_schema": {"properties": {"content": {"type": "text"}}}}), _headers=ns)
    mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": "note-passages", "source": {"type": "bucket", "bucket_ids": ["notes"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "content"}}}), _headers=ns)
    objects = mixpeek.BucketObjectsApi(client)
    ids = [objects.create_object_buckets("notes", CreateObjectRequest.from_dict({
        "blobs": [{"property": "content", "type": "text", "data": text}]}), _headers=ns).object_id
        for text in ARTICLES.values()]

    batches = mixpeek.BucketBatchesApi(client)
    bulk = batches.bulk_submit_batches_buckets("notes", BulkSubmitBatchesRequest(chunk_size=2), _headers=ns)
    assert (bulk.total_objects, bulk.total_batches, bulk.submitted, bulk.failed) == (3, 2, 2, 0)
    batch_id = bulk.batches[0].batch_id
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        states = [batches.get_batch_buckets_batches("notes", entry.batch_id, _headers=ns) for entry in bulk.batches]
        if all(state.status == "COMPLETED" and state.documents_resolvable for state in states):
            break
        time.sleep(0.5)
    assert [state.status for state in states] == ["COMPLETED", "COMPLETED"]

    diagnosis = BatchDiagnostics.from_dict(batches.diagnose_batch_buckets_batches("notes", batch_id, _headers=ns))
    assert (diagnosis.health, diagnosis.total_objects, diagnosis.tiers[0].status) == ("ok", 2, "COMPLETED")
    audit = batches.get_batch_audit_buckets_batches("notes", batch_id, _headers=ns)
    assert TierAuditInfo.from_dict(audit["tiers"][0]).balanced is True
    estimate = batches.estimate_batch_cost_buckets_batches("notes", batch_id, _headers=ns)
    assert (estimate.object_count, estimate.already_extracted_count, estimate.estimated_credits) == (2, 2, 0)
    healed = batches.heal_tier_buckets_batches_batch_id_num(
        "notes", batch_id, 0, BodyHealTierV1BucketsBucketIdentifierBatchesBatchIdTiersTierNumHealPost(
            action="sync_status"), _headers=ns)
    assert healed["changes"] == [] and healed["tier_status"] == "COMPLETED"
    for call in (lambda: batches.cancel_tier_buckets_batches_batch_id_num("notes", batch_id, 0, _headers=ns),
                 lambda: batches.retry_tier_buckets_batches_batch_id_num("notes", batch_id, 0, {}, _headers=ns),
                 lambda: batches.cancel_job_buckets_batches_batch_id_tiers_num_ray("notes", batch_id, 0,
                                                                                   "job_t0_p00000", _headers=ns)):
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 409

    draft = batches.create_batch_buckets_batches("notes", CreateBatchRequest(object_ids=ids[:1]), _headers=ns)
    submitted = batches.submit_all_drafts_buckets_batches("notes", _headers=ns)
    assert (submitted["submitted"], submitted["batches"][0]["batch_id"]) == (1, draft.batch_id)
