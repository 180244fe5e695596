"""Feature extractors that really run: each turns one source (a bucket object, or an upstream collection's document)
into drafts of documents, then completes a whole group of drafts at once (one embedding call for many objects).

- text_extractor (and multimodal_extractor on text): the mapped text, or a PDF's text page by page, chunked by the
  collection's `split_by` / `chunk_size` / `chunk_overlap`, embedded by the extractor's inference service.
- passthrough_extractor: with `vector_fields`, every row of a JSONL or parquet object becomes a document carrying
  the row's own vectors (no model); without, one document per object with its passed-through fields.
- image inputs need an image model; where none is configured the extractor refuses them and says which setting
  enables one. Nothing here ever makes up a vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from openpeek.domain import extractors as catalogue
from openpeek.domain.chunking import ChunkingPlan, split
from openpeek.domain.errors import BadRequest
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceUnavailable
from openpeek.domain.vectors import VectorIndexSpec
from openpeek.ports import Embedder, ImageEmbedder
from openpeek.services.ingestion import readers

TEXT_BLOB_TYPES = ("text", "pdf", "string")
IMAGE_BLOB_TYPES = ("image",)
# Where a deployment without an image model gets one: Titan Multimodal through Bedrock.
IMAGE_MODEL_SETTING = "OPENPEEK_BEDROCK_ENABLED=true (Amazon Titan Multimodal Embeddings G1 through Bedrock)"
EMBED_GROUP = 256  # texts per embedding call: the model batches within it, the worker checkpoints between groups
# Titan Multimodal Embeddings G1 takes PNG and JPEG images of at most 25 MB.
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}
MAX_IMAGE_BYTES = 25 * 1024 * 1024
# Extractors that embed images: deployed, their tiers run as a SageMaker Processing job rather than in Lambda.
HEAVY_EXTRACTORS = ("image_extractor", "multimodal_extractor")
# Image models this deployment has no weights for: an extractor on one of them cannot run at all.
MODELS_WITHOUT_WEIGHTS = ("clip_vit_b32",)


class ExtractionFailed(Exception):
    """One source cannot be extracted; the others go on. error_type is the SDK's FailedObjectRecord.error_type."""

    def __init__(self, message: str, error_type: str = "permanent") -> None:
        super().__init__(message)
        self.error_type = error_type


class MissingInput(ExtractionFailed):
    """The source lacks the property the collection's extractor reads: the collection has nothing to make from it,
    which is not an error (another collection of the bucket may read it)."""


@dataclass(frozen=True)
class SourceBlob:
    property: str
    type: str
    data: bytes
    mime_type: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class Source:
    """What an extractor reads: a bucket object (its metadata and blobs) or an upstream document (its payload)."""

    source_id: str
    fields: Mapping[str, Any]
    blobs: Mapping[str, SourceBlob] = field(default_factory=dict)


@dataclass
class Draft:
    chunk_key: str
    payload: dict[str, Any]
    text: str | None = None  # what the extractor's model embeds, when it has one
    vectors: dict[str, Any] = field(default_factory=dict)
    image: bytes | None = None  # an image the model embeds (with `text`, when both are set, into one vector)


class Extractor(Protocol):
    name: str

    def vector_indexes(self) -> list[VectorIndexSpec]: ...

    def drafts(self, source: Source) -> list[Draft]:
        """The source's documents-to-be; raises ExtractionFailed for this source alone."""

    def complete(self, drafts: Sequence[Draft]) -> None:
        """Fill the drafts' vectors; raises DependencyUnavailable when the model cannot be reached."""


