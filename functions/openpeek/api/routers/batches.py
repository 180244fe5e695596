"""Bucket batches and batches APIs (the SDK's BucketBatchesApi and BatchesApi; namespace from X-Namespace). Thin:
parse, call the batch service, present."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.batches import (
    AddObjectsToBatchRequest,
    CreateBatchRequest,
    ListBatchesRequest,
    PatchBatchRequest,
    RetryBatchRequest,
    SubmitBatchRequest,
)
from openpeek.domain.namespace import Namespace
from openpeek.services.organizations import Principal

bucket_router = APIRouter(route_class=OrjsonRoute, prefix="/v1/buckets/{bucket_identifier}/batches",
                          tags=["Bucket Batches"])
router = APIRouter(route_class=OrjsonRoute, prefix="/v1/batches", tags=["Batches"])


def _body(model, default):
    return model.model_dump(exclude_none=True) if model is not None else default


@bucket_router.post("")
def create_batch(request: Request, bucket_identifier: str, body: CreateBatchRequest,
                 auto_submit: Optional[bool] = Query(None), trigger_processing: Optional[bool] = Query(None),
                 skip_validation: Optional[bool] = Query(None),
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    submit = auto_submit if auto_submit is not None else trigger_processing
    return services(request).batches.create(namespace, bucket_identifier, body.model_dump(exclude_none=True),
                                            auto_submit=submit)


@bucket_router.post("/list")
def list_bucket_batches(request: Request, bucket_identifier: str,
                        body: Optional[ListBatchesRequest] = Body(default=None),
                        namespace: Namespace = Depends(current_namespace)) -> dict:
    query = body or ListBatchesRequest()
    return services(request).batches.list(namespace.org_id, namespace, bucket_identifier=bucket_identifier,
                                          status=query.status, collection_id=query.collection_id,
                                          offset=query.offset or 0, limit=query.limit or 100)


@bucket_router.get("/{batch_id}")
def get_batch(request: Request, bucket_identifier: str, batch_id: str,
              namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.get(namespace, bucket_identifier, batch_id)


@bucket_router.patch("/{batch_id}")
def patch_batch(request: Request, bucket_identifier: str, batch_id: str, body: PatchBatchRequest,
                namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.patch(namespace, bucket_identifier, batch_id,
                                           body.model_dump(exclude_unset=True))


@bucket_router.delete("/{batch_id}")
def delete_batch(request: Request, bucket_identifier: str, batch_id: str,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.delete(namespace, bucket_identifier, batch_id)


@bucket_router.delete("/{batch_id}/documents")
def delete_batch_documents(request: Request, bucket_identifier: str, batch_id: str,
                           namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.delete_documents(namespace, bucket_identifier, batch_id)


@bucket_router.post("/{batch_id}/objects")
def add_objects(request: Request, bucket_identifier: str, batch_id: str, body: AddObjectsToBatchRequest,
                namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.add_objects(namespace, bucket_identifier, batch_id, body.object_ids)


@bucket_router.post("/{batch_id}/submit")
def submit_batch(request: Request, bucket_identifier: str, batch_id: str,
                 body: Optional[SubmitBatchRequest] = Body(default=None),
                 force: Optional[bool] = Query(None),  # a batch here runs once per submit: nothing to bypass
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.submit(namespace, bucket_identifier, batch_id, _body(body, {}))


@bucket_router.post("/{batch_id}/cancel")
def cancel_batch(request: Request, bucket_identifier: str, batch_id: str,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.cancel_in_bucket(namespace, bucket_identifier, batch_id)


@bucket_router.post("/{batch_id}/retry")
def retry_batch(request: Request, bucket_identifier: str, batch_id: str,
                body: Optional[RetryBatchRequest] = Body(default=None),
                namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.retry(namespace, bucket_identifier, batch_id, _body(body, {}))


@bucket_router.post("/{batch_id}/resubmit")
def resubmit_batch(request: Request, bucket_identifier: str, batch_id: str,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.resubmit(namespace, bucket_identifier, batch_id)


@bucket_router.get("/{batch_id}/logs")
def batch_logs(request: Request, bucket_identifier: str, batch_id: str, tier_num: Optional[int] = Query(None, ge=0),
               level: Optional[str] = Query(None, max_length=16), limit: int = Query(100, ge=1, le=1000),
               offset: int = Query(0, ge=0), namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.logs(namespace, bucket_identifier, batch_id, level=level, limit=limit,
                                          offset=offset)


@bucket_router.get("/{batch_id}/failed-documents")
def failed_documents(request: Request, bucket_identifier: str, batch_id: str,
                     tier_num: Optional[int] = Query(None, ge=0), collection_id: Optional[str] = Query(None),
                     limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.failed_documents(namespace, bucket_identifier, batch_id,
                                                      collection_id=collection_id, limit=limit, offset=offset)


# -- /v1/batches: by id alone, and the organisation's list -------------------------------------------------------------


@router.post("/list")
def list_all_batches(request: Request, body: Optional[ListBatchesRequest] = Body(default=None),
                     caller: Principal = Depends(principal),
                     x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    query = body or ListBatchesRequest()
    return services(request).batches.list_scoped(caller, x_namespace, query.model_dump(exclude_none=True))


@router.get("/{batch_id}")
def get_batch_by_id(request: Request, batch_id: str, caller: Principal = Depends(principal),
                    x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    return services(request).batches.get_by_id(caller, x_namespace, batch_id)


@router.post("/{batch_id}/cancel")
def cancel_batch_by_id(request: Request, batch_id: str, reason: Optional[str] = Query(None, max_length=1000),
                       caller: Principal = Depends(principal),
                       x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    return services(request).batches.cancel_by_id(caller, x_namespace, batch_id, reason)
