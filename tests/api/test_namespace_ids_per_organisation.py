"""Namespace ids a caller chooses are unique per organisation, not across all of them: two organisations may both
create a namespace with the same id (the SDK's "recovery/migration when recreating a namespace with a known ID"), and
neither learns anything about the other from it. Each keeps its own documents, retrievers, collections, clusters,
tiers, clones and manifests, shows only the id it chose, and deleting one leaves the other whole."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import numpy as np
import pytest

from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import utcnow
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.namespaces import NamespaceRepository
from tests.api.test_namespaces_api import assert_error
from tests.api.test_webhook_delivery import Receiver

SHARED = "team-space"
DIM = 2
TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}


def ns_headers(tenant, namespace=SHARED):
    return {**tenant.headers, "X-Namespace": namespace}


def create_standalone(client, tenant, name, namespace_id=SHARED):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": namespace_id, "namespace_name": name, "vector_configs": [{"name": "emb", "dimension": DIM}]})
    assert response.status_code == 200, response.text
    assert response.json()["namespace_id"] == namespace_id
    return response.json()


def upsert(client, tenant, owner, count, namespace=SHARED):
    documents = [{"document_id": f"{owner}-{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"owner": owner}}
                 for i in range(count)]
    documents.append({"document_id": "same-id", "vectors": {"emb": [1.0, 0.0]}, "payload": {"owner": owner}})
    response = client.post(f"/v1/namespaces/{namespace}/documents/upsert", headers=tenant.headers,
                           json={"documents": documents})
    assert response.status_code == 200, response.text


def create_retriever(client, tenant, name, namespace=SHARED):
    response = client.post("/v1/retrievers", headers=ns_headers(tenant, namespace), json={
        "retriever_name": name, "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 50}]}}}]})
    assert response.status_code == 200, response.text
    return response.json()


def found_owners(client, tenant, retriever_id, namespace=SHARED):
    response = client.post(f"/v1/retrievers/{retriever_id}/execute", headers=ns_headers(tenant, namespace),
                           json={"inputs": {"v": [1.0, 0.0]}})
    assert response.status_code == 200, response.text
    return {document["owner"] for document in response.json()["documents"]}, response.json()["documents"]


def wait(client, headers, task_id, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        if task["status"] in TERMINAL:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end")


@pytest.fixture
def both(client, services, tenant, other_tenant):
    """acme created SHARED first; globex chose the same id afterwards."""
    create_standalone(client, tenant, "acme-space")
    create_standalone(client, other_tenant, "globex-space")
    upsert(client, tenant, "acme", 12)
    upsert(client, other_tenant, "globex", 15)
    repository = NamespaceRepository(services.table)
    return repository.find(tenant.org_id, SHARED), repository.find(other_tenant.org_id, SHARED)


def test_two_organisations_choose_the_same_id_and_each_keeps_its_own_namespace(client, services, tenant,
                                                                                other_tenant, both):
    acme, globex = both
    assert acme.namespace_id == SHARED  # the first keeps its id as its storage
    assert globex.public_id == SHARED and globex.namespace_id != SHARED  # the second is stored elsewhere
    assert services.vectors.info(acme.collection).points_count == 13
    assert services.vectors.info(globex.collection).points_count == 16

    for caller, name, owner, total in ((tenant, "acme-space", "acme", 13), (other_tenant, "globex-space", "globex", 16)):
        shown = client.get(f"/v1/namespaces/{SHARED}", headers=caller.headers).json()
        assert (shown["namespace_id"], shown["namespace_name"], shown["document_count"]) == (SHARED, name, total)
        listed = client.get("/v1/namespaces", headers=caller.headers).json()
        assert [n["namespace_id"] for n in listed["results"]] == [SHARED]
        document = client.get(f"/v1/namespaces/{SHARED}/documents/same-id", headers=caller.headers).json()
        assert document["owner"] == owner and document["namespace_id"] == SHARED
        by_header = client.get("/v1/documents/same-id", headers=ns_headers(caller))  # the SDK's get_document_ns
        assert by_header.status_code == 200, by_header.text
        assert by_header.json() == document
        stats = client.get(f"/v1/namespaces/{SHARED}/stats", headers=caller.headers).json()
        assert stats["namespace_id"] == SHARED and stats["document_count"] == total
    assert client.get(f"/v1/namespaces/{SHARED}/documents/globex-3", headers=tenant.headers).status_code == 404
    assert client.get(f"/v1/namespaces/{SHARED}/documents/acme-3", headers=other_tenant.headers).status_code == 404

    # A retriever of the same name in each: each searches its own documents only, and shows the id its owner knows.
    acme_retriever = create_retriever(client, tenant, "nearest")
    globex_retriever = create_retriever(client, other_tenant, "nearest")
    owners, documents = found_owners(client, other_tenant, globex_retriever["retriever_id"])
    assert owners == {"globex"} and len(documents) == 16 and {d["namespace_id"] for d in documents} == {SHARED}
    assert found_owners(client, tenant, acme_retriever["retriever_id"])[0] == {"acme"}
    assert client.get(f"/v1/retrievers/{acme_retriever['retriever_id']}",
                      headers=ns_headers(other_tenant)).status_code == 404
    history = client.post(f"/v1/retrievers/{globex_retriever['retriever_id']}/executions/list",
                          headers=ns_headers(other_tenant), json={})
    assert history.status_code == 200, history.text
    assert history.json()["results"] and globex.namespace_id not in history.text

    # A filter on the namespace id a caller knows finds its documents.
    filtered = client.post(f"/v1/retrievers/{globex_retriever['retriever_id']}/execute",
                           headers=ns_headers(other_tenant), json={
                               "inputs": {"v": [1.0, 0.0]},
                               "filters": {"AND": [{"field": "namespace_id", "operator": "eq", "value": SHARED}]}})
    assert filtered.status_code == 200, filtered.text
    assert len(filtered.json()["documents"]) == 16

    # Deleting acme's leaves globex's whole: documents searchable, collection still there.
    assert client.delete(f"/v1/namespaces/{SHARED}", headers=tenant.headers).status_code == 200
    assert client.get(f"/v1/namespaces/{SHARED}", headers=tenant.headers).status_code == 404
    assert services.vectors.info(globex.collection).points_count == 16
    assert found_owners(client, other_tenant, globex_retriever["retriever_id"])[0] == {"globex"}
    assert client.get(f"/v1/namespaces/{SHARED}/documents/same-id",
                      headers=other_tenant.headers).json()["owner"] == "globex"
    # acme may take its id back; it is stored under it again, beside globex's.
    create_standalone(client, tenant, "acme-again")
    assert client.get(f"/v1/namespaces/{SHARED}", headers=tenant.headers).json()["document_count"] == 0
    assert client.get(f"/v1/namespaces/{SHARED}", headers=other_tenant.headers).json()["document_count"] == 16


def test_the_second_organisation_deleting_its_namespace_leaves_the_first_whole(client, services, tenant,
                                                                              other_tenant, both):
    acme, globex = both
    retriever = create_retriever(client, tenant, "nearest")
    assert client.delete(f"/v1/namespaces/{SHARED}", headers=other_tenant.headers).status_code == 200
    assert services.vectors.info(acme.collection).points_count == 13
    assert found_owners(client, tenant, retriever["retriever_id"])[0] == {"acme"}
    assert client.get(f"/v1/retrievers/{retriever['retriever_id']}", headers=ns_headers(tenant)).status_code == 200
    assert client.get(f"/v1/namespaces/{SHARED}", headers=other_tenant.headers).status_code == 404


def test_an_organisation_reusing_its_own_id_is_still_refused(client, tenant, other_tenant, both):
    for caller in (tenant, other_tenant):
        response = client.post("/v1/namespaces", headers=caller.headers,
                               json={"namespace_name": "another", "namespace_id": SHARED})
        assert assert_error(response, 409, "namespace_id_taken")["error"]["details"] == {"namespace_id": SHARED}


def test_a_storage_id_is_neither_a_public_id_nor_one_a_caller_may_choose(client, services, tenant, other_tenant,
                                                                         both):
    _, globex = both
    assert globex.namespace_id.startswith("nsr_")
    for caller in (tenant, other_tenant):
        assert client.get(f"/v1/namespaces/{globex.namespace_id}", headers=caller.headers).status_code == 404
        response = client.post("/v1/namespaces", headers=caller.headers,
                               json={"namespace_name": "sneaky", "namespace_id": globex.namespace_id})
        assert_error(response, 400, "invalid_namespace_id")
    # A chosen id that happens to be another namespace's storage id (an older namespace's own id) is fine too.
    create_standalone(client, other_tenant, "globex-second", namespace_id="plain-id")
    create_standalone(client, tenant, "acme-second", namespace_id="plain-id")
    assert client.get(f"/v1/namespaces/{SHARED}", headers=other_tenant.headers).json()["document_count"] == 16


def test_clusters_clones_manifests_and_webhooks_stay_with_their_organisation(client, services, tenant,
                                                                             other_tenant, both):
    acme, globex = both
    headers = ns_headers(other_tenant)
    cluster = client.post("/v1/clusters", headers=headers, json={
        "cluster_name": "themes", "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                                                    "kmeans_parameters": {"n_clusters": 2}}})
    assert cluster.status_code == 200, cluster.text
    assert cluster.json()["namespace_id"] == SHARED
    cluster_id = cluster.json()["cluster_id"]
    started = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=None)
    assert started.status_code == 200, started.text
    task = wait(client, headers, started.json()["task_id"])
    assert task["status"] == "COMPLETED", task
    assert globex.namespace_id not in str(task)
    points = client.get(f"/v1/clusters/{cluster_id}/visualization", headers=headers).json()["points"]
    assert {point["document_id"] for point in points} == {f"globex-{i}" for i in range(15)} | {"same-id"}
    assert client.get(f"/v1/clusters/{cluster_id}", headers=ns_headers(tenant)).status_code == 404
    assert client.post("/v1/clusters/list", headers=ns_headers(tenant), json={}).json()["results"] == []

    # A clone of globex's copies globex's documents and names its source by the id globex knows.
    create_retriever(client, tenant, "acme-only")
    create_retriever(client, other_tenant, "globex-only")
    cloned = client.post(f"/v1/namespaces/{SHARED}/clone", headers=other_tenant.headers,
                         json={"namespace_name": "globex-branch"})
    assert cloned.status_code == 200, cloned.text
    body = cloned.json()
    assert body["source_namespace_id"] == SHARED and body["namespace"]["source_namespace_id"] == SHARED
    assert body["cloned_resources"]["points"] == 16
    clone_task = wait(client, other_tenant.headers, body["task_id"])
    assert globex.namespace_id not in str(clone_task)
    branch = body["namespace"]["namespace_id"]
    copied = client.get(f"/v1/namespaces/{branch}/documents/same-id", headers=other_tenant.headers).json()
    assert copied["owner"] == "globex" and copied["namespace_id"] == branch

    # Manifests: each organisation exports its own retrievers and applies into its own namespace.
    exported = client.get("/v1/manifest/export", headers=ns_headers(other_tenant)).json()
    assert [r["retriever_name"] for r in exported["retrievers"]] == ["globex-only"]
    applied = client.post("/v1/manifest/apply", headers=ns_headers(tenant), json=exported)
    assert applied.status_code == 200, applied.text
    names = {r["retriever_name"] for r in client.post("/v1/retrievers/list", headers=ns_headers(tenant),
                                                         json={}).json()["results"]}
    assert names == {"acme-only", "globex-only"}
    names = {r["retriever_name"] for r in client.post("/v1/retrievers/list", headers=ns_headers(other_tenant),
                                                         json={}).json()["results"]}
    assert names == {"globex-only"}
    # ... and the other way, into the namespace stored under a relocated id, settings included.
    assert client.patch(f"/v1/namespaces/{SHARED}", headers=tenant.headers,
                        json={"description": "acme catalogue"}).status_code == 200
    exported = client.get("/v1/manifest/export", headers=ns_headers(tenant)).json()
    applied = client.post("/v1/manifest/apply", headers=ns_headers(other_tenant), json=exported)
    assert applied.status_code == 200, applied.text
    assert client.get(f"/v1/namespaces/{SHARED}", headers=other_tenant.headers).json()["description"] == \
        "acme catalogue"
    names = {r["retriever_name"] for r in client.post("/v1/retrievers/list", headers=ns_headers(other_tenant),
                                                         json={}).json()["results"]}
    assert names == {"globex-only", "acme-only"}

    # A webhook scoped to the namespace shows the id its owner knows.
    webhook = client.post("/v1/webhooks", headers=ns_headers(other_tenant), json={
        "webhook_name": "notify", "url": "http://127.0.0.1:9/hook", "events": ["document.created"]})
    assert webhook.status_code == 200, webhook.text
    assert webhook.json()["namespace_id"] == SHARED
    listed = client.post("/v1/organizations/webhooks/list", headers=other_tenant.headers, json={})
    assert listed.status_code == 200, listed.text
    assert SHARED in listed.text and globex.namespace_id not in listed.text


def test_collections_and_their_tiers_stay_with_their_organisation(client, services, tenant, other_tenant):
    """Managed namespaces with the same chosen id, each with a collection of the same name: demoting globex's to the
    cold tier leaves acme's hot, and each lists only its own documents."""
    uri = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
    schema = {"properties": {"content": {"type": "text"}}}
    repository = NamespaceRepository(services.table)
    for caller, count in ((tenant, 3), (other_tenant, 5)):
        created = client.post("/v1/namespaces", headers=caller.headers,
                              json={"namespace_name": "library", "namespace_id": "library"})
        assert created.status_code == 200, created.text
        namespace = repository.find(caller.org_id, "library")
        BucketRepository(services.table).create(Bucket(
            bucket_id="bkt_books", bucket_name="books", namespace_id=namespace.namespace_id, org_id=caller.org_id,
            bucket_schema=schema, created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"))
        headers = ns_headers(caller, "library")
        collection = client.post("/v1/collections", headers=headers, json={
            "collection_name": "shelf", "source": {"type": "bucket", "bucket_ids": ["books"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}})
        assert collection.status_code == 200, collection.text
        assert namespace.namespace_id not in collection.text
        for seed in range(count):
            vector = np.random.default_rng(seed).standard_normal(384).round(4).tolist()
            added = client.post("/v1/collections/shelf/documents", headers=headers,
                                json={"vectors": {uri: vector}, "metadata": {"seed": seed}})
            assert added.status_code == 200, added.text
    assert repository.find(other_tenant.org_id, "library").namespace_id != "library"

    demoted = client.patch("/v1/collections/shelf/lifecycle", headers=ns_headers(other_tenant, "library"),
                           json={"lifecycle_state": "cold", "async_transition": False})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["lifecycle_state"] == "cold" and demoted.json()["s3_vector_count"] == 5
    task = client.get(f"/v1/tasks/{demoted.json()['task_id']}", headers=other_tenant.headers)
    assert task.status_code == 200 and task.json()["status"] == "COMPLETED"
    acme_state = client.get("/v1/collections/shelf/lifecycle", headers=ns_headers(tenant, "library")).json()
    assert acme_state["lifecycle_state"] == "active" and acme_state["vector_document_count"] == 3
    for caller, count in ((tenant, 3), (other_tenant, 5)):
        listed = client.post("/v1/collections/shelf/documents/list", headers=ns_headers(caller, "library"),
                             json={"limit": 50}).json()
        assert len(listed["results"]) == count
        assert {document["namespace_id"] for document in listed["results"]} == {"library"}

    # Deleting globex's namespace removes its cold copy and nothing of acme's.
    assert client.delete("/v1/namespaces/library", headers=other_tenant.headers).status_code == 200
    listed = client.post("/v1/collections/shelf/documents/list", headers=ns_headers(tenant, "library"),
                         json={"limit": 50}).json()
    assert len(listed["results"]) == 3


def test_a_namespace_recorded_before_storage_ids_existed_still_works(client, services, tenant):
    """A record (and id pointer) written with one id, no storage id: that id is both."""
    create_standalone(client, tenant, "old-space", namespace_id="old-one")
    item = services.table.get(f"ORG#{tenant.org_id}", "NS#old-one")
    assert item["storage_id"] == "old-one"
    services.table.put({key: value for key, value in item.items() if key != "storage_id"})
    pointer = services.table.get("NSID#old-one", "NS")
    services.table.put({"pk": pointer["pk"], "sk": pointer["sk"], "org_id": pointer["org_id"]})

    upsert(client, tenant, "acme", 3, namespace="old-one")
    shown = client.get("/v1/namespaces/old-one", headers=tenant.headers).json()
    assert shown["namespace_id"] == "old-one" and shown["document_count"] == 4
    retriever = create_retriever(client, tenant, "nearest", namespace="old-one")
    assert found_owners(client, tenant, retriever["retriever_id"], namespace="old-one")[0] == {"acme"}
    assert NamespaceRepository(services.table).get_by_id("old-one").public_id == "old-one"
    assert client.patch("/v1/namespaces/old-one", headers=tenant.headers,
                        json={"description": "kept"}).status_code == 200
    assert client.delete("/v1/namespaces/old-one", headers=tenant.headers).status_code == 200
    assert services.table.get("NSID#old-one", "NS") is None


def test_webhook_receivers_get_the_id_their_organisation_knows(client, tenant, other_tenant, both):
    _, globex = both
    receiver = Receiver()
    try:
        for caller in (tenant, other_tenant):
            created = client.post("/v1/webhooks", headers=ns_headers(caller), json={
                "webhook_name": "notify", "url": receiver.url + f"?{caller.org_id}", "events": ["document.created"]})
            assert created.status_code == 200, created.text
        upsert(client, other_tenant, "globex-late", 1)
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        [request] = receiver.requests  # acme's webhook hears nothing of globex's namespace
        assert request["path"].endswith(other_tenant.org_id)
        payload = json.loads(request["body"])
        assert payload["namespace_id"] == SHARED and payload["data"]["document_ids"][0] == "globex-late-0"
        assert globex.namespace_id not in request["body"].decode()
    finally:
        receiver.close()


def test_expired_namespaces_of_both_organisations_are_reaped(client, services, tenant, other_tenant, both):
    for caller in (tenant, other_tenant):
        response = client.post("/v1/namespaces", headers=caller.headers, json={
            "namespace_name": "scratch", "namespace_id": "scratch", "ttl_seconds": 60})
        assert response.status_code == 200, response.text
    reaped = services.expiry.reap(utcnow() + timedelta(hours=1))
    assert (reaped.deleted, reaped.already_gone, reaped.failed) == (2, 0, 0)
    for caller, total in ((tenant, 13), (other_tenant, 16)):
        assert client.get("/v1/namespaces/scratch", headers=caller.headers).status_code == 404
        assert client.get(f"/v1/namespaces/{SHARED}", headers=caller.headers).json()["document_count"] == total


def test_concurrent_creates_of_one_id_leave_one_namespace_with_its_collection(client, services, tenant, other_tenant):
    """Racing creates of the same id: one per organisation wins, the others are 409 in their own organisation, and
    no loser takes the winner's vector collection with it."""
    answers: list[tuple[str, int]] = []
    barrier = threading.Barrier(8)

    def create(caller, position):
        barrier.wait()
        response = client.post("/v1/namespaces/standalone", headers=caller.headers, json={
            "namespace_id": "racing", "namespace_name": f"racer-{position}",
            "vector_configs": [{"name": "emb", "dimension": DIM}]})
        answers.append((caller.org_id, response.status_code))

    threads = [threading.Thread(target=create, args=(caller, position))
               for position in range(4) for caller in (tenant, other_tenant)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for caller in (tenant, other_tenant):
        assert sorted(status for org, status in answers if org == caller.org_id) == [200, 409, 409, 409]
        upsert(client, caller, caller.org_id, 1, namespace="racing")
        assert client.get("/v1/namespaces/racing", headers=caller.headers).json()["document_count"] == 2


def test_buckets_and_batches_found_by_id_alone_stay_with_their_organisation(client, tenant, other_tenant, both):
    _, globex = both
    batches = {}
    for caller in (tenant, other_tenant):
        headers = ns_headers(caller)
        bucket = client.post("/v1/buckets", headers=headers, json={
            "bucket_name": "books", "bucket_schema": {"properties": {"content": {"type": "text"}}}})
        assert bucket.status_code == 200, bucket.text
        batch = client.post("/v1/buckets/books/batches", headers=headers, json={"batch_name": caller.org_id})
        assert batch.status_code == 200, batch.text
        assert batch.json()["namespace_id"] == SHARED
        batches[caller.org_id] = batch.json()["batch_id"]
    for caller, other in ((tenant, other_tenant), (other_tenant, tenant)):
        found = client.get(f"/v1/batches/{batches[caller.org_id]}", headers=caller.headers)  # no X-Namespace
        assert found.status_code == 200, found.text
        assert (found.json()["namespace_id"], found.json()["batch_name"]) == (SHARED, caller.org_id)
        assert client.get(f"/v1/batches/{batches[other.org_id]}", headers=caller.headers).status_code == 404
        listed = client.post("/v1/batches/list", headers=caller.headers, json={})
        assert [b["batch_id"] for b in listed.json()["results"]] == [batches[caller.org_id]]
        assert globex.namespace_id not in listed.text
