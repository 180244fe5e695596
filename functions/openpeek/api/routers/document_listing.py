"""Listing a namespace's documents (the SDK's DocumentsApi.list_documents_ns, `POST /v1/documents/list` with
X-Namespace): filters, free-text search, cursor or offset paging. Thin: validate, call DocumentListing, present."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AliasChoices, Field, StrictBool, StrictStr

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.namespaces import Strict
from openpeek.domain.namespace import Namespace
from openpeek.services.document_listing import DocumentQuery

router = APIRouter(route_class=OrjsonRoute, tags=["Documents"])


class NamespaceListDocumentsRequest(Strict):
    filters: Optional[dict[str, Any]] = None
    search: Optional[StrictStr] = Field(default=None, max_length=512)
    cursor: Optional[StrictStr] = Field(default=None, max_length=1024)
    include_total: Optional[StrictBool] = None
    return_vectors: StrictBool = False
    return_presigned_urls: StrictBool = False
    select: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    limit: Optional[int] = Field(default=None, ge=1, le=1000, validation_alias=AliasChoices("limit", "page_size"))
    offset: Optional[int] = Field(default=None, ge=0)
    collection_ids: Optional[list[StrictStr]] = Field(
        default=None, max_length=256, validation_alias=AliasChoices("collection_ids", "collection_id", "collections"))


@router.post("/v1/documents/list")
def list_documents(request: Request, body: Optional[NamespaceListDocumentsRequest] = Body(default=None),
                   limit: Optional[int] = Query(None, ge=1, le=1000),
                   page_size: Optional[int] = Query(None, ge=1, le=1000),
                   offset: Optional[int] = Query(None, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                   cursor: Optional[str] = Query(None, max_length=1024),
                   include_total: Optional[bool] = Query(None),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    body = body or NamespaceListDocumentsRequest()
    size = body.limit or limit or page_size or 10
    start = body.offset if body.offset is not None else (offset if offset is not None else
                                                         ((page - 1) * size if page else 0))
    query = DocumentQuery(filters=body.filters, search=body.search, limit=size, offset=start,
                          cursor=body.cursor or cursor,
                          include_total=body.include_total if body.include_total is not None else bool(include_total),
                          return_vectors=body.return_vectors, collection_ids=body.collection_ids, select=body.select)
    return services(request).document_listing.list(namespace, query)
