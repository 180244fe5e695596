"""Collection documents (the SDK's CollectionDocumentsApi) and the namespace-wide document routes of its DocumentsApi
(X-Namespace): list, count, get, create, patch, put, delete, batch and bulk changes, distinct and aggregate. Thin:
validate, call CollectionDocumentService, present."""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.collections import (
    DOCUMENT_CURSOR,
    BatchDeleteDocumentsRequest,
    BatchGetDocumentsRequest,
    BatchListDocumentsRequest,
    BatchUpdateDocumentsRequest,
    BulkUpdateDocumentsRequest,
    DistinctValuesRequest,
    DocumentAggregationRequest,
    ListDocumentsRequest,
    NamespaceListDocumentsRequest,
)
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.documents import ListQuery, Page

router = APIRouter(route_class=OrjsonRoute, tags=["Collection Documents"])
COLLECTION = "/v1/collections/{collection_identifier}/documents"


class DocumentBody(BaseModel):
    """A document as the caller writes it (the SDK's DocumentCreateRequest; PATCH and PUT take the same shape):
    the known keys typed, every other key a payload field."""

    model_config = ConfigDict(extra="allow")
    metadata: Optional[dict[str, Any]] = None
    vectors: Optional[dict[str, Any]] = None
    source_type: Optional[StrictStr] = None
    root_object_id: Optional[StrictStr] = None
    root_bucket_id: Optional[StrictStr] = None
    source_object_id: Optional[StrictStr] = None
    source_document_id: Optional[StrictStr] = None
    source_collection_id: Optional[StrictStr] = None
    lineage_path: Optional[StrictStr] = None
    lineage_chain: Optional[list[dict[str, Any]]] = None
    content_hash: Optional[StrictStr] = None
    collection_id: Optional[StrictStr] = Field(default=None, description="ignored: the route names the collection")

    def fields(self) -> dict[str, Any]:
        return {key: value for key, value in self.model_dump().items() if value is not None and key != "collection_id"}


