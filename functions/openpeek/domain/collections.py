"""Collections (the SDK's CollectionsApi): a source (buckets, or an upstream collection), one feature extractor, and
what follows from them at creation — the input schema (the source's), the output schema (passthrough fields plus the
extractor's outputs) and the vector indexes the extractor writes, named by feature URI.

The documents a collection holds live in its namespace's vector store, each carrying `collection_id`; the collection
item itself is metadata only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from openpeek.domain import extractors
from openpeek.domain.documents import SYSTEM_FIELDS
from openpeek.domain.errors import BadRequest

ACTIVE = "active"
SOURCE_TYPES = ("bucket", "collection")
MAX_NAME_LENGTH = 128
MAX_SOURCE_DEPTH = 32
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Types of bucket schema properties (the SDK's BucketSchemaFieldType).
METADATA_TYPES = ("string", "number", "integer", "float", "boolean", "object", "array", "date", "datetime")
BLOB_TYPES = ("text", "image", "audio", "video", "pdf", "excel")

# Payload index a passthrough field gets in the vector store, by its schema type (objects and arrays get none).
_PAYLOAD_INDEX_TYPES = {"string": "keyword", "text": "keyword", "integer": "integer", "number": "float",
                        "float": "float", "boolean": "bool", "date": "datetime", "datetime": "datetime"}


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("collection_name must not be blank", code="invalid_collection_name")
    if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.match(name):
        raise BadRequest(
            f"collection_name must be 1-{MAX_NAME_LENGTH} letters, digits, '_', '-' or '.', starting with a letter "
            "or digit",
            code="invalid_collection_name", details={"collection_name": name[:MAX_NAME_LENGTH + 8]},
        )
    if name.startswith("col_"):
        # Routes take an id or a name: a name shaped like an id would shadow another collection.
        raise BadRequest("collection_name must not start with 'col_' (the prefix of collection ids)",
                         code="invalid_collection_name", details={"collection_name": name})
    return name


@dataclass(frozen=True)
class CollectionSource:
    """Where a collection's input comes from: one or more buckets, or one upstream collection."""

    type: str
    bucket_ids: tuple[str, ...] = ()
    collection_id: str | None = None

    def public(self) -> dict[str, Any]:
        if self.type == "bucket":
            return {"type": "bucket", "bucket_ids": list(self.bucket_ids)}
        return {"type": "collection", "collection_id": self.collection_id}

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> "CollectionSource":
        kind = spec.get("type")
        if kind not in SOURCE_TYPES:
            raise BadRequest(f"source.type must be one of {', '.join(SOURCE_TYPES)}; got {kind!r}",
                             code="invalid_source", details={"type": kind, "supported": list(SOURCE_TYPES)})
        if kind == "bucket":
            bucket_ids = spec.get("bucket_ids") or []
            if spec.get("collection_id") or spec.get("collection_ids"):
                raise BadRequest("a bucket source names bucket_ids, not collections", code="invalid_source")
            if not bucket_ids:
                raise BadRequest("source.bucket_ids must name at least one bucket", code="invalid_source")
            if len(set(bucket_ids)) != len(bucket_ids):
                raise BadRequest("source.bucket_ids names a bucket twice", code="invalid_source",
                                 details={"bucket_ids": list(bucket_ids)})
            return cls("bucket", bucket_ids=tuple(bucket_ids))
        collection_ids = list(spec.get("collection_ids") or [])
        collection_id = spec.get("collection_id")
        if spec.get("bucket_ids"):
            raise BadRequest("a collection source names collection_id, not buckets", code="invalid_source")
        if collection_id is None and len(collection_ids) == 1:
            collection_id = collection_ids[0]
        if collection_ids and collection_ids != [collection_id]:
            raise BadRequest("a collection reads from exactly one upstream collection", code="invalid_source",
                             details={"collection_ids": collection_ids})
        if not collection_id:
            raise BadRequest("source.collection_id must name the upstream collection", code="invalid_source")
        return cls("collection", collection_id=collection_id)


