"""Bucket batches and batches APIs (the SDK's BucketBatchesApi and BatchesApi; namespace from X-Namespace). Thin:
parse, call the batch service, present. A batch is named either in a bucket (`/v1/buckets/{bucket}/batches/{id}`)
or by id alone (`/v1/batches/{id}`); each kind becomes a BatchAddress, so both kinds of route call the same method."""

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
from openpeek.services.ingestion.batches import BatchAddress
from openpeek.services.organizations import Principal

bucket_router = APIRouter(route_class=OrjsonRoute, prefix="/v1/buckets/{bucket_identifier}/batches",
                          tags=["Bucket Batches"])
router = APIRouter(route_class=OrjsonRoute, prefix="/v1/batches", tags=["Batches"])


def _body(model, default):
    return model.model_dump(exclude_none=True) if model is not None else default


def in_bucket(bucket_identifier: str, batch_id: str, caller: Principal = Depends(principal),
              namespace: Namespace = Depends(current_namespace)) -> BatchAddress:
    return BatchAddress(caller, batch_id, namespace=namespace, bucket_identifier=bucket_identifier)


def by_id(batch_id: str, caller: Principal = Depends(principal),
          x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> BatchAddress:
    return BatchAddress(caller, batch_id, namespace_header=x_namespace)


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
                        caller: Principal = Depends(principal),
                        namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).batches.list(caller, _body(body, {}), namespace=namespace,
                                          bucket_identifier=bucket_identifier)


@bucket_router.get("/{batch_id}")
def get_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.get(batch)


@bucket_router.patch("/{batch_id}")
def patch_batch(request: Request, body: PatchBatchRequest, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.patch(batch, body.model_dump(exclude_unset=True))


@bucket_router.delete("/{batch_id}")
def delete_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.delete(batch)


@bucket_router.delete("/{batch_id}/documents")
def delete_batch_documents(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.delete_documents(batch)


@bucket_router.post("/{batch_id}/objects")
def add_objects(request: Request, body: AddObjectsToBatchRequest, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.add_objects(batch, body.object_ids)


@bucket_router.post("/{batch_id}/submit")
def submit_batch(request: Request, body: Optional[SubmitBatchRequest] = Body(default=None),
                 force: Optional[bool] = Query(None),  # a batch here runs once per submit: nothing to bypass
                 batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.submit(batch, _body(body, {}))


@bucket_router.post("/{batch_id}/cancel")
def cancel_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.cancel(batch)


@bucket_router.post("/{batch_id}/retry")
def retry_batch(request: Request, body: Optional[RetryBatchRequest] = Body(default=None),
                batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.retry(batch, _body(body, {}))


@bucket_router.post("/{batch_id}/resubmit")
def resubmit_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.resubmit(batch)


@bucket_router.get("/{batch_id}/logs")
def batch_logs(request: Request, tier_num: Optional[int] = Query(None, ge=0),
               level: Optional[str] = Query(None, max_length=16), limit: int = Query(100, ge=1, le=1000),
               offset: int = Query(0, ge=0), batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.logs(batch, level=level, limit=limit, offset=offset)


@bucket_router.get("/{batch_id}/failed-documents")
def failed_documents(request: Request, tier_num: Optional[int] = Query(None, ge=0),
                     collection_id: Optional[str] = Query(None), limit: int = Query(100, ge=1, le=1000),
                     offset: int = Query(0, ge=0), batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batches.failed_documents(batch, collection_id=collection_id, limit=limit,
                                                      offset=offset)


# -- /v1/batches: by id alone, and the organisation's list -------------------------------------------------------------


@router.post("/list")
def list_all_batches(request: Request, body: Optional[ListBatchesRequest] = Body(default=None),
                     caller: Principal = Depends(principal),
                     x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    return services(request).batches.list(caller, _body(body, {}), namespace_header=x_namespace)


@router.get("/queue")
def batch_queue(request: Request, caller: Principal = Depends(principal),
                x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    """The queue of submitted batches and the runner taking them (BatchService.queue)."""
    return services(request).batches.queue(caller, x_namespace)


@router.get("/{batch_id}")
def get_batch_by_id(request: Request, batch: BatchAddress = Depends(by_id)) -> dict:
    return services(request).batches.get(batch)


@router.post("/{batch_id}/cancel")
def cancel_batch_by_id(request: Request, reason: Optional[str] = Query(None, max_length=1000),
                       batch: BatchAddress = Depends(by_id)) -> dict:
    return services(request).batches.cancel(batch, reason)
