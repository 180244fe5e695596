"""Managed content in the aws runtime, against moto: blobs land in the artefacts bucket under the namespace's prefix,
upload URLs are S3 presigned PUTs that a plain HTTP client can use, and confirm verifies what S3 holds."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from openpeek.domain.errors import BadRequest
from tests.aws.test_api_handler import aws_handler  # noqa: F401  (the fixture: moto table, bucket, aws runtime)

BUCKET = "openpeek-test-artifacts"
SCHEMA = {"properties": {"body": {"type": "text"}, "scan": {"type": "pdf"}}}


@pytest.fixture
def content(aws_handler):  # noqa: F811
    services = aws_handler.services.get()
    org = services.organizations.ensure_org("content-org")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    principal = services.organizations.authenticate(f"Bearer {key}")
    namespace = services.namespaces.create(principal, {"namespace_name": "docs"}).namespace
    services.buckets.create(namespace, {"bucket_name": "files", "bucket_schema": SCHEMA})
    return services, namespace


def s3_keys(namespace) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"namespaces/{namespace.namespace_id}/content/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_inline_blob_is_stored_in_s3_under_the_namespace_prefix(content):
    services, namespace = content
    registered = services.objects.create(namespace, "files", {
        "blobs": [{"property": "body", "type": "text", "data": "stored in s3"}]})
    (key,) = s3_keys(namespace)
    assert key == registered.object.blobs[0]["blob_key"]
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"stored in s3"


def test_presigned_put_then_confirm_creates_the_object(content):
    services, namespace = content
    data = b"%PDF-1.7 uploaded straight to S3"
    upload, url = services.uploads.create(namespace, "files", {
        "filename": "paper.pdf", "content_type": "application/pdf", "blob_property": "scan",
        "create_object_on_confirm": True, "file_hash": hashlib.sha256(data).hexdigest()}, base_url="https://api")
    parts = urlsplit(url)
    assert parts.hostname.startswith(BUCKET) or BUCKET in parts.path
    assert "X-Amz-Signature=" in parts.query and upload.blob_key in parts.path
    with pytest.raises(BadRequest):  # nothing in S3 yet
        services.uploads.confirm(namespace, "files", upload.upload_id, {})
    assert requests.put(url, data=data, headers={"Content-Type": "application/pdf"}).status_code == 200
    confirmed = services.uploads.confirm(namespace, "files", upload.upload_id, {})
    assert confirmed.status == "COMPLETED" and confirmed.received_bytes == len(data) and confirmed.etag
    obj = services.objects.get(namespace, "files", confirmed.object_id)
    assert obj.blobs[0]["blob_key"] == upload.blob_key
    assert obj.blobs[0]["content_hash"] == hashlib.sha256(data).hexdigest()
    _, urls = services.objects.describe(namespace, "files", confirmed.object_id, download_base_url="https://api")
    assert requests.get(urls[upload.blob_key]).content == data  # an S3 presigned GET


def test_a_wrong_size_is_refused_at_confirm_and_the_bytes_removed(content):
    services, namespace = content
    upload, url = services.uploads.create(namespace, "files", {
        "filename": "big.pdf", "content_type": "application/pdf", "file_size_bytes": 10,
        "create_object_on_confirm": False}, base_url="https://api")
    requests.put(url, data=b"x" * 50, headers={"Content-Type": "application/pdf"})
    with pytest.raises(BadRequest) as refused:
        services.uploads.confirm(namespace, "files", upload.upload_id, {})
    assert refused.value.code == "size_mismatch"
    assert s3_keys(namespace) == []