def lookup(fields: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """(found, value) at a dot path."""
    current: Any = fields
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


class FieldPassthrough:
    """The collection's field_passthrough: source fields copied onto every document of the source."""

    def __init__(self, specs: Sequence[Mapping[str, Any]] | None, include_all: bool = False) -> None:
        self._specs = list(specs or [])
        self._include_all = include_all

    def fields(self, source: Source) -> dict[str, Any]:
        copied: dict[str, Any] = dict(source.fields) if self._include_all else {}
        for spec in self._specs:
            path = spec["source_path"]
            found, value = lookup(source.fields, path)
            if not found:
                if spec.get("required"):
                    raise ExtractionFailed(f"the required passthrough field '{path}' is missing")
                if spec.get("default") is None:
                    continue
                value = spec["default"]
            copied[spec.get("target_path") or path.split(".")[-1]] = value
        return copied


def _mapped_property(input_mappings: Any, key: str) -> str | None:
    """The source property an extractor input reads: `{"text": "content"}`, or the SDK's InputMapping shapes
    (`{"text": {"path": "content"}}`, `[{"input_key": "text", "path": "content"}]`)."""
    if isinstance(input_mappings, Mapping):
        value = input_mappings.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            return value.get("path") or value.get("source_path")
    if isinstance(input_mappings, list):
        for entry in input_mappings:
            if isinstance(entry, Mapping) and entry.get("input_key") == key:
                return entry.get("path")
    return None


class TextEmbeddingExtractor:
    """text_extractor, and multimodal_extractor for text: chunks of the mapped text (a PDF read page by page first),
    each chunk one document embedded by the extractor's model."""

    def __init__(self, spec: catalogue.FeatureExtractor, embedder: Callable[[], Embedder],
                 parameters: Mapping[str, Any],
                 input_mappings: Any, passthrough: FieldPassthrough, index_name: str | None = None) -> None:
        self.name = spec.name
        self._spec = spec
        self._embedder = embedder
        self._plan = ChunkingPlan.from_parameters(dict(parameters))
        self._input = _mapped_property(input_mappings, "text")
        self._passthrough = passthrough
        self._index = index_name or spec.vector_index_name

    def vector_indexes(self) -> list[VectorIndexSpec]:
        return [VectorIndexSpec(self._index, self._spec.dimension, self._spec.metric)]  # type: ignore[arg-type]

    def drafts(self, source: Source) -> list[Draft]:
        copied = self._passthrough.fields(source)
        pages = self._pages(source)
        drafts = []
        for page_number, text in pages:
            for chunk in split(text, self._plan):
                key = f"p{page_number}c{chunk.index}" if page_number else f"c{chunk.index}"
                payload = {**copied, "text": chunk.text, "chunk_index": len(drafts),
                           "chunk_start": chunk.start}
                if page_number:
                    payload["page_number"] = page_number
                drafts.append(Draft(key, payload, text=chunk.text))
        return drafts

    def _pages(self, source: Source) -> list[tuple[int | None, str]]:
        """(page number or None, text) of the mapped input."""
        blob = self._blob(source)
        if blob is not None:
            if blob.type in IMAGE_BLOB_TYPES:
                raise ExtractionFailed(f"{self.name} here embeds text only; image inputs need an image model: "
                                       f"set {IMAGE_MODEL_SETTING}")
            if readers.is_pdf(blob.data, blob.mime_type, blob.filename) or blob.type == "pdf":
                try:
                    return [(number, text) for number, text in enumerate(readers.pdf_pages(blob.data), start=1)]
                except readers.UnreadableBlob as error:
                    raise ExtractionFailed(str(error)) from error
            try:
                return [(None, readers.decode_text(blob.data))]
            except readers.UnreadableBlob as error:
                raise ExtractionFailed(str(error)) from error
        path = self._input or "text"
        found, value = lookup(source.fields, path)
        if not found or value is None:
            raise MissingInput(f"the source has no '{path}' to extract text from")
        if not isinstance(value, str):
            raise ExtractionFailed(f"'{path}' is a {type(value).__name__}, not text")
        return [(None, value)]

    def _blob(self, source: Source) -> SourceBlob | None:
        if self._input is not None:
            return source.blobs.get(self._input)
        # No mapping: the source's one text-like blob, when it has exactly one.
        candidates = [blob for blob in source.blobs.values() if blob.type in TEXT_BLOB_TYPES + IMAGE_BLOB_TYPES]
        return candidates[0] if len(candidates) == 1 else None

    def complete(self, drafts: Sequence[Draft]) -> None:
        pending = [draft for draft in drafts if draft.text]
        if not pending:
            return
        embedder = self._embedder()
        for start in range(0, len(pending), EMBED_GROUP):
            group = pending[start:start + EMBED_GROUP]
            vectors = embedder.embed_texts([draft.text or "" for draft in group])
            if len(vectors) != len(group):
                raise DependencyUnavailable(f"{self._spec.inference_service} returned {len(vectors)} vectors for "
                                            f"{len(group)} texts")
            for draft, vector in zip(group, vectors):
                draft.vectors[self._index] = vector


def _check_image(blob: SourceBlob, extractor: str) -> bytes:
    if not any(blob.data.startswith(magic) for magic in IMAGE_MAGIC):
        raise ExtractionFailed(f"{extractor} reads PNG or JPEG images; '{blob.property}' is neither")
    if len(blob.data) > MAX_IMAGE_BYTES:
        raise ExtractionFailed(f"'{blob.property}' is {len(blob.data)} bytes; the image model takes at most "
                               f"{MAX_IMAGE_BYTES}")
    return blob.data


def complete_images(drafts: Sequence[Draft], embedder: Embedder, index: str, service: str) -> None:
    """Vectors for drafts with an image (alone or with its text) through an image model, and for text-only drafts
    through the same model's text path, so every vector lies in one space."""
    if not drafts:
        return
    if not hasattr(embedder, "embed_images"):
        raise DependencyUnavailable(f"{service} cannot embed images here")
    images: ImageEmbedder = embedder  # type: ignore[assignment]
    alone = [draft for draft in drafts if draft.image is not None and not draft.text]
    together = [draft for draft in drafts if draft.image is not None and draft.text]
    texts = [draft for draft in drafts if draft.image is None and draft.text]
    for start in range(0, len(alone), EMBED_GROUP):
        group = alone[start:start + EMBED_GROUP]
        vectors = images.embed_images([draft.image or b"" for draft in group])
        if len(vectors) != len(group):
            raise DependencyUnavailable(f"{service} returned {len(vectors)} vectors for {len(group)} images")
        for draft, vector in zip(group, vectors):
            draft.vectors[index] = vector
    for draft in together:
        draft.vectors[index] = images.embed_text_and_image(draft.text or "", draft.image or b"")
    for start in range(0, len(texts), EMBED_GROUP):
        group = texts[start:start + EMBED_GROUP]
        vectors = images.embed_texts([draft.text or "" for draft in group])
        if len(vectors) != len(group):
            raise DependencyUnavailable(f"{service} returned {len(vectors)} vectors for {len(group)} texts")
        for draft, vector in zip(group, vectors):
            draft.vectors[index] = vector


class ImageEmbeddingExtractor:
    """image_extractor on an image model (Titan Multimodal): one document per object, its image embedded."""

    def __init__(self, spec: catalogue.FeatureExtractor, embedder: Callable[[], Embedder], input_mappings: Any,
                 passthrough: FieldPassthrough, index_name: str | None = None) -> None:
        self.name = spec.name
        self._spec = spec
        self._embedder = embedder
        self._input = _mapped_property(input_mappings, "image")
        self._passthrough = passthrough
        self._index = index_name or spec.vector_index_name

    def vector_indexes(self) -> list[VectorIndexSpec]:
        return [VectorIndexSpec(self._index, self._spec.dimension, self._spec.metric)]  # type: ignore[arg-type]

    def drafts(self, source: Source) -> list[Draft]:
        copied = self._passthrough.fields(source)
        blob = _image_blob(source, self._input)
        if blob is None:
            raise MissingInput(f"the source has no image '{self._input or 'image'}' to embed")
        data = _check_image(blob, self.name)
        payload = {**copied, "image_property": blob.property}
        if blob.filename:
            payload["filename"] = blob.filename
        return [Draft("image", payload, image=data)]

    def complete(self, drafts: Sequence[Draft]) -> None:
        complete_images(drafts, self._embedder(), self._index, self._spec.inference_service)


def _image_blob(source: Source, mapped: str | None) -> SourceBlob | None:
    if mapped is not None:
        blob = source.blobs.get(mapped)
        return blob if blob is not None and blob.type in IMAGE_BLOB_TYPES else None
    candidates = [blob for blob in source.blobs.values() if blob.type in IMAGE_BLOB_TYPES]
    return candidates[0] if len(candidates) == 1 else None


class MultimodalEmbeddingExtractor(TextEmbeddingExtractor):
    """multimodal_extractor: an object with an image becomes one document embedded from its image (and its mapped
    text, when it has one, into the same vector); an object with text only is chunked and embedded like
    text_extractor, in the same space. Video needs frame extraction, which this deployment does not run."""

    def __init__(self, spec: catalogue.FeatureExtractor, embedder: Callable[[], Embedder],
                 parameters: Mapping[str, Any], input_mappings: Any, passthrough: FieldPassthrough,
                 index_name: str | None = None) -> None:
        super().__init__(spec, embedder, parameters, input_mappings, passthrough, index_name)
        self._image_input = _mapped_property(input_mappings, "image")
        self._video_input = _mapped_property(input_mappings, "video")

    def drafts(self, source: Source) -> list[Draft]:
        video = source.blobs.get(self._video_input) if self._video_input else None
        if video is not None or (self._image_input is None and self._input is None
                                 and any(blob.type == "video" for blob in source.blobs.values())):
            raise ExtractionFailed(f"{self.name} here embeds text and images; video inputs need frame extraction, "
                                   "which this deployment does not run")
        blob = _image_blob(source, self._image_input)
        if blob is None:
            return super().drafts(source)
        data = _check_image(blob, self.name)
        copied = self._passthrough.fields(source)
        text = None
        if self._input is not None:
            found, value = lookup(source.fields, self._input)
            text_blob = source.blobs.get(self._input)
            if text_blob is not None and text_blob.type not in IMAGE_BLOB_TYPES:
                try:
                    text = readers.decode_text(text_blob.data)
                except readers.UnreadableBlob as error:
                    raise ExtractionFailed(str(error)) from error
            elif found and isinstance(value, str):
                text = value
        payload = {**copied, "image_property": blob.property}
        if text:
            payload["text"] = text
        return [Draft("image", payload, text=text or None, image=data)]

    def _blob(self, source: Source) -> SourceBlob | None:
        if self._input is not None:
            return source.blobs.get(self._input)
        candidates = [blob for blob in source.blobs.values() if blob.type in TEXT_BLOB_TYPES]
        return candidates[0] if len(candidates) == 1 else None

    def complete(self, drafts: Sequence[Draft]) -> None:
        complete_images([draft for draft in drafts if draft.text or draft.image is not None], self._embedder(),
                        self._index, self._spec.inference_service)


@dataclass(frozen=True)
class VectorField:
    field: str
    name: str
    dimensions: int
    distance: str = "cosine"


class PassthroughExtractor:
    """passthrough_extractor: rows with their own vectors become documents (no model), or one document per object."""

    name = "passthrough_extractor"

    def __init__(self, parameters: Mapping[str, Any], passthrough: FieldPassthrough) -> None:
        self._vector_fields = [_vector_field(spec) for spec in parameters.get("vector_fields") or []]
        names = [spec.name for spec in self._vector_fields]
        if len(set(names)) != len(names):
            raise BadRequest("vector_fields names must be unique", code="invalid_extractor_parameters",
                             details={"names": names})
        self._row_format = parameters.get("row_format")
        self._preserve_metadata = parameters.get("preserve_metadata", True)
        self._passthrough = passthrough
        self.failed_rows = 0

    def vector_indexes(self) -> list[VectorIndexSpec]:
        return [VectorIndexSpec(spec.name, spec.dimensions, spec.distance)  # type: ignore[arg-type]
                for spec in self._vector_fields]

    def drafts(self, source: Source) -> list[Draft]:
        copied = self._passthrough.fields(source)
        if not self._vector_fields:
            payload = {**(dict(source.fields) if self._preserve_metadata else {}), **copied}
            return [Draft("object", payload)]
        blobs = list(source.blobs.values())
        if len(blobs) != 1:
            raise ExtractionFailed(f"passthrough with vector_fields reads one JSONL or parquet blob; the object "
                                   f"has {len(blobs)}")
        blob = blobs[0]
        try:
            form = readers.row_format(blob.data, self._row_format, blob.filename, blob.mime_type)
            if form == "parquet":
                return self._parquet(blob.data, copied)
            return self._rows(readers.jsonl_rows(blob.data), copied)
        except readers.UnreadableBlob as error:
            raise ExtractionFailed(str(error)) from error

    def _rows(self, rows: Any, copied: dict[str, Any]) -> list[Draft]:
        drafts = []
        vector_keys = {spec.field for spec in self._vector_fields}
        for number, row in enumerate(rows):
            vectors = {}
            for spec in self._vector_fields:
                value = row.get(spec.field)
                if not _is_vector(value, spec.dimensions):
                    vectors = None
                    break
                vectors[spec.name] = [float(x) for x in value]
            if vectors is None:
                self.failed_rows += 1
                continue
            payload = {**copied, **{key: value for key, value in row.items() if key not in vector_keys},
                       "row_index": number}
            drafts.append(Draft(f"r{number}", payload, vectors=vectors))
        return drafts

    def _parquet(self, data: bytes, copied: dict[str, Any]) -> list[Draft]:
        import numpy as np

        count, columns = readers.parquet_columns(data)
        missing = [spec.field for spec in self._vector_fields if spec.field not in columns]
        if missing:
            raise ExtractionFailed(f"the parquet file has no column {', '.join(missing)}")
        vectors: dict[str, Any] = {}
        valid = np.ones(count, dtype=bool)
        for spec in self._vector_fields:
            matrix, ok = _vector_matrix(columns[spec.field], spec.dimensions, count)
            vectors[spec.name] = matrix
            valid &= ok
        others = {name: column.to_pylist() for name, column in columns.items()
                  if name not in {spec.field for spec in self._vector_fields}}
        drafts = []
        for number in range(count):
            if not valid[number]:
                self.failed_rows += 1
                continue
            payload = {**copied, **{name: values[number] for name, values in others.items()}, "row_index": number}
            # numpy rows (views into the matrix): the writer turns them into lists a slice at a time
            drafts.append(Draft(f"r{number}", payload, vectors={name: matrix[number]
                                                                for name, matrix in vectors.items()}))
        return drafts

    def complete(self, drafts: Sequence[Draft]) -> None:
        return None  # the rows brought their vectors


def _vector_field(spec: Mapping[str, Any]) -> VectorField:
    try:
        return VectorField(field=spec["field"], name=spec["name"], dimensions=int(spec["dimensions"]),
                           distance=spec.get("distance") or "cosine")
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest(f"each vector_fields entry needs field, name and dimensions ({error})",
                         code="invalid_extractor_parameters", details={"vector_field": dict(spec)}) from error


def _is_vector(value: Any, dimensions: int) -> bool:
    return (isinstance(value, list) and len(value) == dimensions
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value))


