"""Wire models of the Namespaces API, mirroring seed 000 and the SDK's CreateNamespaceRequest /
PatchNamespaceRequest / UpdateNamespaceRequest / ListNamespacesRequest. Unknown keys are refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureExtractorInput(Strict):
    feature_extractor_name: StrictStr = Field(min_length=1, max_length=128)
    version: StrictStr = Field(min_length=1, max_length=32)
    params: Optional[dict[str, Any]] = None
    # Clients echo back what GET returned; the id is derived from name and version, so it is accepted and ignored.
    feature_extractor_id: Optional[StrictStr] = None


class PayloadIndexInput(Strict):
    field_name: StrictStr = Field(min_length=1, max_length=255)
    type: Literal["keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid"]
    field_schema: Optional[dict[str, Any]] = None
    is_protected: StrictBool = False


class VectorConfigInput(Strict):
    name: StrictStr = Field(min_length=1, max_length=128)
    # Sparse indexes (BM25-style {indices, values}) have no dimension; dense ones need it (checked in the domain).
    dimension: Optional[StrictInt] = Field(default=None, ge=1, le=65536)
    metric: StrictStr = "cosine"
    type: Literal["dense", "sparse"] = "dense"


class AuthorizationInput(Strict):
    enabled: StrictBool = False
    provider: Literal["openfga"] = "openfga"
    api_url: Optional[StrictStr] = None
    store_id: Optional[StrictStr] = None
    model_id: Optional[StrictStr] = None
    api_token_secret_ref: Optional[StrictStr] = None
    api_token: Optional[StrictStr] = None
    object_type: StrictStr = "document"
    relation: StrictStr = "viewer"
    user_type: StrictStr = "user"
    mode: Literal["push", "pull_list_objects", "pull_batch_check", "auto"] = "auto"
    list_objects_max: StrictInt = Field(default=1000, ge=1, le=100000)
    over_fetch_factor: StrictInt = Field(default=2, ge=1, le=10)
    cache_ttl_seconds: StrictInt = Field(default=30, ge=0, le=3600)


class InfrastructureInput(Strict):
    """NamespaceInfrastructure-Input of seed 000 (qdrant_collection defaults to the namespace's own collection)."""

    ray_cluster_id: Optional[str] = Field(default=None, pattern=r"^ray_[a-zA-Z0-9_]{3,64}$")
    ray_head_node_url: Optional[StrictStr] = Field(default=None, max_length=2048)
    ray_dashboard_url: Optional[StrictStr] = Field(default=None, max_length=2048)
    qdrant_url: Optional[StrictStr] = Field(default=None, max_length=2048)
    qdrant_api_key: Optional[StrictStr] = Field(default=None, max_length=4096)
    qdrant_api_key_provided: Optional[StrictBool] = None  # read-only; clients echo it back, so it is ignored
    qdrant_collection: Optional[StrictStr] = Field(default=None, min_length=3, max_length=128)
    s3_vector_bucket: Optional[StrictStr] = None
    compute_tier: Literal["shared", "dedicated_cpu", "dedicated_gpu"] = "shared"
    max_concurrent_jobs: StrictInt = Field(default=10, ge=1, le=1000)
    autoscaling_enabled: StrictBool = True
    min_workers: StrictInt = Field(default=1, ge=0, le=100)
    max_workers: StrictInt = Field(default=10, ge=1, le=100)
    gpu_type: Optional[StrictStr] = None
    gpus_per_worker: StrictInt = Field(default=1, ge=0, le=8)
    compute_profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    s3_plugin_bucket: StrictStr = "mixpeek-plugins"
    s3_plugin_prefix: Optional[StrictStr] = None
    max_custom_plugins: StrictInt = Field(default=0, ge=0, le=100)
    max_custom_models: StrictInt = Field(default=0, ge=0, le=50)
    authorization: Optional[AuthorizationInput] = None
    description: Optional[StrictStr] = None  # seed 001's example carries one


NamespaceName = Field(min_length=3, max_length=64)


class CreateNamespaceRequest(Strict):
    namespace_id: Optional[StrictStr] = Field(default=None, max_length=80)
    namespace_name: StrictStr = NamespaceName
    mode: Optional[StrictStr] = None
    namespace_type: Optional[Literal["standard", "marketplace"]] = None
    scope: Optional[Literal["org", "system"]] = None
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    features: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    feature_extractors: Optional[list[FeatureExtractorInput]] = Field(default=None, max_length=64)
    vector_configs: Optional[list[VectorConfigInput]] = Field(default=None, max_length=64)
    payload_indexes: Optional[list[PayloadIndexInput]] = Field(default=None, max_length=256)
    auto_create_indexes: Optional[StrictBool] = None
    adaptive_indexing: Optional[StrictBool] = None
    ttl_seconds: Optional[StrictInt] = Field(default=None, ge=60, le=10 * 365 * 86400)
    infrastructure: Optional[InfrastructureInput] = None
    trusted_issuers: Optional[list[dict[str, Any]]] = Field(default=None, max_length=5)
    tiering: Optional[dict[str, Any]] = None
    spend_budget: Optional[dict[str, Any]] = None
    cost_cap_override: Optional[dict[str, Any]] = None


class PatchNamespaceRequest(Strict):
    namespace_name: Optional[StrictStr] = Field(default=None, min_length=3, max_length=64)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    feature_extractors: Optional[list[FeatureExtractorInput]] = Field(default=None, max_length=64)
    payload_indexes: Optional[list[PayloadIndexInput]] = Field(default=None, max_length=256)
    auto_create_indexes: Optional[StrictBool] = None
    adaptive_indexing: Optional[StrictBool] = None
    repair_vectors: Optional[StrictBool] = None
    infrastructure: Optional[InfrastructureInput] = None
    trusted_issuers: Optional[list[dict[str, Any]]] = Field(default=None, max_length=5)
    spend_budget: Optional[dict[str, Any]] = None
    pinned: Optional[Any] = None
    tiering: Optional[dict[str, Any]] = None
    expires_at: Optional[datetime] = None
    ttl_seconds: Optional[StrictInt] = Field(default=None, ge=60, le=10 * 365 * 86400)
    cost_cap_override: Optional[dict[str, Any]] = None


class UpdateNamespaceRequest(Strict):
    namespace_name: Optional[StrictStr] = Field(default=None, min_length=3, max_length=64)
    payload_indexes: Optional[list[PayloadIndexInput]] = Field(default=None, max_length=256)


class SortSpec(Strict):
    field: StrictStr
    direction: Literal["asc", "desc", "ASC", "DESC", "ascending", "descending"] = "asc"


class ListNamespacesRequest(Strict):
    limit: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    page_size: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    offset: Optional[StrictInt] = Field(default=None, ge=0, le=10000)
    page: Optional[StrictInt] = Field(default=None, ge=1)
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortSpec] = None
    sorts: Optional[list[SortSpec]] = Field(default=None, max_length=8)
    search: Optional[StrictStr] = Field(default=None, max_length=256)
    case_sensitive: StrictBool = False
    include_total: Optional[StrictBool] = None
    cursor: Optional[StrictStr] = Field(default=None, max_length=64)


class CloneResources(Strict):
    collections: Optional[StrictBool] = True
    retrievers: Optional[StrictBool] = True
    taxonomies: Optional[StrictBool] = False
    clusters: Optional[StrictBool] = False  # our addition: cluster definitions (not their runs)


class CloneNamespaceRequest(Strict):
    """The SDK's CloneNamespaceRequest."""

    namespace_name: StrictStr = Field(min_length=1, max_length=128)
    include_resources: Optional[CloneResources] = None
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    source_organization_id: Optional[StrictStr] = None
    mode: Optional[StrictStr] = "copy"
    ttl_seconds: Optional[StrictInt] = Field(default=None, ge=60)


class NamespaceStatsBatchRequest(Strict):
    """The visible page of namespaces whose counts a list view shows (ids or names)."""

    namespace_ids: list[StrictStr] = Field(max_length=100)
