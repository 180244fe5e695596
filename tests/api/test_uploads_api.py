"""Uploads over HTTP, embedded: a signed, expiring, single-use URL on the server itself; confirm verifies size and
checksum and can register the object; tampered, expired or reused URLs store nothing."""

from __future__ import annotations

import hashlib

import pytest

from openpeek.domain import uploads as upload_rules

SCHEMA = {"properties": {"scan": {"type": "pdf"}, "title": {"type": "string"}}}
PDF = b"%PDF-1.7\n" + b"x" * 5000


@pytest.fixture
def ns(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "scans"})
    headers = {**tenant.headers, "X-Namespace": "scans"}
    assert client.post("/v1/buckets", headers=headers,
                       json={"bucket_name": "inbox", "bucket_schema": SCHEMA}).status_code == 200
    return headers


def new_upload(client, headers, **more):
    body = {"filename": "report.pdf", "content_type": "application/pdf", "file_size_bytes": len(PDF), **more}
    response = client.post("/v1/buckets/inbox/uploads", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_put_confirm_creates_the_object(client, ns, services):
    upload = new_upload(client, ns, create_object_on_confirm=True, blob_property="scan",
                        object_metadata={"title": "Q3"}, file_hash=hashlib.sha256(PDF).hexdigest())
    assert upload["upload_id"].startswith("upl_") and upload["status"] == "PENDING"
    assert upload["presigned_url"].startswith("http://testserver/v1/uploads/blob/")
    put = client.put(upload["presigned_url"], content=PDF, headers={"content-type": "application/pdf"})
    assert put.status_code == 200, put.text
    confirmed = client.post(f"/v1/buckets/inbox/uploads/{upload['upload_id']}/confirm", headers=ns, json={})
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "COMPLETED" and body["file_size_bytes"] == len(PDF)
    obj = client.get(f"/v1/buckets/inbox/objects/{body['object_id']}", headers=ns).json()
    assert obj["title"] == "Q3" and obj["blobs"][0]["details"]["hash"] == hashlib.sha256(PDF).hexdigest()
    assert obj["blobs"][0]["details"]["filename"] == "report.pdf"
    listed = client.post("/v1/buckets/inbox/uploads/list", headers=ns, json={}).json()
    assert listed["stats"]["uploads_by_status"] == {"COMPLETED": 1}
    assert client.get(f"/v1/buckets/inbox/uploads/{upload['upload_id']}", headers=ns).json()["object_id"] == \
        body["object_id"]


def test_an_upload_id_blob_after_confirm(client, ns):
    upload = new_upload(client, ns, create_object_on_confirm=False)
    client.put(upload["presigned_url"], content=PDF)
    early = client.post("/v1/buckets/inbox/objects", headers=ns, json={"blobs": [
        {"property": "scan", "type": "pdf", "upload_id": "upl_unknown"}]})
    assert early.status_code == 404
    client.post(f"/v1/buckets/inbox/uploads/{upload['upload_id']}/confirm", headers=ns)
    obj = client.post("/v1/buckets/inbox/objects", headers=ns, json={"blobs": [
        {"property": "scan", "type": "pdf", "upload_id": upload["upload_id"]}]})
    assert obj.status_code == 200 and obj.json()["blobs"][0]["details"]["size_bytes"] == len(PDF)
    again = client.post("/v1/buckets/inbox/objects", headers=ns, json={"blobs": [
        {"property": "scan", "type": "pdf", "upload_id": upload["upload_id"]}]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "upload_in_use"
    client.delete(f"/v1/buckets/inbox/objects/{obj.json()['object_id']}", headers=ns)
    gone = client.post("/v1/buckets/inbox/objects", headers=ns, json={"blobs": [
        {"property": "scan", "type": "pdf", "upload_id": upload["upload_id"]}]})
    assert gone.status_code == 400 and gone.json()["error"]["code"] == "upload_missing"


def test_a_tampered_or_reused_url_stores_nothing(client, ns, services):
    upload = new_upload(client, ns)
    url = upload["presigned_url"]
    payload, _, signature = url.rsplit("/", 1)[1].partition(".")
    forged = url.rsplit("/", 1)[0] + "/" + payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    refused = client.put(forged, content=PDF)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "upload_token_invalid"
    assert services.blobs.list(upload["s3_key"]) == []
    assert client.put(url, content=PDF).status_code == 200
    again = client.put(url, content=b"%PDF other bytes")
    assert again.status_code == 409 and again.json()["error"]["code"] == "upload_token_used"
    assert services.blobs.get(upload["s3_key"]) == PDF


def test_an_expired_url_is_refused(client, ns, services, monkeypatch):
    upload = new_upload(client, ns, presigned_url_expiration=60)
    real = upload_rules.read_token
    monkeypatch.setattr("openpeek.services.content.uploads.rules.read_token",
                        lambda token, key, now: real(token, key, now + 61))
    refused = client.put(upload["presigned_url"], content=PDF)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "upload_token_expired"
    assert services.blobs.list(upload["s3_key"]) == []


def test_size_limit_and_confirm_checks(client, ns, services):
    small = new_upload(client, ns, file_size_bytes=100)
    too_big = client.put(small["presigned_url"], content=PDF)
    assert too_big.status_code == 400 and too_big.json()["error"]["code"] == "blob_too_large"
    assert services.blobs.list(small["s3_key"]) == []
    nothing = client.post(f"/v1/buckets/inbox/uploads/{small['upload_id']}/confirm", headers=ns)
    assert nothing.status_code == 400 and nothing.json()["error"]["code"] == "upload_missing"
    hashed = new_upload(client, ns, file_hash="0" * 64)
    client.put(hashed["presigned_url"], content=PDF)
    mismatch = client.post(f"/v1/buckets/inbox/uploads/{hashed['upload_id']}/confirm", headers=ns)
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == "checksum_mismatch"
    assert services.blobs.list(hashed["s3_key"]) == []
    sized = new_upload(client, ns)
    client.put(sized["presigned_url"], content=PDF)
    wrong = client.post(f"/v1/buckets/inbox/uploads/{sized['upload_id']}/confirm", headers=ns,
                        json={"file_size_bytes": 7})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "size_mismatch"


def test_bad_upload_requests(client, ns):
    assert client.post("/v1/buckets/inbox/uploads", headers=ns, json={"filename": "a"}).status_code == 422
    assert client.post("/v1/buckets/nope/uploads", headers=ns,
                       json={"filename": "a", "content_type": "text/plain"}).status_code == 404
    huge = client.post("/v1/buckets/inbox/uploads", headers=ns, json={
        "filename": "a", "content_type": "text/plain", "file_size_bytes": 6 * 1024 ** 3})
    assert huge.status_code == 400 and huge.json()["error"]["code"] == "blob_too_large"
    wrong_property = client.post("/v1/buckets/inbox/uploads", headers=ns, json={
        "filename": "a", "content_type": "text/plain", "create_object_on_confirm": True, "blob_property": "title"})
    assert wrong_property.status_code == 400 and "title" in wrong_property.json()["error"]["message"]
    client.post("/v1/buckets", headers=ns, json={"bucket_name": "keyed", "bucket_schema": SCHEMA,
                                                 "unique_key": {"fields": ["title"]}})
    unkeyed = client.post("/v1/buckets/keyed/uploads", headers=ns, json={"filename": "a.pdf",
                                                                         "content_type": "application/pdf"})
    assert unkeyed.status_code == 400 and "title" in unkeyed.json()["error"]["message"]
    assert client.post("/v1/buckets/inbox/uploads/list", headers=ns, json={}).json()["results"] == []


def test_batch_create_and_batch_confirm_record_a_task(client, ns):
    created = client.post("/v1/buckets/inbox/uploads/batch", headers=ns, json={
        "uploads": [{"filename": f"f{i}.pdf", "content_type": "application/pdf"} for i in range(3)],
        "shared_metadata": {"source": "scanner"}}).json()
    assert created["total"] == 3 and created["uploads"][0]["metadata"] == {"source": "scanner"}
    for upload in created["uploads"][:2]:
        client.put(upload["presigned_url"], content=PDF)
    confirmed = client.post("/v1/buckets/inbox/uploads/confirm/batch", headers=ns, json={
        "confirmations": [{"upload_id": upload["upload_id"]} for upload in created["uploads"]]}).json()
    assert confirmed["status"] == "COMPLETED_WITH_ERRORS" and confirmed["confirmations_count"] == 3
    task = client.get(f"/v1/tasks/{confirmed['task_id']}", headers=ns).json()
    assert task["status"] == "COMPLETED_WITH_ERRORS"
    assert [output["status"] for output in task["outputs"]] == ["COMPLETED", "COMPLETED", "FAILED"]


def test_delete_upload_removes_its_bytes(client, ns, services):
    upload = new_upload(client, ns, create_object_on_confirm=False)
    client.put(upload["presigned_url"], content=PDF)
    assert client.delete(f"/v1/buckets/inbox/uploads/{upload['upload_id']}", headers=ns).status_code == 200
    assert services.blobs.list(upload["s3_key"]) == []
    assert client.get(f"/v1/buckets/inbox/uploads/{upload['upload_id']}", headers=ns).status_code == 404


def test_presigned_download_urls_serve_the_blob_and_only_that(client, ns):
    upload = new_upload(client, ns)
    client.put(upload["presigned_url"], content=PDF)
    object_id = client.post(f"/v1/buckets/inbox/uploads/{upload['upload_id']}/confirm", headers=ns).json()["object_id"]
    plain = client.get(f"/v1/buckets/inbox/objects/{object_id}", headers=ns).json()
    assert plain["blobs"][0]["presigned_url"] is None
    signed = client.get(f"/v1/buckets/inbox/objects/{object_id}?return_presigned_urls=true", headers=ns).json()
    url = signed["blobs"][0]["presigned_url"]
    downloaded = client.get(url)  # no API key: the URL is the permission
    assert downloaded.status_code == 200 and downloaded.content == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    listed = client.post("/v1/buckets/inbox/objects/list", headers=ns, json={"return_presigned_urls": True}).json()
    assert listed["results"][0]["blobs"][0]["presigned_url"].startswith("http://testserver/v1/blobs/")
    token = url.rsplit("/", 1)[1]
    assert client.put(f"/v1/uploads/blob/{token}", content=b"overwrite").status_code == 403
    assert client.get("/v1/blobs/" + token[:-2] + "xx").status_code == 403
