"""Batches run a bucket's objects through its collections' extractors and write searchable documents: the routes of
BucketBatchesApi / BatchesApi (every answer parsed with the SDK's models), with the real local text model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from mixpeek.models.batch_model import BatchModel
from mixpeek.models.list_batches_response import ListBatchesResponse
from mixpeek.models.task_response import TaskResponse

from openpeek.api.app import create_app
from openpeek.domain.buckets import Bucket
from openpeek.domain.collections import Collection, CollectionSource, CollectionVectorIndex, ExtractorConfig
from openpeek.domain.objects import BucketObject, content_hash, new_object_id, object_blob_key
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.vectors import SearchRequest
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.objects import ObjectRepository
from tests.pdf_bytes import pdf_with_pages

TEXTS = {
    "cats": "Cats are small domesticated felines that purr, hunt mice and sleep most of the day.",
    "rockets": "A rocket engine burns propellant and expels exhaust to produce thrust for spaceflight.",
    "bread": "Sourdough bread rises through wild yeast fermentation before it is baked in a hot oven.",
}
INDEX = "text_extractor_v1_embedding"


class World:
    def __init__(self, services, tenant) -> None:
        self.services = services
        self.client = TestClient(create_app(services), raise_server_exceptions=False)
        created = self.client.post("/v1/namespaces", headers=tenant.headers, json={
            "namespace_name": "ingest", "feature_extractors": [{"feature_extractor_name": "text_extractor",
                                                                "version": "v1"}]})
        assert created.status_code == 200, created.text
        self.namespace_id = created.json()["namespace_id"]
        self.headers = {**tenant.headers, "X-Namespace": self.namespace_id}
        self.org_id = tenant.org_id
        self.bucket = Bucket(bucket_id="bkt_docs", bucket_name="docs", namespace_id=self.namespace_id,
                             org_id=tenant.org_id, bucket_schema={"properties": {"content": {"type": "text"},
                                                                                 "title": {"type": "string"}}},
                             created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
        BucketRepository(services.table).create(self.bucket)
        self.collection = Collection(
            collection_id="col_text", collection_name="text", namespace_id=self.namespace_id,
            source=CollectionSource("bucket", bucket_ids=("bkt_docs",)),
            feature_extractor=ExtractorConfig("text_extractor", "v1", {"text": "content"},
                                              ({"source_path": "title"},), {"split_by": "sentences", "chunk_size": 2}),
            input_schema={}, output_schema={},
            vector_indexes=(CollectionVectorIndex("mixpeek://text_extractor@v1/all_minilm_l6_v2_v1", INDEX, 384,
                                                  "cosine", "all_minilm_l6_v2"),),
            created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
        CollectionRepository(services.table).create(self.collection)

    def add_copy_collection(self) -> None:
        """col_copy reads col_text's documents (their titles): a batch of the bucket runs in two tiers."""
        CollectionRepository(self.services.table).create(Collection(
            collection_id="col_copy", collection_name="copy", namespace_id=self.namespace_id,
            source=CollectionSource("collection", collection_id="col_text"),
            feature_extractor=ExtractorConfig("passthrough_extractor", "v1", {}, ({"source_path": "title"},), {},
                                              include_all_source_fields=False),
            input_schema={}, output_schema={}, created_at="2026-01-01T00:00:00Z",
            updated_at="2026-01-01T00:00:00Z"))

    def add_object(self, data: bytes, *, title: str, blob_type: str = "text", mime: str = "text/plain") -> str:
        object_id = new_object_id()
        key = object_blob_key(self.namespace_id, "bkt_docs", object_id, "content", f"blob_{object_id}")
        self.services.blobs.put(key, data, mime)
        ObjectRepository(self.services.table).create(BucketObject(
            object_id=object_id, bucket_id="bkt_docs", namespace_id=self.namespace_id, org_id=self.org_id,
            blobs=({"blob_id": f"blob_{object_id}", "property": "content", "type": blob_type, "blob_key": key,
                    "size_bytes": len(data), "mime_type": mime, "content_hash": content_hash(data)},),
            metadata={"title": title}, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
        return object_id

    def object(self, object_id: str) -> BucketObject:
        return ObjectRepository(self.services.table).get(self.org_id, self.namespace_id, "bkt_docs", object_id)

    def wait(self, batch_id: str) -> BatchModel:
        assert self.services.batch_worker.wait_idle(120)
        answer = self.client.get(f"/v1/buckets/docs/batches/{batch_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return BatchModel.from_dict(answer.json())

    def search(self, text: str, limit: int = 3):
        vector = self.services.inference.embedder("all_minilm_l6_v2").embed_texts([text])[0]
        return self.services.vectors.query(self._collection(), [SearchRequest(INDEX, vector, limit=limit)])[0]

    def _collection(self) -> str:
        namespace = self.services.namespaces.resolve(_principal(self.org_id), self.namespace_id)
        return namespace.collection

    def count(self, **match) -> int:
        conditions = tuple(MatchValue(key, value) for key, value in match.items())
        return self.services.vectors.count(self._collection(), Filter(must=conditions))


def _principal(org_id: str):
    from openpeek.services.organizations import Principal

    return Principal(org_id=org_id, key_id="test")


@pytest.fixture
def world(services, tenant):
    return World(services, tenant)


def test_a_submitted_batch_writes_searchable_documents_from_text_and_pdf(world):
    ids = {name: world.add_object(text.encode(), title=name) for name, text in TEXTS.items()}
    pdf = world.add_object(pdf_with_pages(["Glaciers carve valleys as they slowly flow downhill.",
                                           "Volcanoes erupt molten lava from the mantle."]),
                           title="earth", blob_type="pdf", mime="application/pdf")
    draft = world.client.post("/v1/buckets/docs/batches", headers=world.headers,
                              json={"object_ids": [*ids.values(), pdf], "batch_name": "first"})
    assert draft.status_code == 200, draft.text
    batch = BatchModel.from_dict(draft.json())
    assert batch.status == "DRAFT" and batch.documents_resolvable is False

    submitted = world.client.post(f"/v1/buckets/docs/batches/{batch.batch_id}/submit", headers=world.headers,
                                  json={})
    assert submitted.status_code == 200, submitted.text
    task = TaskResponse.from_dict(submitted.json())
    assert task.task_type == "api_buckets_batches_process"

    done = world.wait(batch.batch_id)
    assert done.status == "COMPLETED", done.failure_reason
    assert done.documents_resolvable is True
    assert done.documents_written == 5  # three texts (one chunk each) and the PDF's two pages
    assert done.progress.processed == 4 and done.progress.percent == 100.0
    assert done.dag_tiers == [["col_text"]]

    best = world.search("which animal purrs and catches mice?")[0]
    assert best.payload["source_object_id"] == ids["cats"]
    assert best.payload["title"] == "cats" and best.payload["collection_id"] == "col_text"
    lava = world.search("molten lava eruption")[0]
    assert lava.payload["source_object_id"] == pdf and lava.payload["page_number"] == 2

    assert world.object(ids["rockets"]).status == "COMPLETED" and world.object(ids["rockets"]).document_count == 1
    assert world.object(pdf).document_count == 2

    finished = TaskResponse.from_dict(world.client.get(f"/v1/tasks/{task.task_id}", headers=world.headers).json())
    assert finished.status == "COMPLETED"
    assert finished.additional_data["progress"]["processed"] == 4


def test_an_unreadable_object_fails_alone_and_a_resubmit_never_duplicates(world):
    good = world.add_object(TEXTS["bread"].encode(), title="bread")
    broken = world.add_object(b"%PDF-1.4 this is not a pdf", title="broken", blob_type="pdf",
                              mime="application/pdf")
    created = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                                json={"object_ids": [good, broken]})
    assert created.status_code == 200, created.text
    batch_id = created.json()["batch_id"]
    done = world.wait(batch_id)
    assert done.status == "COMPLETED_WITH_ERRORS"
    assert [record.object_id for record in done.failed_objects] == [broken]
    assert "PDF cannot be read" in done.failed_objects[0].error
    assert done.failed_objects[0].error_type == "permanent"
    assert world.object(broken).status == "FAILED" and "PDF" in world.object(broken).error
    assert world.object(good).status == "COMPLETED"
    failed = world.client.get(f"/v1/buckets/docs/batches/{batch_id}/failed-documents", headers=world.headers)
    assert [entry["object_id"] for entry in failed.json()["failed_documents"]] == [broken]

    # A permanent failure is not retried by default; retry_mode "all" runs the failed object (only) again.
    refused = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/retry", headers=world.headers, json={})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "nothing_to_retry"
    retried = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/retry", headers=world.headers,
                                json={"retry_mode": "all"})
    assert retried.status_code == 200 and retried.json()["retried_object_count"] == 1
    assert world.wait(batch_id).status == "FAILED"  # its only object is still broken

    before = world.count(collection_id="col_text")
    resubmitted = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/resubmit", headers=world.headers)
    assert resubmitted.status_code == 200, resubmitted.text
    again = world.wait(batch_id)
    assert again.status == "COMPLETED_WITH_ERRORS"
    assert again.progress.objects_skipped == 1  # dedup 'skip': the good object has its document already
    assert world.count(collection_id="col_text") == before == 1


def test_replace_rewrites_an_objects_documents_and_drops_the_stale_ones(world):
    long_text = "One. Two. Three. Four."
    object_id = world.add_object(long_text.encode(), title="count")
    first = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                              json={"object_ids": [object_id]}).json()["batch_id"]
    assert world.wait(first).documents_written == 2
    # Its text shrank to one sentence: run again with 'replace', it has one document and the stale second goes.
    world.services.blobs.put(world.object(object_id).blobs[0]["blob_key"], b"Only one.", "text/plain")
    second = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                               json={"object_ids": [object_id], "dedup_strategy": "replace"}).json()["batch_id"]
    done = world.wait(second)
    assert done.status == "COMPLETED" and done.documents_written == 1 and done.documents_replaced == 1
    assert world.count(source_object_id=object_id) == 1


