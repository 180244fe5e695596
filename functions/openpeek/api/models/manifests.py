"""The shape of a manifest (seed 003), checked before ManifestService reads any of it: a manifest arrives as JSON or
YAML text (or a form field), not as a FastAPI body, so these models are applied by the manifest router after parsing.
Entries keep unknown keys (an exported manifest round-trips), but every key the service reads has its type here, so
a list where an object belongs, a number where a name belongs, or a map as a feature URI is a 400 naming its place,
never an exception inside validate, diff or apply."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from openpeek.api.models.retrievers import InputSchemaField, StageInput


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ManifestPayloadIndex(_Open):
    field_name: StrictStr = Field(min_length=1, max_length=255)
    type: Literal["keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid"]
    field_schema: Optional[dict[str, Any]] = None
    params: Optional[dict[str, Any]] = None


class ManifestVectorIndex(_Open):
    name: StrictStr = Field(min_length=1, max_length=128)
    dimension: Optional[StrictInt] = None
    metric: Optional[StrictStr] = None
    type: Optional[StrictStr] = None


class ManifestExtractor(_Open):
    feature_extractor_name: StrictStr = Field(min_length=1, max_length=128)
    version: StrictStr = Field(min_length=1, max_length=32)
    params: Optional[dict[str, Any]] = None


class ManifestNamespace(_Open):
    namespace_id: Optional[StrictStr] = Field(default=None, max_length=128)
    namespace_name: Optional[StrictStr] = Field(default=None, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    auto_create_indexes: Optional[StrictBool] = None
    payload_indexes: Optional[list[ManifestPayloadIndex]] = Field(default=None, max_length=256)
    vector_configs: Optional[list[ManifestVectorIndex]] = Field(default=None, max_length=64)
    feature_extractors: Optional[list[ManifestExtractor]] = Field(default=None, max_length=64)


class ManifestRetriever(_Open):
    retriever_name: StrictStr = Field(min_length=1, max_length=128)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    input_schema: Optional[dict[str, InputSchemaField]] = None
    stages: list[StageInput] = Field(min_length=1)
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    metadata: Optional[dict[str, Any]] = None
    display_config: Optional[dict[str, Any]] = None
    budget_limits: Optional[dict[str, Any]] = None
    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)


class ManifestVectorConfig(_Open):
    feature_uris: Optional[list[StrictStr]] = Field(default=None, max_length=16)
    feature_uri: Optional[StrictStr] = None
    clustering_method: Optional[StrictStr] = None


class ManifestCluster(_Open):
    cluster_name: StrictStr = Field(min_length=1, max_length=256)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    metadata: Optional[dict[str, Any]] = None
    vector_config: Optional[ManifestVectorConfig] = None
    filters: Optional[dict[str, Any]] = None
    llm_labeling: Optional[dict[str, Any]] = None
    collection_ids: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    source_cluster_ids: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    enrich_source_collection: Optional[StrictBool] = None


class ManifestWebhook(_Open):
    webhook_name: StrictStr = Field(min_length=1, max_length=128)
    url: Optional[StrictStr] = Field(default=None, max_length=2048)
    events: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    event_types: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    is_active: Optional[StrictBool] = None


class ManifestDocument(_Open):
    version: Optional[StrictInt] = None
    namespace: Optional[ManifestNamespace] = None
    retrievers: Optional[list[ManifestRetriever]] = Field(default=None, max_length=256)
    clusters: Optional[list[ManifestCluster]] = Field(default=None, max_length=256)
    webhooks: Optional[list[ManifestWebhook]] = Field(default=None, max_length=256)


def shape_errors(manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the manifest's shape, one line per place ("retrievers[0].stages: ..."); empty when fine."""
    try:
        ManifestDocument.model_validate(manifest)
    except ValidationError as error:
        return [f"{_place(issue['loc'])}: {issue['msg']}" for issue in error.errors()[:20]]
    return []


def _place(location: tuple) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text[:300]
