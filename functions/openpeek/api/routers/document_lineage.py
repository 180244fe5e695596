"""A collection document's lineage, source media and diagnostics, and the dry-run schema check (the SDK's
CollectionDocumentsApi get_document_ancestors, get_document_descendants, download_document_media,
get_document_diagnostics and validate_document_schema), and the SDK's DocumentLineageApi (a document's whole
lineage, the documents made from one bucket object and their decomposition tree), namespace from X-Namespace. Thin:
validate, call DocumentLineageService (or CollectionDocumentService.validate), present."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.document_lineage import DecompositionTreeQuery, ObjectDocumentsQuery
from openpeek.api.routers.collection_documents import COLLECTION, DocumentBody, page_model
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


@router.get(COLLECTION + "/{document_id}/lineage")
def get_document_lineage(request: Request, collection_identifier: str, document_id: str,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    """The document's whole lineage (DocumentLineageResponse): root object and bucket, immediate source, and the
    chain of documents and collections from the root object to this one; `lineage` null with a `message` for a
    document written directly."""
    return services(request).document_lineage.lineage(namespace, collection_identifier, document_id)


@router.get("/v1/objects/{object_id}/documents")
def get_documents_by_object(request: Request, object_id: str, query: Annotated[ObjectDocumentsQuery, Query()],
                            namespace: Namespace = Depends(current_namespace)) -> dict:
    """The documents the namespace's collections made from one bucket object, in any tier, paged as every document
    listing is, with `total_documents` (0 for an object nothing processed yet) and where the object is."""
    found = services(request).document_lineage.object_documents(namespace, object_id, query.collection_ids,
                                                                query.list_query())
    listed = page_model(found.page)
    documents = listed.pop("results")
    return {"object_id": found.object_id, "bucket_id": found.bucket_id, "object_exists": found.object_exists,
            "documents": documents, **listed}


@router.get("/v1/objects/{object_id}/decomposition-tree")
def get_decomposition_tree(request: Request, object_id: str, query: Annotated[DecompositionTreeQuery, Query()],
                           namespace: Namespace = Depends(current_namespace)) -> dict:
    """The collections that made documents from one bucket object, as a tree from those reading its bucket down
    through those reading collections, each with its count of the object's documents (and with
    include_document_ids, their ids and the upstream document of each)."""
    return services(request).document_lineage.decomposition_tree(
        namespace, object_id, include_document_ids=query.include_document_ids)
