"""Wire models of the Collections, Collection Documents and namespace Documents APIs: the SDK's
CreateCollectionRequest, ListCollectionsRequest, ListDocumentsRequest, DocumentCreateRequest and the batch, bulk,
distinct and aggregate requests. Unknown keys are refused (422); the domain checks what depends on the source schema.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class SourceInput(Strict):
    type: Literal["bucket", "collection"]
    bucket_ids: Optional[list[StrictStr]] = Field(default=None, max_length=32)
    collection_id: Optional[StrictStr] = Field(default=None, max_length=256)
    collection_ids: Optional[list[StrictStr]] = Field(default=None, max_length=32)
    # The SDK's SourceConfig always serialises field_map (as {} when unset); per-source field maps are not supported,
    # so only an empty one is accepted (feature_extractor.field_passthrough selects fields).
    field_map: Optional[dict[str, Any]] = Field(default=None, max_length=0)


class FieldPassthroughInput(Strict):
    source_path: StrictStr = Field(min_length=1, max_length=512)
    target_path: Optional[StrictStr] = Field(default=None, min_length=1, max_length=512)
    default: Optional[Any] = None
    required: Optional[StrictBool] = None


class InputMappingInput(Strict):
    input_key: StrictStr = Field(min_length=1, max_length=128)
    source_type: Optional[Literal["payload", "blob"]] = None
    path: Optional[StrictStr] = Field(default=None, max_length=512)


class FeatureExtractorConfigInput(Strict):
    feature_extractor_name: StrictStr = Field(min_length=1, max_length=128)
    version: StrictStr = Field(default="v1", min_length=1, max_length=32)
    input_mappings: Optional[Union[dict[str, StrictStr], list[InputMappingInput]]] = None
    field_passthrough: Optional[list[FieldPassthroughInput]] = Field(default=None, max_length=256)
    parameters: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None
    include_all_source_fields: Optional[StrictBool] = None
    # Clients echo back what GET returned; the id follows from name and version.
    feature_extractor_id: Optional[StrictStr] = None


class CreateCollectionRequest(Strict):
    collection_name: StrictStr
    description: Optional[StrictStr] = Field(default=None, max_length=2000)
    source: SourceInput
    feature_extractor: Optional[FeatureExtractorConfigInput] = None
    features: Optional[list[StrictStr]] = Field(default=None, max_length=8)
    enabled: Optional[StrictBool] = None
    metadata: Optional[dict[str, Any]] = None


class PatchCollectionRequest(Strict):
    collection_name: Optional[StrictStr] = None
    description: Optional[StrictStr] = Field(default=None, max_length=2000)
    metadata: Optional[dict[str, Any]] = None
    enabled: Optional[StrictBool] = None
    source: Optional[SourceInput] = None
    # The collection's tiering override (TieringOverride); checked by the tiering rules, {} clears it.
    tiering: Optional[dict[str, Any]] = None
    # Named so that a request changing them gets a 400 that says they are fixed at creation, not a bare 422.
    feature_extractor: Optional[dict[str, Any]] = None
    features: Optional[list[Any]] = None


class SortInput(Strict):
    field: StrictStr = Field(min_length=1, max_length=512)
    direction: Literal["asc", "desc"] = "asc"


class ListCollectionsRequest(Strict):
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    page_size: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    offset: Optional[StrictInt] = Field(default=None, ge=0, le=10000)
    page: Optional[StrictInt] = Field(default=None, ge=1)
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortInput] = None
    sorts: Optional[list[SortInput]] = None
    search: Optional[StrictStr] = Field(default=None, max_length=256)
    include_system: Optional[StrictBool] = None
    case_sensitive: Optional[StrictBool] = None


# A document listing's cursor as the service hands it out: "offset:<n>" (sorted or searched pages) or the store's own,
# the next point's id (a UUID). Anything else is refused here, before it can reach the store.
DOCUMENT_CURSOR = (r"^(offset:[0-9]{1,9}|"
                   r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$")


class ListDocumentsRequest(Strict):
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortInput] = None
    search: Optional[StrictStr] = Field(default=None, max_length=256)
    cursor: Optional[StrictStr] = Field(default=None, max_length=512, pattern=DOCUMENT_CURSOR)
    include_total: Optional[StrictBool] = None
    return_presigned_urls: Optional[StrictBool] = None
    return_vectors: Optional[StrictBool] = None
    select: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    offset: Optional[StrictInt] = Field(default=None, ge=0, le=100_000)


class NamespaceListDocumentsRequest(ListDocumentsRequest):
    collection_ids: Optional[list[StrictStr]] = Field(default=None, max_length=256)


class BatchListQuery(Strict):
    """One listing of a batch: the caller's key (echoed back) and the body POST /v1/documents/list takes."""

    key: StrictStr = Field(min_length=1, max_length=128)
    request: NamespaceListDocumentsRequest


class BatchListDocumentsRequest(Strict):
    queries: list[BatchListQuery] = Field(min_length=1, max_length=10)


class BatchUpdateEntry(Strict):
    document_id: StrictStr = Field(min_length=1, max_length=512)
    update_data: dict[str, Any]


class BatchUpdateDocumentsRequest(Strict):
    updates: Optional[list[BatchUpdateEntry]] = Field(default=None, min_length=1, max_length=1000)
    filters: Optional[dict[str, Any]] = None
    update_data: Optional[dict[str, Any]] = None


class BulkUpdateDocumentsRequest(Strict):
    filters: Optional[dict[str, Any]] = None
    update_data: dict[str, Any]


class BatchDeleteDocumentsRequest(Strict):
    document_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=1000)
    filters: Optional[dict[str, Any]] = None
    reason: Optional[StrictStr] = Field(default=None, max_length=500)


class DistinctValuesRequest(Strict):
    field: StrictStr = Field(min_length=1, max_length=512)
    filters: Optional[dict[str, Any]] = None
    limit: StrictInt = Field(default=100, ge=1, le=10000)


class GroupByInput(Strict):
    field: StrictStr = Field(min_length=1, max_length=512)
    alias: Optional[StrictStr] = None


class AggregationInput(Strict):
    function: Literal["count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "push", "add_to_set"]
    field: Optional[StrictStr] = Field(default=None, max_length=512)
    alias: StrictStr = Field(min_length=1, max_length=128)


class HavingInput(Strict):
    field: StrictStr
    operator: Literal["eq", "ne", "gt", "gte", "lt", "lte"]
    value: Any


class DocumentAggregationRequest(Strict):
    group_by: Optional[list[GroupByInput]] = Field(default=None, max_length=8)
    aggregations: list[AggregationInput] = Field(min_length=1, max_length=32)
    filters: Optional[dict[str, Any]] = None
    having: Optional[list[HavingInput]] = None
    unwind: Optional[StrictStr] = None
    sort_by: Optional[StrictStr] = None
    sort_direction: Literal["asc", "desc"] = "desc"
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=10000)


class BatchGetDocumentsRequest(Strict):
    document_ids: list[StrictStr] = Field(min_length=1, max_length=1000)
    return_presigned_urls: Optional[StrictBool] = None
