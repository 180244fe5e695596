"""Seed 002: after promotion, "new content: collections + extractors auto-process". Over HTTP: a promoted namespace's
new objects become searchable documents without anyone submitting a batch, objects registered close together share
one automatic batch (listed with the others, marked in its metadata), and a namespace that was not promoted does
nothing by itself. Per-object events: a webhook subscribed to object events hears each object's creation and its
processing outcome, signed, once each."""

from __future__ import annotations

from mixpeek.models.batch_model import BatchModel
from mixpeek.models.list_batches_response import ListBatchesResponse

from openpeek.domain.webhooks import verify_signature
from tests.webhook_receiver import receiver  # noqa: F401 - the fixture

MAPPING = {"vector_mappings": [{"existing_index": "text_embedding", "inference_service": "all_minilm_l6_v2"}]}
TEXTS = {
    "cats": "Cats are small domesticated felines that purr, hunt mice and sleep most of the day.",
    "rockets": "A rocket engine burns propellant and expels exhaust to produce thrust for spaceflight.",
    "bread": "Sourdough bread rises through wild yeast fermentation before it is baked in a hot oven.",
    "tides": "Tides rise and fall twice a day with the pull of the moon on the oceans.",
}


def promoted_with_collection(client, tenant, name: str) -> dict:
    """Seed 002's workflow: a standalone namespace, promoted, then a bucket and a text_extractor collection."""
    made = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "text_embedding", "dimension": 384}]})
    assert made.status_code == 200, made.text
    promoted = client.post(f"/v1/namespaces/{name}/promote", headers=tenant.headers, json=MAPPING)
    assert promoted.status_code == 200, promoted.text
    return bucket_and_collection(client, {**tenant.headers, "X-Namespace": name})


def bucket_and_collection(client, headers: dict) -> dict:
    bucket = client.post("/v1/buckets", headers=headers, json={"bucket_name": "articles", "bucket_schema": {
        "properties": {"content": {"type": "text"}, "topic": {"type": "string"}}}})
    assert bucket.status_code == 200, bucket.text
    collection = client.post("/v1/collections", headers=headers, json={
        "collection_name": "passages", "source": {"type": "bucket", "bucket_ids": ["articles"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "content"}, "field_passthrough": [{"source_path": "topic"}]}})
    assert collection.status_code == 200, collection.text
    return headers


def add_objects(client, headers, topics: list[str]) -> list[str]:
    answer = client.post("/v1/buckets/articles/objects/batch", headers=headers, json={"objects": [
        {"blobs": [{"property": "content", "type": "text", "data": TEXTS[topic]}], "metadata": {"topic": topic}}
        for topic in topics]})
    assert answer.status_code == 200, answer.text
    return [entry["object_id"] for entry in answer.json()["succeeded"]]


def add_object(client, headers, topic: str) -> str:
    answer = client.post("/v1/buckets/articles/objects", headers=headers, json={
        "blobs": [{"property": "content", "type": "text", "data": TEXTS[topic]}], "metadata": {"topic": topic}})
    assert answer.status_code == 200, answer.text
    return answer.json()["object_id"]


def batches(client, headers) -> list[BatchModel]:
    answer = client.post("/v1/buckets/articles/batches/list", headers=headers, json={})
    assert answer.status_code == 200, answer.text
    return ListBatchesResponse.from_dict(answer.json()).results


def search(client, headers, question: str) -> list[dict]:
    answer = client.post("/v1/retrievers/ask/execute", headers=headers, json={"inputs": {"q": question}})
    assert answer.status_code == 200, answer.text
    return answer.json()["documents"]


def test_a_promoted_namespace_processes_new_objects_in_one_automatic_batch(client, services, tenant):
    headers = promoted_with_collection(client, tenant, "promoted-articles")

    # A bulk insert and two single registrations close together: one automatic batch, not one per object.
    ids = add_objects(client, headers, ["cats", "rockets"])
    ids.append(add_object(client, headers, "bread"))
    ids.append(add_object(client, headers, "tides"))
    assert services.batch_worker.wait_idle(120)

    [batch] = batches(client, headers)
    assert batch.status == "COMPLETED", batch.failure_reason
    assert sorted(batch.object_ids) == sorted(ids)
    assert batch.metadata.to_dict()["auto_processed"] is True
    assert batch.documents_written == 4 and batch.documents_resolvable is True
    assert batch.task_id
    task = client.get(f"/v1/tasks/{batch.task_id}", headers=headers)
    assert task.status_code == 200 and task.json()["status"] == "COMPLETED"
    by_id = client.get(f"/v1/batches/{batch.batch_id}", headers=headers)
    assert BatchModel.from_dict(by_id.json()).metadata.to_dict()["auto_processed"] is True
    for object_id in ids:
        obj = client.get(f"/v1/buckets/articles/objects/{object_id}", headers=headers).json()
        assert obj["status"] == "COMPLETED" and obj["document_count"] == 1

    retriever = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "ask", "collection_identifiers": ["passages"],
        "input_schema": {"q": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {
                "searches": [{"feature_uri": "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1",
                              "query": {"input_mode": "text", "value": "{{INPUT.q}}"}, "top_k": 3}],
                "final_top_k": 3}}}]})
    assert retriever.status_code == 200, retriever.text
    top = search(client, headers, "what makes bread dough rise?")[0]
    assert top["source_object_id"] == ids[2] and top["topic"] == "bread"

    # Objects registered later make a batch of their own, again without a submit; a manual batch still works
    # beside them.
    later = add_object(client, headers, "cats")
    assert services.batch_worker.wait_idle(120)
    found = batches(client, headers)
    assert len(found) == 2 and all(b.metadata.to_dict()["auto_processed"] is True for b in found)
    newest = next(b for b in found if b.batch_id != batch.batch_id)
    assert newest.object_ids == [later] and newest.status == "COMPLETED"
    manual = client.post("/v1/buckets/articles/batches", headers=headers,
                         json={"object_ids": [ids[0]], "auto_submit": True, "dedup_strategy": "replace"})
    assert manual.status_code == 200, manual.text
    assert services.batch_worker.wait_idle(120)
    rerun = BatchModel.from_dict(client.get(f"/v1/buckets/articles/batches/{manual.json()['batch_id']}",
                                            headers=headers).json())
    assert rerun.status == "COMPLETED" and rerun.documents_written == 1 and rerun.metadata is None


