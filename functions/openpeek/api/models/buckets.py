"""Wire models of the Buckets API (the SDK's BucketCreateRequest, BucketPatchRequest, BucketUpdateRequest,
ListBucketsRequest). Field-type rules of the schema live in domain/buckets.py."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictStr

from openpeek.api.models.namespaces import Strict

StorageClass = Literal["standard", "nearline", "coldline", "archive"]


class BucketSchemaField(Strict):
    type: StrictStr
    default: Optional[Any] = None
    items: Optional["BucketSchemaField"] = None
    properties: Optional[dict[str, "BucketSchemaField"]] = None
    examples: Optional[list[Any]] = None
    description: Optional[StrictStr] = None
    enum: Optional[list[Any]] = None
    required: Optional[StrictBool] = None


class BucketSchema(Strict):
    properties: dict[str, BucketSchemaField]


class UniqueKey(Strict):
    fields: list[StrictStr] = Field(min_length=1, max_length=8)
    default_policy: Optional[Literal["insert", "update", "upsert"]] = None


class CreateBucketRequest(Strict):
    bucket_name: StrictStr = Field(min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    bucket_schema: BucketSchema
    unique_key: Optional[UniqueKey] = None
    metadata: Optional[dict[str, Any]] = None
    storage_class: Optional[StorageClass] = None


class PatchBucketRequest(Strict):
    bucket_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    metadata: Optional[dict[str, Any]] = None
    bucket_schema: Optional[BucketSchema] = None
    unique_key: Optional[UniqueKey] = None
    storage_class: Optional[StorageClass] = None


class ListBucketsRequest(Strict):
    limit: Optional[int] = Field(default=None, ge=1, le=1000)
    page_size: Optional[int] = Field(default=None, ge=1, le=1000)
    offset: Optional[int] = Field(default=None, ge=0, le=10000)
    page: Optional[int] = Field(default=None, ge=1)
    search: Optional[StrictStr] = None
    filters: Optional[dict[str, Any]] = None
    sort: Optional[dict[str, Any]] = None
    sorts: Optional[list[dict[str, Any]]] = None
    case_sensitive: StrictBool = False
