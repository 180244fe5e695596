"""A collection document's lineage, source media and diagnostics, and the dry-run schema check (the SDK's
CollectionDocumentsApi get_document_ancestors, get_document_descendants, download_document_media,
get_document_diagnostics and validate_document_schema), namespace from X-Namespace. Thin: validate, call
DocumentLineageService (or CollectionDocumentService.validate), present."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.routers.collection_documents import COLLECTION, DocumentBody
from openpeek.domain.namespace import Namespace

router = APIRouter(route_class=OrjsonRoute, tags=["Collection Documents"])


@router.post(COLLECTION + "/schema/validate")
def validate_document_schema(request: Request, collection_identifier: str, body: DocumentBody,
                             namespace: Namespace = Depends(current_namespace)) -> dict:
    """The document as `POST .../documents` takes it, checked against the collection's output schema and by the
    checks create runs; nothing is written. {valid, collection_id, violations, checked_fields, warnings}."""
    return services(request).collection_documents.validate(namespace, collection_identifier, body.fields())


@router.get(COLLECTION + "/{document_id}/ancestors")
def get_document_ancestors(request: Request, collection_identifier: str, document_id: str,
                           namespace: Namespace = Depends(current_namespace)) -> list:
    """The upstream documents this one was made from, root first (List[DocumentResponse])."""
    return services(request).document_lineage.ancestors(namespace, collection_identifier, document_id)


@router.get(COLLECTION + "/{document_id}/descendants")
def get_document_descendants(request: Request, collection_identifier: str, document_id: str,
                             namespace: Namespace = Depends(current_namespace)) -> list:
    """The documents made directly from this one, in any collection, at most 100 (List[DocumentResponse])."""
    return services(request).document_lineage.descendants(namespace, collection_identifier, document_id)


@router.get(COLLECTION + "/{document_id}/download")
def download_document_media(request: Request, collection_identifier: str, document_id: str,
                            namespace: Namespace = Depends(current_namespace)) -> dict:
    """A download URL of the source blob the document was made from (SceneDownloadResponse). Mixpeek re-cuts a
    video scene to its time range; no re-encoder runs here, so the URL serves the stored source blob whole
    (start_time and end_time 0), and a time-ranged document is answered 501."""
    return services(request).document_lineage.download(namespace, collection_identifier, document_id,
                                                       base_url=str(request.base_url))


@router.get(COLLECTION + "/{document_id}/diagnostics")
def get_document_diagnostics(request: Request, collection_identifier: str, document_id: str,
                             namespace: Namespace = Depends(current_namespace)) -> dict:
    """Searchability and why, the source object's recorded failures, and the document's history: lineage chain,
    batch and task, vectors and their dimensions, storage tier, payload size (DocumentDiagnosticsResponse)."""
    return services(request).document_lineage.diagnostics(namespace, collection_identifier, document_id)
