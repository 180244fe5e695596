"""Cluster job lifecycle rules, with an orchestrator that only records what it was asked (so each step can be driven
by hand): cancel, deadlines, a refused start, one run at a time, failures from the state machine."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from openpeek.adapters.local.event_bus import InProcessEventBus
from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.api.app import create_app
from openpeek.domain.failures import DependencyUnavailable
from openpeek.runtime import wire
from openpeek.handlers.step_functions import failure_message
from openpeek.domain.cluster_jobs import JobEnded
from openpeek.settings import Settings
from tests.api.test_namespaces_api import assert_error
from tests.conftest import make_tenant


class RecordingOrchestrator:
    driver_process_id = None

    def __init__(self, steps) -> None:
        self.steps = steps
        self.started: list = []
        self.canceled: list = []
        self.refuse = False

    def start(self, job) -> None:
        if self.refuse:
            raise DependencyUnavailable("state machine unreachable")
        self.started.append(job)

    def cancel(self, job) -> None:
        self.canceled.append(job)

    def run_now(self, job) -> bool:
        self.start(job)
        return False


@pytest.fixture
def setup(tmp_path):
    def build(**settings):
        events = InProcessEventBus()
        services = wire(Settings(runtime="embedded", data_dir=tmp_path, local_inference=False, **settings),
                        SqliteTable(tmp_path / "t.db"), QdrantEdgeStore(str(tmp_path / "v")),
                        FolderBlobStore(tmp_path / "b"), events, orchestrator=RecordingOrchestrator)
        tenant = make_tenant(services, "acme")
        client = TestClient(create_app(services), raise_server_exceptions=False)
        client.post("/v1/namespaces/standalone", headers=tenant.headers,
                    json={"namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 2}]})
        headers = {**tenant.headers, "X-Namespace": "maps"}
        client.post("/v1/namespaces/maps/documents/upsert", headers=headers, json={"documents": [
            {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}} for i in range(5)]})
        cluster = client.post("/v1/clusters", headers=headers, json={
            "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                              "kmeans_parameters": {"n_clusters": 2}}}).json()
        return services, client, headers, cluster["cluster_id"], events
    return build


def test_a_canceled_task_stays_canceled_and_its_steps_then_do_nothing(setup):
    services, client, headers, cluster_id, events = setup()
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()
    (job,) = services.orchestrator.started

    canceled = client.delete(f"/v1/tasks/{task['task_id']}", headers=headers)

    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED"
    assert services.orchestrator.canceled == [job]
    with pytest.raises(JobEnded):
        services.cluster_steps.prepare(job)
    assert services.cluster_steps.finalize(job)["recorded"] is False
    assert services.cluster_steps.mark_failed(job, "late")["marked"] is False
    assert client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()["status"] == "CANCELED"
    execution = client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json()
    assert execution["status"] == "canceled"
    # Deleting an ended task again changes nothing.
    assert client.delete(f"/v1/tasks/{task['task_id']}", headers=headers).json()["status"] == "CANCELED"


def test_a_task_past_its_deadline_is_reported_failed(setup):
    services, client, headers, cluster_id, _ = setup(cluster_max_runtime_s=0)
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()

    polled = client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()

    assert polled["status"] == "FAILED" and "deadline" in polled["error"]
    assert client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json()["status"] == "failed"
    # and the cluster may run again at once
    again = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers)
    assert again.status_code == 200, again.text


def test_one_execution_at_a_time_per_cluster(setup):
    _, client, headers, cluster_id, _ = setup()
    first = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()

    second = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers)

    body = assert_error(second, 409, "execution_in_progress")
    assert body["error"]["details"]["task_id"] == first["task_id"]


def test_a_job_that_cannot_start_leaves_nothing_behind(setup):
    services, client, headers, cluster_id, _ = setup()
    services.orchestrator.refuse = True

    response = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers)

    assert_error(response, 503, "orchestrator_unavailable")
    assert client.post("/v1/tasks/list", headers=headers, json={}).json()["results"] == []
    assert client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json() is None
    assert client.get(f"/v1/clusters/{cluster_id}", headers=headers).json()["status"] is None


def test_mark_failed_records_the_reason_the_state_machine_caught(setup, monkeypatch):
    from openpeek.handlers import cluster_mark_failed

    services, client, headers, cluster_id, events = setup()
    monkeypatch.setattr(cluster_mark_failed, "services", services)
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()
    (job,) = services.orchestrator.started
    cause = json.dumps({"ProcessingJobName": "x", "FailureReason": "AlgorithmError: out of memory"})

    cluster_mark_failed.handler({**job.state(), "error": {"Error": "States.TaskFailed", "Cause": cause}}, None)

    polled = client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()
    assert polled["status"] == "FAILED" and polled["error"] == "AlgorithmError: out of memory"
    assert polled["additional_data"]["error"] == "AlgorithmError: out of memory"


def test_failure_messages_come_from_lambda_and_sagemaker_causes():
    lambda_cause = {"Error": "ValueError", "Cause": json.dumps({"errorMessage": "Insufficient documents",
                                                                "errorType": "ValueError"})}
    assert failure_message(lambda_cause) == "Insufficient documents"
    assert failure_message({"Error": "States.Timeout", "Cause": "timed out"}) == "timed out"
    assert failure_message({"Error": "States.Timeout"}) == "States.Timeout"
    assert failure_message(None) == "the clustering job failed"


def test_prepare_exports_the_documents_and_moves_the_task_to_processing(setup):
    services, client, headers, cluster_id, _ = setup()
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()
    (job,) = services.orchestrator.started

    prepared = services.cluster_steps.prepare(job)

    assert prepared.job_name.startswith("openpeek-") and len(prepared.job_name) <= 63
    assert "_" not in prepared.job_name
    keys = services.blobs.list(prepared.input_prefix)
    assert any(k.endswith(".parquet") for k in keys) and any(k.endswith("job.json") for k in keys)
    parameters = json.loads(services.blobs.get(prepared.input_prefix + "job.json"))
    assert parameters["mode"] == "full" and parameters["method_params"] == {"n_clusters": 2}
    assert client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()["status"] == "PROCESSING"
    # A retried prepare rewrites the same files and does not fail.
    again = services.cluster_steps.prepare(job)
    assert sorted(services.blobs.list(again.input_prefix)) == sorted(keys)


def test_a_task_left_running_by_a_restarted_server_is_reported_failed(setup, tmp_path):
    services, client, headers, cluster_id, _ = setup()
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()
    # What the embedded runtime records: the worker (process) running the job; another process finds it gone.
    services.table.put({**services.table.get(f"NS#{services.orchestrator.started[0].namespace_id}",
                                              f"TASK#{task['task_id']}"),
                        "additional_data": {**task["additional_data"], "worker": "local-gone"}})

    polled = client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()

    assert polled["status"] == "FAILED" and "restarted" in polled["error"]


def test_the_sdk_cancel_route_cancels_the_execution_and_its_task(setup):
    services, client, headers, cluster_id, _ = setup()
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers).json()
    run_id = task["additional_data"]["run_id"]

    response = client.post(f"/v1/clusters/{cluster_id}/executions/{run_id}/cancel", headers=headers)

    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert client.get(f"/v1/tasks/{task['task_id']}", headers=headers).json()["status"] == "CANCELED"
    assert services.orchestrator.canceled and services.orchestrator.canceled[0].run_id == run_id
