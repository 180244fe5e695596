"""Namespace snapshots: a point-in-time copy of a namespace's configuration and documents in the blob store, listed,
read (with signed downloads), verified against its recorded sha256s, restored in place or into a new namespace, and
deleted. Every answer parses as the SDK's model; another organisation's snapshots are 404; a damaged snapshot fails
verify and restore and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mixpeek.models.create_snapshot_response import CreateSnapshotResponse
from mixpeek.models.list_snapshots_response import ListSnapshotsResponse
from mixpeek.models.restore_snapshot_response import RestoreSnapshotResponse
from mixpeek.models.snapshot_detail_response import SnapshotDetailResponse
from mixpeek.models.snapshot_verify_response import SnapshotVerifyResponse

from openpeek.domain.clock import utcnow
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.snapshots import artifacts_prefix, part_artifact
from openpeek.services import clone as clone_module
from openpeek.services.organizations import Principal
from openpeek.services.snapshots import MAX_RUNTIME_S, NamespaceSnapshots
from tests.api.test_clone_api import wait_ready
from tests.api.test_collection_lifecycle_api import add, lifecycle
from tests.api.test_collection_lifecycle_api import headers as tiered_headers  # noqa: F401  (fixture)
from tests.api.test_dedicated_vector_stores import URL as DEDICATED_URL
from tests.api.test_dedicated_vector_stores import app, servers  # noqa: F401  (fixtures: a dedicated Qdrant)
from tests.api.test_dedicated_vector_stores import create as create_dedicated
from tests.api.test_dedicated_vector_stores import upsert as upsert_angles
from tests.api.test_namespaces_api import assert_error

BASE = "/v1/namespaces/prod/snapshots"


def _documents(ids, *, shift=0.0):
    return [{"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10 + shift]},
             "payload": {"category": f"c{i % 2}", "n": i}} for i in ids]


@pytest.fixture
def source(client, tenant):
    assert client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "prod", "vector_configs": [{"name": "emb", "dimension": 2}]}).status_code == 200
    assert client.patch("/v1/namespaces/prod", headers=tenant.headers, json={"payload_indexes": [
        {"field_name": "category", "type": "keyword"}]}).status_code == 200
    assert client.post("/v1/namespaces/prod/documents/upsert", headers=tenant.headers,
                       json={"documents": _documents(range(12))}).status_code == 200
    return tenant.headers


def take(client, headers, body=None):
    response = client.post(BASE, headers=headers, json=body or {})
    assert response.status_code == 200, response.text
    created = CreateSnapshotResponse.from_dict(response.json())
    assert wait_ready(client, headers, created.task_id)["status"] == "COMPLETED"
    return created.snapshot_id


CANDIDATES = [f"d{i}" for i in range(12)] + ["added-later"]


def documents_of(client, headers, namespace="prod"):
    """The namespace's documents among those the tests write: id -> (vector, payload n)."""
    found = {}
    for document_id in CANDIDATES:
        response = client.get(f"/v1/namespaces/{namespace}/documents/{document_id}", headers=headers,
                              params={"return_vectors": "true"})
        if response.status_code == 200:
            found[document_id] = (response.json()["vectors"]["emb"], response.json().get("n"))
        else:
            assert response.status_code == 404, response.text
    return found


def test_a_snapshot_records_its_documents_configuration_and_checksums(client, source):
    response = client.post(BASE, headers=source, json={})

    assert response.status_code == 200, response.text
    created = CreateSnapshotResponse.from_dict(response.json())
    assert created.snapshot_id.startswith("snap_") and "12 documents" in created.message
    task = wait_ready(client, source, created.task_id)
    assert task["status"] == "COMPLETED" and task["task_type"] == "api_namespaces_snapshot_create"
    assert task["outputs"] == [{"snapshot_id": created.snapshot_id, "points": 12}]
    detail = client.get(f"{BASE}/{created.snapshot_id}", headers=source)
    assert detail.status_code == 200, detail.text
    snapshot = SnapshotDetailResponse.from_dict(detail.json())
    assert snapshot.status.value == "completed" and snapshot.namespace_id == "prod"
    assert snapshot.snapshot_type.value == "manual" and snapshot.task_id == created.task_id
    assert snapshot.manifest.vector_point_count == 12 and snapshot.manifest.include_vectors is True
    digests = snapshot.manifest.frontier.digests
    assert set(digests) == {"config.json", part_artifact(0)}
    assert all(len(d.sha256) == 64 and d.size > 0 for d in digests.values())
    assert snapshot.download is None