@dataclass(frozen=True)
class ExtractorInput:
    """One input an extractor reads, and the schema types a source property must have to feed it."""

    name: str
    accepted_types: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class VectorOutput:
    """A vector an extractor writes: the output name of its feature URI and the index that holds it."""

    output: str  # mixpeek://{extractor}@{version}/{output}
    vector_name: str  # the named vector in the namespace's vector store
    dimension: int
    metric: str
    inference_service: str | None  # embeds queries for this index; None where documents bring their own vectors


@dataclass(frozen=True)
class ExtractorSpec:
    """What a collection needs to know about an extractor: its inputs, its outputs and its vectors. `requires`
    names the inference service that must be usable in this deployment for it to run (None: always runs)."""

    name: str
    version: str
    description: str
    inputs: tuple[ExtractorInput, ...]
    outputs: Mapping[str, str]  # output field -> schema type
    vectors: tuple[VectorOutput, ...]
    requires: str | None = None
    parameter_keys: tuple[str, ...] = ()
    enabled_by: str | None = None  # the setting that makes `requires` usable, told to callers when it is not
    # Other models it runs on, in order of preference after `requires` (the inference services of its variants).
    alternatives: tuple[str, ...] = ()

    @property
    def feature_extractor_id(self) -> str:
        return f"{self.name}_{self.version}"

    def vectors_for(self, parameters: Mapping[str, Any]) -> tuple[VectorOutput, ...]:
        """The vectors a configured extractor writes; passthrough's come from its `vector_fields` parameter."""
        if self.name != "passthrough_extractor":
            return self.vectors
        return tuple(
            VectorOutput(output=spec["name"], vector_name=spec["name"], dimension=spec["dimensions"],
                         metric=_metric(spec.get("distance")), inference_service=None)
            for spec in parameters.get("vector_fields") or []
        )


def _metric(distance: Any) -> str:
    return {None: "cosine", "cosine": "cosine", "dot": "dot", "euclid": "euclidean",
            "euclidean": "euclidean"}.get(distance, "cosine")


def _builtin(feature_extractor_id: str, model: str | None = None) -> tuple[VectorOutput, ...]:
    """The vector a namespace-level builtin extractor writes, under the output name of its model."""
    found = extractors.find(feature_extractor_id, model)
    if found is None:
        raise LookupError(f"no builtin extractor {feature_extractor_id}")
    return (VectorOutput(found.model_output, found.vector_index_name, found.dimension, found.metric,
                         found.inference_service),)


EXTRACTORS: tuple[ExtractorSpec, ...] = (
    ExtractorSpec(
        name="text_extractor", version="v1",
        description="Splits a text property into chunks and embeds each with all-MiniLM-L6-v2 (384-d, cosine).",
        inputs=(ExtractorInput("text", ("text", "string", "pdf")),),  # a PDF is read into text page by page
        outputs={"text": "string"},
        vectors=_builtin("text_extractor_v1"),
        requires="all_minilm_l6_v2",
        enabled_by="OPENPEEK_LOCAL_INFERENCE=true (the default in the embedded runtime), or "
                   "OPENPEEK_BEDROCK_ENABLED=true (the default in the aws runtime) for Amazon Titan Text Embeddings V2",
        alternatives=("bedrock_titan_text_v2",),
        # The SDK's TextExtractorParams always serialises source_type, segment_length_seconds, language and
        # extract_captions with their defaults (they matter only for YouTube sources, which the batch refuses).
        parameter_keys=("extractor_type", "split_by", "chunk_size", "chunk_overlap", "source_type",
                        "segment_length_seconds", "language", "extract_captions"),
    ),
    ExtractorSpec(
        name="passthrough_extractor", version="v1",
        description="Copies the source's fields into documents unchanged; rows may bring their own vectors "
                    "(parameters.vector_fields).",
        inputs=(),
        outputs={},
        vectors=(),
        parameter_keys=("extractor_type", "preserve_metadata", "vector_fields", "row_format"),
    ),
    ExtractorSpec(
        name="image_extractor", version="v1",
        description="Embeds an image property with CLIP ViT-B/32 (512-d, cosine).",
        inputs=(ExtractorInput("image", ("image",)),),
        outputs={"image_url": "string"},
        vectors=_builtin("image_extractor_v1"),
        requires="clip_vit_b32",
        parameter_keys=("extractor_type", "enable_thumbnails", "use_cdn"),
        enabled_by="OPENPEEK_BEDROCK_ENABLED=true (the default in the aws runtime) for Amazon Titan Multimodal "
                   "Embeddings G1; no CLIP weights ship with openpeek",
        alternatives=("bedrock_titan_multimodal_g1",),
    ),
    ExtractorSpec(
        name="multimodal_extractor", version="v1",
        description="Embeds text, images and video with Amazon Titan Multimodal G1 (1024-d, cosine).",
        inputs=(ExtractorInput("text", ("text", "string"), required=False),
                ExtractorInput("image", ("image",), required=False),
                ExtractorInput("video", ("video",), required=False)),
        outputs={"text": "string"},
        vectors=_builtin("multimodal_extractor_v1"),
        requires="bedrock_titan_multimodal_g1",
        enabled_by="OPENPEEK_BEDROCK_ENABLED=true (the default in the aws runtime) with Bedrock access to Titan "
                   "Multimodal Embeddings G1",
    ),
)
_SPECS = {spec.feature_extractor_id: spec for spec in EXTRACTORS}
# What each extractor says it does on another model.
_MODEL_DESCRIPTIONS = {
    ("text_extractor_v1", "bedrock_titan_text_v2"):
        "Splits a text property into chunks and embeds each with Amazon Titan Text Embeddings V2 on Bedrock (1024-d, "
        "normalized, cosine).",
    ("image_extractor_v1", "bedrock_titan_multimodal_g1"):
        "Embeds an image property with Amazon Titan Multimodal Embeddings G1 on Bedrock (1024-d, cosine); text "
        "queries land in the same space.",
}


