"""Wire models of promotion (seed 002; the SDK's PromoteNamespaceRequestModel, VectorMappingModel and
NewVectorConfigSpecModel). Shapes only: which indexes and services are acceptable is PromotionService's rule."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class VectorMapping(Strict):
    existing_index: StrictStr = Field(min_length=1, max_length=128)
    inference_service: StrictStr = Field(min_length=1, max_length=128)


class NewVectorConfig(Strict):
    name: StrictStr = Field(min_length=1, max_length=128)
    dimension: StrictInt = Field(ge=1, le=65536)
    metric: Optional[StrictStr] = "cosine"  # cosine | dot (dot_product) | euclidean, checked in the domain
    inference_service: Optional[StrictStr] = Field(default=None, max_length=128)


class PromoteNamespaceRequest(Strict):
    vector_mappings: Optional[list[VectorMapping]] = Field(default=None, max_length=64)
    add_vectors: Optional[list[NewVectorConfig]] = Field(default=None, max_length=64)
