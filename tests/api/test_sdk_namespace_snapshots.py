"""Namespace snapshots through the official SDK's NamespaceSnapshotsApi against a live `openpeek serve`: take one,
list it, read it, verify it, restore it in place after a change (the document changed since reverts, the one added since goes), and delete it."""

from __future__ import annotations

import time

import mixpeek
import pytest
from mixpeek.models import (BYOUpsertRequest, CreateSnapshotRequest, CreateStandaloneNamespaceRequestModel,
                            ListSnapshotsRequest, RestoreSnapshotRequest)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow


def _finished(tasks: mixpeek.TasksApi, task_id: str) -> str:
    for _ in range(200):
        status = tasks.get_task(task_id).status
        if status in ("COMPLETED", "FAILED"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_snapshot_verify_restore_and_delete_with_the_sdk(server):
    client = sdk_client(server).api_client
    documents = mixpeek.BYODocumentsApi(client)
    snapshots = mixpeek.NamespaceSnapshotsApi(client)
    tasks = mixpeek.TasksApi(client)
    documents.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="sdk-snap", vector_configs=[{"name": "emb", "dimension": 3}]))
    documents.upsert_documents_byo_namespaces("sdk-snap", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i, 0.5]}, "payload": {"n": i}} for i in range(5)]}))

    created = snapshots.create_snapshot_namespaces("sdk-snap", CreateSnapshotRequest())
    assert _finished(tasks, created.task_id) == "COMPLETED"
    listed = snapshots.list_snapshots_namespaces("sdk-snap", ListSnapshotsRequest(limit=10))
    assert listed.total_count == 1 and listed.results[0].snapshot_id == created.snapshot_id
    detail = snapshots.get_snapshot_namespaces("sdk-snap", created.snapshot_id, download=True)
    assert detail.status.value == "completed" and detail.manifest.vector_point_count == 5
    assert len(detail.download.artifacts) == 3
    verified = snapshots.verify_snapshot_namespaces("sdk-snap", created.snapshot_id, deep=True)
    assert verified.restorable and verified.digests_verified == 3 and verified.vector_capture == "measured_ok"

    documents.upsert_documents_byo_namespaces("sdk-snap", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": "d0", "vectors": {"emb": [0.0, 1.0, 0.0]}, "payload": {"n": 100}},
        {"document_id": "later", "vectors": {"emb": [0.0, 0.0, 1.0]}}]}))
    restored = snapshots.restore_snapshot_namespaces("sdk-snap", created.snapshot_id,
                                                     RestoreSnapshotRequest(confirm_in_place=True))
    assert restored.target_namespace_id == "sdk-snap" and _finished(tasks, restored.task_id) == "COMPLETED"
    assert documents.get_document_byo_namespaces("sdk-snap", "d0")["n"] == 0
    with pytest.raises(mixpeek.exceptions.NotFoundException):
        documents.get_document_byo_namespaces("sdk-snap", "later")

    snapshots.delete_snapshot_namespaces("sdk-snap", created.snapshot_id)
    with pytest.raises(mixpeek.exceptions.NotFoundException):
        snapshots.get_snapshot_namespaces("sdk-snap", created.snapshot_id)