def on_model(spec: ExtractorSpec, model: str) -> ExtractorSpec:
    """The extractor as it runs on `model` (its `requires` or one of its `alternatives`): that model's vectors,
    dimension and feature URI."""
    if model == spec.requires:
        return spec
    if model not in spec.alternatives:
        raise LookupError(f"{spec.feature_extractor_id} does not run on {model}")
    return replace(spec, vectors=_builtin(spec.feature_extractor_id, model), requires=model,
                   description=_MODEL_DESCRIPTIONS.get((spec.feature_extractor_id, model), spec.description))


def model_of(spec: ExtractorSpec) -> str | None:
    """The model variant a resolved spec runs on, or None for the extractor's default model."""
    default = _SPECS.get(spec.feature_extractor_id)
    return None if default is None or spec.requires == default.requires else spec.requires


def extractor_spec(name: str, version: str) -> ExtractorSpec | None:
    return _SPECS.get(f"{name}_{version}")


def feature_uri(extractor_name: str, version: str, output: str) -> str:
    return f"mixpeek://{extractor_name}@{version}/{output}"


@dataclass(frozen=True)
class ExtractorConfig:
    """The collection's one feature extractor, as configured (the SDK's FeatureExtractorConfig)."""

    feature_extractor_name: str
    version: str
    input_mappings: dict[str, Any] = field(default_factory=dict)  # extractor input -> source property
    field_passthrough: tuple[dict[str, Any], ...] = ()  # {source_path, target_path?, default?, required?}
    parameters: dict[str, Any] = field(default_factory=dict)
    include_all_source_fields: bool = False

    @property
    def feature_extractor_id(self) -> str:
        return f"{self.feature_extractor_name}_{self.version}"

    def public(self) -> dict[str, Any]:
        return {
            "feature_extractor_name": self.feature_extractor_name,
            "version": self.version,
            "feature_extractor_id": self.feature_extractor_id,
            "input_mappings": dict(self.input_mappings),
            "field_passthrough": [dict(entry) for entry in self.field_passthrough],
            "parameters": dict(self.parameters),
            "include_all_source_fields": self.include_all_source_fields,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "ExtractorConfig":
        return cls(record["feature_extractor_name"], record["version"], dict(record.get("input_mappings") or {}),
                   tuple(record.get("field_passthrough") or ()), dict(record.get("parameters") or {}),
                   bool(record.get("include_all_source_fields")))


@dataclass(frozen=True)
class CollectionVectorIndex:
    """A vector index a collection writes: its feature URI, the named vector that holds it, and the inference
    service that embeds queries for it."""

    feature_uri: str
    vector_name: str
    dimension: int
    metric: str
    inference_service: str | None

    def to_record(self) -> dict[str, Any]:
        return {"feature_uri": self.feature_uri, "vector_name": self.vector_name, "dimension": self.dimension,
                "metric": self.metric, "inference_service": self.inference_service}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "CollectionVectorIndex":
        return cls(record["feature_uri"], record["vector_name"], int(record["dimension"]), record["metric"],
                   record.get("inference_service"))


@dataclass(frozen=True)
class Collection:
    collection_id: str
    collection_name: str
    namespace_id: str
    source: CollectionSource
    feature_extractor: ExtractorConfig
    input_schema: dict[str, Any]  # {"properties": {name: {type, ...}}}
    output_schema: dict[str, Any]
    vector_indexes: tuple[CollectionVectorIndex, ...] = ()
    payload_indexes: tuple[dict[str, Any], ...] = ()  # {field_name, type} created in the vector store
    description: str | None = None
    metadata: dict[str, Any] | None = None
    enabled: bool = True
    lifecycle_state: str = ACTIVE
    document_count: int = 0  # the stored value is a hint; services count the vector store when presenting
    created_at: str = ""
    updated_at: str = ""
    version: int = 1
    schema_version: int = 1  # grows each time a schema sync adds fields to output_schema
    last_schema_sync: str | None = None

    def vector_index_for(self, uri: str) -> CollectionVectorIndex | None:
        return next((index for index in self.vector_indexes if index.feature_uri == uri), None)

    def to_record(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id, "collection_name": self.collection_name,
            "namespace_id": self.namespace_id, "source": self.source.public(),
            "feature_extractor": self.feature_extractor.public(), "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "vector_indexes": [index.to_record() for index in self.vector_indexes],
            "payload_indexes": [dict(index) for index in self.payload_indexes],
            "description": self.description, "metadata": self.metadata, "enabled": self.enabled,
            "lifecycle_state": self.lifecycle_state, "document_count": self.document_count,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "schema_version": self.schema_version, "last_schema_sync": self.last_schema_sync,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any], version: int) -> "Collection":
        source = record["source"]
        return cls(
            collection_id=record["collection_id"], collection_name=record["collection_name"],
            namespace_id=record["namespace_id"],
            source=CollectionSource(source["type"], tuple(source.get("bucket_ids") or ()), source.get("collection_id")),
            feature_extractor=ExtractorConfig.from_record(record["feature_extractor"]),
            input_schema=record.get("input_schema") or {"properties": {}},
            output_schema=record.get("output_schema") or {"properties": {}},
            vector_indexes=tuple(CollectionVectorIndex.from_record(i) for i in record.get("vector_indexes") or ()),
            payload_indexes=tuple(record.get("payload_indexes") or ()),
            description=record.get("description"), metadata=record.get("metadata"),
            enabled=record.get("enabled", True), lifecycle_state=record.get("lifecycle_state") or ACTIVE,
            document_count=int(record.get("document_count") or 0), created_at=record.get("created_at") or "",
            updated_at=record.get("updated_at") or "", version=version,
            schema_version=int(record.get("schema_version") or 1), last_schema_sync=record.get("last_schema_sync"),
        )

    def with_changes(self, changes: Mapping[str, Any]) -> "Collection":
        return replace(self, **changes)


