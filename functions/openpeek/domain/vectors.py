"""Vectors and points as the services and the vector store exchange them: named vector indexes, payload indexes,
points (a point is a document), searches and their scored results, a collection's live state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from openpeek.domain.conditions import Filter

Metric = Literal["cosine", "dot", "euclidean"]
PayloadType = Literal["keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid"]


@dataclass(frozen=True)
class VectorIndexSpec:
    """One named vector of a collection. Sparse vectors have no dimension (0) and no metric (dot product)."""

    name: str
    dimension: int
    metric: Metric = "cosine"
    sparse: bool = False


@dataclass(frozen=True)
class PayloadIndexSpec:
    """A payload index: the field (dot notation for nested), its type, and the type's parameters (seed 000's
    TextIndexParams, KeywordIndexParams{is_tenant}, IntegerIndexParams{lookup, range}, ...), without the `type` key."""

    field_name: str
    type: PayloadType
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SparseVector:
    indices: tuple[int, ...]
    values: tuple[float, ...]


VectorValue = Union[list[float], SparseVector]


@dataclass
class VectorPoint:
    """A point is a document: `id` is the caller's document_id (adapters map it to a uuid5 point id and give it back
    unchanged), `vectors` by index name, `payload` as stored."""

    id: str
    vectors: dict[str, VectorValue] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRequest:
    """One nearest-neighbour search on one named vector."""

    vector_name: str
    vector: VectorValue
    limit: int = 10
    filter: Filter | None = None
    score_threshold: float | None = None
    with_payload: bool = True
    with_vectors: bool = False
    # How many of the best hits the caller reads (None: all). Every hit up to `limit` is still searched, so the order
    # and the first hits are those of the full search; a store may leave the rest unconverted (each hit's payload
    # and vectors become Python objects one by one).
    hits_used: int | None = None
    # With with_vectors: dense vectors come back as float32 numpy rows (1-d arrays, the same values as the lists)
    # instead of lists of Python floats, for a caller that computes on them (mmr, cluster); sparse vectors are
    # SparseVector either way. Every adapter honours it; an embedded store may then read them from its own float32
    # copy instead of converting the store's lists.
    vectors_as_arrays: bool = False
    # With with_payload: only these top-level payload keys (and the document id) come back; None: the whole payload.
    # A retriever whose later stages read a few fields fetches only those for its hundreds of candidates and the
    # whole payloads for the page it returns (services/retrieval.py). A store may return more than asked, never less.
    payload_fields: tuple[str, ...] | None = None


@dataclass
class ScoredPoint:
    """`vectors`: by index name; a dense one is a list of floats, or a float32 numpy row where the request asked for
    vectors_as_arrays."""

    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, VectorValue] = field(default_factory=dict)


@dataclass
class CollectionInfo:
    """Live state of a collection: what seed 000 calls qdrant_status, plus the schema actually in the store."""

    status: Literal["green", "yellow", "red", "grey"]
    points_count: int
    indexed_vectors_count: int
    segments_count: int
    vectors: dict[str, VectorIndexSpec]
    payload_indexes: dict[str, PayloadType]
    index: dict[str, Any] | None = None
    """The embedded store's index builds (state, builds, last_build_s, last_error, quantization); None where the
    store indexes by itself (Qdrant server)."""
