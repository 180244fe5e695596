"""A cluster run sent from the embedded runtime to SageMaker Processing, through the SageMaker Python SDK, under moto:
the parts uploaded to the user's bucket, CreateProcessingJob in the state machine's shape, the job polled, its outputs
(written by the container's own entrypoint, as the job would) brought back and recorded; a failed job, a job stopped
outside openpeek, a canceled task, and a server without credentials or configuration."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from mixpeek.models.task_response import TaskResponse
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from openpeek.adapters.aws import sagemaker_processing
from openpeek.adapters.aws.sagemaker_processing import ProcessingJobSettings, SageMakerProcessingOrchestrator
from openpeek.adapters.compute_router import ComputeRouter
from openpeek.embedded.orchestrator import EmbeddedOrchestrator
from openpeek.adapters.local.event_bus import InProcessEventBus
from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.api.app import create_app
from openpeek.runtime import wire
from openpeek.settings import Settings
from tests.conftest import make_tenant

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "laptop-user-jobs"
ROLE = "arn:aws:iam::123456789012:role/openpeek-processing"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/openpeek-clustering:abc123"


def _entrypoint():
    spec = importlib.util.spec_from_file_location("clustering_entrypoint", ROOT / "containers/clustering/entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class ProcessingService:
    """What SageMaker does with a CreateProcessingJob that moto records: `outcome` says how the job goes.
    complete — the container's entrypoint runs on the job's S3 input and its output lands at the job's S3 output;
    fail — the job fails with a reason; run — the job stays InProgress (until stopped)."""

    def __init__(self, session: boto3.Session) -> None:
        self.outcome = "complete"
        self.requests: list[dict] = []
        self._asked: dict = {}
        session.events.register("provide-client-params.sagemaker.CreateProcessingJob", self._record)
        session.events.register("after-call.sagemaker.CreateProcessingJob", self._run)
        self._s3 = session.client("s3")

    def _record(self, params, **_) -> None:
        self._asked = dict(params)

    def job(self, name: str):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].processing_jobs[name]

    def _run(self, http_response, **_) -> None:
        if http_response.status_code == 200:
            self._play(self._asked)
            self.requests.append(self._asked)

    def _play(self, request: dict) -> None:
        job = self.job(request["ProcessingJobName"])
        if self.outcome == "fail":
            job.processing_job_status = "Failed"
            job.failure_reason = "AlgorithmError: CUDA out of memory"
            return
        if self.outcome == "run":
            job.processing_job_status = "InProgress"
            return
        source = request["ProcessingInputs"][0]["S3Input"]["S3Uri"]
        target = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        with tempfile.TemporaryDirectory() as work:
            inputs, outputs = Path(work, "in"), Path(work, "out")
            inputs.mkdir()
            bucket, prefix = _split(source)
            for item in self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", []):
                self._s3.download_file(bucket, item["Key"], str(inputs / item["Key"].rsplit("/", 1)[1]))
            assert _entrypoint().main(["--input", str(inputs), "--output", str(outputs)]) == 0
            bucket, prefix = _split(target)
            for path in outputs.iterdir():
                self._s3.upload_file(str(path), bucket, f"{prefix}/{path.name}")


@pytest.fixture
def aws(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def laptop(aws, tmp_path):
    """The embedded runtime (SQLite, Qdrant Edge, a folder) whose cluster jobs may go to SageMaker."""
    session = boto3.Session(region_name=REGION)
    service = ProcessingService(session)
    settings = Settings(runtime="embedded", data_dir=tmp_path, local_inference=False)
    blobs = FolderBlobStore(tmp_path / "b")

    def orchestrator(steps):
        local = EmbeddedOrchestrator(steps, blobs)
        sagemaker = SageMakerProcessingOrchestrator(steps, blobs, ProcessingJobSettings(
            image_uri=IMAGE, role_arn=ROLE, bucket=BUCKET, instance_type="ml.g4dn.xlarge", poll_interval_s=0.01),
            boto_session=lambda region: session, driver_process_id=local.driver_process_id)
        return ComputeRouter({"local": local, "sagemaker": sagemaker}, default="local")

    services = wire(settings, SqliteTable(tmp_path / "t.db"), QdrantEdgeStore(str(tmp_path / "v")), blobs,
                    InProcessEventBus(), orchestrator=orchestrator)
    tenant = make_tenant(services, "acme")
    client = TestClient(create_app(services), raise_server_exceptions=False)
    headers = {**tenant.headers, "X-Namespace": "maps"}
    client.post("/v1/namespaces/standalone", headers=tenant.headers,
                json={"namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 2}]})
    client.post("/v1/namespaces/maps/documents/upsert", headers=headers, json={"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, 0.1 * i] if i < 4 else [-1.0, 0.1 * i]}}
        for i in range(8)]})
    cluster = client.post("/v1/clusters", headers=headers, json={
        "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                          "kmeans_parameters": {"n_clusters": 2}}}).json()
    yield services, client, headers, cluster["cluster_id"], service
    services.close()


GPU_RUN = {"defer_visualization": True, "compute": {"backend": "sagemaker", "instance_type": "ml.g5.xlarge"}}


def _finish(services, client, headers, task_id: str) -> dict:
    services.orchestrator.wait_idle()
    return client.get(f"/v1/tasks/{task_id}", headers=headers).json()


def test_a_run_asked_for_sagemaker_runs_there_and_is_recorded_here(laptop):
    services, client, headers, cluster_id, sagemaker = laptop

    answer = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=GPU_RUN)

    assert answer.status_code == 200, answer.text
    TaskResponse.from_dict(answer.json())  # the extension leaves the SDK's model intact
    assert answer.json()["additional_data"]["compute"] == GPU_RUN["compute"]
    task = _finish(services, client, headers, answer.json()["task_id"])
    assert task["status"] == "COMPLETED", task
    execution = client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json()
    assert execution["num_clusters"] == 2 and execution["num_points"] == 8

    (request,) = sagemaker.requests
    name = request["ProcessingJobName"]
    prefix = f"s3://{BUCKET}/openpeek-jobs/{name}/"
    assert name.startswith("openpeek-task-")
    # The deployed state machine's request (stacks/clustering.py), on the instance type the execution asked for.
    assert request["AppSpecification"] == {
        "ImageUri": IMAGE, "ContainerEntrypoint": ["python", "/opt/openpeek/entrypoint.py"],
        "ContainerArguments": ["--input", "/opt/ml/processing/input", "--output", "/opt/ml/processing/output"]}
    assert request["ProcessingResources"]["ClusterConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1,
                                                               "VolumeSizeInGB": 30}
    assert request["RoleArn"] == ROLE
    s3_input = request["ProcessingInputs"][0]["S3Input"]
    assert (s3_input["S3Uri"], s3_input["LocalPath"], s3_input["S3DataType"], s3_input["S3InputMode"]) == (
        prefix + "input", "/opt/ml/processing/input", "S3Prefix", "File")
    s3_output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert (s3_output["S3Uri"], s3_output["LocalPath"], s3_output["S3UploadMode"]) == (
        prefix + "output", "/opt/ml/processing/output", "EndOfJob")
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": services.settings.cluster_max_runtime_s}
    # The job's files are the blob store's now; none are left in the user's bucket.
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_failed_job_ends_the_task_failed_with_sagemakers_reason(laptop):
    services, client, headers, cluster_id, sagemaker = laptop
    sagemaker.outcome = "fail"

    task_id = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=GPU_RUN).json()["task_id"]

    task = _finish(services, client, headers, task_id)
    assert task["status"] == "FAILED"
    assert "failed: AlgorithmError: CUDA out of memory" in task["error"]
    assert client.get(f"/v1/clusters/{cluster_id}", headers=headers).json()["status"] == "FAILED"


def test_a_job_stopped_outside_openpeek_ends_the_task_failed(laptop):
    services, client, headers, cluster_id, sagemaker = laptop
    sagemaker.outcome = "run"

    task_id = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=GPU_RUN).json()["task_id"]
    while not sagemaker.requests:
        services.orchestrator.wait_idle(0.01)
    job = sagemaker.job(sagemaker.requests[0]["ProcessingJobName"])
    assert client.get(f"/v1/tasks/{task_id}", headers=headers).json()["status"] == "PROCESSING"
    boto3.client("sagemaker").stop_processing_job(ProcessingJobName=job.processing_job_name)  # e.g. from the console

    task = _finish(services, client, headers, task_id)
    assert task["status"] == "FAILED" and "stopped" in task["error"]


def test_cancel_stops_the_processing_job_and_the_task_stays_canceled(laptop):
    services, client, headers, cluster_id, sagemaker = laptop
    sagemaker.outcome = "run"

    task_id = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=GPU_RUN).json()["task_id"]
    while not sagemaker.requests:
        services.orchestrator.wait_idle(0.01)
    job = sagemaker.job(sagemaker.requests[0]["ProcessingJobName"])

    canceled = client.delete(f"/v1/tasks/{task_id}", headers=headers)

    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED"
    assert _finish(services, client, headers, task_id)["status"] == "CANCELED"
    assert job.processing_job_status == "Stopped"


@pytest.fixture
def unconfigured_laptop(tmp_path, monkeypatch):
    """`openpeek serve` wiring (runtime.build_services) on a machine with no AWS credentials anywhere."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    def build(**settings):
        from openpeek.runtime import build_services

        services = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data", local_inference=False,
                                           **settings))
        tenant = make_tenant(services, "acme")
        client = TestClient(create_app(services), raise_server_exceptions=False)
        headers = {**tenant.headers, "X-Namespace": "maps"}
        client.post("/v1/namespaces/standalone", headers=tenant.headers,
                    json={"namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 2}]})
        cluster = client.post("/v1/clusters", headers=headers, json={
            "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans"}}).json()
        return services, client, headers, cluster["cluster_id"]

    return build


def test_no_credentials_is_a_400_at_execute_time_and_nothing_is_recorded(unconfigured_laptop):
    services, client, headers, cluster_id = unconfigured_laptop(
        sagemaker_image_uri=IMAGE, sagemaker_role_arn=ROLE, sagemaker_bucket=BUCKET)
    try:
        answer = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers,
                             json={"compute": {"backend": "sagemaker"}})

        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "compute_unavailable" and "no AWS credentials" in error["message"]
        assert "aws configure" in error["details"]["how_to_enable"]
        assert client.post("/v1/tasks/list", headers=headers, json={}).json()["results"] == []
        assert client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json() is None
        assert client.get(f"/v1/clusters/{cluster_id}", headers=headers).json()["status"] != "PENDING"
    finally:
        services.close()


