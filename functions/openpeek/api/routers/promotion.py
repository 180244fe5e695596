"""Promotion of a standalone namespace to managed mode, and its dry run (seed 002). Thin: PromotionService holds
the rules."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.promotion import PromoteNamespaceRequest
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/namespaces", tags=["Standalone namespaces"])


def _changes(body: Optional[PromoteNamespaceRequest]) -> dict:
    # Both lists are optional, and so is the body: promoting with neither only changes the mode (seed 002).
    return body.model_dump(exclude_none=True) if body else {}


@router.post("/{namespace_id}/promote")
def promote_namespace(request: Request, namespace_id: str,
                      body: Optional[PromoteNamespaceRequest] = Body(default=None),
                      caller: Principal = Depends(principal)) -> dict:
    return services(request).promotion.promote(caller, namespace_id, _changes(body))


@router.post("/{namespace_id}/promote/validate")
def validate_promotion(request: Request, namespace_id: str,
                       body: Optional[PromoteNamespaceRequest] = Body(default=None),
                       caller: Principal = Depends(principal)) -> dict:
    return services(request).promotion.validate(caller, namespace_id, _changes(body))
