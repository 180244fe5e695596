"""Wire models of the bucket batches and batches APIs (the SDK's CreateBatchRequest, AddObjectsToBatchRequest,
SubmitBatchRequest, RetryBatchRequest, ListBatchesRequest, BulkSubmitBatchesRequest, the tier heal body). Shapes only; the rules live in domain/batches.py."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict
from openpeek.domain.batches import BULK_CHUNK_SIZE, MAX_OBJECTS

BatchStatus = Literal["DRAFT", "PENDING", "IN_PROGRESS", "PROCESSING", "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED",
                      "CANCELED", "QUEUED"]


class CreateBatchRequest(Strict):
    object_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=MAX_OBJECTS)
    filters: Optional[dict[str, Any]] = None
    collection_ids: Optional[list[StrictStr]] = Field(default=None, max_length=100)
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=MAX_OBJECTS)
    dedup_strategy: Optional[Literal["skip", "replace", "force"]] = None
    metadata: Optional[dict[str, Any]] = None
    batch_name: Optional[StrictStr] = Field(default=None, max_length=256)
    auto_submit: Optional[StrictBool] = None
    trigger_processing: Optional[StrictBool] = None


class PatchBatchRequest(Strict):
    batch_name: Optional[StrictStr] = Field(default=None, max_length=256)
    metadata: Optional[dict[str, Any]] = None


class AddObjectsToBatchRequest(Strict):
    object_ids: list[StrictStr] = Field(min_length=1, max_length=MAX_OBJECTS)


class SubmitBatchRequest(Strict):
    include_processing_history: Optional[StrictBool] = True
    collection_ids: Optional[list[StrictStr]] = None
    webhook_url: Optional[StrictStr] = Field(default=None, max_length=2048)


class RetryBatchRequest(Strict):
    retry_mode: Optional[Literal["transient_only", "all"]] = "transient_only"
    tier_nums: Optional[list[StrictInt]] = None
    max_retry_count: Optional[StrictInt] = Field(default=3, ge=1, le=10)


class ListBatchesRequest(Strict):
    status: Optional[BatchStatus] = None
    collection_id: Optional[StrictStr] = None
    bucket_id: Optional[StrictStr] = None
    namespace_id: Optional[StrictStr] = None
    offset: Optional[StrictInt] = Field(default=0, ge=0)
    limit: Optional[StrictInt] = Field(default=100, ge=1, le=1000)
    cursor: Optional[StrictStr] = None


class BulkSubmitBatchesRequest(Strict):
    collection_ids: Optional[list[StrictStr]] = Field(default=None, max_length=100)
    filters: Optional[dict[str, Any]] = None
    chunk_size: Optional[StrictInt] = Field(default=BULK_CHUNK_SIZE, ge=1, le=MAX_OBJECTS)
    dedup_strategy: Optional[Literal["skip", "replace", "force"]] = None
    max_objects: Optional[StrictInt] = Field(default=None, ge=1)


class RetryTierRequest(Strict):
    # Mixpeek's resource overrides (memory, GPUs of a Ray job) have no counterpart here: a tier's jobs run on the
    # deployment's Lambda and SageMaker settings. The reason is kept in the batch's logs.
    reason: Optional[StrictStr] = Field(default=None, max_length=1000)


class HealTierRequest(Strict):
    action: Literal["kill_duplicates", "detect_stuck", "sync_status"]