# -- the rules that shape a collection at creation -------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """What creation computes from a source schema and an extractor configuration."""

    extractor: ExtractorConfig
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    vector_indexes: tuple[CollectionVectorIndex, ...]
    payload_indexes: tuple[dict[str, Any], ...]


def parse_extractor(spec: Mapping[str, Any] | None, features: Sequence[str] | None,
                    available: Callable[[ExtractorSpec], bool]) -> tuple[ExtractorSpec, dict[str, Any]]:
    """The extractor a create request names (`feature_extractor`, or one of `features`: a feature URI or an
    extractor name) and its configuration as a dict. Unknown or not runnable here: 400 naming those that are."""
    if spec is not None and features:
        raise BadRequest("send feature_extractor or features, not both", code="invalid_feature_extractor")
    if spec is None:
        if not features:
            raise BadRequest("a collection needs a feature_extractor (or features)", code="invalid_feature_extractor")
        if len(features) != 1:
            raise BadRequest("a collection has exactly one feature extractor; features names several",
                             code="invalid_feature_extractor", details={"features": list(features)})
        name, version = _parse_feature(features[0])
        spec = {"feature_extractor_name": name, "version": version}
    name, version = spec.get("feature_extractor_name"), spec.get("version") or "v1"
    found = extractor_spec(str(name), str(version))
    runnable = sorted(s.feature_extractor_id for s in EXTRACTORS if available(s))
    if found is None or not available(found):
        raise BadRequest(
            f"feature extractor '{name}' version '{version}' is not available in this deployment; available: "
            f"{', '.join(runnable) or 'none'}",
            code="feature_extractor_not_available",
            details={"feature_extractor_name": name, "version": version, "available": runnable},
        )
    return found, dict(spec)


