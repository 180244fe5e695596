"""Namespaces API routes. Thin: parse, call NamespaceService, present."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.auth import principal, services
from openpeek.api.models.namespaces import (
    CloneNamespaceRequest,
    CreateNamespaceRequest,
    ListNamespacesRequest,
    NamespaceStatsBatchRequest,
    PatchNamespaceRequest,
    UpdateNamespaceRequest,
)
from openpeek.api.presenters import namespace_model
from openpeek.domain.paging import decode_cursor
from openpeek.services.namespace_listing import ListQuery
from openpeek.services.namespaces import NamespaceView
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/namespaces", tags=["Namespaces"])


@router.post("")
def create_namespace(request: Request, body: CreateNamespaceRequest, caller: Principal = Depends(principal)) -> dict:
    view = services(request).namespaces.create(caller, body.model_dump(exclude_unset=True, mode="python"))
    return namespace_model(view)


def _list(request: Request, caller: Principal, query: ListQuery, summary: bool) -> dict:
    page = services(request).namespace_listing.list(caller, query)
    results = [namespace_model(view, summary=summary) for view in page.views]
    return {
        "results": results,
        "pagination": page.pagination,
        "total_count": page.total_count,
        "stats": page.stats,
    }


def _query(
    body: ListNamespacesRequest | None,
    limit: int | None,
    page_size: int | None,
    offset: int | None,
    page: int | None,
    cursor: str | None,
    include_total: bool | None,
) -> ListQuery:
    """Body values win over query parameters (the SDK's merge rule); page folds to an offset; a cursor is the
    opaque offset a previous page returned."""
    body = body or ListNamespacesRequest()
    size = body.limit or body.page_size or limit or page_size or 100
    start = body.offset if body.offset is not None else offset
    page_number = body.page or page
    if start is None and page_number is not None:
        start = (page_number - 1) * size
    token = body.cursor or cursor
    if start is None and token:
        start = decode_cursor(token)
    sorts = body.sorts or ([body.sort] if body.sort else [])
    return ListQuery(
        limit=size,
        offset=start or 0,
        search=body.search,
        filters=body.filters or {},
        sorts=[(sort.field, sort.direction.lower().startswith("desc")) for sort in sorts],
        case_sensitive=body.case_sensitive,
        include_total=bool(body.include_total if body.include_total is not None else include_total),
    )


# One Query object per parameter: FastAPI keeps only one of two parameters that share one (page_size was dropped).
PageLimit = Query(default=None, ge=1, le=1000)
PageSize = Query(default=None, ge=1, le=1000)


@router.post("/list")
def list_namespaces(
    request: Request,
    body: Optional[ListNamespacesRequest] = Body(default=None),
    view: Optional[str] = Query(default=None, pattern="^(full|summary)$"),
    limit: Optional[int] = PageLimit,
    page_size: Optional[int] = PageSize,
    offset: Optional[int] = Query(default=None, ge=0, le=10000),
    page: Optional[int] = Query(default=None, ge=1, le=100000),
    cursor: Optional[str] = Query(default=None, max_length=64),
    next_cursor: Optional[str] = Query(default=None, max_length=64),
    include_total: Optional[bool] = None,
    include_system: Optional[bool] = None,
    caller: Principal = Depends(principal),
) -> dict:
    query = _query(body, limit, page_size, offset, page, cursor or next_cursor, include_total)
    return _list(request, caller, query, view == "summary")


@router.get("")
def list_namespaces_get(
    request: Request,
    view: Optional[str] = Query(default=None, pattern="^(full|summary)$"),
    limit: Optional[int] = PageLimit,
    page_size: Optional[int] = PageSize,
    offset: Optional[int] = Query(default=None, ge=0, le=10000),
    page: Optional[int] = Query(default=None, ge=1, le=100000),
    cursor: Optional[str] = Query(default=None, max_length=64),
    next_cursor: Optional[str] = Query(default=None, max_length=64),
    include_total: Optional[bool] = None,
    search: Optional[str] = Query(default=None, max_length=256),
    caller: Principal = Depends(principal),
) -> dict:
    body = ListNamespacesRequest(search=search) if search else None
    query = _query(body, limit, page_size, offset, page, cursor or next_cursor, include_total)
    return _list(request, caller, query, view == "summary")


@router.get("/{namespace_identifier}")
def get_namespace(request: Request, namespace_identifier: str, caller: Principal = Depends(principal)) -> dict:
    return namespace_model(services(request).namespaces.get(caller, namespace_identifier))


@router.patch("/{namespace_identifier}")
def patch_namespace(
    request: Request, namespace_identifier: str, body: PatchNamespaceRequest, caller: Principal = Depends(principal)
) -> dict:
    view = services(request).namespaces.patch(caller, namespace_identifier, _fields(body))
    return namespace_model(view)


@router.put("/{namespace_identifier}")
def update_namespace(
    request: Request, namespace_identifier: str, body: UpdateNamespaceRequest, caller: Principal = Depends(principal)
) -> dict:
    view = services(request).namespaces.replace(caller, namespace_identifier, _fields(body))
    return namespace_model(view)


@router.delete("/{namespace_identifier}")
def delete_namespace(request: Request, namespace_identifier: str, caller: Principal = Depends(principal)) -> dict:
    namespace = services(request).namespaces.delete(caller, namespace_identifier)
    return {
        "success": True,
        "message": f"Namespace '{namespace.namespace_name}' deleted",
        "namespace_id": namespace.public_id,
        "namespace_name": namespace.namespace_name,
    }


# A literal path: declared before any route whose first segment is a namespace.
@router.post("/stats/batch")
def namespace_stats_batch(request: Request, body: NamespaceStatsBatchRequest,
                          caller: Principal = Depends(principal)) -> dict:
    """NamespaceStatsBatchResponse: the counts of many namespaces at once, keyed by namespace id; those the caller
    cannot see are left out."""
    views = services(request).namespaces.get_many(caller, body.namespace_ids)
    return {"stats": {view.namespace.public_id: _stats(view) for view in views}}


@router.post("/{namespace_identifier}/ensure-indexes")
def ensure_namespace_indexes(request: Request, namespace_identifier: str, force_rebuild: bool = Query(False),
                             caller: Principal = Depends(principal)) -> dict:
    """Recreate the namespace's declared payload indexes in its vector store, idempotently, re-extracting nothing
    (NamespaceService.ensure_payload_indexes says what each list of the answer means)."""
    return services(request).namespaces.ensure_payload_indexes(caller, namespace_identifier,
                                                               force_rebuild=force_rebuild)


@router.get("/{namespace_identifier}/stats")
def namespace_stats(request: Request, namespace_identifier: str, caller: Principal = Depends(principal)) -> dict:
    return _stats(services(request).namespaces.get(caller, namespace_identifier))


def _stats(view: NamespaceView) -> dict[str, Any]:
    """NamespaceStatsResponse."""
    return {
        "namespace_id": view.namespace.public_id,
        "document_count": view.document_count or 0,
        "document_count_complete": view.info is not None,
        "bucket_count": view.counts.get("bucket_count", 0),
        "collection_count": view.counts.get("collection_count", 0),
        "object_count": view.counts.get("object_count", 0),
    }


def _fields(body: Any) -> dict[str, Any]:
    """The keys the client sent, with their values (null included: for expiry fields null means 'remove')."""
    return body.model_dump(exclude_unset=True, mode="python")


@router.post("/{namespace_identifier}/clone")
def clone_namespace(request: Request, namespace_identifier: str, body: CloneNamespaceRequest,
                    caller: Principal = Depends(principal)) -> dict:
    """CloneNamespaceResponse: the new namespace at once; its documents copied before the answer (`ready`) or in the
    background (`cloning`, with the task to poll)."""
    outcome = services(request).cloner.clone(caller, namespace_identifier, body.model_dump(exclude_none=True))
    return {"namespace": namespace_model(outcome.pop("view")), **outcome}
