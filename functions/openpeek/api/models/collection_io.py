"""Wire models of the collection routes that copy, move and (re)process a collection as a whole: the SDK's
CloneCollectionRequest, CollectionExportRequest, ImportRequest, SchemaInferenceRequest, MappingValidationRequest and
TriggerCollectionRequest. Unknown keys are refused (422); the domain checks what depends on the collection."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.collections import FeatureExtractorConfigInput, SourceInput
from openpeek.api.models.namespaces import Strict


class CloneCollectionRequest(Strict):
    collection_name: StrictStr = Field(min_length=1)
    description: Optional[StrictStr] = Field(default=None, max_length=2000)
    source: Optional[SourceInput] = None
    feature_extractor: Optional[FeatureExtractorConfigInput] = None
    enabled: Optional[StrictBool] = None
    metadata: Optional[dict[str, Any]] = None
    taxonomy_applications: Optional[list[dict[str, Any]]] = Field(default=None, max_length=64)


class ExportDestinationInput(Strict):
    connection_id: StrictStr = Field(min_length=1, max_length=256)
    prefix: Optional[StrictStr] = Field(default=None, max_length=1024)


class CollectionExportRequest(Strict):
    format: Optional[Literal["json", "csv", "parquet", "webdataset"]] = None
    include_vectors: StrictBool = False
    include_lineage: StrictBool = False
    select_fields: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    filters: Optional[dict[str, Any]] = None
    sample_size: Optional[StrictInt] = Field(default=None, ge=1, le=1_000_000)
    include_media: StrictBool = False
    samples_per_shard: StrictInt = Field(default=1000, ge=1, le=100_000)
    destination: Optional[ExportDestinationInput] = None


class MappingTargetInput(Strict):
    kind: StrictStr = Field(max_length=32)  # checked by the mapping rules, which name the kinds they take
    path: Optional[StrictStr] = Field(default=None, max_length=512)
    index: Optional[StrictStr] = Field(default=None, max_length=512)
    dim: Optional[StrictInt] = None
    dtype: Optional[StrictStr] = Field(default=None, max_length=32)
    role: Optional[StrictStr] = Field(default=None, max_length=64)
    chain_position: Optional[StrictInt] = Field(default=None, ge=0, le=1000)
    expected_type: Optional[StrictStr] = Field(default=None, max_length=32)


class FieldMappingInput(Strict):
    source_field: StrictStr = Field(min_length=1, max_length=512)
    target: MappingTargetInput


class ImportMappingInput(Strict):
    fields: Optional[list[FieldMappingInput]] = Field(default=None, max_length=1000)
    source_type: Optional[StrictStr] = Field(default=None, max_length=64)
    chain_template: Optional[dict[str, Any]] = None


class VectorJoinInput(Strict):
    array: StrictStr = Field(min_length=1, max_length=512)
    key: StrictStr = Field(min_length=1, max_length=512)
    index: StrictStr = Field(min_length=1, max_length=512)
    vector_field: StrictStr = Field(default="vector_b64", min_length=1, max_length=512)


class ExplodeSpecInput(Strict):
    explode_axis: StrictStr = Field(min_length=1, max_length=512)
    vector_join: Optional[VectorJoinInput] = None


class ImportRequest(Strict):
    export: Optional[dict[str, Any]] = None
    mapping: ImportMappingInput
    explode: Optional[ExplodeSpecInput] = None
    dry_run: StrictBool = False
    seed_ledger: StrictBool = False


class SchemaInferenceRequest(Strict):
    sample_rows: Optional[list[dict[str, Any]]] = Field(default=None, max_length=10_000)
    source_schema: Optional[dict[str, Any]] = None
    sample_size: StrictInt = Field(default=100, ge=1, le=10_000)
    known_index_dims: Optional[dict[str, StrictInt]] = None


class SourceFieldInput(Strict):
    path: StrictStr = Field(min_length=1, max_length=512)
    type: StrictStr = Field(min_length=1, max_length=32)


class MappingValidationRequest(Strict):
    source_fields: Optional[list[SourceFieldInput]] = Field(default=None, max_length=10_000)
    mapping: ImportMappingInput
    known_index_dims: Optional[dict[str, StrictInt]] = None


class TriggerCollectionRequest(Strict):
    include_buckets: Optional[list[StrictStr]] = Field(default=None, max_length=32)
    include_collections: Optional[list[StrictStr]] = Field(default=None, max_length=32)
    object_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=50_000)
    source_filters: Optional[dict[str, Any]] = None
    dedup_strategy: Optional[Literal["skip", "replace", "force"]] = None
    reembed: Optional[dict[str, Any]] = None