def test_list_is_newest_first_and_pages(client, source):
    first, second = take(client, source), take(client, source, {"include_vectors": False})

    response = client.post(f"{BASE}/list", headers=source, json={"limit": 1})
    assert response.status_code == 200, response.text
    page = ListSnapshotsResponse.from_dict(response.json())
    assert page.total_count == 2 and [s.snapshot_id for s in page.results] == [second]
    rest = ListSnapshotsResponse.from_dict(client.post(f"{BASE}/list", headers=source,
                                                       json={"skip": 1}).json())
    assert [s.snapshot_id for s in rest.results] == [first]
    assert ListSnapshotsResponse.from_dict(client.post(f"{BASE}/list", headers=source).json()).total_count == 2
    metadata_only = next(s for s in page.results if s.snapshot_id == second)
    assert metadata_only.include_vectors is False and metadata_only.manifest.vector_point_count == 0


def test_restore_in_place_brings_back_the_snapshot_content_and_configuration(client, source):
    snapshot_id = take(client, source)
    before = documents_of(client, source)
    # after the snapshot: one document deleted, one changed, one added, and the payload indexes replaced
    client.delete("/v1/namespaces/prod/documents/d0", headers=source)
    client.post("/v1/namespaces/prod/documents/upsert", headers=source, json={"documents": [
        *_documents([5], shift=5.0), {"document_id": "added-later", "vectors": {"emb": [0.0, 1.0]}}]})
    client.patch("/v1/namespaces/prod", headers=source, json={"payload_indexes": [
        {"field_name": "n", "type": "integer"}]})

    response = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})

    assert response.status_code == 200, response.text
    restored = RestoreSnapshotResponse.from_dict(response.json())
    assert restored.target_namespace_id == "prod" and restored.isolated is False
    task = wait_ready(client, source, restored.task_id)
    assert task["status"] == "COMPLETED" and task["task_type"] == "api_namespaces_snapshot_restore"
    assert task["outputs"] == [{"namespace_id": "prod", "points": 12, "removed": 1}]
    assert documents_of(client, source) == before
    indexes = {i["field_name"] for i in client.get("/v1/namespaces/prod", headers=source).json()["payload_indexes"]
               if not i.get("is_protected")}
    assert indexes == {"category"}
    report = SnapshotDetailResponse.from_dict(client.get(f"{BASE}/{snapshot_id}", headers=source).json()).last_restore
    assert report.complete and report.vector_restored == 12 and report.vector_status == "restored"


def test_restore_into_a_new_namespace_leaves_the_source_alone(client, source):
    snapshot_id = take(client, source)
    client.delete("/v1/namespaces/prod/documents/d1", headers=source)

    response = client.post(f"{BASE}/{snapshot_id}/restore", headers=source,
                           json={"target_namespace_name": "prod-restored"})

    assert response.status_code == 200, response.text
    restored = RestoreSnapshotResponse.from_dict(response.json())
    assert restored.target_namespace_id != "prod"
    assert wait_ready(client, source, restored.task_id)["status"] == "COMPLETED"
    copy = client.get(f"/v1/namespaces/{restored.target_namespace_id}", headers=source).json()
    assert copy["namespace_name"] == "prod-restored"
    assert {i["field_name"] for i in copy["payload_indexes"]} >= {"category"}
    copied = documents_of(client, source, restored.target_namespace_id)
    assert len(copied) == 12 and "d1" in copied
    document = client.get(f"/v1/namespaces/{restored.target_namespace_id}/documents/d1", headers=source).json()
    assert document["namespace_id"] == restored.target_namespace_id
    assert "d1" not in documents_of(client, source)  # the source is as it was


