"""Health: no key needed (load balancers and uptime checks call it)."""

from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(prefix="/v1/health", tags=["Health"])


@router.get("")
def health(request: Request) -> dict:
    return {
        "status": "healthy",
        "data": {"api": True},
        "meta": {"service": "openpeek", "runtime": request.app.state.runtime_name},
    }


@router.get("/liveness")
def liveness() -> dict:
    return {"status": "alive"}
