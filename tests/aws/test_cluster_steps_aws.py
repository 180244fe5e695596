"""Cluster jobs on the aws runtime under moto: the Step Functions orchestrator, and the three steps against DynamoDB
and S3 with the SageMaker container's entrypoint run on a temporary folder in between (what the processing job does
with /opt/ml/processing)."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from openpeek.adapters.aws.step_functions import StepFunctionsOrchestrator
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.runtime import build_services
from openpeek.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture
def aws(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="openpeek-test",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket="openpeek-test-artifacts",
                                         CreateBucketConfiguration={"LocationConstraint": REGION})
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="openpeek-test-clustering",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600,
                                                                          "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/openpeek-test-states")
        yield machine["stateMachineArn"]


JOB = ClusterJob(org_id="org_1", namespace_id="ns_1", cluster_id="clust_1", run_id="run_1", task_id="task_abc")


def test_the_orchestrator_starts_one_execution_named_after_the_task_and_stops_it(aws):
    orchestrator = StepFunctionsOrchestrator(aws)

    orchestrator.start(JOB)
    orchestrator.start(JOB)  # a retried start: still one execution

    sfn = boto3.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=aws)["executions"]
    assert execution["name"] == "task_abc" and execution["executionArn"] == orchestrator.execution_arn(JOB)
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == JOB.state()
    assert orchestrator.run_now(JOB) is False  # never waits in a Lambda

    orchestrator.cancel(JOB)
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"


def _entrypoint():
    spec = importlib.util.spec_from_file_location("clustering_entrypoint", ROOT / "containers/clustering/entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step(name: str, services, state: dict, monkeypatch) -> dict:
    """The step's Lambda handler, as the state machine invokes it, over these services."""
    module = importlib.import_module(f"openpeek.handlers.{name}")
    monkeypatch.setattr(module, "services", services)
    return module.handler(state, None)


def test_prepare_process_finalize_on_dynamodb_and_s3(aws, tmp_path, monkeypatch):
    services = build_services(Settings(runtime="aws", table_name="openpeek-test", bucket_name="openpeek-test-artifacts",
                                       qdrant_url=":memory:", cluster_state_machine_arn=aws,
                                       processing_job_prefix="openpeek-test-"))
    org = services.organizations.ensure_org("acme")
    principal = services.organizations.authenticate(f"Bearer {services.organizations.issue_key(org['org_id']).plain_key}")
    namespace = services.namespaces.create(principal, {"namespace_name": "maps", "mode": "standalone",
                                                       "vector_configs": [{"name": "emb", "dimension": 8}]}).namespace
    rng = np.random.default_rng(3)
    documents = [{"document_id": f"d{topic}-{i}", "vectors": {"emb": (np.eye(8)[topic] * 3 + rng.normal(0, .05, 8))
                                                               .tolist()},
                  "payload": {"text": ["piano", "glacier"][topic] + f" sample {i}"}}
                 for topic in (0, 1) for i in range(20)]
    services.documents.upsert(principal, namespace.namespace_id, {"documents": documents})
    cluster = services.clusters.create(namespace, {"vector_config": {
        "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": 2}}})

    task = services.cluster_runs.execute(namespace, cluster.cluster_id, {})

    (execution,) = boto3.client("stepfunctions").list_executions(stateMachineArn=aws)["executions"]
    state = json.loads(boto3.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"])["input"])
    assert state["task_id"] == task.task_id
    prepared = _step("cluster_prepare", services, state, monkeypatch)
    assert prepared["input_uri"].startswith("s3://openpeek-test-artifacts/namespaces/")
    assert prepared["job_name"].startswith("openpeek-test-")

    # what SageMaker Processing does: input prefix → /opt/ml/processing/input, output folder → output prefix
    s3 = boto3.client("s3")
    inputs, outputs = tmp_path / "input", tmp_path / "output"
    inputs.mkdir()
    for item in s3.list_objects_v2(Bucket="openpeek-test-artifacts", Prefix=prepared["input_prefix"])["Contents"]:
        s3.download_file("openpeek-test-artifacts", item["Key"], str(inputs / item["Key"].rsplit("/", 1)[1]))
    assert _entrypoint().main(["--input", str(inputs), "--output", str(outputs)]) == 0
    for path in outputs.iterdir():
        s3.upload_file(str(path), "openpeek-test-artifacts", prepared["output_prefix"] + path.name)

    # the state machine passes the whole state on: prepare's result at $.prepared, the processing job's at $.job
    state = {**state, "prepared": prepared, "job": {"job_name": prepared["job_name"], "status": "Completed"}}
    assert _step("cluster_finalize", services, state, monkeypatch)["recorded"] is True

    finished = services.tasks.get(namespace, task.task_id)
    assert finished.status == "COMPLETED"
    result = services.cluster_results.latest(namespace, cluster.cluster_id)
    assert result["num_clusters"] == 2 and sorted(c["num_members"] for c in result["centroids"]) == [20, 20]
    labels = sorted(c["label"].lower() for c in result["centroids"])
    assert "glacier" in labels[0] and "piano" in labels[1]
    services.close()
