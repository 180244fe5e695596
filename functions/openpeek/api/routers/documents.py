"""Bring-your-own documents: upsert, get and delete (seed 002; the SDK's BYODocumentsApi and collection-documents
delete route). Thin: validate, call DocumentService."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from openpeek.api.fast_json import BulkWriteRoute, OrjsonRoute
from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.models.documents import ByoUpsertRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, tags=["Documents"])


async def upsert_documents(request: Request, namespace_id: str, body: ByoUpsertRequest,
                           caller: Principal = Depends(principal)) -> dict:
    # The body was validated against ByoUpsertRequest; the service takes the parsed JSON itself (Starlette caches
    # it), which spares copying a thousand vectors out of the model again.
    raw = await request.json()
    return await run_in_threadpool(services(request).documents.upsert, caller, namespace_id, raw)


router.add_api_route("/v1/namespaces/{namespace_id}/documents/upsert", upsert_documents, methods=["POST"],
                     route_class_override=BulkWriteRoute)


@router.get("/v1/namespaces/{namespace_id}/documents/{document_id}")
def get_document(request: Request, namespace_id: str, document_id: str, return_vectors: bool = Query(False),
                 caller: Principal = Depends(principal)) -> dict:
    return services(request).documents.get(caller, namespace_id, document_id, with_vectors=return_vectors)


@router.delete("/v1/namespaces/{namespace_id}/documents/{document_id}")
def delete_document(request: Request, namespace_id: str, document_id: str,
                    caller: Principal = Depends(principal)) -> dict:
    return services(request).documents.delete(caller, namespace_id, document_id)


@router.get("/v1/documents/{document_id}")
def get_document_in_namespace(request: Request, document_id: str, return_vectors: bool = Query(False),
                              namespace: Namespace = Depends(current_namespace)) -> dict:
    """The SDK's namespace-scoped get (X-Namespace): also finds a document whose collection is cold or archived."""
    return services(request).collection_documents.get_in_namespace(namespace, document_id, with_vectors=return_vectors)