_FEATURE = re.compile(r"^(?:mixpeek://)?([A-Za-z0-9_]+)(?:@([A-Za-z0-9_.]+))?(?:/[A-Za-z0-9_.]+)?$")


def _parse_feature(feature: str) -> tuple[str, str]:
    match = _FEATURE.match(feature or "")
    if match is None:
        raise BadRequest(f"'{feature}' is neither a feature URI nor an extractor name",
                         code="invalid_feature_extractor",
                         details={"feature": feature})
    return match.group(1), match.group(2) or "v1"


def design(extractor: ExtractorSpec, config: Mapping[str, Any], source_properties: Mapping[str, Any]) -> Design:
    """Check the configuration against the source schema and compute the schemas and indexes. A mapping or
    passthrough that names a property the source lacks, or one of the wrong type, is refused with the property
    named."""
    mappings = _input_mappings(extractor, config.get("input_mappings"), source_properties)
    parameters = _parameters(extractor, config.get("parameters") or config.get("params") or {})
    output: dict[str, Any] = {}
    include_all = bool(config.get("include_all_source_fields"))
    if include_all:
        output.update({name: dict(schema) for name, schema in source_properties.items()})
    passthrough = []
    for position, entry in enumerate(config.get("field_passthrough") or []):
        checked = _passthrough(position, entry, source_properties)
        passthrough.append(checked)
        source_schema = source_properties.get(checked["source_path"].split(".")[0])
        output[checked.get("target_path") or checked["source_path"]] = (
            dict(source_schema) if source_schema is not None else {"type": _value_type(checked.get("default"))})
    for name, kind in extractor.outputs.items():
        output[name] = {"type": kind}
    vectors = tuple(
        CollectionVectorIndex(feature_uri(extractor.name, extractor.version, vector.output), vector.vector_name,
                              vector.dimension, vector.metric, vector.inference_service)
        for vector in extractor.vectors_for(parameters)
    )
    payload_indexes = tuple(
        {"field_name": name, "type": _PAYLOAD_INDEX_TYPES[schema["type"]]}
        for name, schema in sorted(output.items())
        if isinstance(schema, Mapping) and schema.get("type") in _PAYLOAD_INDEX_TYPES and "." not in name
    )
    configured = ExtractorConfig(extractor.name, extractor.version, mappings, tuple(passthrough), parameters,
                                 include_all)
    return Design(configured, {"properties": {k: dict(v) for k, v in source_properties.items()}},
                  {"properties": output}, vectors, payload_indexes)