def test_large_snapshots_and_restores_run_in_the_background_with_progress(client, source, monkeypatch):
    monkeypatch.setattr(clone_module, "COPY_PAGE", 5)
    monkeypatch.setattr("openpeek.services.snapshots.INLINE_MAX_POINTS", 4)
    body = CreateSnapshotResponse.from_dict(client.post(BASE, headers=source, json={}).json())
    task = wait_ready(client, source, body.task_id)
    assert task["status"] == "COMPLETED" and task["additional_data"]["progress"] == {"exported": 12, "total": 12}
    snapshot = SnapshotDetailResponse.from_dict(client.get(f"{BASE}/{body.snapshot_id}", headers=source).json())
    assert len([p for p in snapshot.manifest.frontier.digests if p.startswith("points/")]) == 3

    client.delete("/v1/namespaces/prod/documents/d11", headers=source)
    restored = client.post(f"{BASE}/{body.snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
    assert restored.status_code == 200, restored.text
    assert wait_ready(client, source, restored.json()["task_id"])["status"] == "COMPLETED"
    assert len(documents_of(client, source)) == 12


def test_verify_rereads_every_artifact(client, source, services):
    snapshot_id = take(client, source)

    response = client.get(f"{BASE}/{snapshot_id}/verify", headers=source, params={"deep": "true"})

    assert response.status_code == 200, response.text
    verified = SnapshotVerifyResponse.from_dict(response.json())
    assert verified.restorable and verified.issues == [] and verified.digests_verified == 3
    assert verified.collections_verified == 1 and verified.vector_capture == "measured_ok"
    assert verified.vector_source == "self" and verified.frontier.vectors.capture_mode == "scroll_bracketed"
    shallow = SnapshotVerifyResponse.from_dict(client.get(f"{BASE}/{snapshot_id}/verify", headers=source).json())
    assert shallow.restorable and shallow.vector_capture == "could_not_measure"


def _artifact_key(services, org_id, snapshot_id, path):
    """Where the embedded blob store keeps one of the snapshot's artifacts (the tests damage or look for it)."""
    namespace = services.namespaces.resolve(Principal(org_id, "key_test"), "prod")
    return artifacts_prefix(namespace.namespace_id, snapshot_id) + path


def test_a_damaged_snapshot_fails_verify_and_restore_and_changes_nothing(client, source, services, tenant):
    client.delete("/v1/namespaces/prod/documents/d2", headers=source)
    before = documents_of(client, source)
    for path, damage, code in [(part_artifact(0), "flipped", "digest_mismatch"),
                               (part_artifact(0), "truncated", "size_mismatch"),
                               (part_artifact(0), "missing", "missing_artifact"),
                               ("config.json", "flipped", "digest_mismatch"),
                               ("manifest.json", "flipped", "digest_mismatch")]:
        snapshot_id = take(client, source)
        key = _artifact_key(services, tenant.org_id, snapshot_id, path)
        data = services.blobs.get(key)
        if damage == "flipped":  # same size, one byte changed
            services.blobs.put(key, data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:])
        elif damage == "truncated":
            services.blobs.put(key, data[: len(data) // 2])
        else:
            services.blobs.delete(key)
        client.post("/v1/namespaces/prod/documents/upsert", headers=source, json={"documents": [
            {"document_id": "added-later", "vectors": {"emb": [0.0, 1.0]}}]})

        verified = SnapshotVerifyResponse.from_dict(
            client.get(f"{BASE}/{snapshot_id}/verify", headers=source).json())
        assert verified.restorable is False, damage
        assert [issue.code for issue in verified.issues] == [code]
        assert verified.issues[0].severity == "error" and path in verified.issues[0].detail

        in_place = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
        body = assert_error(in_place, 409, "snapshot_not_restorable")
        assert path in body["error"]["message"]
        elsewhere = client.post(f"{BASE}/{snapshot_id}/restore", headers=source,
                                json={"target_namespace_name": "from-damaged"})
        assert_error(elsewhere, 409, "snapshot_not_restorable")
        assert documents_of(client, source) == {**before, "added-later": ([0.0, 1.0], None)}
        assert client.get("/v1/namespaces/from-damaged", headers=source).status_code == 404
        assert client.get(f"{BASE}/{snapshot_id}", headers=source).json()["status"] == "completed"
        if path == "manifest.json":  # the record still says what the snapshot held; its artifacts cannot be named
            detail = client.get(f"{BASE}/{snapshot_id}", headers=source).json()
            held = len(before) + 1  # taken after the first round wrote added-later
            assert detail["manifest"]["vector_point_count"] == held and "digests" not in detail["manifest"]["frontier"]
            assert_error(client.get(f"{BASE}/{snapshot_id}", headers=source, params={"download": "true"}), 409,
                         "snapshot_damaged")
    assert [t for t in client.post("/v1/tasks/list", headers=source, json={}).json()["results"]
            if t["task_type"] == "api_namespaces_snapshot_restore"] == []


def test_delete_removes_the_record_and_its_artifacts_and_so_does_the_namespaces_deletion(client, source, services, tenant):
    snapshot_id = take(client, source)
    key = _artifact_key(services, tenant.org_id, snapshot_id, "config.json")
    assert services.blobs.exists(key)

    response = client.delete(f"{BASE}/{snapshot_id}", headers=source)

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert not services.blobs.exists(key)
    assert_error(client.get(f"{BASE}/{snapshot_id}", headers=source), 404)
    assert_error(client.delete(f"{BASE}/{snapshot_id}", headers=source), 404)
    assert ListSnapshotsResponse.from_dict(client.post(f"{BASE}/list", headers=source).json()).total_count == 0

    # a namespace's deletion takes its snapshots' artifacts with it
    kept = _artifact_key(services, tenant.org_id, take(client, source), "config.json")
    assert client.delete("/v1/namespaces/prod", headers=source).status_code == 200
    assert not services.blobs.exists(kept)


def test_download_signs_a_url_per_artifact_with_its_digest(client, source):
    snapshot_id = take(client, source)

    response = client.get(f"{BASE}/{snapshot_id}", headers=source, params={"download": "true"})

    assert response.status_code == 200, response.text
    download = SnapshotDetailResponse.from_dict(response.json()).download
    assert {a.path for a in download.artifacts} == {"config.json", "manifest.json", part_artifact(0)}
    config = next(a for a in download.artifacts if a.path == "config.json")
    fetched = client.get(config.url.replace("http://testserver", ""))
    assert fetched.status_code == 200 and len(fetched.content) == config.size
    assert fetched.json()["vector_configs"][0]["name"] == "emb"
    assert "vector_store_api_key" not in fetched.text or fetched.json()["vector_store_api_key"] is None


def test_another_organisations_snapshots_are_not_found(client, source, other_tenant):
    snapshot_id = take(client, source)
    other = other_tenant.headers
    client.post("/v1/namespaces/standalone", headers=other, json={
        "namespace_id": "prod", "vector_configs": [{"name": "emb", "dimension": 2}]})

    for method, path, body in [("GET", f"{BASE}/{snapshot_id}", None), ("DELETE", f"{BASE}/{snapshot_id}", None),
                               ("GET", f"{BASE}/{snapshot_id}/verify", None),
                               ("POST", f"{BASE}/{snapshot_id}/restore", {"confirm_in_place": True})]:
        assert_error(client.request(method, path, headers=other, json=body), 404)
    assert client.post(f"{BASE}/list", headers=other).json()["total_count"] == 0
    assert client.get(f"{BASE}/{snapshot_id}", headers=source).status_code == 200


BAD_REQUESTS = [
    ("POST", "/v1/namespaces/missing/snapshots", {}, 404, None),
    ("POST", BASE, {"include_vectors": "yes"}, 422, None),
    ("POST", BASE, {"unknown": 1}, 422, None),
    ("POST", BASE, {"copy_s3_objects": True}, 400, "snapshot_object_copy_unsupported"),
    ("POST", BASE, {"import_from": {"bucket": "b", "prefix": "p/"}}, 400, "snapshot_import_unsupported"),
    ("POST", f"{BASE}/list", {"limit": 0}, 422, None),
    ("POST", f"{BASE}/list", {"limit": 101}, 422, None),
    ("POST", f"{BASE}/list", {"skip": -1}, 422, None),
    ("GET", f"{BASE}/snap_missing", None, 404, None),
    ("GET", f"{BASE}/snap_missing/verify", None, 404, None),
    ("DELETE", f"{BASE}/snap_missing", None, 404, None),
    ("POST", f"{BASE}/snap_missing/restore", {"confirm_in_place": True}, 404, None),
    ("POST", f"{BASE}/snap_missing/restore", {"confirm_in_place": "yes"}, 422, None),
    ("POST", f"{BASE}/snap_missing/restore", {"target_namespace_name": ""}, 422, None),
]


def test_bad_requests_are_refused_and_change_nothing(client, source):
    for method, path, body, status, code in BAD_REQUESTS:
        response = client.request(method, path, headers=source, json=body)
        if status == 422:
            assert response.status_code == 422, (path, body, response.text)
        else:
            assert_error(response, status, code)
    assert client.post(f"{BASE}/list", headers=source).json()["total_count"] == 0


def test_restore_requests_that_cannot_be_honoured_change_nothing(client, source):
    snapshot_id = take(client, source)
    client.delete("/v1/namespaces/prod/documents/d3", headers=source)
    for body, code in [
        ({}, "confirm_in_place_required"),
        ({"confirm_in_place": False}, "confirm_in_place_required"),
        ({"target_namespace_name": "x", "restore_point": "2026-10-01T18:00:00Z"}, "restore_point_unsupported"),
        ({"target_namespace_name": "x", "restore_point": 42}, "restore_point_unsupported"),
        ({"target_namespace_name": "x", "isolated": True}, "isolated_restore_unsupported"),
    ]:
        assert_error(client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json=body), 400, code)
    assert_error(client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"target_namespace_name": "prod"}),
                 409)
    assert "d3" not in documents_of(client, source)
    assert client.get("/v1/namespaces/x", headers=source).status_code == 404


