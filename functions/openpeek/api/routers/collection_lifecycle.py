"""Collection lifecycle (the SDK's CollectionLifecycleApi): read a collection's storage tier and move it between
active, cold, archived and frozen. Thin: validate, call LifecycleService, present as LifecycleStatusResponse."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Depends, Request
from pydantic import StrictBool

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.namespaces import Strict
from openpeek.domain.namespace import Namespace

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/collections", tags=["Collection Lifecycle"])


class TransitionLifecycleRequest(Strict):
    lifecycle_state: Literal["active", "cold", "archived", "frozen"]
    async_transition: Optional[StrictBool] = True


@router.get("/{collection_identifier}/lifecycle")
def get_lifecycle(request: Request, collection_identifier: str,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    lifecycle = services(request).lifecycle
    return lifecycle.present(namespace, lifecycle.status(namespace, collection_identifier))


@router.patch("/{collection_identifier}/lifecycle")
def transition_lifecycle(request: Request, collection_identifier: str, body: TransitionLifecycleRequest,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    lifecycle = services(request).lifecycle
    view = lifecycle.transition(namespace, collection_identifier, body.lifecycle_state,
                                async_transition=body.async_transition is not False)
    return lifecycle.present(namespace, view)
