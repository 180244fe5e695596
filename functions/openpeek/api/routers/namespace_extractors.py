"""The feature extractors a namespace can use (`/v1/namespaces/{namespace_id}/extractors`), by the SDK's
NamespaceExtractorsApi: this deployment's extractor catalogue, each entry as the catalogue shows it, plus whether it
runs at query time here and the namespace's collections that use it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.routers.extractors import catalogue_model
from openpeek.services.collections.namespace_extractors import NamespaceExtractor
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/namespaces/{namespace_id}/extractors",
                   tags=["Namespace Extractors"])


def unified_extractor_model(found: NamespaceExtractor) -> dict[str, Any]:
    shown = catalogue_model(found.entry)
    queries = any(vector.inference_service for vector in found.entry.spec.vectors)
    uris = [index["feature_uri"] for index in shown["required_vector_indexes"]]
    return {**shown,
            "feature_uri": uris[0] if uris else None,
            "capabilities": ["batch", "realtime"] if queries else ["batch"],
            # Query-time embedding runs in this deployment's inference services, not in Ray Serve applications.
            "realtime_available": found.entry.available if queries else None,
            "serve_apps": [],
            "collections": [{"collection_id": cid, "collection_name": name} for cid, name in found.collections]}


@router.get("")
def list_namespace_extractors(request: Request, namespace_id: str,
                              source: Literal["builtin", "custom", "all"] = Query("all"),
                              include_disabled: bool = Query(False),
                              caller: Principal = Depends(principal)) -> dict:
    """Every extractor this deployment runs (all builtin: no uploaded plugins run here, so `source=custom` lists
    none), and those the namespace's collections use; `include_disabled` adds the ones that cannot run here now,
    each saying what would enable it."""
    found = services(request).namespace_extractors.list(caller, namespace_id, source=source,
                                                        include_disabled=include_disabled)
    extractors = [unified_extractor_model(item) for item in found.extractors]
    return {"success": True, "extractors": extractors, "total": len(extractors),
            "namespace_id": found.namespace.public_id, "builtin_count": len(extractors), "custom_count": 0}


@router.get("/{extractor_id}")
def get_namespace_extractor(request: Request, namespace_id: str, extractor_id: str,
                            caller: Principal = Depends(principal)) -> dict:
    return unified_extractor_model(services(request).namespace_extractors.get(caller, namespace_id, extractor_id))