def _input_mappings(extractor: ExtractorSpec, given: Any, properties: Mapping[str, Any]) -> dict[str, Any]:
    """extractor input -> source property. Given as {input: property} or the SDK's [{input_key, path}]; when absent,
    each required input takes the one source property of an accepted type (or of its first type), if there is
    exactly one."""
    if isinstance(given, list):
        given = {entry.get("input_key"): entry.get("path") for entry in given if isinstance(entry, Mapping)}
    given = dict(given or {})
    inputs = {item.name: item for item in extractor.inputs}
    unknown = sorted(str(key) for key in given if key not in inputs)
    if unknown:
        raise BadRequest(
            f"input_mappings names {', '.join(unknown)}, which {extractor.name} does not read; it reads: "
            f"{', '.join(inputs) or 'nothing'}",
            code="invalid_input_mapping", details={"unknown_inputs": unknown, "inputs": list(inputs)},
        )
    mappings: dict[str, Any] = {}
    for item in extractor.inputs:
        path = given.get(item.name)
        if path is None:
            candidates = sorted(name for name, schema in properties.items()
                                if _type_of(schema) in item.accepted_types)
            # A lone property of the input's first type (a `text` blob before `string` metadata) is the obvious one.
            for kind in item.accepted_types:
                of_kind = [name for name in candidates if _type_of(properties[name]) == kind]
                if of_kind:
                    candidates = of_kind if len(of_kind) == 1 else candidates
                    break
            if item.required and len(candidates) != 1:
                raise BadRequest(
                    f"input_mappings.{item.name} must name the source property {extractor.name} reads (a property of "
                    f"type {' or '.join(item.accepted_types)}); candidates: {', '.join(candidates) or 'none'}",
                    code="invalid_input_mapping",
                    details={"input": item.name, "accepted_types": list(item.accepted_types),
                             "candidates": candidates},
                )
            if candidates and (item.required or len(candidates) == 1):
                mappings[item.name] = candidates[0]
            continue
        if not isinstance(path, str) or not path:
            raise BadRequest(f"input_mappings.{item.name} must be a property name", code="invalid_input_mapping",
                             details={"input": item.name})
        schema = properties.get(path.split(".")[0])
        if schema is None:
            raise BadRequest(
                f"input_mappings.{item.name} names '{path}', which the source schema does not have; it has: "
                f"{', '.join(sorted(properties)) or 'no properties'}",
                code="input_mapping_property_missing",
                details={"input": item.name, "property": path, "available": sorted(properties)},
            )
        kind = _type_of(schema) if "." not in path else _nested_type(schema, path)
        if kind not in item.accepted_types:
            raise BadRequest(
                f"input_mappings.{item.name} names '{path}' of type {kind}; {extractor.name} reads "
                f"{' or '.join(item.accepted_types)} there",
                code="input_mapping_type_mismatch",
                details={"input": item.name, "property": path, "type": kind,
                         "accepted_types": list(item.accepted_types)},
            )
        mappings[item.name] = path
    return mappings


def _nested_type(schema: Mapping[str, Any], path: str) -> str | None:
    for part in path.split(".")[1:]:
        schema = (schema.get("properties") or {}).get(part) if isinstance(schema, Mapping) else None
        if schema is None:
            return None
    return _type_of(schema)


def _type_of(schema: Any) -> str | None:
    return schema.get("type") if isinstance(schema, Mapping) else None


