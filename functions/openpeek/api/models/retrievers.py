"""Wire models of the Retrievers API (the SDK's CreateRetrieverRequest, PatchRetrieverRequest, ListRetrieversRequest,
ExecuteRetrieverRequest). Stage parameters stay free-form here: their rules depend on the stage and the namespace,
and live in domain/retrievers.py."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class InputSchemaField(Strict):
    type: StrictStr
    default: Optional[Any] = None
    items: Optional[dict[str, Any]] = None
    properties: Optional[dict[str, Any]] = None
    examples: Optional[list[Any]] = None
    description: Optional[StrictStr] = None
    enum: Optional[list[Any]] = None
    required: StrictBool = False


class StageInput(Strict):
    stage_name: StrictStr = Field(min_length=1, max_length=128)
    stage_type: Optional[Literal["filter", "sort", "reduce", "apply", "enrich"]] = None
    config: dict[str, Any]
    batch_size: Optional[StrictStr] = None
    description: Optional[StrictStr] = None
    on_error: Optional[Literal["skip", "error"]] = None
    output_alias: Optional[StrictStr] = None


class CreateRetrieverRequest(Strict):
    retriever_name: StrictStr = Field(min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    visibility: Optional[Literal["PRIVATE", "PUBLIC", "MARKETPLACE", "private", "public", "marketplace"]] = None
    marketplace_listing_id: Optional[StrictStr] = None
    requires_subscription: StrictBool = False
    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    stages: list[StageInput] = Field(min_length=1)
    input_schema: Optional[dict[str, InputSchemaField]] = None
    budget_limits: Optional[dict[str, Any]] = None
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    metadata: Optional[dict[str, Any]] = None
    display_config: Optional[dict[str, Any]] = None


class PatchRetrieverRequest(Strict):
    retriever_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    visibility: Optional[Literal["PRIVATE", "PUBLIC", "MARKETPLACE", "private", "public", "marketplace"]] = None
    marketplace_listing_id: Optional[StrictStr] = None
    requires_subscription: Optional[StrictBool] = None
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    metadata: Optional[dict[str, Any]] = None
    display_config: Optional[dict[str, Any]] = None
    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    stages: Optional[list[StageInput]] = Field(default=None, min_length=1)
    input_schema: Optional[dict[str, InputSchemaField]] = None


class ListRetrieversRequest(Strict):
    search: Optional[StrictStr] = Field(default=None, max_length=256)
    filters: Optional[dict[str, Any]] = None
    sorts: Optional[list[dict[str, Any]]] = None
    sort: Optional[dict[str, Any]] = None
    case_sensitive: StrictBool = False


class ReadConsistency(Strict):
    """The SDK's ReadConsistencyOption. Reads here always see every acknowledged write, so any mode is honoured."""

    mode: StrictStr
    max_staleness_ms: Optional[StrictInt] = Field(default=None, ge=0)


class ExecuteRetrieverRequest(Strict):
    inputs: Optional[dict[str, Any]] = None
    filters: Optional[dict[str, Any]] = None
    pagination: Optional[dict[str, Any]] = None
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=500)
    page_size: Optional[StrictInt] = Field(default=None, ge=1, le=500)
    stream: StrictBool = False
    expand: Optional[list[StrictStr]] = None
    skip_cache: StrictBool = False
    return_presigned_urls: StrictBool = False
    return_vectors: StrictBool = False
    write_token: Optional[StrictStr] = None
    consistency: Optional[ReadConsistency] = None
    target_collection_id: Optional[StrictStr] = None
    explain: StrictBool = False


class BatchQuery(Strict):
    inputs: dict[str, Any]
    filters: Optional[dict[str, Any]] = None


class ExecuteBatchRequest(Strict):
    """The SDK's ExecuteBatchRequest: 1 to 16 queries through one retriever."""

    queries: list[BatchQuery] = Field(min_length=1, max_length=16)
    settings: Optional[dict[str, Any]] = None
    concurrency: Optional[StrictInt] = Field(default=5, ge=1, le=20)
    return_presigned_urls: StrictBool = False
    return_vectors: StrictBool = False
    stream: StrictBool = False


class ExplainRetrieverRequest(Strict):
    inputs: Optional[dict[str, Any]] = None


class CloneRetrieverRequest(Strict):
    retriever_name: StrictStr = Field(min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    stages: Optional[list[StageInput]] = Field(default=None, min_length=1)
    input_schema: Optional[dict[str, InputSchemaField]] = None
    budget_limits: Optional[dict[str, Any]] = None
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    display_config: Optional[dict[str, Any]] = None


class ListExecutionsRequest(Strict):
    filters: Optional[dict[str, Any]] = None
    sorts: Optional[list[dict[str, Any]]] = None
    status: Optional[StrictStr] = None


class ListAdhocExecutionsRequest(Strict):
    status: Optional[StrictStr] = None
    start_time: Optional[StrictStr] = None
    end_time: Optional[StrictStr] = None
    count_only: StrictBool = False


class AdhocExecuteRequest(Strict):
    """The SDK's AdhocExecuteRequest: a retriever definition and one execution's request, nothing stored."""

    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    input_schema: Optional[dict[str, InputSchemaField]] = None
    stages: list[StageInput] = Field(min_length=1)
    inputs: Optional[dict[str, Any]] = None
    filters: Optional[dict[str, Any]] = None
    budget_limits: Optional[dict[str, Any]] = None
    pagination: Optional[dict[str, Any]] = None
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=500)
    page_size: Optional[StrictInt] = Field(default=None, ge=1, le=500)
    stream: StrictBool = False
    return_vectors: StrictBool = False
