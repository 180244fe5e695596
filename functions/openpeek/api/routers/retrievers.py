"""Retrievers API (namespace from X-Namespace): CRUD, list and execute. Thin: validate, call the services, present."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.retrievers import (
    CreateRetrieverRequest,
    ExecuteRetrieverRequest,
    ListRetrieversRequest,
    PatchRetrieverRequest,
)
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/retrievers", tags=["Retrievers"])


def retriever_model(retriever: Retriever) -> dict[str, Any]:
    """RetrieverModel / RetrieverConfig of the SDK; stages carry `parameters` mirrored from config, as it expects."""
    return {
        "retriever_id": retriever.retriever_id,
        "retriever_name": retriever.retriever_name,
        "description": retriever.description,
        "collection_ids": list(retriever.collection_identifiers),
        "collection_identifiers": list(retriever.collection_identifiers),
        "stages": [{**stage, "parameters": stage["config"].get("parameters") or {}} for stage in retriever.stages],
        "input_schema": retriever.input_schema,
        "budget_limits": retriever.budget_limits,
        "feature_dependencies": None,
        "tags": list(retriever.tags),
        "metadata": retriever.metadata,
        "display_config": retriever.display_config,
        "version": retriever.version,
        "created_at": retriever.created_at,
        "updated_at": retriever.updated_at,
        "created_by": None,
        "updated_by": None,
        "is_published": False,
        "marketplace_listing_id": None,
        "fusion": retriever.fusion,
    }


@router.post("")
def create_retriever(request: Request, body: CreateRetrieverRequest,
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    created = services(request).retrievers.create(namespace, body.model_dump(exclude_none=True))
    return retriever_model(created)


def _list(request: Request, namespace: Namespace, body: ListRetrieversRequest | None, limit: int,
          page_size: int | None, offset: int, page: int | None) -> dict:
    size = page_size or limit
    start = (page - 1) * size if page else offset
    sorts = list(body.sorts or []) if body else []
    if body and body.sort:
        sorts.insert(0, body.sort)
    found = services(request).retrievers.list(
        namespace, search=body.search if body else None, case_sensitive=bool(body and body.case_sensitive),
        filters=body.filters if body else None, sorts=sorts)
    window = found[start: start + size]
    return {
        "results": [retriever_model(retriever) for retriever in window],
        "total": len(found),
        "pagination": {"total": len(found), "page": start // size + 1, "page_size": size,
                       "total_pages": max(1, -(-len(found) // size)), "next_page": None, "previous_page": None,
                       "next_cursor": None},
    }


@router.get("")
def list_retrievers(request: Request, limit: int = Query(100, ge=1, le=1000),
                    page_size: Optional[int] = Query(None, ge=1, le=1000), offset: int = Query(0, ge=0),
                    page: Optional[int] = Query(None, ge=1), namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, None, limit, page_size, offset, page)


@router.post("/list")
def search_retrievers(request: Request, body: Optional[ListRetrieversRequest] = Body(default=None),
                      limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                      offset: int = Query(0, ge=0), page: Optional[int] = Query(None, ge=1),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, body, limit, page_size, offset, page)


@router.get("/{retriever_id}")
def get_retriever(request: Request, retriever_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return retriever_model(services(request).retrievers.get(namespace, retriever_id))


@router.patch("/{retriever_id}")
def patch_retriever(request: Request, retriever_id: str, body: PatchRetrieverRequest,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return {"retriever": retriever_model(services(request).retrievers.patch(namespace, retriever_id, changes))}


@router.delete("/{retriever_id}")
def delete_retriever(request: Request, retriever_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).retrievers.delete(namespace, retriever_id)
    return {"success": True, "retriever_id": deleted.retriever_id, "message": "Retriever deleted"}


_UNSUPPORTED = {"stream": "streaming (SSE) execution", "target_collection_id": "writing results to a collection",
                "expand": "expanding referenced documents"}


@router.post("/{retriever_id}/execute")
def execute_retriever(request: Request, retriever_id: str, body: ExecuteRetrieverRequest,
                      return_vectors: bool = Query(False), explain: bool = Query(False),
                      include_legacy_results: bool = Query(False),
                      acting_subject: Optional[str] = Header(default=None, alias="X-Acting-Subject"),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    """Run the retriever's stages.

    `X-Acting-Subject` names the principal the search runs for (an end user's id, as written in documents' ACLs and
    in OpenFGA as `<user_type>:<id>`). It matters only in a namespace whose `infrastructure.authorization.enabled`
    is true: then only documents that principal may read come back (push mode: `acl.public` or the id in
    `acl.read`; pull modes: OpenFGA's `relation` on `<object_type>:<document_id>`). Without the header such a
    namespace returns public documents only (push) or nothing (pull modes); an OpenFGA failure is a 503, never
    unfiltered results. Elsewhere the header is ignored."""
    for field, what in _UNSUPPORTED.items():
        if getattr(body, field):
            raise BadRequest(f"{what} is not supported by this deployment; omit '{field}'", code="unsupported_field",
                             details={"field": field})
    execution = body.model_dump(exclude_none=True)
    # The SDK sends these as query parameters or body fields; either one turns them on.
    execution["return_vectors"] = body.return_vectors or return_vectors
    execution["explain"] = body.explain or explain
    execution.setdefault("limit", body.page_size)
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    result = services_.retrieval.execute(namespace, retriever, execution, subject=acting_subject)
    if include_legacy_results:
        result["results"] = result["documents"]
    return result
