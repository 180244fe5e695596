"""Collections API (namespace from X-Namespace): create, get, list, patch, delete, features; clone, export, import
(with its infer and validate-mapping helpers), reconciliation and trigger. Thin: validate, call the collection
services, present as the SDK's models."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.collection_io import (
    CloneCollectionRequest,
    CollectionExportRequest,
    ImportRequest,
    MappingValidationRequest,
    SchemaInferenceRequest,
    TriggerCollectionRequest,
)
from openpeek.api.models.collections import CreateCollectionRequest, ListCollectionsRequest, PatchCollectionRequest
from openpeek.domain.collections import Collection
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.collections import CollectionView
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/collections", tags=["Collections"])


def vector_index_model(collection: Collection) -> list[dict[str, Any]]:
    return [{
        "name": index.vector_name,
        "feature_uri": index.feature_uri,
        "type": "single",
        "index": {"name": index.vector_name, "dimensions": index.dimension, "distance": index.metric,
                  "type": "dense", "inference_name": index.inference_service,
                  "inference_service_id": index.inference_service},
    } for index in collection.vector_indexes]  # no "source": the SDK keeps it for namespace-synthesised entries


def collection_model(view: CollectionView) -> dict[str, Any]:
    collection = view.collection
    return {
        "collection_id": collection.collection_id,
        "collection_name": collection.collection_name,
        "description": collection.description,
        "input_schema": collection.input_schema,
        "output_schema": collection.output_schema,
        "feature_extractor": collection.feature_extractor.public(),
        "source": collection.source.public(),
        "vector_indexes": vector_index_model(collection),
        "index_map": {index.feature_uri: index.vector_name for index in collection.vector_indexes},
        "payload_indexes": [dict(index) for index in collection.payload_indexes],
        "enabled": collection.enabled,
        "metadata": collection.metadata,
        "created_at": collection.created_at,
        "updated_at": collection.updated_at,
        "lifecycle_state": collection.lifecycle_state,
        "document_count": view.document_count,
        "vector_count": view.document_count * len(collection.vector_indexes),
        "tiering": view.tiering,
    }


@router.post("")
def create_collection(request: Request, body: CreateCollectionRequest,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    return collection_model(services(request).collections.create(namespace, body.model_dump(exclude_none=True)))


def _list(request: Request, namespace: Namespace, body: ListCollectionsRequest | None, limit: int,
          page_size: int | None, offset: int, page: int | None, search: str | None = None) -> dict:
    size = (body.page_size or body.limit if body else None) or page_size or limit
    start = (page - 1) * size if page else ((body.offset if body and body.offset is not None else offset))
    if body and body.page:
        start = (body.page - 1) * size
    sorts = [sort.model_dump() for sort in (body.sorts or [])] if body else []
    if body and body.sort:
        sorts.insert(0, body.sort.model_dump())
    found = services(request).collections.list_views(
        namespace, search=(body.search if body and body.search else search),
        case_sensitive=bool(body and body.case_sensitive), filters=body.filters if body else None, sorts=sorts)
    window = found[start: start + size]
    return {
        "results": [collection_model(view) for view in window],
        "total_count": len(found),
        "pagination": {"total": len(found), "page": start // size + 1, "page_size": size,
                       "total_pages": max(1, -(-len(found) // size)), "next_page": None, "previous_page": None,
                       "next_cursor": None},
        "stats": {"total_documents": sum(view.document_count for view in found),
                  "total_feature_extractors": len(found)},
    }


@router.get("")
def list_collections(request: Request, search: Optional[str] = Query(None, max_length=256),
                     limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                     offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, None, limit, page_size, offset, page, search)


@router.post("/list")
def search_collections(request: Request, body: Optional[ListCollectionsRequest] = Body(default=None),
                       limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                       offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, body, limit, page_size, offset, page)


# -- import helpers: literal paths, before the identifier routes ------------------------------------------------------


@router.post("/import/infer")
def infer_import_schema(request: Request, body: SchemaInferenceRequest, caller: Principal = Depends(principal)) -> dict:
    """Fields, types and suggested targets found in sample rows of an external export (nothing is stored)."""
    return services(request).collection_exchange.infer(body.model_dump(exclude_none=True))


@router.post("/import/validate-mapping")
def validate_import_mapping(request: Request, body: MappingValidationRequest,
                            caller: Principal = Depends(principal)) -> dict:
    """Every problem of an import mapping, without writing anything."""
    return services(request).collection_exchange.validate(body.model_dump(exclude_none=True))


@router.get("/{collection_identifier}")
def get_collection(request: Request, collection_identifier: str,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return collection_model(services(request).collections.describe(namespace, collection_identifier))


@router.patch("/{collection_identifier}")
def update_collection(request: Request, collection_identifier: str, body: PatchCollectionRequest,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.model_dump(exclude_none=True)
    return collection_model(services(request).collections.patch(namespace, collection_identifier, changes))


@router.delete("/{collection_identifier}")
def delete_collection(request: Request, collection_identifier: str,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).collections.delete(namespace, collection_identifier)
    return {"success": True, "collection_id": deleted.collection_id,
            "message": f"collection '{deleted.collection_name}' and its documents were deleted"}


@router.get("/{collection_identifier}/features")
def describe_collection_features(request: Request, collection_identifier: str,
                                 namespace: Namespace = Depends(current_namespace)) -> dict:
    collection = services(request).collections.get(namespace, collection_identifier)
    extractor = collection.feature_extractor
    return {"features": [{
        "feature_address": index.feature_uri,
        "feature_uri": index.feature_uri,
        "feature_extractor_name": extractor.feature_extractor_name,
        "version": extractor.version,
        "primary": position == 0,
        "vector_index": {"name": index.vector_name, "description": f"{extractor.feature_extractor_name} output "
                         f"'{index.feature_uri.rsplit('/', 1)[-1]}'", "dimensions": index.dimension, "type": "dense",
                         "distance": index.metric, "inference_name": index.inference_service,
                         "inference_service_id": index.inference_service},
    } for position, index in enumerate(collection.vector_indexes)]}


@router.post("/{collection_identifier}/clone")
def clone_collection(request: Request, collection_identifier: str, body: CloneCollectionRequest,
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    """A new collection with the source's configuration and the request's changes; documents are not copied."""
    view, source_id = services(request).collections.clone(namespace, collection_identifier,
                                                          body.model_dump(exclude_none=True))
    return {"collection": collection_model(view), "source_collection_id": source_id}


@router.post("/{collection_identifier}/export")
def export_collection(request: Request, collection_identifier: str,
                      body: Optional[CollectionExportRequest] = Body(default=None),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    """The documents as one JSONL, CSV or Parquet file (or WebDataset tar shards) in the blob store, with download
    URLs good for an hour. Writing into the caller's own storage (`destination`) is refused: no storage connections
    exist here."""
    return services(request).collection_exchange.export(
        namespace, collection_identifier, (body or CollectionExportRequest()).model_dump(exclude_none=True),
        base_url=str(request.base_url))


@router.post("/{collection_identifier}/import")
def import_collection(request: Request, collection_identifier: str, body: ImportRequest,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    """Documents rebuilt from one external export with a mapping, written like hand-written documents."""
    return services(request).collection_exchange.import_export(namespace, collection_identifier,
                                                               body.model_dump(exclude_none=True))


@router.get("/{collection_identifier}/reconciliation")
def reconcile_collection(request: Request, collection_identifier: str, limit: int = Query(100, ge=1, le=1000),
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    """Source objects against the documents made from them: counts, the objects that made none and why."""
    return services(request).collection_sourcing.reconcile(namespace, collection_identifier, limit)


@router.post("/{collection_identifier}/trigger", status_code=202)
def trigger_collection(request: Request, collection_identifier: str,
                       body: Optional[TriggerCollectionRequest] = Body(default=None),
                       caller: Principal = Depends(principal),
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    """Process the collection's source now: one batch per source bucket, submitted to the batch worker (a
    collection-sourced collection through the bucket its source chain starts from)."""
    return services(request).collection_sourcing.trigger(
        caller, namespace, collection_identifier, (body or TriggerCollectionRequest()).model_dump(exclude_none=True))