def _json_query(value: Optional[str], name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise BadRequest(f"query parameter '{name}' must be URL-encoded JSON", code="invalid_query",
                         details={"parameter": name}) from None


def _sort_query(value: Optional[str]) -> dict[str, Any] | None:
    """JSON ({"field", "direction"}) or the compact "field:desc"."""
    if not value:
        return None
    if value.lstrip().startswith("{"):
        parsed = _json_query(value, "sort")
        if not isinstance(parsed, dict):
            raise BadRequest("sort must be {field, direction}", code="invalid_sort")
        return parsed
    field, _, direction = value.partition(":")
    return {"field": field, "direction": direction or "asc"}


def _query(body: ListDocumentsRequest | None, *, limit: Optional[int], page_size: Optional[int],
           offset: Optional[int], page: Optional[int], cursor: Optional[str], return_vectors: Optional[bool],
           include_total: Optional[bool], filters: Any = None, sort: Any = None,
           search: Optional[str] = None) -> ListQuery:
    size = (body.limit if body and body.limit else None) or page_size or limit or 100
    start = body.offset if body and body.offset is not None else (offset or 0)
    if page:
        start = (page - 1) * size
    return ListQuery(
        filters=(body.filters if body and body.filters is not None else filters),
        sort=(body.sort.model_dump() if body and body.sort else sort),
        search=(body.search if body and body.search else search),
        limit=size, offset=start, cursor=(body.cursor if body and body.cursor else cursor),
        return_vectors=bool((body and body.return_vectors) or return_vectors),
        include_total=bool((body and body.include_total) or include_total),
        select=body.select if body else None,
    )


def page_model(page: Page) -> dict[str, Any]:
    total = page.total
    return {
        "results": page.documents,
        "total_documents": total,
        "pagination": {"total": total, "page": page.offset // page.limit + 1, "page_size": page.limit,
                       "total_pages": None if total is None else max(1, -(-total // page.limit)),
                       "next_page": None, "previous_page": None, "next_cursor": page.next_cursor},
    }


# One Query object per parameter: FastAPI keeps only one of two parameters that share one (page_size was dropped).
_LIMIT = Query(None, ge=1, le=1000)
_PAGE_SIZE = Query(None, ge=1, le=1000)
_OFFSET = Query(None, ge=0, le=100_000)
_PAGE = Query(None, ge=1)
_CURSOR = Query(None, max_length=512, pattern=DOCUMENT_CURSOR)


@router.get(COLLECTION)
def list_documents_get(request: Request, collection_identifier: str, filters: Optional[str] = Query(None),
                       search: Optional[str] = Query(None, max_length=256), sort: Optional[str] = Query(None),
                       limit: Optional[int] = _LIMIT, page_size: Optional[int] = _PAGE_SIZE,
                       offset: Optional[int] = _OFFSET, page: Optional[int] = _PAGE,
                       cursor: Optional[str] = _CURSOR,
                       return_vectors: Optional[bool] = Query(None), include_total: Optional[bool] = Query(None),
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    query = _query(None, limit=limit, page_size=page_size, offset=offset, page=page, cursor=cursor,
                   return_vectors=return_vectors, include_total=include_total,
                   filters=_json_query(filters, "filters"), sort=_sort_query(sort), search=search)
    return page_model(services(request).collection_documents.list_collection(namespace, collection_identifier, query))


@router.post(COLLECTION + "/list")
def list_documents(request: Request, collection_identifier: str,
                   body: Optional[ListDocumentsRequest] = Body(default=None),
                   limit: Optional[int] = _LIMIT, page_size: Optional[int] = _PAGE_SIZE, offset: Optional[int] = _OFFSET,
                   page: Optional[int] = _PAGE, cursor: Optional[str] = _CURSOR,
                   return_vectors: Optional[bool] = Query(None), include_total: Optional[bool] = Query(None),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    query = _query(body, limit=limit, page_size=page_size, offset=offset, page=page, cursor=cursor,
                   return_vectors=return_vectors, include_total=include_total)
    return page_model(services(request).collection_documents.list_collection(namespace, collection_identifier, query))


@router.get(COLLECTION + "/count")
def count_documents(request: Request, collection_identifier: str,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    collection_id, count = services(request).collection_documents.count_collection(namespace, collection_identifier)
    return {"collection_id": collection_id, "count": count}


@router.post(COLLECTION)
def create_document(request: Request, collection_identifier: str, body: DocumentBody,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.create(namespace, collection_identifier, body.fields())


@router.post(COLLECTION + "/batch")
def batch_update(request: Request, collection_identifier: str, body: BatchUpdateDocumentsRequest,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    results = services(request).collection_documents.batch_update(
        namespace, collection_identifier, [u.model_dump() for u in body.updates] if body.updates else None,
        body.filters, body.update_data)
    failed = sum(1 for result in results if not result["success"])
    return {"updated_count": len(results) - failed, "failed_count": failed, "results": results,
            "message": f"{len(results) - failed} updated, {failed} failed"}


@router.delete(COLLECTION + "/batch")
def batch_delete(request: Request, collection_identifier: str, body: BatchDeleteDocumentsRequest,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    results = services(request).collection_documents.batch_delete(namespace, collection_identifier,
                                                                  body.document_ids, body.filters)
    failed = sum(1 for result in results if not result["success"])
    return {"status": "completed", "deleted_count": len(results) - failed, "failed_count": failed,
            "results": results, "message": f"{len(results) - failed} deleted, {failed} not found"}


@router.patch(COLLECTION + "/bulk")
def bulk_update(request: Request, collection_identifier: str, body: BulkUpdateDocumentsRequest,
                namespace: Namespace = Depends(current_namespace)) -> dict:
    updated = services(request).collection_documents.bulk_update(namespace, collection_identifier, body.filters,
                                                                 body.update_data)
    return {"status": "completed", "updated_count": updated, "message": f"{updated} documents updated"}


@router.post(COLLECTION + "/distinct")
def distinct_values(request: Request, collection_identifier: str, body: DistinctValuesRequest,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    values, total = services(request).collection_documents.distinct(namespace, collection_identifier, body.field,
                                                                    body.filters, body.limit)
    return {"field": body.field, "values": values, "total_distinct": total}


@router.post(COLLECTION + "/aggregate")
def aggregate(request: Request, collection_identifier: str, body: DocumentAggregationRequest,
              namespace: Namespace = Depends(current_namespace)) -> dict:
    results = services(request).collection_documents.aggregate(namespace, collection_identifier,
                                                               body.model_dump(exclude_none=True))
    return {"results": results, "total_groups": len(results)}


@router.get(COLLECTION + "/{document_id}")
def get_document(request: Request, collection_identifier: str, document_id: str,
                 return_vectors: bool = Query(False), namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.get(namespace, collection_identifier, document_id,
                                                      with_vectors=return_vectors)


@router.patch(COLLECTION + "/{document_id}")
def patch_document(request: Request, collection_identifier: str, document_id: str, body: DocumentBody,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.patch(namespace, collection_identifier, document_id, body.fields())


@router.put(COLLECTION + "/{document_id}")
def put_document(request: Request, collection_identifier: str, document_id: str, body: DocumentBody,
                 namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.replace(namespace, collection_identifier, document_id,
                                                          body.fields())


@router.delete(COLLECTION + "/{document_id}")
def delete_document(request: Request, collection_identifier: str, document_id: str,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    services(request).collection_documents.delete(namespace, collection_identifier, document_id)
    return {"success": True, "message": f"document '{document_id}' deleted", "document_id": document_id,
            "deleted": True}


# -- the namespace-wide routes (DocumentsApi) ------------------------------------------------------------------------


@router.post("/v1/documents/list")
def list_documents_in_namespace(request: Request, body: Optional[NamespaceListDocumentsRequest] = Body(default=None),
                                limit: Optional[int] = _LIMIT, page_size: Optional[int] = _PAGE_SIZE,
                                offset: Optional[int] = _OFFSET, page: Optional[int] = _PAGE,
                                cursor: Optional[str] = _CURSOR,
                                include_total: Optional[bool] = Query(None),
                                namespace: Namespace = Depends(current_namespace)) -> dict:
    query = _query(body, limit=limit, page_size=page_size, offset=offset, page=page, cursor=cursor,
                   return_vectors=None, include_total=include_total)
    return page_model(services(request).collection_documents.list_namespace(
        namespace, body.collection_ids if body else None, query))


@router.post("/v1/documents/list/batch")
def list_documents_batch(request: Request, body: BatchListDocumentsRequest,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    """Up to 10 listings of the X-Namespace namespace in one call (BatchListDocumentsResponse), each answered as
    POST /v1/documents/list would; one that fails carries its message in `error` and the rest still answer. Keys
    must be unique, so each answer can be told apart."""
    keys = [query.key for query in body.queries]
    if len(set(keys)) != len(keys):
        raise BadRequest("each query of a batch needs its own key", code="duplicate_key",
                         details={"keys": sorted({key for key in keys if keys.count(key) > 1})})
    queries = [(query.request.collection_ids, _query(query.request, limit=None, page_size=None, offset=None,
                                                     page=None, cursor=None, return_vectors=None,
                                                     include_total=None)) for query in body.queries]
    answers = services(request).collection_documents.list_namespace_many(namespace, queries)
    return {"results": [{"key": key, "response": None, "error": answer} if isinstance(answer, str)
                        else {"key": key, "response": page_model(answer), "error": None}
                        for key, answer in zip(keys, answers)]}


@router.post("/v1/documents/batch-get")
def batch_get(request: Request, body: BatchGetDocumentsRequest,
              namespace: Namespace = Depends(current_namespace)) -> dict:
    documents, missing = services(request).collection_documents.batch_get(namespace, body.document_ids)
    return {"documents": documents, "not_found": missing}


@router.patch("/v1/documents/{document_id}")
def patch_document_in_namespace(request: Request, document_id: str, body: DocumentBody,
                                namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.patch(namespace, None, document_id, body.fields())


@router.put("/v1/documents/{document_id}")
def put_document_in_namespace(request: Request, document_id: str, body: DocumentBody,
                              namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).collection_documents.replace(namespace, None, document_id, body.fields())
