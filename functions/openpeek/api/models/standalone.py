"""Wire models of standalone namespaces and their promotion (seed 002; the SDK's
CreateStandaloneNamespaceRequestModel, PromoteNamespaceRequestModel, VectorMappingModel, NewVectorConfigSpecModel)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict, VectorConfigInput


class CreateStandaloneNamespaceRequest(Strict):
    namespace_id: StrictStr = Field(min_length=1, max_length=128)
    # The SDK's high-level client sends the name it resolved beside namespace_id.
    namespace_name: Optional[StrictStr] = Field(default=None, min_length=3, max_length=64)
    vector_configs: Optional[list[VectorConfigInput]] = Field(default=None, max_length=64)
    storage: Optional[dict[str, Any]] = None
    config: Optional[dict[str, Any]] = None
    auto_create_indexes: Optional[StrictBool] = None


class VectorMapping(Strict):
    existing_index: StrictStr = Field(min_length=1, max_length=128)
    inference_service: StrictStr = Field(min_length=1, max_length=128)


class NewVectorConfig(Strict):
    name: StrictStr = Field(min_length=1, max_length=128)
    dimension: StrictInt = Field(ge=1, le=65536)
    metric: StrictStr = "cosine"
    inference_service: Optional[StrictStr] = Field(default=None, max_length=128)


class PromoteNamespaceRequest(Strict):
    vector_mappings: Optional[list[VectorMapping]] = Field(default=None, max_length=64)
    add_vectors: Optional[list[NewVectorConfig]] = Field(default=None, max_length=64)
