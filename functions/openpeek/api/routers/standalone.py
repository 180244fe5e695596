"""Standalone (bring-your-own-vector) namespaces (seed 002): created by id, with the vector indexes the caller's own
embeddings need. Promotion lives in routers/promotion.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.standalone import CreateStandaloneNamespaceRequest
from openpeek.domain.errors import BadRequest
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/namespaces", tags=["Standalone namespaces"])


@router.post("/standalone")
def create_standalone_namespace(request: Request, body: CreateStandaloneNamespaceRequest,
                                caller: Principal = Depends(principal)) -> dict:
    """namespace_id names the namespace (seed 002: "legal-docs" is then both its id and its name)."""
    if body.storage or body.config:
        field = "storage" if body.storage else "config"
        raise BadRequest(f"'{field}' (bring-your-own storage, retention, tiering) is not supported by this "
                         "deployment; omit it", code="unsupported_field", details={"field": field})
    create = {"namespace_name": body.namespace_name or body.namespace_id, "namespace_id": body.namespace_id,
              "mode": "standalone"}
    if body.vector_configs is not None:
        create["vector_configs"] = [config.model_dump() for config in body.vector_configs]
    if body.auto_create_indexes is not None:
        create["auto_create_indexes"] = body.auto_create_indexes
    view = services(request).namespaces.create(caller, create)
    namespace = view.namespace
    return {
        "namespace_id": namespace.public_id,
        "namespace_name": namespace.namespace_name,
        "mode": namespace.mode,
        "status": "active",
        "vector_configs": [config.public() for config in namespace.vector_configs],
        # Documents upserted straight into a namespace belong to no collection, and only collections tier.
        "tiering": "off",
        "document_count": view.document_count or 0,
    }