def test_skip_leaves_processed_objects_alone(world):
    object_id = world.add_object(TEXTS["cats"].encode(), title="cats")
    first = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                              json={"object_ids": [object_id]}).json()["batch_id"]
    world.wait(first)
    second = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                               json={"object_ids": [object_id]}).json()["batch_id"]
    done = world.wait(second)
    assert done.status == "COMPLETED" and done.documents_written == 0 and done.progress.objects_skipped == 1


def test_lists_logs_cancel_and_delete(world):
    object_id = world.add_object(TEXTS["rockets"].encode(), title="rockets")
    draft = world.client.post("/v1/buckets/docs/batches", headers=world.headers, json={"object_ids": [object_id]})
    batch_id = draft.json()["batch_id"]
    listed = ListBatchesResponse.from_dict(world.client.post("/v1/buckets/docs/batches/list", headers=world.headers,
                                                             json={}).json())
    assert [batch.batch_id for batch in listed.results] == [batch_id]
    everywhere = ListBatchesResponse.from_dict(world.client.post(
        "/v1/batches/list", headers={"Authorization": world.headers["Authorization"]}, json={}).json())
    assert [batch.batch_id for batch in everywhere.results] == [batch_id]
    by_id = world.client.get(f"/v1/batches/{batch_id}", headers={"Authorization": world.headers["Authorization"]})
    assert BatchModel.from_dict(by_id.json()).status == "DRAFT"

    canceled = world.client.post(f"/v1/batches/{batch_id}/cancel", headers=world.headers)
    assert TaskResponse.from_dict(canceled.json()).status == "CANCELED"
    refused = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/submit", headers=world.headers, json={})
    assert refused.status_code == 409
    logs = world.client.get(f"/v1/buckets/docs/batches/{batch_id}/logs", headers=world.headers).json()
    assert [entry["level"] for entry in logs["logs"]] == ["INFO", "WARNING"]

    ran = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                            json={"object_ids": [object_id], "dedup_strategy": "force"}).json()["batch_id"]
    assert world.wait(ran).documents_written == 1
    deleted = world.client.delete(f"/v1/buckets/docs/batches/{ran}", headers=world.headers)
    assert deleted.status_code == 200 and "1 document" in deleted.json()["message"]
    assert world.count(collection_id="col_text") == 0
    assert world.client.get(f"/v1/buckets/docs/batches/{ran}", headers=world.headers).status_code == 404


