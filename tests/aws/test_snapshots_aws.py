"""Namespace snapshots in the aws runtime, against moto: the artifacts land in the artefacts bucket under the
namespace's prefix, the record in DynamoDB, downloads are S3 presigned GETs, and a restore in place brings the
documents back (the export and the restore run before the answer: a Lambda ends with its response)."""

from __future__ import annotations

import hashlib

import boto3
import requests

from tests.aws.test_api_handler import aws_handler  # noqa: F401  (the fixture: moto table, bucket, aws runtime)

BUCKET = "openpeek-test-artifacts"


def test_snapshot_verify_download_and_restore_over_s3_and_dynamodb(aws_handler):  # noqa: F811
    services = aws_handler.services.get()
    org = services.organizations.ensure_org("snapshot-org")
    principal = services.organizations.authenticate(
        f"Bearer {services.organizations.issue_key(org['org_id']).plain_key}")
    namespace = services.namespaces.create(principal, {
        "namespace_name": "shelf", "mode": "standalone", "vector_configs": [{"name": "emb", "dimension": 2}]}).namespace
    services.documents.upsert(principal, "shelf", {"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, float(i)]}, "payload": {"n": i}} for i in range(3)]})

    created = services.snapshots.create(principal, "shelf", {})

    assert "completed" in created["message"]
    listed = boto3.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=f"namespaces/{namespace.namespace_id}/snapshots/{created['snapshot_id']}/")
    assert sorted(item["Key"].rsplit("/", 1)[-1] for item in listed["Contents"]) == [
        "config.json", "manifest.json", "part-000000.jsonl.gz"]
    verified = services.snapshots.verify(principal, "shelf", created["snapshot_id"], deep=True)
    assert verified["restorable"] and verified["digests_verified"] == 3
    detail = services.snapshots.get(principal, "shelf", created["snapshot_id"], download_base_url="https://api")
    for artifact in detail["download"]["artifacts"]:
        fetched = requests.get(artifact["url"])  # an S3 presigned GET
        assert hashlib.sha256(fetched.content).hexdigest() == artifact["sha256"]

    services.documents.upsert(principal, "shelf", {"documents": [
        {"document_id": "d1", "vectors": {"emb": [0.0, 1.0]}, "payload": {"n": 100}}]})
    restored = services.snapshots.restore(principal, "shelf", created["snapshot_id"], {"confirm_in_place": True})

    assert restored["target_namespace_id"] == namespace.public_id and "Restored 3 documents" in restored["message"]
    assert services.vectors.retrieve(namespace.collection, ["d1"])[0].payload["n"] == 1
