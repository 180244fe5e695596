"""The builtin feature-extractor registry (the SDK's /v1/collections/features/extractors routes)."""

from __future__ import annotations

from fastapi import APIRouter

from openpeek.api.presenters import feature_extractor_model
from openpeek.domain import extractors
from openpeek.domain.errors import NotFound

# The catalog holds no tenant data, and the OpenAPI document declares these routes without auth: the SDK sends
# no key to them.
router = APIRouter(prefix="/v1/collections/features/extractors", tags=["Feature Extractors"])


@router.get("")
def list_feature_extractors() -> list[dict]:
    return [feature_extractor_model(extractor) for extractor in extractors.all_extractors()]


@router.get("/{feature_extractor_id}")
def get_feature_extractor(feature_extractor_id: str) -> dict:
    extractor = extractors.find(feature_extractor_id)
    if extractor is None:
        raise NotFound("feature_extractor", feature_extractor_id, code="feature_extractor_not_found")
    return feature_extractor_model(extractor)