def _vector_matrix(column: Any, dimensions: int, count: int) -> tuple[Any, Any]:
    """(count × dimensions float32 matrix, which rows hold a whole finite vector) from an arrow list column."""
    import numpy as np
    import pyarrow as pa

    ok = np.zeros(count, dtype=bool)
    matrix = np.zeros((count, dimensions), dtype=np.float32)
    if pa.types.is_fixed_size_list(column.type) and column.type.list_size == dimensions and column.null_count == 0:
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        matrix = values.reshape(count, dimensions)
        ok = np.isfinite(matrix).all(axis=1)
        return matrix, ok
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
            or pa.types.is_fixed_size_list(column.type)):
        return matrix, ok
    lengths = column.value_lengths().to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype(float), nan=-1)
    whole = lengths == dimensions
    if whole.all() and column.null_count == 0:
        values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        matrix = values.reshape(count, dimensions)
        return matrix, np.isfinite(matrix).all(axis=1)
    for number, value in enumerate(column.to_pylist()):
        if isinstance(value, list) and len(value) == dimensions and all(
                isinstance(x, (int, float)) and x is not None and math.isfinite(x) for x in value):
            matrix[number] = value
            ok[number] = True
    return matrix, ok


class ExtractorUnavailable(BadRequest):
    pass