def test_a_metadata_only_snapshot_restores_configuration_and_leaves_documents(client, source):
    snapshot_id = take(client, source, {"include_vectors": False})
    client.patch("/v1/namespaces/prod", headers=source, json={"payload_indexes": []})
    client.delete("/v1/namespaces/prod/documents/d4", headers=source)

    response = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})

    assert response.status_code == 200, response.text
    assert wait_ready(client, source, response.json()["task_id"])["status"] == "COMPLETED"
    assert len(documents_of(client, source)) == 11
    indexes = {i["field_name"] for i in client.get("/v1/namespaces/prod", headers=source).json()["payload_indexes"]}
    assert "category" in indexes


def test_an_export_the_vector_store_fails_leaves_a_failed_snapshot_and_no_artifacts(client, source, services,
                                                                                      tenant, monkeypatch):
    monkeypatch.setattr(clone_module, "COPY_PAGE", 5)
    scroll = services.vectors.scroll
    pages = []

    def failing_after_one_page(*args, **kwargs):
        if pages:
            raise DependencyUnavailable("vector store unreachable")
        pages.append(1)
        return scroll(*args, **kwargs)

    monkeypatch.setattr(services.vectors, "scroll", failing_after_one_page)
    created = CreateSnapshotResponse.from_dict(client.post(BASE, headers=source, json={}).json())

    task = wait_ready(client, source, created.task_id)
    assert task["status"] == "FAILED" and "after 5 documents" in task["error"]
    snapshot = SnapshotDetailResponse.from_dict(client.get(f"{BASE}/{created.snapshot_id}", headers=source).json())
    assert snapshot.status.value == "failed" and "vector store unreachable" in snapshot.error
    namespace = services.namespaces.resolve(Principal(tenant.org_id, "key_test"), "prod")
    assert services.blobs.list(artifacts_prefix(namespace.namespace_id, created.snapshot_id)) == []
    verified = SnapshotVerifyResponse.from_dict(
        client.get(f"{BASE}/{created.snapshot_id}/verify", headers=source).json())
    assert not verified.restorable and verified.issues[0].code == "snapshot_not_completed"
    assert_error(client.post(f"{BASE}/{created.snapshot_id}/restore", headers=source,
                             json={"confirm_in_place": True}), 409, "snapshot_not_restorable")
    assert client.delete(f"{BASE}/{created.snapshot_id}", headers=source).status_code == 200