def test_bad_requests_change_nothing(world, other_tenant):
    object_id = world.add_object(b"text", title="t")
    unknown = world.client.post("/v1/buckets/docs/batches", headers=world.headers, json={"object_ids": ["obj_nope"]})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "object_not_found"
    both = world.client.post("/v1/buckets/docs/batches", headers=world.headers,
                             json={"object_ids": [object_id], "filters": {"AND": []}})
    assert both.status_code == 400
    extra = world.client.post("/v1/buckets/docs/batches", headers=world.headers,
                              json={"object_ids": [object_id], "surprise": 1})
    assert extra.status_code == 422
    assert world.client.post("/v1/buckets/nope/batches", headers=world.headers,
                             json={"object_ids": [object_id]}).status_code == 404
    empty = world.client.post("/v1/buckets/docs/batches", headers=world.headers, json={}).json()["batch_id"]
    assert world.client.post(f"/v1/buckets/docs/batches/{empty}/submit", headers=world.headers,
                             json={}).json()["error"]["code"] == "batch_empty"
    stranger = world.client.get(f"/v1/batches/{empty}", headers=other_tenant.headers)
    assert stranger.status_code == 404
    listed = world.client.post("/v1/buckets/docs/batches/list", headers=world.headers, json={}).json()
    assert listed["total_count"] == 1


