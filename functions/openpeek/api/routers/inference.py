"""Inference services: the registry's listing and raw embedding (the SDK's RawInferenceRequest / Response)."""

from __future__ import annotations

import time
from typing import Any, Optional

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool, StrictStr

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.namespaces import Strict
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/inference", tags=["Inference"],
                   dependencies=[Depends(principal)])


class RawInferenceRequest(Strict):
    provider: Optional[StrictStr] = Field(default=None, max_length=64)
    model: Optional[StrictStr] = Field(default=None, max_length=256)
    inference_name: Optional[StrictStr] = Field(default=None, max_length=128)
    feature_uri: Optional[StrictStr] = Field(default=None, max_length=512)
    inputs: dict[str, Any]
    parameters: Optional[dict[str, Any]] = None
    enable_semantic_cache: StrictBool = False
    cache_delta: Optional[float] = Field(default=None, ge=0, le=1)


@router.get("/services")
def list_inference_services(request: Request) -> dict:
    found = services(request).inference_gateway.list_services()
    return {
        "results": [
            {"name": s.name, "dimension": s.dimension, "modality": s.modality, "provider": s.provider,
             "description": s.description, "usable": s.usable, "how_to_enable": s.how_to_enable}
            for s in found
        ],
        "total": len(found),
    }


@router.post("")
def execute_raw_inference(request: Request, body: RawInferenceRequest) -> dict:
    started = time.perf_counter()
    result = services(request).inference_gateway.raw_embeddings(body.model_dump(exclude_none=True))
    return {**result, "tokens_used": None, "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "cached": False}