def test_an_in_place_restore_the_vector_store_interrupts_is_finished_by_running_it_again(client, source, services,
                                                                                         monkeypatch):
    snapshot_id = take(client, source)
    before = documents_of(client, source)
    client.delete("/v1/namespaces/prod/documents/d7", headers=source)
    client.post("/v1/namespaces/prod/documents/upsert", headers=source, json={"documents": [
        {"document_id": "added-later", "vectors": {"emb": [0.0, 1.0]}}]})
    delete = services.vectors.delete

    def unreachable(*args, **kwargs):
        raise DependencyUnavailable("vector store unreachable")

    monkeypatch.setattr(services.vectors, "delete", unreachable)
    first = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
    assert first.status_code == 200, first.text
    task = wait_ready(client, source, first.json()["task_id"])
    assert task["status"] == "FAILED" and "vector store unreachable" in task["error"]
    report = SnapshotDetailResponse.from_dict(client.get(f"{BASE}/{snapshot_id}", headers=source).json()).last_restore
    assert report.complete is False and report.skipped_summary == [task["error"]]

    monkeypatch.setattr(services.vectors, "delete", delete)
    again = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
    assert wait_ready(client, source, again.json()["task_id"])["status"] == "COMPLETED"
    assert documents_of(client, source) == before


def test_a_snapshot_whose_export_stopped_is_failed_at_its_deadline_keeps_nothing_and_can_be_deleted(
        client, source, services, tenant, monkeypatch):
    parked = []  # a background runner whose worker has not run the export (a restart lost it)
    now = [utcnow()]
    monkeypatch.setattr(services, "snapshots", NamespaceSnapshots(
        services.namespaces, services.table, services.vectors, services.blobs,
        background=lambda job: parked.append(job) or False, clock=lambda: now[0]))
    monkeypatch.setattr("openpeek.services.snapshots.INLINE_MAX_POINTS", 4)
    created = CreateSnapshotResponse.from_dict(client.post(BASE, headers=source, json={}).json())
    assert "started" in created.message
    assert client.get(f"{BASE}/{created.snapshot_id}", headers=source).json()["status"] == "pending"
    assert_error(client.delete(f"{BASE}/{created.snapshot_id}", headers=source), 409, "snapshot_in_progress")

    now[0] += timedelta(seconds=MAX_RUNTIME_S + 1)

    listed = ListSnapshotsResponse.from_dict(client.post(f"{BASE}/list", headers=source).json())
    assert listed.results[0].status.value == "failed" and "deadline" in listed.results[0].error
    assert client.get(f"/v1/tasks/{created.task_id}", headers=source).json()["status"] == "FAILED"
    parked[0]()  # the export runs after all: its snapshot is failed already, so it keeps nothing
    detail = SnapshotDetailResponse.from_dict(client.get(f"{BASE}/{created.snapshot_id}", headers=source).json())
    assert detail.status.value == "failed" and detail.manifest is None
    namespace = services.namespaces.resolve(Principal(tenant.org_id, "key_test"), "prod")
    assert services.blobs.list(artifacts_prefix(namespace.namespace_id, created.snapshot_id)) == []
    assert_error(client.post(f"{BASE}/{created.snapshot_id}/restore", headers=source,
                             json={"confirm_in_place": True}), 409, "snapshot_not_restorable")
    assert client.delete(f"{BASE}/{created.snapshot_id}", headers=source).status_code == 200


