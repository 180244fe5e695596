"""Retriever interactions (namespace from X-Namespace): record users' feedback on retriever results, one or a backfill
at a time, read, delete and list it. Thin: validate, call InteractionService, present.

Included before the retrievers router: `/interactions/...` is never a retriever id's route."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.interactions import BulkInteractionsRequest, ListInteractionsRequest, SearchInteraction
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/retrievers/interactions", tags=["Retriever Interactions"])


def _size() -> object:
    return Query(None, ge=1, le=1000)


def _cursor() -> object:  # each parameter its own Query: FastAPI keeps one parameter per shared instance
    return Query(None, min_length=1, max_length=64)


@router.post("")
def create_interaction(request: Request, body: SearchInteraction,
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    """Record one interaction. 404 when its execution or document is not in the namespace; the same (execution,
    document, types) again within 5 minutes is dropped (`deduplicated`, no interaction_id)."""
    return services(request).interactions.record(namespace, body.model_dump(exclude_none=True))


@router.post("/batch")
def create_interactions_bulk(request: Request, body: BulkInteractionsRequest,
                             namespace: Namespace = Depends(current_namespace)) -> dict:
    """Up to 1000 interactions (a backfill: set each one's occurred_at). No deduplication; one whose execution or
    document is not in the namespace fails alone, named by its index in `errors`."""
    return services(request).interactions.record_many(
        namespace, [interaction.model_dump(exclude_none=True) for interaction in body.interactions])


@router.post("/list")
def list_interactions(request: Request, body: Optional[ListInteractionsRequest] = Body(default=None),
                      limit: Optional[int] = _size(), page_size: Optional[int] = _size(),
                      offset: Optional[int] = Query(None, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                      cursor: Optional[str] = _cursor(), next_cursor: Optional[str] = _cursor(),
                      after: Optional[str] = _cursor(), include_total: Optional[bool] = Query(None),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    """Newest first unless `sort` says otherwise. `cursor`, `next_cursor` and `after` each take the next_cursor a
    previous page returned; totals only with include_total."""
    body = body or ListInteractionsRequest()
    found = services(request).interactions.list(namespace, body.model_dump(exclude_none=True))
    window = Window.of(page_size or limit or 100, offset=offset, page=page, cursor=cursor or next_cursor or after)
    results = window.of_list(found)
    pagination = window.cursor_pagination(len(found), include_total=bool(include_total or body.include_total))
    return {"results": results, "items": results, "pagination": pagination}


@router.get("/{interaction_id}")
def get_interaction(request: Request, interaction_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).interactions.get(namespace, interaction_id)


@router.delete("/{interaction_id}")
def delete_interaction(request: Request, interaction_id: str,
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    """Idempotent: an interaction already gone (expired, deleted, or never recorded here) is deleted as well."""
    return services(request).interactions.delete(namespace, interaction_id)
