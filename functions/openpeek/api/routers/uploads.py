"""Bucket Uploads API (namespace from X-Namespace): create (one, batch), confirm (one, batch), get, list, delete; and,
embedded, the route the handed-out URL points at (`PUT /v1/uploads/blob/<token>`: no API key, the token is the
permission)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.uploads import (ConfirmUpload, ConfirmUploadsBatch, CreateUpload, CreateUploadsBatch,
                                         ListUploads)
from openpeek.domain.namespace import Namespace
from openpeek.domain.uploads import Upload

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/buckets/{bucket_identifier}/uploads",
                   tags=["Bucket Uploads"])
blob_router = APIRouter(tags=["Bucket Uploads"])


def upload_model(upload: Upload, url: Optional[str] = None) -> dict[str, Any]:
    """UploadResponse of the SDK."""
    return {
        "upload_id": upload.upload_id, "bucket_id": upload.bucket_id, "filename": upload.filename,
        "content_type": upload.content_type, "file_size_bytes": upload.received_bytes or upload.file_size_bytes,
        "presigned_url": url, "presigned_url_expiration": upload.presigned_url_expiration,
        "s3_key": upload.blob_key, "status": upload.status, "metadata": upload.metadata,
        "create_object_on_confirm": upload.create_object_on_confirm, "object_metadata": upload.object_metadata,
        "blob_property": upload.blob_property, "blob_type": upload.blob_type,
        "file_hash": upload.received_hash or upload.file_hash, "skip_duplicates": upload.skip_duplicates,
        "is_duplicate": upload.object_id is not None and upload.received_at is None and upload.status == "COMPLETED",
        "existing_object_id": upload.object_id if upload.received_at is None else None, "message": upload.message,
        "created_at": upload.created_at, "expires_at": upload.expires_at, "completed_at": upload.completed_at,
        "verified_at": upload.verified_at, "etag": upload.etag, "object_id": upload.object_id,
    }


def _base_url(request: Request) -> str:
    return str(request.base_url)


@router.post("")
def create_upload(request: Request, bucket_identifier: str, body: CreateUpload,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    upload, url = services(request).uploads.create(namespace, bucket_identifier, body.model_dump(exclude_none=True),
                                                   base_url=_base_url(request))
    return upload_model(upload, url)


@router.post("/batch")
def create_uploads_batch(request: Request, bucket_identifier: str, body: CreateUploadsBatch,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    created = services(request).uploads.create_batch(
        namespace, bucket_identifier, [item.model_dump(exclude_none=True) for item in body.uploads],
        shared_metadata=body.shared_metadata, shared_object_metadata=body.shared_object_metadata,
        base_url=_base_url(request))
    return {"uploads": [upload_model(upload, url) for upload, url in created], "total": len(created)}


@router.post("/confirm/batch")
def confirm_uploads_batch(request: Request, bucket_identifier: str, body: ConfirmUploadsBatch,
                          namespace: Namespace = Depends(current_namespace)) -> dict:
    entries = [entry.model_dump(exclude_none=True) for entry in body.confirmations]
    task = services(request).uploads.confirm_batch(namespace, bucket_identifier, entries)
    return {"task_id": task.task_id, "status": task.status, "confirmations_count": len(body.confirmations),
            "task": task.public(), "message": f"{len(body.confirmations)} uploads confirmed"}


@router.post("/list")
def list_uploads(request: Request, bucket_identifier: str, body: Optional[ListUploads] = Body(default=None),
                 limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10000),
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    found = services(request).uploads.list(namespace, bucket_identifier)
    if body and body.search:
        found = [upload for upload in found if body.search.lower() in upload.filename.lower()]
    size = (body.limit if body and body.limit else None) or limit
    start = (body.offset if body and body.offset else None) or offset
    window = found[start:start + size]
    by_status: dict[str, int] = {}
    for upload in found:
        by_status[upload.status] = by_status.get(upload.status, 0) + 1
    total_bytes = sum(upload.received_bytes or upload.file_size_bytes or 0 for upload in found)
    return {"results": [upload_model(upload) for upload in window],
            "pagination": {"total": len(found), "page": start // size + 1, "page_size": size,
                           "total_pages": max(1, -(-len(found) // size)), "next_page": None, "previous_page": None,
                           "next_cursor": None},
            "stats": {"total_uploads": len(found), "total_size_bytes": total_bytes, "uploads_by_status": by_status,
                      "avg_file_size_bytes": total_bytes / len(found) if found else 0,
                      "unique_buckets": 1 if found else 0}}


@router.get("/{upload_id}")
def get_upload(request: Request, bucket_identifier: str, upload_id: str,
               namespace: Namespace = Depends(current_namespace)) -> dict:
    return upload_model(services(request).uploads.get(namespace, bucket_identifier, upload_id))


@router.post("/{upload_id}/confirm")
def confirm_upload(request: Request, bucket_identifier: str, upload_id: str,
                   body: Optional[ConfirmUpload] = Body(default=None),
                   policy: Optional[Literal["insert", "update", "upsert"]] = Query(None),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    upload = services(request).uploads.confirm(namespace, bucket_identifier, upload_id,
                                               body.model_dump(exclude_none=True) if body else {}, policy=policy)
    return {"upload_id": upload.upload_id, "status": upload.status, "etag": upload.etag,
            "file_size_bytes": upload.received_bytes, "file_hash": upload.received_hash,
            "verified_at": upload.verified_at, "completed_at": upload.completed_at, "object_id": upload.object_id,
            "message": "upload confirmed" + (f"; object {upload.object_id} registered" if upload.object_id else "")}


@router.delete("/{upload_id}")
def delete_upload(request: Request, bucket_identifier: str, upload_id: str,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    upload = services(request).uploads.delete(namespace, bucket_identifier, upload_id)
    return {"success": True, "message": f"Upload '{upload.upload_id}' deleted", "upload_id": upload.upload_id}


@blob_router.get("/v1/blobs/{token}", include_in_schema=False)
def download_blob(request: Request, token: str) -> Response:
    data, media_type = services(request).uploads.download(token)
    return Response(data, media_type=media_type)


@blob_router.put("/v1/uploads/blob/{token}", include_in_schema=False)
async def receive_upload(request: Request, token: str) -> dict:
    declared = request.headers.get("content-length")
    upload = await services(request).uploads.receive(
        token, request.stream(), declared_length=int(declared) if declared and declared.isdigit() else None)
    return {"upload_id": upload.upload_id, "size_bytes": upload.received_bytes, "etag": upload.etag}
