"""Features: the menu of what collections can search by (`GET /v1/collections/features`) and a one-off feature
search without a stored retriever (`POST /v1/features/search`)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, Header, Request, Response

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.errors import SafeJSONResponse
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.account import FeatureSearchRequest
from openpeek.api.routers.extractors import catalogue_model
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.features import FeatureMenuView, SearchableFeature

router = APIRouter(route_class=OrjsonRoute, tags=["Features"])

# No model resizes media before embedding here, so full resolution costs what the default does.
FULL_RES_MULTIPLIER = 1.0


def _searchable_model(feature: SearchableFeature) -> dict[str, Any]:
    return {"feature_uri": feature.feature_uri, "vector_index": feature.vector_index,
            "dimensions": feature.dimensions, "distance": feature.distance,
            "inference_service": feature.inference_service, "text_queries": feature.inference_service is not None,
            "feature_extractor_id": feature.feature_extractor_id,
            "collections": [{"collection_id": cid, "collection_name": name} for cid, name in feature.collections]}


def _menu_model(view: FeatureMenuView) -> dict[str, Any]:
    modalities = []
    for modality in view.modalities:
        features = []
        for entry in modality.features:
            shown = catalogue_model(entry)
            uris = [index["feature_uri"] for index in shown["required_vector_indexes"]]
            features.append({"feature": entry.spec.name, "feature_extractor_id": entry.spec.feature_extractor_id,
                             "label": entry.spec.description, "feature_uris": uris, "available": entry.available,
                             "how_to_enable": entry.how_to_enable, "rate": None})
        available = [feature for feature in features if feature["available"]]
        modalities.append({"modality": modality.modality, "billing_unit": None,
                           "base_feature": available[0]["feature"] if available else None, "features": features})
    return {"modalities": modalities, "custom_features": [_searchable_model(f) for f in view.namespace_features],
            "full_res_multiplier": FULL_RES_MULTIPLIER}


def _namespace_if_named(request: Request, authorization: Optional[str] = Header(default=None, include_in_schema=False),
                        x_namespace: Optional[str] = Header(default=None, alias="X-Namespace")) -> Namespace | None:
    """The menu is public; a caller who sends its key and X-Namespace also gets that namespace's features (a key
    that does not authenticate is still 401, another organisation's namespace still 404)."""
    if authorization is None:
        return None
    caller = principal(request, authorization)
    if not x_namespace or not x_namespace.strip():
        return None
    return current_namespace(request, caller, x_namespace)


@router.get("/v1/collections/features")
def discover_features(request: Request, namespace: Namespace | None = Depends(_namespace_if_named)) -> dict:
    """Per modality (text, pdf, image, video, structured rows), the extractors of this deployment's catalogue that
    read it, with their feature URIs and whether they run here. Nothing is billed here, so billing units and rates
    are null. `custom_features` lists the features the caller's namespace (X-Namespace, with a key) can be searched
    by now: every vector index its collections write, by feature URI, with the collections that write it, and the
    namespace's own bring-your-own indexes, by name."""
    return _menu_model(services(request).features.menu(namespace))


@router.post("/v1/features/search", response_model=dict)
def feature_search(request: Request, body: FeatureSearchRequest,
                   namespace: Namespace = Depends(current_namespace)) -> Response:
    """An ad-hoc retriever of one feature_search stage over the named collections (none: the whole namespace), run
    and recorded as `POST /v1/retrievers/execute` would; the answer is that execution's response. Text and vector
    queries; image and URL queries are 400 (the stage embeds only text at query time)."""
    return SafeJSONResponse(services(request).feature_search.search(namespace, body.model_dump()))
