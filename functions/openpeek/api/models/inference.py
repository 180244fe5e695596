"""Wire model of the raw inference route (the SDK's RawInferenceRequest). Unknown keys are refused (422), as the
SDK documents for bodies from 2026-11-02 on."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, StrictBool, StrictStr

from openpeek.api.models.namespaces import Strict


class RawInferenceRequest(Strict):
    provider: Optional[StrictStr] = Field(default=None, max_length=64)
    model: Optional[StrictStr] = Field(default=None, max_length=256)
    inference_name: Optional[StrictStr] = Field(default=None, max_length=128)
    feature_uri: Optional[StrictStr] = Field(default=None, max_length=512)
    # Which keys inputs may hold, and how many texts of what length, is the service's rule (InferenceGateway).
    inputs: dict[str, Any]
    # Accepted for compatibility and unused: embedding services here take no parameters and keep no semantic cache.
    parameters: Optional[dict[str, Any]] = None
    enable_semantic_cache: StrictBool = False
    cache_delta: Optional[float] = Field(default=None, ge=0, le=1)
