"""Inference services: the registry's listing and raw embedding (the SDK's RawInferenceRequest / Response)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.inference import RawInferenceRequest

# The SDK sends a Bearer key (and X-Namespace when configured) here. Services belong to the deployment, not to a
# namespace, so the key is required and the namespace header is not.
router = APIRouter(route_class=OrjsonRoute, prefix="/v1/inference", tags=["Inference"],
                   dependencies=[Depends(principal)])


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
