"""Tasks API: poll, list and cancel asynchronous operations (seed 004's TaskResponse). A task is found by its id
alone (no X-Namespace needed); another organisation's task is 404."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.clusters import ListTasksRequest
from openpeek.domain.batches import TASK_TYPE as BATCH_TASK_TYPE
from openpeek.domain.errors import NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window
from openpeek.services.organizations import Principal
from openpeek.services.tasks import check_status

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/tasks", tags=["Tasks"])


def _namespace_of(request: Request, caller: Principal, task_id: str) -> Namespace:
    services_ = services(request)
    namespace_id = services_.tasks.locate(caller.org_id, task_id)
    return services_.namespaces.stored(caller, namespace_id, missing=NotFound("task", task_id))


@router.get("/{task_id}")
def get_task(request: Request, task_id: str, caller: Principal = Depends(principal)) -> dict:
    return services(request).tasks.get(_namespace_of(request, caller, task_id), task_id).public()


@router.delete("/{task_id}")
def cancel_task(request: Request, task_id: str, caller: Principal = Depends(principal)) -> dict:
    services_ = services(request)
    namespace = _namespace_of(request, caller, task_id)
    task = services_.tasks.get(namespace, task_id)
    if task.task_type == BATCH_TASK_TYPE:
        return services_.batches.cancel_task(namespace, task)
    return services_.cluster_runs.cancel(namespace, task).public()


@router.post("/list")
def list_tasks(request: Request, body: Optional[ListTasksRequest] = Body(default=None),
               limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
               page: Optional[int] = Query(None, ge=1), page_size: Optional[int] = Query(None, ge=1, le=1000),
               caller: Principal = Depends(principal),
               x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> dict:
    """One namespace's tasks with X-Namespace; without it (the SDK sends none here), the organisation's."""
    window = Window.of(page_size or limit, offset=None if page else offset, page=page)
    services_ = services(request)
    namespace = services_.namespaces.resolve(caller, x_namespace.strip()) if x_namespace and x_namespace.strip() \
        else None
    found = services_.tasks.list(caller.org_id, namespace, status=check_status(body.status if body else None),
                                         task_type=body.task_type if body else None,
                                         search=body.search if body else None)
    return {"results": [task.public() for task in window.of_list(found)], "pagination": window.pagination(len(found))}
