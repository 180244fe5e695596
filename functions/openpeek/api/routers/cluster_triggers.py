"""Cluster triggers API (namespace from X-Namespace; the SDK's ClusterTriggersApi): a cluster executed automatically on
a cron or interval schedule, or once enough documents were added (event). The scheduled check that fires them is
services/clustering/triggers.py's `fire_due`, run by the embedded scheduler and, deployed, by the cluster-triggers
Lambda every minute. Included before the clusters router, so `/v1/clusters/triggers...` never reads as a cluster id."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Request, Response

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.cluster_triggers import (
    CreateTriggerRequest,
    ListTriggersRequest,
    TriggerHistoryRequest,
    UpdateTriggerRequest,
)
from openpeek.api.presenters import cluster_trigger_model, trigger_history_item
from openpeek.domain.namespace import Namespace

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/clusters/triggers", tags=["Cluster Triggers"])


@router.post("")
def create_trigger(request: Request, body: CreateTriggerRequest,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    """Cron, interval and event (`documents_added`, counted in the namespace or one of its collections) triggers on
    an existing cluster (cluster_id). Conditional triggers and an inline execution_config are refused with 400."""
    return cluster_trigger_model(services(request).cluster_triggers.create(namespace, body.model_dump()))


@router.post("/list")
def list_triggers(request: Request, body: Optional[ListTriggersRequest] = Body(default=None),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    body = body or ListTriggersRequest()
    found = services(request).cluster_triggers.list(namespace, cluster_id=body.cluster_id,
                                                    trigger_type=body.trigger_type, status=body.status,
                                                    sort_by=body.sort_by, descending=body.direction == "desc")
    return {"results": [cluster_trigger_model(t) for t in found[body.offset:body.offset + body.limit]],
            "total": len(found), "offset": body.offset, "limit": body.limit}


@router.get("/{trigger_id}")
def get_trigger(request: Request, trigger_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return cluster_trigger_model(services(request).cluster_triggers.get(namespace, trigger_id))


@router.patch("/{trigger_id}")
def update_trigger(request: Request, trigger_id: str, body: UpdateTriggerRequest,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return cluster_trigger_model(services(request).cluster_triggers.patch(namespace, trigger_id, changes))


@router.delete("/{trigger_id}", status_code=204)
def delete_trigger(request: Request, trigger_id: str, namespace: Namespace = Depends(current_namespace)) -> Response:
    """The trigger and its history; a run it started goes on."""
    services(request).cluster_triggers.delete(namespace, trigger_id)
    return Response(status_code=204)


@router.post("/{trigger_id}/pause")
def pause_trigger(request: Request, trigger_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return cluster_trigger_model(services(request).cluster_triggers.pause(namespace, trigger_id))


@router.post("/{trigger_id}/resume")
def resume_trigger(request: Request, trigger_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    """Active again; its schedule counts from now."""
    return cluster_trigger_model(services(request).cluster_triggers.resume(namespace, trigger_id))


@router.post("/{trigger_id}/history")
def trigger_history(request: Request, trigger_id: str, body: Optional[TriggerHistoryRequest] = Body(default=None),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    """Each firing, newest first: `job_id` the run it started (its status, duration and counts read back from the
    run), or "" with `status` skipped/failed and `error` saying why none was started."""
    body = body or TriggerHistoryRequest()
    entries = services(request).cluster_triggers.history(namespace, trigger_id, status=body.status_filter)
    return {"trigger_id": trigger_id,
            "executions": [trigger_history_item(e) for e in entries[body.offset:body.offset + body.limit]],
            "total": len(entries), "offset": body.offset, "limit": body.limit}
