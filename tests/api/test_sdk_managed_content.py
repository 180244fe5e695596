"""The managed-content flow through the official SDK against a live `openpeek serve`: create a namespace and a
bucket with a schema, register objects by inline text, as a batch and by upload (the upload URL PUT with a plain HTTP
client, as a browser or curl would), list and count them, then export the namespace's manifest and apply it to a
second namespace. The SDK parses every answer into its own models, so a field we get wrong fails here."""

from __future__ import annotations

import hashlib
import json

import httpx
import mixpeek
import pytest
import yaml
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BucketCreateRequest,
    BucketPatchRequest,
    BucketResponse,
    ConfirmUploadRequest,
    ConfirmUploadResponse,
    CreateObjectRequest,
    CreateObjectsBatchRequest,
    CreateObjectsBatchResponse,
    CreateUploadRequest,
    ListObjectsResponse,
    ObjectResponse,
    UploadResponse,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

SCHEMA = {"properties": {"content": {"type": "text", "required": True}, "title": {"type": "string"},
                         "year": {"type": "integer"}}}


@pytest.fixture(scope="module")
def sdk(server):
    return sdk_client(server, "sdk-content").api_client


def test_bucket_objects_upload_manifest_flow(sdk):
    buckets = mixpeek.BucketsApi(sdk)
    objects = mixpeek.BucketObjectsApi(sdk)
    uploads = mixpeek.BucketUploadsApi(sdk)

    bucket = buckets.create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "articles", "description": "news", "bucket_schema": SCHEMA}))
    assert isinstance(bucket, BucketResponse) and bucket.bucket_id.startswith("bkt_")
    assert bucket.bucket_schema.properties["content"].required is True

    inline = objects.create_object_buckets("articles", CreateObjectRequest.from_dict({
        "blobs": [{"property": "content", "type": "text", "data": "Rain is expected tomorrow."}],
        "title": "Weather", "year": 2026}))
    assert isinstance(inline, ObjectResponse) and inline.status == "PENDING"
    assert inline.blobs[0].details.size_bytes == len("Rain is expected tomorrow.")
    assert inline.additional_properties["title"] == "Weather"

    batch = objects.create_objects_batch_buckets("articles", CreateObjectsBatchRequest.from_dict({"objects": [
        {"blobs": [{"property": "content", "type": "text", "data": f"story {i}"}], "year": 2000 + i}
        for i in range(3)]}))
    assert isinstance(batch, CreateObjectsBatchResponse) and batch.succeeded_count == 3

    text = "A long report, uploaded as a file.\n".encode() * 100
    upload = uploads.create_upload_buckets("articles", CreateUploadRequest.from_dict({
        "filename": "report.txt", "content_type": "text/plain", "file_size_bytes": len(text),
        "create_object_on_confirm": True, "blob_property": "content", "object_metadata": {"title": "Report"},
        "file_hash": hashlib.sha256(text).hexdigest()}))
    assert isinstance(upload, UploadResponse) and upload.presigned_url
    assert httpx.put(upload.presigned_url, content=text, headers={"content-type": "text/plain"}).status_code == 200
    confirmed = uploads.confirm_upload_buckets("articles", upload.upload_id,
                                               confirm_upload_request=ConfirmUploadRequest())
    assert isinstance(confirmed, ConfirmUploadResponse) and confirmed.status == "COMPLETED" and confirmed.object_id
    uploaded = objects.get_object_buckets("articles", confirmed.object_id)
    assert uploaded.blobs[0].details.filename == "report.txt" and uploaded.blobs[0].details.size_bytes == len(text)

    listed = objects.list_objects_get_buckets("articles", limit=10)
    assert isinstance(listed, ListObjectsResponse) and len(listed.results) == 5
    assert buckets.get_bucket("articles").object_count == 5
    namespace = mixpeek.NamespacesApi(sdk).get_namespace("sdk-content")
    assert namespace.bucket_count == 1 and namespace.object_count == 5

    patched = buckets.patch_bucket("articles", BucketPatchRequest(description="all news"))
    assert patched.description == "all news"
    with pytest.raises(ApiException) as refused:
        objects.create_object_buckets("articles", CreateObjectRequest.from_dict({
            "blobs": [{"property": "content", "type": "text", "data": "x"}], "year": "soon"}))
    assert refused.value.status == 400 and "year" in refused.value.body

    manifests = mixpeek.ManifestApi(sdk)
    exported = manifests.export_manifest_get(_headers={"X-Namespace": "sdk-content"})
    exported = json.loads(exported) if isinstance(exported, (str, bytes)) else exported
    assert [b["bucket_name"] for b in exported["buckets"]] == ["articles"]
    exported["namespace"]["namespace_name"] = "sdk-content-copy"
    applied = manifests.apply_manifest(yaml.safe_dump(exported))
    assert applied.success
    copy_client = sdk_client((sdk.configuration.host, sdk.configuration.access_token), "sdk-content-copy",
                             create=False).api_client
    copy = mixpeek.BucketsApi(copy_client).get_bucket("articles")
    assert copy.bucket_schema.properties["year"].type.value == "integer" and copy.object_count == 0


