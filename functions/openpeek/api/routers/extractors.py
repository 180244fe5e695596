"""The feature-extractor catalogue (the SDK's /v1/collections/features/extractors routes): the extractors this
deployment can run, each with its input and output schemas. Getting one by id also answers for an extractor that
cannot run here, saying what would enable it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from openpeek.api.auth import services
from openpeek.domain import extractors
from openpeek.domain.collections import feature_uri
from openpeek.domain.errors import NotFound
from openpeek.services.collections.collections import CatalogueEntry

# The catalog holds no tenant data, and the OpenAPI document declares these routes without auth: the SDK sends
# no key to them.
router = APIRouter(prefix="/v1/collections/features/extractors", tags=["Feature Extractors"])


def catalogue_model(entry: CatalogueEntry) -> dict[str, Any]:
    spec = entry.spec
    builtin = extractors.find(spec.feature_extractor_id)
    accepted = sorted({kind for item in spec.inputs for kind in item.accepted_types})
    return {
        "feature_extractor_name": spec.name,
        "version": spec.version,
        "feature_extractor_id": spec.feature_extractor_id,
        "description": spec.description,
        "icon": builtin.category if builtin else "passthrough",
        "category": builtin.category if builtin else "passthrough",
        "source": "builtin",
        "type_mode": "multimodal" if len(spec.inputs) > 1 else "type_specific",
        "inference_type": "embedding" if spec.vectors else "none",
        "input_schema": {
            "type": "object",
            "properties": {item.name: {"type": "string", "accepted_types": list(item.accepted_types)}
                           for item in spec.inputs},
            "required": [item.name for item in spec.inputs if item.required],
        },
        "output_schema": {
            "type": "object",
            "properties": {
                **{name: {"type": kind} for name, kind in spec.outputs.items()},
                **{vector.vector_name: {"type": "array", "items": {"type": "number"}, "dimensions": vector.dimension}
                   for vector in spec.vectors},
            },
        },
        "parameter_schema": {"type": "object", "properties": {key: {} for key in spec.parameter_keys}},
        "supported_input_types": accepted,
        "max_inputs": {kind: 1 for kind in accepted},
        "default_parameters": {"chunk_size": 1000, "chunk_overlap": 0, "split_by": "characters"}
        if spec.name == "text_extractor" else {},
        "required_vector_indexes": [{
            "feature_uri": feature_uri(spec.name, spec.version, vector.output),
            "name": builtin.vector_output if builtin else vector.output,
            "description": spec.description,
            "type": "single",
            "index": {"name": vector.vector_name, "description": spec.description, "dimensions": vector.dimension,
                      "type": "dense", "distance": vector.metric, "inference_name": vector.inference_service,
                      "inference_service_id": vector.inference_service},
        } for vector in spec.vectors],
        "required_payload_indexes": [],
        "position_fields": [],
        "capabilities": ["batch"],
        "available": entry.available,
        "how_to_enable": entry.how_to_enable,
    }


@router.get("")
def list_feature_extractors(request: Request) -> list[dict]:
    return [catalogue_model(entry) for entry in services(request).collections.catalogue() if entry.available]


@router.get("/{feature_extractor_id}")
def get_feature_extractor(request: Request, feature_extractor_id: str) -> dict:
    for entry in services(request).collections.catalogue():
        if entry.spec.feature_extractor_id == feature_extractor_id:
            return catalogue_model(entry)
    raise NotFound("feature_extractor", feature_extractor_id, code="feature_extractor_not_found")