def test_filters_select_objects_and_drafts_expire(world):
    first = world.add_object(b"alpha", title="keep")
    world.add_object(b"beta", title="drop")
    created = world.client.post("/v1/buckets/docs/batches", headers=world.headers, json={
        "filters": {"AND": [{"field": "title", "operator": "eq", "value": "keep"}]}})
    assert created.status_code == 200, created.text
    assert created.json()["object_ids"] == [first]
    from datetime import timedelta

    from openpeek.domain.clock import utcnow

    assert world.services.batches.reap_drafts(utcnow() + timedelta(minutes=10)) == 0
    assert world.services.batches.reap_drafts(utcnow() + timedelta(minutes=31)) == 1
    expired = world.client.get(f"/v1/buckets/docs/batches/{created.json()['batch_id']}", headers=world.headers)
    assert expired.json()["status"] == "CANCELED"


def test_passthrough_rows_bring_their_own_vectors_through_a_batch(world):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from openpeek.domain.namespace import VectorConfig

    namespace = world.services.namespaces.resolve(_principal(world.org_id), world.namespace_id)
    world.services.namespaces.add_vector_configs(namespace, [VectorConfig("row_vec", 3, "cosine")])
    CollectionRepository(world.services.table).create(Collection(
        collection_id="col_rows", collection_name="rows", namespace_id=world.namespace_id,
        source=CollectionSource("bucket", bucket_ids=("bkt_docs",)),
        feature_extractor=ExtractorConfig("passthrough_extractor", "v1", {}, (), {
            "vector_fields": [{"field": "embedding", "name": "row_vec", "dimensions": 3}]}),
        input_schema={}, output_schema={},
        vector_indexes=(CollectionVectorIndex("row_vec", "row_vec", 3, "cosine", None),),
        created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
    table = pa.table({"sku": ["a", "b", "c"],
                      "embedding": pa.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], type=pa.list_(pa.float32(), 3))})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    rows = world.add_object(sink.getvalue(), title="rows", mime="application/vnd.apache.parquet")
    created = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                                json={"object_ids": [rows], "collection_ids": ["col_rows"]})
    assert created.status_code == 200, created.text
    done = world.wait(created.json()["batch_id"])
    assert done.status == "COMPLETED" and done.documents_written == 3
    hit = world.services.vectors.query(world._collection(), [SearchRequest("row_vec", [0.0, 0.9, 0.1], limit=1)])[0][0]
    assert hit.payload["sku"] == "b" and hit.payload["source_object_id"] == rows and hit.payload["row_index"] == 1
    assert world.object(rows).document_count == 3


def test_webhook_url_gets_one_signed_post_at_the_end(world):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from openpeek.domain.webhooks import verify_signature

    received: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        object_id = world.add_object(TEXTS["bread"].encode(), title="bread")
        batch_id = world.client.post("/v1/buckets/docs/batches", headers=world.headers,
                                     json={"object_ids": [object_id]}).json()["batch_id"]
        refused = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/submit", headers=world.headers,
                                    json={"webhook_url": "ftp://example.com/x"})
        assert refused.status_code == 400
        submitted = world.client.post(f"/v1/buckets/docs/batches/{batch_id}/submit", headers=world.headers, json={
            "webhook_url": f"http://127.0.0.1:{server.server_address[1]}/done"})
        assert submitted.status_code == 200, submitted.text
        secret = submitted.json()["additional_data"]["webhook_signing_secret"]
        world.wait(batch_id)
        assert "webhook_signing_secret" not in str(world.client.get(f"/v1/tasks/{submitted.json()['task_id']}",
                                                                    headers=world.headers).json())
        assert len(received) == 1
        headers, body = received[0]
        assert verify_signature(secret, headers["X-Openpeek-Signature"], body)
        data = json.loads(body)["data"]
        assert (data["batch_id"], data["status"], data["documents_written"]) == (batch_id, "COMPLETED", 1)
        assert data["completed_at"] and data["progress"]["processed"] == 1
    finally:
        server.shutdown()