def test_a_second_restore_in_place_while_one_runs_is_a_conflict(client, source, services, monkeypatch):
    snapshot_id = take(client, source)
    parked = []  # a background runner that has not run the first restore yet
    monkeypatch.setattr(services, "snapshots", NamespaceSnapshots(
        services.namespaces, services.table, services.vectors, services.blobs,
        background=lambda job: parked.append(job) or False))
    monkeypatch.setattr("openpeek.services.snapshots.INLINE_MAX_POINTS", 4)
    client.delete("/v1/namespaces/prod/documents/d9", headers=source)
    first = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
    assert first.status_code == 200 and "poll task" in first.json()["message"]

    second = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"confirm_in_place": True})
    assert assert_error(second, 409, "restore_in_progress")["error"]["details"]["task_id"] == first.json()["task_id"]
    elsewhere = client.post(f"{BASE}/{snapshot_id}/restore", headers=source, json={"target_namespace_name": "side"})
    assert elsewhere.status_code == 200, elsewhere.text  # a new namespace is no one else's to restore

    parked[0]()
    assert wait_ready(client, source, first.json()["task_id"])["status"] == "COMPLETED"
    assert "d9" in documents_of(client, source)
    assert client.post(f"{BASE}/{snapshot_id}/restore", headers=source,
                       json={"confirm_in_place": True}).status_code == 200