def _passthrough(position: int, entry: Any, properties: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("source_path"), str) or not entry["source_path"]:
        raise BadRequest(f"field_passthrough[{position}] needs a source_path", code="invalid_field_passthrough",
                         details={"index": position})
    path = entry["source_path"]
    if path.split(".")[0] not in properties and entry.get("default") is None:
        raise BadRequest(
            f"field_passthrough[{position}].source_path names '{path}', which the source schema does not have "
            f"(give a default to pass it through anyway); it has: {', '.join(sorted(properties)) or 'no properties'}",
            code="field_passthrough_property_missing",
            details={"index": position, "property": path, "available": sorted(properties)},
        )
    target = entry.get("target_path")
    if target is not None and (not isinstance(target, str) or not target):
        raise BadRequest(f"field_passthrough[{position}].target_path must be a field name",
                         code="invalid_field_passthrough", details={"index": position})
    if (target or path) in SYSTEM_FIELDS:
        raise BadRequest(
            f"field_passthrough[{position}] would write '{target or path}', a field the service writes itself; "
            "give another target_path",
            code="invalid_field_passthrough", details={"index": position, "field": target or path},
        )
    return {key: entry[key] for key in ("source_path", "target_path", "default", "required")
            if entry.get(key) is not None}


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def _parameters(extractor: ExtractorSpec, parameters: Any) -> dict[str, Any]:
    if not isinstance(parameters, Mapping):
        raise BadRequest("feature_extractor.parameters must be an object", code="invalid_parameters")
    declared = parameters.get("extractor_type")
    if declared is not None and declared != extractor.name:
        # The SDK picks a parameters model by shape unless extractor_type names it, and then sends that model's
        # defaults: parameters meant for text_extractor arrive as another extractor's.
        raise BadRequest(
            f"parameters are {declared}'s, not {extractor.name}'s; set parameters.extractor_type to "
            f"'{extractor.name}'", code="invalid_parameters",
            details={"extractor_type": declared, "feature_extractor_name": extractor.name})
    unknown = sorted(set(parameters) - set(extractor.parameter_keys))
    if unknown:
        raise BadRequest(
            f"{extractor.name} has no parameter {', '.join(unknown)}; its parameters: "
            f"{', '.join(extractor.parameter_keys) or 'none'}",
            code="invalid_parameters", details={"unknown": unknown, "parameters": list(extractor.parameter_keys)},
        )
    checked = dict(parameters)
    if extractor.name == "text_extractor":
        size, overlap = checked.get("chunk_size", 1000), checked.get("chunk_overlap", 0)
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000:
            raise BadRequest("text_extractor chunk_size must be an integer from 1 to 10000", code="invalid_parameters",
                             details={"chunk_size": size})
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < size:
            raise BadRequest("text_extractor chunk_overlap must be an integer from 0 to below chunk_size",
                             code="invalid_parameters", details={"chunk_overlap": overlap})
        split_by = checked.get("split_by", "characters")
        if split_by not in ("characters", "words", "sentences", "paragraphs", "pages", "none"):
            raise BadRequest("text_extractor split_by must be characters, words, sentences, paragraphs, pages or none",
                             code="invalid_parameters", details={"split_by": split_by})
    if extractor.name == "passthrough_extractor":
        names = set()
        for position, spec in enumerate(checked.get("vector_fields") or []):
            if (not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str)
                    or not isinstance(spec.get("field"), str)
                    or isinstance(spec.get("dimensions"), bool) or not isinstance(spec.get("dimensions"), int)
                    or not 1 <= spec["dimensions"] <= 4096):
                raise BadRequest(f"vector_fields[{position}] needs field, name and dimensions (1-4096)",
                                 code="invalid_parameters", details={"index": position})
            if spec.get("distance") not in (None, "cosine", "dot", "euclid", "euclidean"):
                raise BadRequest(f"vector_fields[{position}].distance must be cosine, dot or euclidean",
                                 code="invalid_parameters", details={"index": position})
            if spec["name"] in names:
                raise BadRequest(f"vector_fields names '{spec['name']}' twice", code="invalid_parameters")
            names.add(spec["name"])
    return checked


def check_no_cycle(collection_id: str, upstream_id: str, upstream_of: Callable[[str], str | None]) -> None:
    """Refuse a source that leads back to the collection itself. `upstream_of(id)` is the collection a collection
    reads from (None for a bucket source or an unknown id)."""
    chain = [collection_id]
    current: str | None = upstream_id
    while current is not None:
        chain.append(current)
        if current == collection_id:
            raise BadRequest(
                "circular collection source: " + " -> ".join(chain),
                code="circular_collection_source", details={"chain": chain},
            )
        if len(chain) > MAX_SOURCE_DEPTH:
            raise BadRequest(f"collection sources chain deeper than {MAX_SOURCE_DEPTH}", code="source_too_deep",
                             details={"chain": chain})
        current = upstream_of(current)


# -- schema sync: fields the documents carry, merged into output_schema ---------------------------------------------

SCHEMA_SYNC_DEBOUNCE_S = 300  # a sync runs at most once per five minutes unless forced


def discovered_properties(payloads: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The top-level fields a sample of documents carries, each typed by its first non-null value. The service's
    own fields (ids, lineage, timestamps, the ACL, the metadata envelope) and internal `_` fields are not the
    collection's output."""
    found: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        for name, value in payload.items():
            if name in found or value is None or name.startswith("_") or name in SYSTEM_FIELDS:
                continue
            found[name] = {"type": _value_type(value)}
    return found


def merged_schema(schema: Mapping[str, Any], discovered: Mapping[str, Mapping[str, Any]]
                  ) -> tuple[dict[str, Any], list[str]]:
    """`schema` with the discovered fields it lacks added (a field it has keeps its type): the new schema and the
    names added, sorted."""
    properties = dict(schema.get("properties") or {})
    added = sorted(name for name in discovered if name not in properties)
    for name in added:
        properties[name] = dict(discovered[name])
    return {**schema, "properties": properties}, added
