"""Bucket Objects API (namespace from X-Namespace): register one or a batch, get, patch, put, delete, list (GET and
POST), aggregate, bulk soft-delete."""

from __future__ import annotations

from typing import Any, Literal, Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import BulkWriteRoute
from openpeek.api.models.objects import (AggregateObjects, BulkSoftDelete, CreateObject, CreateObjectsBatch,
                                         ListObjects, PatchObject)
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject

router = APIRouter(route_class=BulkWriteRoute, prefix="/v1/buckets/{bucket_identifier}/objects",
                   tags=["Bucket Objects"])

Policy = Optional[Literal["insert", "update", "upsert"]]


def blob_model(blob: dict[str, Any], urls: dict[str, str] | None = None) -> dict[str, Any]:
    return {"blob_id": blob.get("blob_id"), "property": blob["property"], "type": blob["type"],
            "presigned_url": (urls or {}).get(blob["blob_key"]),
            "properties": blob.get("metadata") or {},
            "details": {"filename": blob.get("filename"), "size_bytes": blob.get("size_bytes"),
                        "mime_type": blob.get("mime_type"), "hash": blob.get("content_hash")}}


def object_model(obj: BucketObject, urls: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """ObjectResponse of the SDK; the metadata at the top level, as the SDK's additional_properties."""
    return {**obj.metadata, "object_id": obj.object_id, "bucket_id": obj.bucket_id, "key_prefix": obj.key_prefix,
            "blobs": [blob_model(blob, urls) for blob in obj.blobs],
            "source_details": [{"type": "bucket", "source_id": obj.bucket_id}], "status": obj.status,
            "error": obj.error, "created_at": obj.created_at, "updated_at": obj.updated_at,
            "document_count": obj.document_count, "metadata": obj.metadata, **extra}


@router.post("")
def create_object(request: Request, bucket_identifier: str, body: CreateObject, policy: Policy = Query(None),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    registered = services(request).objects.create(namespace, bucket_identifier, body.as_request(), policy=policy)
    return object_model(registered.object)


@router.post("/batch")
def create_objects_batch(request: Request, bucket_identifier: str, body: CreateObjectsBatch,
                         policy: Policy = Query(None), namespace: Namespace = Depends(current_namespace)) -> dict:
    succeeded, failed = services(request).objects.create_batch(
        namespace, bucket_identifier, [item.as_request() for item in body.objects], policy=policy)
    return {
        "succeeded": [object_model(r.object, object_index=index, replayed=r.replayed_by is not None,
                                   replayed_by=r.replayed_by) for index, r in succeeded],
        "failed": [{"object_index": index, "error": error.message, "error_type": error.code or error.type}
                   for index, error in failed],
        "total_requested": len(body.objects), "succeeded_count": len(succeeded), "failed_count": len(failed),
    }


def _list(request: Request, bucket_identifier: str, namespace: Namespace, body: ListObjects | None, limit: int,
          page_size: Optional[int], offset: int, page: Optional[int], cursor: Optional[str]) -> dict:
    size = page_size or limit
    start = (page - 1) * size if page else offset
    found, total, next_cursor, urls = services(request).objects.page(
        namespace, bucket_identifier, limit=size, offset=start, after=cursor,
        filters=body.filters if body else None, sort=body.sort if body else None,
        search=body.search if body else None,
        download_base_url=str(request.base_url) if body and body.return_presigned_urls else None)
    by_status: dict[str, int] = {}
    for obj in found:
        by_status[obj.status] = by_status.get(obj.status, 0) + 1
    blobs = sum(len(obj.blobs) for obj in found)
    return {
        "results": [object_model(obj, urls) for obj in found],
        "pagination": {"total": total, "page": start // size + 1, "page_size": size,
                       "total_pages": None if total is None else max(1, -(-total // size)), "next_page": None,
                       "previous_page": None, "next_cursor": next_cursor},
        "stats": {"total_objects": len(found) if total is None else total, "total_blobs": blobs,
                  "avg_blobs_per_object": blobs / len(found) if found else 0, "objects_by_status": by_status},
    }


@router.get("")
def list_objects(request: Request, bucket_identifier: str, limit: int = Query(100, ge=1, le=1000),
                 page_size: Optional[int] = Query(None, ge=1, le=1000), offset: int = Query(0, ge=0, le=10000),
                 page: Optional[int] = Query(None, ge=1), cursor: Optional[str] = Query(None, max_length=64),
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, bucket_identifier, namespace, None, limit, page_size, offset, page, cursor)


@router.post("/list")
def search_objects(request: Request, bucket_identifier: str, body: Optional[ListObjects] = Body(default=None),
                   limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                   offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                   cursor: Optional[str] = Query(None, max_length=64),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, bucket_identifier, namespace, body, limit, page_size, offset, page, cursor)


@router.post("/aggregate")
def aggregate_objects(request: Request, bucket_identifier: str, body: AggregateObjects,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).objects.aggregate(namespace, bucket_identifier, body.model_dump(exclude_none=True))


@router.post("/bulk-soft-delete")
def bulk_soft_delete(request: Request, bucket_identifier: str, body: BulkSoftDelete,
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).objects.soft_delete(namespace, bucket_identifier, body.object_ids, body.reason)
    return {"soft_deleted": deleted, "requested": len(body.object_ids), "collections": 0}


@router.get("/{object_identifier}")
def get_object(request: Request, bucket_identifier: str, object_identifier: str,
               return_presigned_urls: bool = Query(False), include_document_count: bool = Query(True),
               namespace: Namespace = Depends(current_namespace)) -> dict:
    return object_model(*services(request).objects.describe(
        namespace, bucket_identifier, object_identifier,
        download_base_url=str(request.base_url) if return_presigned_urls else None))


@router.patch("/{object_identifier}")
def patch_object(request: Request, bucket_identifier: str, object_identifier: str, body: PatchObject,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return object_model(services(request).objects.update(namespace, bucket_identifier, object_identifier,
                                                         body.as_changes(), replace_metadata=False))


@router.put("/{object_identifier}")
def replace_object(request: Request, bucket_identifier: str, object_identifier: str, body: PatchObject,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.as_changes()
    changes.setdefault("key_prefix", None)
    return object_model(services(request).objects.update(namespace, bucket_identifier, object_identifier,
                                                         changes, replace_metadata=True))


@router.delete("/{object_identifier}")
def delete_object(request: Request, bucket_identifier: str, object_identifier: str,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    obj = services(request).objects.delete(namespace, bucket_identifier, object_identifier)
    return {"success": True, "message": f"Object '{obj.object_id}' deleted", "object_id": obj.object_id,
            "bucket_id": obj.bucket_id}
