"""Wire models of the Bucket Objects API (the SDK's CreateObjectRequest, CreateObjectsBatchRequest,
PatchObjectRequest, UpdateObjectRequest, ListObjectsRequest, ObjectAggregationRequest, BulkSoftDeleteRequest).

An object's metadata travels as the request's own extra keys (the SDK's `additional_properties`), so these models
accept extra keys and hand them over as `metadata`; everything else is typed."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict

BlobType = Literal["text", "image", "audio", "video", "pdf", "excel", "string", "number", "integer", "float",
                   "boolean", "object", "array", "date", "datetime"]


class CreateBlob(Strict):
    property: StrictStr = Field(min_length=1, max_length=64)
    key_prefix: Optional[StrictStr] = None
    type: BlobType
    data: Optional[Union[StrictStr, StrictInt, StrictFloat, StrictBool, dict[str, Any], list[Any]]] = None
    upload_id: Optional[StrictStr] = None
    checksum: Optional[StrictStr] = Field(default=None, max_length=200)
    metadata: Optional[dict[str, Any]] = None
    canonicalize_source: Optional[StrictBool] = None
    force_remirror: Optional[StrictBool] = None


class _WithMetadata(BaseModel):
    """Extra keys are the object's metadata (as the SDK sends them)."""

    model_config = ConfigDict(extra="allow")

    def metadata(self) -> dict[str, Any]:
        extra = dict(self.model_extra or {})
        explicit = getattr(self, "metadata_", None)
        return {**extra, **(explicit or {})}


class CreateObject(_WithMetadata):
    key_prefix: Optional[StrictStr] = Field(default=None, max_length=1024)
    blobs: list[CreateBlob] = Field(default_factory=list, max_length=32)
    skip_duplicates: StrictBool = False
    canonicalize_source: Optional[StrictBool] = None
    force_remirror: Optional[StrictBool] = None
    edges: Optional[list[dict[str, Any]]] = None
    idempotency_key: Optional[StrictStr] = Field(default=None, min_length=1, max_length=255)
    metadata_: Optional[dict[str, Any]] = Field(default=None, alias="metadata")

    def as_request(self) -> dict[str, Any]:
        return {"key_prefix": self.key_prefix, "blobs": [blob.model_dump(exclude_none=True) for blob in self.blobs],
                "skip_duplicates": self.skip_duplicates, "idempotency_key": self.idempotency_key,
                "edges": self.edges, "metadata": self.metadata()}


class CreateObjectsBatch(Strict):
    objects: list[CreateObject] = Field(min_length=1, max_length=100)


class PatchObject(_WithMetadata):
    key_prefix: Optional[StrictStr] = Field(default=None, max_length=1024)
    skip_duplicates: Optional[StrictBool] = None
    metadata_: Optional[dict[str, Any]] = Field(default=None, alias="metadata")

    def as_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {"metadata": self.metadata()}
        if "key_prefix" in self.model_fields_set:
            changes["key_prefix"] = self.key_prefix
        return changes


class ListObjects(Strict):
    filters: Optional[dict[str, Any]] = None
    sort: Optional[dict[str, Any]] = None
    search: Optional[StrictStr] = Field(default=None, max_length=512)
    select: Optional[list[StrictStr]] = None
    return_presigned_urls: StrictBool = False


class GroupBy(Strict):
    field: StrictStr
    alias: Optional[StrictStr] = None
    date_trunc: Optional[StrictStr] = None
    date_part: Optional[StrictStr] = None


class Aggregation(Strict):
    function: Literal["count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "push", "add_to_set"]
    field: Optional[StrictStr] = None
    alias: StrictStr
    distinct_field: Optional[StrictStr] = None


class Having(Strict):
    field: StrictStr
    operator: Literal["eq", "ne", "gt", "gte", "lt", "lte"]
    value: Union[StrictInt, StrictFloat, StrictStr]


class AggregateObjects(Strict):
    group_by: list[GroupBy] = Field(min_length=1, max_length=8)
    aggregations: list[Aggregation] = Field(min_length=1, max_length=16)
    filters: Optional[dict[str, Any]] = None
    having: Optional[list[Having]] = None
    unwind: Optional[StrictStr] = None
    range_buckets: Optional[list[dict[str, Any]]] = None
    sort_by: Optional[StrictStr] = None
    sort_direction: Optional[Literal["asc", "desc"]] = None
    limit: Optional[int] = Field(default=None, ge=1, le=10000)


class BulkSoftDelete(Strict):
    object_ids: list[StrictStr] = Field(min_length=1, max_length=1000)
    reason: StrictStr = Field(min_length=1, max_length=1024)
    lifecycle_state: Optional[StrictStr] = None
    source: Optional[StrictStr] = None