def _pending(world, object_ids: list[str]):
    """A submitted batch that no local worker picks up: what the deployed API leaves for the state machine."""
    from openpeek.domain.clock import utcnow
    from openpeek.repositories.batches import BatchRepository

    batch_id = world.client.post("/v1/buckets/docs/batches", headers=world.headers,
                                 json={"object_ids": object_ids}).json()["batch_id"]
    repository = BatchRepository(world.services.table)
    draft = repository.get(world.namespace_id, batch_id)
    return repository.save(draft.submitted(utcnow(), "task_deployed", [["col_text"]], None), draft)


def test_the_deployed_steps_write_the_same_documents_part_by_part(world, monkeypatch):
    from openpeek.services.ingestion import steps

    monkeypatch.setattr(steps, "PART_SIZE", 2)
    ids = [world.add_object(text.encode(), title=name) for name, text in TEXTS.items()]
    batch = _pending(world, ids)
    state = {"namespace_id": world.namespace_id, "batch_id": batch.batch_id, "attempt": batch.attempt}
    prepared = world.services.batch_steps.prepare(state)
    parts = prepared["tiers"][0]["parts"]
    assert [tier["tier"] for tier in prepared["tiers"]] == [0] and len(parts) == 2
    for part in reversed(parts):  # parts finish in any order
        world.services.batch_steps.extract(part)
    assert world.services.batch_steps.finalize(state) == {"status": "COMPLETED"}
    done = BatchModel.from_dict(world.client.get(f"/v1/buckets/docs/batches/{batch.batch_id}",
                                                 headers=world.headers).json())
    assert done.documents_written == 3 and done.documents_resolvable and done.progress.processed == 3
    assert world.search("which animal purrs?")[0].payload["source_object_id"] == ids[0]
    assert not world.services.blobs.list(f"namespaces/{world.namespace_id}/batches/")  # the manifest is cleaned up


def test_a_failed_step_ends_the_batch_failed_with_its_reason(world):
    batch = _pending(world, [world.add_object(b"text", title="t")])
    state = {"namespace_id": world.namespace_id, "batch_id": batch.batch_id, "attempt": batch.attempt,
             "error": {"Error": "States.Timeout", "Cause": "the part ran past its timeout"}}
    world.services.batch_steps.prepare(state)
    assert world.services.batch_steps.mark_failed(state) == {"status": "FAILED"}
    failed = world.client.get(f"/v1/buckets/docs/batches/{batch.batch_id}", headers=world.headers).json()
    assert "States.Timeout" in failed["failure_reason"] and "timeout" in failed["failure_reason"]


def test_deleting_a_batch_task_cancels_the_batch(world):
    from openpeek.domain.tasks import Task
    from openpeek.repositories.tasks import TaskRepository
    from openpeek.domain.clock import utcnow

    batch = _pending(world, [world.add_object(b"text", title="t")])
    task = Task.new("task_deployed", world.namespace_id, "api_buckets_batches_process", utcnow(), 3600,
                    [batch.batch_id], {"batch_id": batch.batch_id})
    world.services.table.transact_write(TaskRepository(world.services.table).creation(task, world.org_id))
    canceled = world.client.delete("/v1/tasks/task_deployed", headers=world.headers)
    assert canceled.status_code == 200, canceled.text
    assert TaskResponse.from_dict(canceled.json()).status == "CANCELED"
    assert world.client.get(f"/v1/batches/{batch.batch_id}", headers=world.headers).json()["status"] == "CANCELED"
    listed = world.client.post("/v1/tasks/list", headers=world.headers,
                               json={"task_type": "api_buckets_batches_process"}).json()["results"]
    assert [entry["task_id"] for entry in listed] == ["task_deployed"]


def test_collections_sourced_from_a_collection_run_in_the_next_tier(world):
    world.add_copy_collection()
    object_id = world.add_object("First sentence. Second sentence. Third one.".encode(), title="three")
    created = world.client.post("/v1/buckets/docs/batches?auto_submit=true", headers=world.headers,
                                json={"object_ids": [object_id]})
    done = world.wait(created.json()["batch_id"])
    assert done.dag_tiers == [["col_text"], ["col_copy"]] and done.total_tiers == 2
    assert done.status == "COMPLETED" and done.documents_written == 2 + 2  # two chunks, then one copy of each
    assert [tier.status for tier in done.tier_tasks] == ["COMPLETED", "COMPLETED"]
    copies, _ = world.services.vectors.scroll(world._collection(), filter=Filter(must=(
        MatchValue("collection_id", "col_copy"),)), limit=10)
    assert sorted(point.payload["title"] for point in copies) == ["three", "three"]
    assert {point.payload["root_object_id"] for point in copies} == {object_id}
    assert {point.payload["source_collection_id"] for point in copies} == {"col_text"}