def test_a_server_whose_default_is_sagemaker_refuses_every_run_until_configured(unconfigured_laptop):
    services, client, headers, cluster_id = unconfigured_laptop(cluster_compute="sagemaker")
    try:
        answer = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers)

        assert answer.status_code == 400
        assert "OPENPEEK_SAGEMAKER_IMAGE_URI" in answer.json()["error"]["message"]
        local = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers,
                            json={"compute": {"backend": "local", "instance_type": "ml.g5.xlarge"}})
        assert local.status_code == 400 and local.json()["error"]["code"] == "compute_unavailable"
    finally:
        services.close()


def test_without_the_sdk_the_run_is_refused_with_the_extra_to_install(unconfigured_laptop, monkeypatch):
    services, client, headers, cluster_id = unconfigured_laptop(
        sagemaker_image_uri=IMAGE, sagemaker_role_arn=ROLE, sagemaker_bucket=BUCKET)
    monkeypatch.setattr(sagemaker_processing, "sdk_installed", lambda: False)  # an install without the extra
    try:
        answer = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers,
                             json={"compute": {"backend": "sagemaker"}})

        assert answer.status_code == 400
        assert "openpeek[sagemaker]" in answer.json()["error"]["details"]["how_to_enable"]
    finally:
        services.close()


@pytest.mark.parametrize("compute", [{"backend": "gpu"}, {"backend": "sagemaker", "instance_type": "g5.xlarge"},
                                     {"backend": "sagemaker", "extra": 1}])
def test_a_malformed_compute_is_refused_by_validation(unconfigured_laptop, compute):
    services, client, headers, cluster_id = unconfigured_laptop()
    try:
        answer = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json={"compute": compute})

        assert answer.status_code == 422
        assert client.post("/v1/tasks/list", headers=headers, json={}).json()["results"] == []
    finally:
        services.close()