def test_every_bucket_object_and_upload_route_parses_as_the_sdk_models(sdk):
    buckets = mixpeek.BucketsApi(sdk)
    objects = mixpeek.BucketObjectsApi(sdk)
    uploads = mixpeek.BucketUploadsApi(sdk)
    buckets.create_bucket(BucketCreateRequest.from_dict({"bucket_name": "scratch", "bucket_schema": SCHEMA,
                                                         "unique_key": {"fields": ["title"]}}))
    assert [b.bucket_name for b in buckets.list_buckets_get().results].count("scratch") == 1
    searched = buckets.list_buckets(list_buckets_request=mixpeek.ListBucketsRequest(search="scratch"))
    assert [b.bucket_name for b in searched.results] == ["scratch"] and searched.total_count == 1
    updated = buckets.update_bucket("scratch", mixpeek.BucketUpdateRequest(description="temporary"))
    assert updated.description == "temporary" and updated.unique_key.fields == ["title"]

    created = objects.create_object_buckets("scratch", CreateObjectRequest.from_dict({
        "blobs": [{"property": "content", "type": "text", "data": "first"}], "title": "one", "year": 1}))
    upserted = objects.create_object_buckets("scratch", CreateObjectRequest.from_dict({
        "blobs": [{"property": "content", "type": "text", "data": "again"}], "title": "one", "year": 2}),
        policy="upsert")
    assert upserted.object_id == created.object_id and upserted.additional_properties["year"] == 2
    patched = objects.patch_object_buckets("scratch", created.object_id,
                                           mixpeek.PatchObjectRequest.from_dict({"year": 3}))
    assert patched.additional_properties["year"] == 3
    replaced = objects.update_object_buckets("scratch", created.object_id,
                                             mixpeek.UpdateObjectRequest(metadata={"title": "one"}))
    assert "year" not in replaced.additional_properties
    second = objects.create_object_buckets("scratch", CreateObjectRequest.from_dict({
        "blobs": [{"property": "content", "type": "text", "data": "second"}], "title": "two", "year": 5}))
    found = objects.list_objects_buckets("scratch", list_objects_request=mixpeek.ListObjectsRequest.from_dict({
        "filters": {"AND": [{"field": "title", "operator": "eq", "value": "two"}]}}))
    assert [o.object_id for o in found.results] == [second.object_id]
    grouped = objects.aggregate_objects_buckets("scratch", mixpeek.ObjectAggregationRequest.from_dict({
        "group_by": [{"field": "title"}], "aggregations": [{"function": "count", "alias": "n"}]}))
    assert grouped.total_groups == 2
    soft = objects.bulk_soft_delete_objects_buckets("scratch", mixpeek.BulkSoftDeleteRequest(
        object_ids=[second.object_id], reason="cleanup"))
    assert soft.soft_deleted == 1
    objects.delete_object_buckets("scratch", created.object_id)
    with pytest.raises(ApiException) as gone:
        objects.get_object_buckets("scratch", created.object_id)
    assert gone.value.status == 404

    batch = uploads.create_uploads_batch_buckets("scratch", mixpeek.BatchUploadRequest.from_dict({"uploads": [
        {"filename": "a.txt", "content_type": "text/plain", "create_object_on_confirm": False},
        {"filename": "b.txt", "content_type": "text/plain", "create_object_on_confirm": False}]}))
    assert batch.total == 2
    httpx.put(batch.uploads[0].presigned_url, content=b"alpha")
    confirmations = uploads.confirm_uploads_batch_buckets("scratch", mixpeek.BatchConfirmRequest(
        confirmations=[{"upload_id": u.upload_id} for u in batch.uploads]))
    assert confirmations.status == "COMPLETED_WITH_ERRORS", [o.actual_instance for o in confirmations.task.outputs]
    assert confirmations.task.task_id == confirmations.task_id
    listed = uploads.list_uploads_buckets("scratch", list_uploads_request=mixpeek.ListUploadsRequest())
    assert listed.stats.total_uploads == 2
    fetched = uploads.get_upload_buckets("scratch", batch.uploads[0].upload_id)
    assert fetched["status"] == "COMPLETED"
    uploads.delete_upload_buckets("scratch", batch.uploads[1].upload_id)
    deleted = buckets.delete_bucket("scratch")
    assert deleted["bucket_name"] == "scratch"
