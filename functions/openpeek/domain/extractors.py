"""The builtin feature-extractor registry.

Each extractor defines the vector index it writes (name, dimension, metric) and the inference service that embeds
queries for it; a namespace's vector_inference_map and vector-store schema are built from these entries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openpeek.domain.errors import BadRequest
from openpeek.domain.vectors import VectorIndexSpec


@dataclass(frozen=True)
class FeatureExtractor:
    name: str
    version: str
    description: str
    category: str
    vector_output: str  # the output name used in feature URIs: mixpeek://{name}@{version}/{vector_output}
    vector_suffix: str  # the vector index is f"{name}_{version}_{vector_suffix}"
    dimension: int
    metric: str
    inference_service: str
    supported_input_types: tuple[str, ...]
    features: tuple[str, ...]  # the `features` keys of CreateNamespaceRequest that resolve to this extractor
    input_schema: dict[str, Any] = field(default_factory=dict)
    # The output a collection's feature URI names (Mixpeek names the model: mixpeek://text_extractor@v1/<model>).
    model_output: str = ""

    @property
    def feature_extractor_id(self) -> str:
        return f"{self.name}_{self.version}"

    @property
    def vector_index_name(self) -> str:
        return f"{self.name}_{self.version}_{self.vector_suffix}"

    @property
    def feature_uri(self) -> str:
        return f"mixpeek://{self.name}@{self.version}/{self.vector_output}"

    def vector_index(self) -> VectorIndexSpec:
        return VectorIndexSpec(self.vector_index_name, self.dimension, self.metric)  # type: ignore[arg-type]


BUILTIN_EXTRACTORS: tuple[FeatureExtractor, ...] = (
    FeatureExtractor(
        name="text_extractor",
        version="v1",
        description="Dense text embeddings (all-MiniLM-L6-v2, 384-d) for semantic search over text fields.",
        category="text",
        vector_output="embedding",
        vector_suffix="embedding",
        dimension=384,
        metric="cosine",
        inference_service="all_minilm_l6_v2",
        model_output="all_minilm_l6_v2_v1",
        supported_input_types=("text", "string"),
        features=("text_search", "text"),
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    ),
    FeatureExtractor(
        name="image_extractor",
        version="v1",
        description="Image embeddings (CLIP ViT-B/32, 512-d) for visual similarity and text-to-image search.",
        category="image",
        vector_output="embedding",
        vector_suffix="embedding",
        dimension=512,
        metric="cosine",
        inference_service="clip_vit_b32",
        model_output="clip_vit_b32_v1",
        supported_input_types=("image",),
        features=("image_search", "image"),
        input_schema={"type": "object", "properties": {"image": {"type": "string"}}, "required": ["image"]},
    ),
    FeatureExtractor(
        name="multimodal_extractor",
        version="v1",
        description="Joint text/image/video embeddings (Amazon Titan Multimodal G1, 1024-d) for cross-modal search.",
        category="multimodal",
        vector_output="multimodal_embedding",
        vector_suffix="multimodal_embedding",
        dimension=1024,
        metric="cosine",
        inference_service="bedrock_titan_multimodal_g1",
        model_output="titan_multimodal_g1_v1",
        supported_input_types=("text", "string", "image", "video"),
        features=("multimodal_search", "video_search", "multimodal", "video"),
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string"}, "image": {"type": "string"}, "video": {"type": "string"}},
        },
    ),
)

# The same extractors on another model: what a deployment without the default's model runs (deployed, the Lambda
# bundle has no torch, so text_extractor embeds with Titan Text V2; no CLIP weights ship, so image_extractor embeds with
# Titan Multimodal G1). A variant writes its own vector index (its own name, its model's dimension), so vectors of two
# models never share an index, and its feature URI names its model.
MODEL_VARIANTS: tuple[FeatureExtractor, ...] = (
    FeatureExtractor(
        name="text_extractor",
        version="v1",
        description="Dense text embeddings (Amazon Titan Text Embeddings V2 on Bedrock, 1024-d, normalized) for "
                    "semantic search over text fields.",
        category="text",
        vector_output="embedding",
        vector_suffix="titan_text_v2_embedding",
        dimension=1024,
        metric="cosine",
        inference_service="bedrock_titan_text_v2",
        model_output="titan_text_v2_v1",
        supported_input_types=("text", "string"),
        features=(),
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    ),
    FeatureExtractor(
        name="image_extractor",
        version="v1",
        description="Image embeddings (Amazon Titan Multimodal Embeddings G1 on Bedrock, 1024-d) for visual "
                    "similarity and text-to-image search.",
        category="image",
        vector_output="embedding",
        vector_suffix="titan_multimodal_g1_embedding",
        dimension=1024,
        metric="cosine",
        inference_service="bedrock_titan_multimodal_g1",
        model_output="titan_multimodal_g1_v1",
        supported_input_types=("image",),
        features=(),
        input_schema={"type": "object", "properties": {"image": {"type": "string"}}, "required": ["image"]},
    ),
)

_BY_ID = {extractor.feature_extractor_id: extractor for extractor in BUILTIN_EXTRACTORS}
_BY_FEATURE = {feature: extractor for extractor in BUILTIN_EXTRACTORS for feature in extractor.features}
BASELINE = ("text_extractor_v1",)  # what a managed namespace gets when it names neither features nor extractors


def all_extractors() -> tuple[FeatureExtractor, ...]:
    return BUILTIN_EXTRACTORS


def find(feature_extractor_id: str, model: str | None = None) -> FeatureExtractor | None:
    """The builtin extractor, on `model` (an inference service name) when given; None when it has no such variant."""
    if model is None:
        return _BY_ID.get(feature_extractor_id)
    return next((extractor for extractor in variants(feature_extractor_id) if extractor.inference_service == model),
                None)


def variants(feature_extractor_id: str) -> tuple[FeatureExtractor, ...]:
    """The extractor on each model it can run with, its default first."""
    default = _BY_ID.get(feature_extractor_id)
    if default is None:
        return ()
    return (default, *(v for v in MODEL_VARIANTS if v.feature_extractor_id == feature_extractor_id))


def model_for(feature_extractor_id: str, usable: set[str] | frozenset[str]) -> str | None:
    """The model variant a deployment whose usable inference services are `usable` runs the extractor on: None for
    the default (usable here, or no variant is, so the default stays and says how to enable it)."""
    options = variants(feature_extractor_id)
    if not options or options[0].inference_service in usable:
        return None
    return next((option.inference_service for option in options[1:] if option.inference_service in usable), None)


def every_index() -> tuple[FeatureExtractor, ...]:
    """Every builtin extractor on every model: the vector index names they reserve."""
    return BUILTIN_EXTRACTORS + MODEL_VARIANTS


def resolve(name: str, version: str, model: str | None = None) -> FeatureExtractor:
    extractor = find(f"{name}_{version}", model)
    if extractor is None and model is not None and _BY_ID.get(f"{name}_{version}") is not None:
        raise BadRequest(
            f"Feature extractor '{name}' version '{version}' does not run on model '{model}'",
            code="feature_extractor_not_found",
            details={"feature_extractor_name": name, "version": version, "model": model,
                     "models": [v.inference_service for v in variants(f"{name}_{version}")]},
        )
    if extractor is None:
        raise BadRequest(
            f"Feature extractor '{name}' version '{version}' is not registered",
            code="feature_extractor_not_found",
            details={
                "feature_extractor_name": name,
                "version": version,
                "available": sorted(_BY_ID),
            },
        )
    return extractor


def resolve_feature(feature: str) -> FeatureExtractor:
    extractor = _BY_FEATURE.get(feature)
    if extractor is None:
        raise BadRequest(
            f"Feature '{feature}' is not available",
            code="feature_not_found",
            details={"feature": feature, "available": sorted(_BY_FEATURE)},
        )
    return extractor


_FEATURE_URI = re.compile(r"^mixpeek://([A-Za-z0-9_]+)@([A-Za-z0-9_.]+)/([A-Za-z0-9_]+)$")


def from_feature_uri(uri: str) -> FeatureExtractor | None:
    """`mixpeek://text_extractor@v1/embedding` → text_extractor v1 (None when no builtin extractor has that output).
    An output that names a model (`.../titan_text_v2_v1`) or a variant's index gives that variant; the generic output
    (`embedding`) gives the default model."""
    found = candidates_of_feature_uri(uri)
    return found[0] if found else None


def candidates_of_feature_uri(uri: str) -> list[FeatureExtractor]:
    """Every variant a feature URI may mean, the most specific first: a model's own output or index name means that
    variant alone; the generic output means any of them (default first), so a namespace can resolve it to the one it
    holds."""
    match = _FEATURE_URI.match(uri)
    if match is None:
        return []
    options = variants(f"{match.group(1)}_{match.group(2)}")
    output = match.group(3)
    specific = [v for v in options if output in (v.vector_index_name, v.model_output)]
    if specific:
        return specific
    return [v for v in options if output == v.vector_output]
