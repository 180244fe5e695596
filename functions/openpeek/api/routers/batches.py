"""Bucket batches and batches APIs (the SDK's BucketBatchesApi and BatchesApi; namespace from X-Namespace). Thin:
parse, call the batch service, present. A batch is named either in a bucket (`/v1/buckets/{bucket}/batches/{id}`)
or by id alone (`/v1/batches/{id}`); each kind becomes a BatchAddress, so both kinds of route call the same method."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.batches import (
    AddObjectsToBatchRequest,
    BulkSubmitBatchesRequest,
    CreateBatchRequest,
    HealTierRequest,
    ListBatchesRequest,
    PatchBatchRequest,
    RetryBatchRequest,
    RetryTierRequest,
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


@bucket_router.post("/bulk-submit")
def bulk_submit_batches(request: Request, bucket_identifier: str,
                        body: Optional[BulkSubmitBatchesRequest] = Body(default=None),
                        namespace: Namespace = Depends(current_namespace)) -> dict:
    """The bucket's objects (or those the filters match) cut into batches of chunk_size, each created and submitted;
    the batches share a batch_group_id in their metadata."""
    return services(request).batches.bulk_submit(namespace, bucket_identifier,
                                                 _body(body, {"chunk_size": BulkSubmitBatchesRequest().chunk_size}))


@bucket_router.post("/submit-all")
def submit_all_drafts(request: Request, bucket_identifier: str,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    """Every DRAFT batch of the bucket submitted, each one that cannot be reported with the reason."""
    return services(request).batches.submit_all(namespace, bucket_identifier)


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


# -- a batch's tiers and their jobs (a job is one part of a tier: PART_SIZE objects run by one Lambda, SageMaker job
#    or, embedded, the worker thread; there is no Ray here) -------------------------------------------------------------


@bucket_router.post("/{batch_id}/tiers/{tier_num}/cancel")
def cancel_tier(request: Request, tier_num: int = Path(ge=0), reason: Optional[str] = Query(None, max_length=1000),
                batch: BatchAddress = Depends(in_bucket)) -> dict:
    """The running tier stops with its batch (earlier tiers keep their documents, later ones are skipped); a tier
    still to come is canceled and the batch ends CANCELED when it gets there."""
    return services(request).batches.cancel_tier(batch, tier_num, reason)


@bucket_router.post("/{batch_id}/tiers/{tier_num}/retry")
def retry_tier(request: Request, tier_num: int = Path(ge=0), body: Optional[RetryTierRequest] = Body(default=None),
               batch: BatchAddress = Depends(in_bucket)) -> dict:
    """An ended batch run again from this tier on (this tier and the ones after it, all the batch's objects)."""
    return services(request).batches.retry_tier(batch, tier_num, _body(body, {}))


@bucket_router.post("/{batch_id}/tiers/{tier_num}/heal")
def heal_tier(request: Request, body: HealTierRequest, tier_num: int = Path(ge=0),
              batch: BatchAddress = Depends(in_bucket)) -> dict:
    """detect_stuck requeues the tier's jobs whose lease ran out and hands the batch to its worker again; sync_status
    makes the tier's and the task's recorded states agree with the batch's; kill_duplicates is refused (a job has
    one claimant here)."""
    return services(request).batches.heal_tier(batch, tier_num, body.action)


@bucket_router.post("/{batch_id}/tiers/{tier_num}/jobs/{job_id}/cancel")
def cancel_job(request: Request, job_id: str, tier_num: int = Path(ge=0),
               reason: Optional[str] = Query(None, max_length=1000),
               batch: BatchAddress = Depends(in_bucket)) -> dict:
    """One job (part) of a tier stops at its next checkpoint, or never starts; the rest of its objects are skipped.
    Mixpeek's Ray job id is our job id (`job_t<tier>_p<part>`, listed by diagnose)."""
    return services(request).batches.cancel_job(batch, tier_num, job_id, reason)


@bucket_router.get("/{batch_id}/diagnose")
def diagnose_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    return services(request).batch_reports.diagnose(batch)


@bucket_router.get("/{batch_id}/audit")
def audit_batch(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    """Each tier's object accounting (submitted = processed + failed + skipped, else lost) and the recorded state
    changes."""
    return services(request).batch_reports.audit(batch)


@bucket_router.post("/{batch_id}/estimate-cost")
def estimate_batch_cost(request: Request, batch: BatchAddress = Depends(in_bucket)) -> dict:
    """What submitting the batch would run (objects, bytes, tiers, jobs, models); no price: nothing is billed here."""
    return services(request).batch_reports.estimate(batch)


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