def test_a_namespace_created_managed_waits_for_a_batch_to_be_submitted(client, services, tenant):
    made = client.post("/v1/namespaces", headers=tenant.headers, json={
        "namespace_name": "plain-articles",
        "feature_extractors": [{"feature_extractor_name": "text_extractor", "version": "v1"}]})
    assert made.status_code == 200, made.text
    headers = bucket_and_collection(client, {**tenant.headers, "X-Namespace": "plain-articles"})
    ids = add_objects(client, headers, ["cats", "rockets"])
    assert services.batch_worker.wait_idle(30)
    assert batches(client, headers) == []
    for object_id in ids:
        assert client.get(f"/v1/buckets/articles/objects/{object_id}", headers=headers).json()["status"] == "PENDING"


def test_a_promoted_bucket_that_no_collection_reads_gets_no_batch(client, services, tenant):
    headers = promoted_with_collection(client, tenant, "unread-articles")
    other = client.post("/v1/buckets", headers=headers, json={"bucket_name": "notes", "bucket_schema": {
        "properties": {"content": {"type": "text"}}}})
    assert other.status_code == 200, other.text
    made = client.post("/v1/buckets/notes/objects", headers=headers, json={
        "blobs": [{"property": "content", "type": "text", "data": "nobody reads this bucket"}]})
    assert made.status_code == 200, made.text
    assert services.batch_worker.wait_idle(30)
    listed = client.post("/v1/buckets/notes/batches/list", headers=headers, json={})
    assert listed.json()["results"] == []


def test_object_events_reach_a_webhook_signed_once_each(client, services, tenant, receiver):
    headers = promoted_with_collection(client, tenant, "evented-articles")
    hook = client.post("/v1/organizations/webhooks", headers=tenant.headers, json={
        "webhook_name": "objects", "url": receiver.url,
        "event_types": ["object.created", "object.updated", "object.deleted", "collection.documents.written",
                        "collection.documents.batch_completed"]})
    assert hook.status_code == 200, hook.text
    secret = hook.json()["signing_secret"]

    # An object whose blob cannot be read fails alone, with its error.
    broken = add_object(client, headers, "tides")
    obj = services.objects.get(_namespace(services, tenant), "articles", broken)
    services.blobs.delete(obj.blobs[0]["blob_key"])
    ids = add_objects(client, headers, ["cats", "rockets"])
    assert services.batch_worker.wait_idle(120)
    deleted = client.delete(f"/v1/buckets/articles/objects/{ids[1]}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert services.webhook_dispatcher.wait_idle(30)

    for request in receiver.requests:
        assert verify_signature(secret, request["headers"]["X-Openpeek-Signature"], request["raw"])
    events = [request["body"] for request in receiver.requests]
    deliveries = [request["headers"]["X-Openpeek-Delivery"] for request in receiver.requests]
    assert len(deliveries) == len(set(deliveries))

    def of(event_type: str) -> list[dict]:
        return [event["data"] for event in events if event["type"] == event_type]

    assert sorted(data["object_id"] for data in of("object.created")) == sorted([*ids, broken])
    outcomes = {data["object_id"]: data for data in of("object.updated")}
    assert len(of("object.updated")) == 3
    assert outcomes[ids[0]]["status"] == "COMPLETED" and outcomes[ids[0]]["document_count"] == 1
    assert outcomes[ids[0]]["previous_status"] == "PENDING" and outcomes[ids[0]]["batch_id"]
    assert outcomes[broken]["status"] == "FAILED" and "missing" in outcomes[broken]["error"]
    assert [data["object_id"] for data in of("object.deleted")] == [ids[1]]
    [written] = of("collection.documents.written")
    assert written["count"] == 2
    [completed] = of("collection.documents.batch_completed")
    assert completed["status"] == "COMPLETED_WITH_ERRORS" and completed["failed_object_count"] == 1


def _namespace(services, tenant):
    from openpeek.services.organizations import Principal

    return services.namespaces.resolve(Principal(org_id=tenant.org_id, key_id="test"), "evented-articles")
