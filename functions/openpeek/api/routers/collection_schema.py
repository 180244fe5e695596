"""A collection's schema sync (`POST /v1/collections/{collection_id}/sync-schema`, the SDK's CollectionSchemaApi)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.account import SchemaSyncRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.schema_sync import SchemaSyncOutcome

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/collections", tags=["Collection Schema"])


def schema_sync_model(outcome: SchemaSyncOutcome) -> dict:
    if outcome.skipped_reason is not None:
        return {"success": True, "skipped": True, "reason": outcome.skipped_reason,
                "collection_id": outcome.collection_id, "schema_version": outcome.schema_version,
                "last_sync": outcome.last_sync}
    return {"success": True, "collection_id": outcome.collection_id, "schema_version": outcome.schema_version,
            "previous_version": outcome.previous_version, "fields_added": list(outcome.fields_added),
            "fields_total": outcome.fields_total, "documents_sampled": outcome.documents_sampled,
            "downstream_collections_updated": list(outcome.downstream_updated), "message": outcome.message}


@router.post("/{collection_id}/sync-schema")
def sync_collection_schema(request: Request, collection_id: str,
                           body: Optional[SchemaSyncRequest] = Body(default=None),
                           namespace: Namespace = Depends(current_namespace)) -> dict:
    """Samples up to `sample_size` of the collection's documents and adds the top-level fields they carry to its
    output_schema (additive only; schema_version grows when fields are added); with `cascade_to_downstream`, the
    collections that read from it gain them in their input_schema (and output_schema where they pass every source
    field through). At most once per five minutes unless `force`."""
    request_body = body or SchemaSyncRequest()
    return schema_sync_model(services(request).schema_sync.sync(
        namespace, collection_id, sample_size=request_body.sample_size, force=request_body.force,
        cascade=request_body.cascade_to_downstream))
