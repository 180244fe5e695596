"""Buckets API (namespace from X-Namespace): create, get by id or name, patch, put, delete, list (GET and POST)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.buckets import CreateBucketRequest, ListBucketsRequest, PatchBucketRequest
from openpeek.domain.buckets import Bucket
from openpeek.domain.namespace import Namespace
from openpeek.services.content.buckets import BucketStats

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/buckets", tags=["Buckets"])

_EMPTY = BucketStats(0, 0, 0, None)


def bucket_model(bucket: Bucket, stats: BucketStats = _EMPTY) -> dict[str, Any]:
    """BucketResponse of the SDK."""
    return {
        "bucket_id": bucket.bucket_id, "bucket_name": bucket.bucket_name, "description": bucket.description,
        "bucket_schema": bucket.bucket_schema, "unique_key": bucket.unique_key, "metadata": bucket.metadata,
        "storage_class": bucket.storage_class, "object_count": stats.object_count,
        "failed_object_count": stats.failed_object_count, "total_size_bytes": stats.total_size_bytes,
        "created_at": bucket.created_at, "updated_at": bucket.updated_at, "last_upload_at": stats.last_upload_at,
        "status": "ACTIVE", "is_locked": False,
        "storage_stats": {"total_size_bytes": stats.total_size_bytes,
                          "avg_size_bytes": stats.total_size_bytes // stats.object_count if stats.object_count else 0},
    }


@router.post("")
def create_bucket(request: Request, body: CreateBucketRequest,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    return bucket_model(services(request).buckets.create(namespace, body.model_dump(exclude_none=True)))


def _list(request: Request, namespace: Namespace, body: ListBucketsRequest | None, limit: int,
          page_size: int | None, offset: int, page: int | None) -> dict:
    size = page_size or (body.page_size if body and body.page_size else None) or (body.limit if body and body.limit
                                                                                  else limit)
    start = (page - 1) * size if page else (offset or (body.offset if body and body.offset else 0))
    sorts = list(body.sorts or []) if body else []
    if body and body.sort:
        sorts.insert(0, body.sort)
    found = services(request).buckets.list_described(
        namespace, search=body.search if body else None, case_sensitive=bool(body and body.case_sensitive),
        filters=body.filters if body else None, sorts=sorts)
    window = found[start:start + size]
    objects = sum(stats.object_count for _, stats in found)
    size_bytes = sum(stats.total_size_bytes for _, stats in found)
    return {
        "results": [bucket_model(bucket, stats) for bucket, stats in window],
        "total_count": len(found),
        "pagination": {"total": len(found), "page": start // size + 1, "page_size": size,
                       "total_pages": max(1, -(-len(found) // size)), "next_page": None, "previous_page": None,
                       "next_cursor": None},
        "stats": {"total_objects": objects, "total_size_bytes": size_bytes,
                  "avg_objects_per_bucket": objects / len(found) if found else 0,
                  "avg_size_per_bucket": size_bytes / len(found) if found else 0},
    }


@router.get("")
def list_buckets(request: Request, limit: int = Query(100, ge=1, le=1000),
                 page_size: Optional[int] = Query(None, ge=1, le=1000), offset: int = Query(0, ge=0, le=10000),
                 page: Optional[int] = Query(None, ge=1), search: Optional[str] = Query(None, max_length=512),
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, ListBucketsRequest(search=search) if search else None, limit, page_size,
                 offset, page)


@router.post("/list")
def search_buckets(request: Request, body: Optional[ListBucketsRequest] = Body(default=None),
                   limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                   offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, body, limit, page_size, offset, page)


@router.get("/{bucket_identifier}")
def get_bucket(request: Request, bucket_identifier: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return bucket_model(*services(request).buckets.describe(namespace, bucket_identifier))


@router.patch("/{bucket_identifier}")
def patch_bucket(request: Request, bucket_identifier: str, body: PatchBucketRequest,
                 force_schema_break: bool = Query(False),
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return bucket_model(*services(request).buckets.update(namespace, bucket_identifier,
                                                          body.model_dump(exclude_unset=True),
                                                          force_schema_break=force_schema_break))


@router.put("/{bucket_identifier}")
def replace_bucket(request: Request, bucket_identifier: str, body: PatchBucketRequest,
                   force_schema_break: bool = Query(False),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return bucket_model(*services(request).buckets.update(namespace, bucket_identifier, body.model_dump(),
                                                          replace_all=True, force_schema_break=force_schema_break))


@router.delete("/{bucket_identifier}")
def delete_bucket(request: Request, bucket_identifier: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    bucket, objects = services(request).buckets.delete(namespace, bucket_identifier)
    return {"success": True, "message": f"Bucket '{bucket.bucket_name}' deleted", "bucket_id": bucket.bucket_id,
            "bucket_name": bucket.bucket_name, "objects_deleted": objects}
