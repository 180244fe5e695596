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

_BY_ID = {extractor.feature_extractor_id: extractor for extractor in BUILTIN_EXTRACTORS}
_BY_FEATURE = {feature: extractor for extractor in BUILTIN_EXTRACTORS for feature in extractor.features}
BASELINE = ("text_extractor_v1",)  # what a managed namespace gets when it names neither features nor extractors


def all_extractors() -> tuple[FeatureExtractor, ...]:
    return BUILTIN_EXTRACTORS


def find(feature_extractor_id: str) -> FeatureExtractor | None:
    return _BY_ID.get(feature_extractor_id)


def resolve(name: str, version: str) -> FeatureExtractor:
    extractor = _BY_ID.get(f"{name}_{version}")
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
    """`mixpeek://text_extractor@v1/embedding` → text_extractor v1 (None when no builtin extractor has that output)."""
    match = _FEATURE_URI.match(uri)
    if match is None:
        return None
    extractor = find(f"{match.group(1)}_{match.group(2)}")
    outputs = (extractor.vector_output, extractor.vector_index_name, extractor.model_output) if extractor else ()
    if extractor is None or match.group(3) not in outputs:
        return None
    return extractor
