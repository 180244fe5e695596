"""A heavy batch tier (image_extractor) on the aws runtime under moto: prepare marks the tier heavy; each part is
staged by its Lambda, embedded by the clustering image's `extract` entrypoint run on a temporary folder (what the
SageMaker Processing job does with /opt/ml/processing), and stored by its Lambda; finalize ends the batch. Bedrock is
the stand-in of tests/bedrock_standin.py behind a real boto3 client (moto has no bedrock-runtime)."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import types
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from openpeek.adapters.aws import clients
from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.bedrock_standin import MULTIMODAL_MODEL, TitanStandIn, png_with_words
from tests.conftest import make_tenant

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
BUCKET = "openpeek-test-artifacts"
INDEX = "image_extractor_v1_titan_multimodal_g1_embedding"


@pytest.fixture
def bedrock(monkeypatch) -> TitanStandIn:
    standin = TitanStandIn()
    real_session = boto3.session.Session

    class Session:
        def client(self, service: str, **kwargs: Any) -> Any:
            if service == "bedrock-runtime":
                return standin.client(kwargs.get("region_name") or REGION)
            return real_session().client(service, **kwargs)

    monkeypatch.setattr(clients, "boto3", types.SimpleNamespace(session=types.SimpleNamespace(Session=Session)))
    return standin


@pytest.fixture
def aws(aws_credentials, monkeypatch, bedrock):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="openpeek-test",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        machine = boto3.client("stepfunctions").create_state_machine(
            name="openpeek-test-batches",
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600,
                                                                          "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/openpeek-test-states")
        services = build_services(Settings(runtime="aws", table_name="openpeek-test", bucket_name=BUCKET,
                                           qdrant_url=":memory:", batch_state_machine_arn=machine["stateMachineArn"],
                                           processing_job_prefix="openpeek-test-"))
        yield services, machine["stateMachineArn"]
        services.close()


def _entrypoint():
    spec = importlib.util.spec_from_file_location("clustering_entrypoint", ROOT / "containers/clustering/entrypoint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _step(name: str, services, state: dict, monkeypatch) -> dict:
    module = importlib.import_module(f"openpeek.handlers.batch_{name}")
    monkeypatch.setattr(module, "services", services)
    return module.handler(state, _Context())


class _Context:
    function_name = "openpeek-test-batch"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:openpeek-test-batch"
    aws_request_id = "request-1"


def _run_job(staged: dict, tmp_path: Path) -> None:
    """What SageMaker Processing does: input prefix → a folder, the entrypoint, the output folder → output prefix."""
    s3 = boto3.client("s3")
    inputs, outputs = tmp_path / "input", tmp_path / "output"
    inputs.mkdir()
    input_prefix = staged["input_uri"].removeprefix(f"s3://{BUCKET}/")
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=input_prefix)["Contents"]:
        s3.download_file(BUCKET, item["Key"], str(inputs / item["Key"].rsplit("/", 1)[1]))
    assert _entrypoint().main(["extract", "--input", str(inputs), "--output", str(outputs)]) == 0
    output_prefix = staged["output_uri"].removeprefix(f"s3://{BUCKET}/")
    for path in outputs.iterdir():
        s3.upload_file(str(path), BUCKET, output_prefix + path.name)


def image_blob(data: bytes) -> dict:
    return {"property": "photo", "type": "image", "data": base64.b64encode(data).decode()}


def test_a_heavy_tier_runs_stage_then_the_extraction_job_then_store(aws, bedrock, tmp_path, monkeypatch):
    services, machine = aws
    client = TestClient(create_app(services), raise_server_exceptions=False)
    tenant = make_tenant(services, "acme")
    headers = {**tenant.headers, "X-Namespace": "media"}

    def post(path: str, body: dict) -> dict:
        answer = client.post(path, headers=headers if path != "/v1/namespaces" else tenant.headers, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    post("/v1/namespaces", {"namespace_name": "media"})
    post("/v1/buckets", {"bucket_name": "media", "bucket_schema": {"properties": {"photo": {"type": "image"}}}})
    collection = post("/v1/collections", {
        "collection_name": "photos", "source": {"type": "bucket", "bucket_ids": ["media"]},
        "feature_extractor": {"feature_extractor_name": "image_extractor", "version": "v1",
                              "input_mappings": {"image": "photo"}}})
    ids = {name: post("/v1/buckets/media/objects", {"blobs": [image_blob(data)]})["object_id"]
           for name, data in (("volcano", png_with_words("volcano lava")), ("espresso", png_with_words("coffee")),
                              ("gif", b"GIF89a not an image Titan reads"))}
    batch = post("/v1/buckets/media/batches", {"object_ids": list(ids.values())})
    post(f"/v1/buckets/media/batches/{batch['batch_id']}/submit", {})

    sfn = boto3.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    prepared = _step("prepare", services, state, monkeypatch)
    [tier] = prepared["tiers"]
    assert tier["heavy"] is True
    [part] = tier["parts"]
    staged = _step("stage", services, part, monkeypatch)
    assert staged["job_name"].startswith("openpeek-test-") and len(staged["job_name"]) <= 63
    assert staged["drafts"] == 2  # the GIF is not staged: store meets it again and records why
    assert bedrock.requests == []  # staging calls no model
    _run_job(staged, tmp_path)
    assert sorted(base64.b64decode(body["inputImage"]) for _, body in bedrock.requests) == sorted(
        [png_with_words("volcano lava"), png_with_words("coffee")])
    assert {model for model, _ in bedrock.requests} == {MULTIMODAL_MODEL}
    stored = _step("store", services, {**part, "staged": staged, "job": {"status": "Completed"}}, monkeypatch)
    assert stored == {"written": 2}
    assert bedrock.requests and len(bedrock.requests) == 2  # storing calls no model either
    _step("finalize", services, {key: state[key] for key in ("namespace_id", "batch_id", "attempt")}, monkeypatch)

    answer = client.get(f"/v1/buckets/media/batches/{batch['batch_id']}", headers=headers).json()
    assert answer["status"] == "COMPLETED_WITH_ERRORS"
    assert answer["documents_written"] == 2
    assert [(f["object_id"], f["error_type"]) for f in answer["failed_objects"]] == [(ids["gif"], "permanent")]
    documents = post(f"/v1/collections/{collection['collection_id']}/documents/list", {"return_vectors": True})
    assert sorted(d["source_object_id"] for d in documents["results"]) == sorted([ids["volcano"], ids["espresso"]])
    assert {len(d["vectors"][INDEX]) for d in documents["results"]} == {1024}


def test_a_source_the_job_could_not_embed_fails_as_transient(aws, bedrock, tmp_path, monkeypatch):
    services, machine = aws
    client = TestClient(create_app(services), raise_server_exceptions=False)
    tenant = make_tenant(services, "acme")
    headers = {**tenant.headers, "X-Namespace": "media"}
    assert client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "media"}).status_code == 200
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "media", "bucket_schema": {
        "properties": {"photo": {"type": "image"}}}}).raise_for_status()
    client.post("/v1/collections", headers=headers, json={
        "collection_name": "photos", "source": {"type": "bucket", "bucket_ids": ["media"]},
        "feature_extractor": {"feature_extractor_name": "image_extractor", "version": "v1"}}).raise_for_status()
    object_id = client.post("/v1/buckets/media/objects", headers=headers, json={
        "blobs": [image_blob(png_with_words("volcano"))]}).json()["object_id"]
    batch = client.post("/v1/buckets/media/batches", headers=headers, json={"object_ids": [object_id]}).json()
    client.post(f"/v1/buckets/media/batches/{batch['batch_id']}/submit", headers=headers, json={}).raise_for_status()
    (execution,) = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"]
    state = json.loads(boto3.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"])["input"])
    [part] = _step("prepare", services, state, monkeypatch)["tiers"][0]["parts"]
    staged = _step("stage", services, part, monkeypatch)
    bedrock.throttle = True
    _run_job(staged, tmp_path)
    assert _step("store", services, {**part, "staged": staged}, monkeypatch) == {"written": 0}
    _step("finalize", services, {key: state[key] for key in ("namespace_id", "batch_id", "attempt")}, monkeypatch)
    answer = client.get(f"/v1/buckets/media/batches/{batch['batch_id']}", headers=headers).json()
    [failure] = answer["failed_objects"]
    assert failure["object_id"] == object_id and failure["error_type"] == "transient"
    assert "ThrottlingException" in failure["error"]


def test_the_extract_entrypoint_refuses_a_folder_that_is_not_a_job(tmp_path):
    (tmp_path / "input").mkdir()
    entrypoint = _entrypoint()
    assert entrypoint.main(["extract", "--input", str(tmp_path / "input"), "--output", str(tmp_path / "out")]) \
        == entrypoint.EXIT_BAD_INPUT
    assert not (tmp_path / "out").exists()