def test_a_dedicated_namespace_restores_onto_its_own_qdrant(app, servers):
    _, client, tenant = app
    source = create_dedicated(client, tenant).json()["namespace_id"]
    upsert_angles(client, tenant, "prod", [0, 10, 20])
    snapshot_id = take(client, tenant.headers)
    client.delete("/v1/namespaces/prod/documents/d10", headers=tenant.headers)

    restored = client.post(f"{BASE}/{snapshot_id}/restore", headers=tenant.headers,
                           json={"target_namespace_name": "prod-restored"})
    assert restored.status_code == 200, restored.text
    copy = client.get("/v1/namespaces/prod-restored", headers=tenant.headers).json()
    assert copy["infrastructure"]["qdrant_collection"] == copy["namespace_id"] != source
    assert copy["infrastructure"]["qdrant_api_key_provided"] is True
    assert servers.store(DEDICATED_URL).count(copy["namespace_id"]) == 3

    in_place = client.post(f"{BASE}/{snapshot_id}/restore", headers=tenant.headers, json={"confirm_in_place": True})
    assert wait_ready(client, tenant.headers, in_place.json()["task_id"])["status"] == "COMPLETED"
    assert servers.store(DEDICATED_URL).count(source) == 3


def test_collections_outside_the_vector_store_are_named_and_block_a_restore_in_place(client, tiered_headers):
    add(client, tiered_headers, "hotbooks", 1)
    cold_document = add(client, tiered_headers, "coldbooks", 2)
    assert lifecycle(client, tiered_headers, "coldbooks", "cold").status_code == 200
    snapshots = "/v1/namespaces/tiers/snapshots"
    created = client.post(snapshots, headers=tiered_headers, json={})
    assert created.status_code == 200, created.text
    snapshot_id = created.json()["snapshot_id"]

    verified = SnapshotVerifyResponse.from_dict(
        client.get(f"{snapshots}/{snapshot_id}/verify", headers=tiered_headers).json())
    assert verified.restorable and [(i.code, i.severity) for i in verified.issues] == [
        ("collection_not_captured", "warning")]
    assert "'coldbooks' was cold" in verified.issues[0].detail
    refused = client.post(f"{snapshots}/{snapshot_id}/restore", headers=tiered_headers, json={"confirm_in_place": True})
    assert assert_error(refused, 409, "collections_not_active")["error"]["details"]["collections"] == {
        "coldbooks": "cold"}
    elsewhere = client.post(f"{snapshots}/{snapshot_id}/restore", headers=tiered_headers,
                            json={"target_namespace_name": "tiers-restored"})
    assert elsewhere.status_code == 200, elsewhere.text
    assert "Restored 1 documents" in elsewhere.json()["message"]

    # once active again, a restore in place may run, and leaves the collection it did not capture as it is
    hot_later = add(client, tiered_headers, "hotbooks", 3)
    assert lifecycle(client, tiered_headers, "coldbooks", "active").status_code == 200
    again = client.post(f"{snapshots}/{snapshot_id}/restore", headers=tiered_headers, json={"confirm_in_place": True})
    assert again.status_code == 200, again.text
    assert wait_ready(client, tiered_headers, again.json()["task_id"])["outputs"][0]["removed"] == 1
    assert client.get(f"/v1/collections/coldbooks/documents/{cold_document}", headers=tiered_headers).status_code == 200
    assert client.get(f"/v1/collections/hotbooks/documents/{hot_later}", headers=tiered_headers).status_code == 404