def build(feature_extractor: Mapping[str, Any], embedder_for: Callable[[str], Embedder],
          index_names: Mapping[str, str] | None = None, model: str | None = None) -> Extractor:
    """The extractor a collection's feature_extractor describes, on `model` (the inference service the collection's
    index was made for; None: the extractor's default). `embedder_for(service)` returns the inference registry's
    embedder (raising InferenceUnavailable with how to enable it). A collection whose extractor cannot run here is
    refused with the reason."""
    name = feature_extractor.get("feature_extractor_name") or feature_extractor.get("name")
    version = feature_extractor.get("version") or "v1"
    parameters = dict(feature_extractor.get("parameters") or feature_extractor.get("params") or {})
    parameters.pop("extractor_type", None)
    passthrough = FieldPassthrough(feature_extractor.get("field_passthrough"),
                                   bool(feature_extractor.get("include_all_source_fields")))
    if name == "passthrough_extractor":
        return PassthroughExtractor(parameters, passthrough)
    spec = catalogue.find(f"{name}_{version}", model) or catalogue.find(f"{name}_{version}")
    if spec is None:
        raise ExtractorUnavailable(f"Feature extractor '{name}' version '{version}' cannot run in this deployment; "
                                   "available: text_extractor v1, multimodal_extractor v1 (text inputs, with "
                                   "Bedrock), passthrough_extractor v1",
                                   code="feature_extractor_unavailable",
                                   details={"feature_extractor_name": name, "version": version})
    if spec.inference_service in MODELS_WITHOUT_WEIGHTS:
        raise ExtractorUnavailable(
            f"{name} needs an image embedding model ({spec.inference_service}) and none ships with openpeek; "
            f"set {IMAGE_MODEL_SETTING} and create the collection again (it then embeds with Titan Multimodal)",
            code="feature_extractor_unavailable",
            details={"feature_extractor_name": name, "setting": IMAGE_MODEL_SETTING})

    def embedder() -> Embedder:
        try:
            found = embedder_for(spec.inference_service)
        except InferenceUnavailable as error:
            raise DependencyUnavailable(f"{name} cannot embed here: {error}") from error
        return getattr(found, "inner", found)  # documents bypass the query cache: they are not queries

    if parameters.get("source_type") not in (None, "text"):
        raise ExtractorUnavailable(f"{name} reads text here; source_type {parameters['source_type']!r} (captions "
                                   "fetched from YouTube) needs network access this deployment does not have",
                                   code="feature_extractor_unavailable",
                                   details={"parameter": "source_type", "value": parameters["source_type"]})
    index = (index_names or {}).get(spec.vector_index_name) or spec.vector_index_name
    if spec.name == "image_extractor":
        return ImageEmbeddingExtractor(spec, embedder, feature_extractor.get("input_mappings"), passthrough,
                                       index_name=index)
    if spec.name == "multimodal_extractor":
        return MultimodalEmbeddingExtractor(spec, embedder, parameters, feature_extractor.get("input_mappings"),
                                            passthrough, index_name=index)
    return TextEmbeddingExtractor(spec, embedder, parameters, feature_extractor.get("input_mappings"), passthrough,
                                  index_name=index)
