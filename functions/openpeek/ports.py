"""The ports the services depend on.

Each port is small on purpose: it is the least a service needs, in the shape the AWS service gives it, so that an
embedded adapter can honour the same contract (tests/contract/ runs the contract against every adapter).
Adapters raise the exceptions defined here, never their SDK's, so services stay ignorant of which adapter runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Protocol, Sequence, Union, runtime_checkable

# --------------------------------------------------------------------------------------------------------------------
# Failures every adapter reports in the same words
# --------------------------------------------------------------------------------------------------------------------


class ConditionFailed(Exception):
    """A conditional write did not hold (item exists / is absent / has another version). Nothing was written."""


class DependencyUnavailable(Exception):
    """The backing store could not be reached or refused the call for reasons of its own (maps to 502/503)."""


class CollectionNotFound(Exception):
    """The vector collection does not exist."""


# --------------------------------------------------------------------------------------------------------------------
# Table: the key-value shape DynamoDB gives
# --------------------------------------------------------------------------------------------------------------------

Item = dict[str, Any]
"""An item: `pk` and `sk` strings plus JSON-compatible attributes (str, int, float, bool, None, list, dict).

`version` (int) carries the optimistic-concurrency counter of mutable items; `expires_at` (epoch seconds, int) is the
table's TTL attribute. Adapters return items exactly as they were put (same types, same nesting)."""


@dataclass(frozen=True)
class Put:
    """Write a whole item. `if_absent`: only when no item has this key. `if_version`: only when the stored item's
    `version` equals this number (the caller puts the incremented version in `item`)."""

    item: Item
    if_absent: bool = False
    if_version: int | None = None


@dataclass(frozen=True)
class Delete:
    """Remove an item. `if_exists`: fail when there is none. `if_version`: only when the stored version matches."""

    pk: str
    sk: str
    if_exists: bool = False
    if_version: int | None = None


class Table(Protocol):
    def get(self, pk: str, sk: str) -> Item | None: ...

    def put(self, item: Item, *, if_absent: bool = False, if_version: int | None = None) -> None:
        """Raises ConditionFailed when a condition does not hold."""

    def delete(self, pk: str, sk: str, *, if_exists: bool = False, if_version: int | None = None) -> None:
        """Deleting a missing item is a no-op unless `if_exists`. Raises ConditionFailed when a condition fails."""

    def query(
        self,
        pk: str,
        sk_prefix: str = "",
        *,
        limit: int | None = None,
        start_after: str | None = None,
        descending: bool = False,
    ) -> list[Item]:
        """Items of one partition whose sk starts with `sk_prefix`, ordered by sk (bytewise), after `start_after`."""

    def transact_write(self, operations: Sequence[Put | Delete]) -> None:
        """All or nothing (at most 100 operations, each key at most once). Raises ConditionFailed if any condition
        fails, and then nothing was written."""

    def query_index(self, index: str, pk: str, *, sk_below: str | None = None, limit: int | None = None) -> list[Item]:
        """Items of a secondary index (`gsi1`: keyed by the string attributes `gsi1pk`/`gsi1sk`) whose index key is
        `pk` and whose index sort key is below `sk_below`, ordered by that sort key. Items without both index keys are
        not in the index. Eventually consistent on DynamoDB: re-read an item by its key before acting on it."""


# --------------------------------------------------------------------------------------------------------------------
# VectorStore: a collection per namespace, named vectors per vector index
# --------------------------------------------------------------------------------------------------------------------

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


# -- filters: a neutral condition tree; the services translate the API's filter language into it -----------------


@dataclass(frozen=True)
class MatchValue:
    """key == value (keyword, integer, bool, uuid). For an array field: any element equals value."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """key is one of values."""

    key: str
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class MatchText:
    """Full-text match on a text-indexed field (needs a text payload index on Qdrant)."""

    key: str
    text: str


@dataclass(frozen=True)
class Range:
    """Numeric range on key; None bounds are open."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class DatetimeRange:
    """Range on an RFC 3339 datetime field; bounds are RFC 3339 strings."""

    key: str
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None


@dataclass(frozen=True)
class IsNull:
    key: str


@dataclass(frozen=True)
class IsEmpty:
    key: str


@dataclass(frozen=True)
class HasIds:
    """The point is one of these documents (document_ids, as given to upsert)."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    """must: all hold; should: at least one holds (when non-empty); must_not: none holds. Nests."""

    must: tuple["Condition", ...] = ()
    should: tuple["Condition", ...] = ()
    must_not: tuple["Condition", ...] = ()


Condition = Union[MatchValue, MatchAny, MatchText, Range, DatetimeRange, IsNull, IsEmpty, HasIds, Filter]


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


@dataclass
class ScoredPoint:
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


class VectorStore(Protocol):
    def create_collection(
        self, collection: str, vectors: Sequence[VectorIndexSpec], payload_indexes: Sequence[PayloadIndexSpec] = ()
    ) -> None:
        """Create the collection with these named vectors and payload indexes. Idempotent when it exists already."""

    def drop_collection(self, collection: str) -> None:
        """Remove the collection and all its points. A missing collection is a no-op."""

    def collection_exists(self, collection: str) -> bool: ...

    def add_vector_indexes(self, collection: str, vectors: Sequence[VectorIndexSpec]) -> list[str]:
        """Add the named vectors the collection lacks, keeping every point (their new vectors are empty).
        Returns the names that were added; those already present are left alone."""

    def create_payload_index(self, collection: str, index: PayloadIndexSpec) -> None:
        """Create (or replace with new params) the payload index on index.field_name."""

    def drop_payload_index(self, collection: str, field_name: str) -> None:
        """A missing index is a no-op."""

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        """Insert or replace whole points (vectors and payload)."""

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Missing ids are ignored."""

    def delete_by_filter(self, collection: str, filter: Filter) -> None: ...

    def retrieve(self, collection: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        """The points that exist among ids, in the order of ids."""

    def query(self, collection: str, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        """One result list per request, best first."""

    def scroll(
        self,
        collection: str,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
        payload_fields: Sequence[str] | None = None,
    ) -> tuple[list[VectorPoint], str | None]:
        """A page of points in a stable order and the opaque offset of the next page (None at the end).
        `payload_fields`: only these top-level payload keys (and document_id) come back; None means all."""

    def count(self, collection: str, filter: Filter | None = None) -> int:
        """Exact count of points matching filter."""

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Merge these keys into the payload of each point."""

    def info(self, collection: str) -> CollectionInfo:
        """Raises CollectionNotFound when it does not exist."""


# --------------------------------------------------------------------------------------------------------------------
# BlobStore: bytes by key (S3 or a folder)
# --------------------------------------------------------------------------------------------------------------------


class BlobNotFound(Exception):
    pass


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, key: str) -> bytes:
        """Raises BlobNotFound."""

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]:
        """Every key under prefix, sorted."""

    def delete(self, key: str) -> None:
        """A missing key is a no-op."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under prefix; returns how many were deleted."""

    def uri(self, key: str) -> str:
        """Where another service finds the key (s3://bucket/key; file:///path embedded), e.g. a processing job."""


# --------------------------------------------------------------------------------------------------------------------
# EventBus: domain events out of the services
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainEvent:
    type: str  # e.g. "namespace.created"
    org_id: str
    namespace_id: str | None
    data: dict[str, Any]
    occurred_at: str  # RFC 3339


@runtime_checkable
class EventBus(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


# --------------------------------------------------------------------------------------------------------------------
# InferenceRegistry: name → embedder, with its dimension and modality
# --------------------------------------------------------------------------------------------------------------------

Modality = Literal["text", "image", "multimodal"]


@dataclass(frozen=True)
class InferenceService:
    """A registered embedding service. `usable` says whether this deployment can call it (weights installed,
    credentials configured); `how_to_enable` tells an operator what is missing when it is not."""

    name: str
    dimension: int
    modality: Modality
    provider: str  # "local", "bedrock", "openai"
    description: str = ""
    usable: bool = True
    how_to_enable: str | None = None


class InferenceUnavailable(Exception):
    """The service is unknown or cannot be used here. `how_to_enable` is shown to the caller (400)."""

    def __init__(self, name: str, how_to_enable: str) -> None:
        super().__init__(f"inference service '{name}' is not available: {how_to_enable}")
        self.name = name
        self.how_to_enable = how_to_enable


class Embedder(Protocol):
    service: InferenceService

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of service.dimension floats per text, in order. Provider failures raise
        DependencyUnavailable (the API answers 502/503)."""


class InferenceRegistry(Protocol):
    def services(self) -> list[InferenceService]:
        """Every registered service, usable here or not."""

    def embedder(self, name: str) -> Embedder:
        """Raises InferenceUnavailable for an unknown or unusable service."""


# --------------------------------------------------------------------------------------------------------------------
# JobFiles: the clustering job's file format (the prepare step writes vectors, the engine writes assignments)
# --------------------------------------------------------------------------------------------------------------------


class VectorWriter(Protocol):
    def add(self, document_id: str, vectors: Sequence[Sequence[float]], text: str | None) -> bytes | None:
        """Buffer one row; returns a finished file part when the buffer is full."""

    def flush(self) -> bytes | None:
        """The buffered rows as a file part, or None when there are none."""


class JobFiles(Protocol):
    def vector_writer(self, feature_count: int) -> VectorWriter: ...

    def read_assignments(self, data: bytes) -> dict[str, list[Any]]:
        """Columns document_id, cluster, similarity, x, y, z of the engine's assignments file."""


# --------------------------------------------------------------------------------------------------------------------
# Orchestrator: runs a cluster job's steps (prepare → engine → finalize, mark-failed on error) somewhere else
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterJob:
    """What the steps need to find everything else. `kind` is "cluster" (an execution) or "layout" (the deferred map
    of a completed execution)."""

    org_id: str
    namespace_id: str
    cluster_id: str
    run_id: str
    task_id: str
    kind: str = "cluster"

    def state(self) -> dict[str, str]:
        """The state machine's input (and the step handlers' event)."""
        return {"org_id": self.org_id, "namespace_id": self.namespace_id, "cluster_id": self.cluster_id,
                "run_id": self.run_id, "task_id": self.task_id, "kind": self.kind}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ClusterJob":
        return cls(**{name: state[name] for name in ("org_id", "namespace_id", "cluster_id", "run_id", "task_id")},
                   kind=state.get("kind", "cluster"))


class Orchestrator(Protocol):
    worker_id: str | None
    """Names the process that runs jobs when that is this process (embedded): a task recorded with another worker
    id was orphaned by a restart. None where jobs run elsewhere (Step Functions)."""

    def start(self, job: ClusterJob) -> None:
        """Start the job's steps and return at once. Raises DependencyUnavailable when it could not be started."""

    def cancel(self, job: ClusterJob) -> None:
        """Stop the job if it still runs (best effort; the task is already CANCELED)."""

    def run_now(self, job: ClusterJob) -> bool:
        """Run a small job to its end before returning, where this runtime can (True); False when it was started
        asynchronously instead."""


# --------------------------------------------------------------------------------------------------------------------
# Managed content: fetching a blob from a URL, and the URL a client PUTs an upload to
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedBlob:
    data: bytes
    content_type: str | None
    filename: str | None


class BlobFetcher(Protocol):
    def fetch(self, url: str, *, max_bytes: int) -> FetchedBlob:
        """The bytes at an https URL, under the webhook SSRF rules (public addresses only when deployed). A refused,
        unreachable or failing URL, or a body over max_bytes, raises the domain's BadRequest naming why."""


@dataclass(frozen=True)
class UploadTarget:
    """Where one upload's bytes go: the blob key, the most bytes it may carry, until when (epoch seconds)."""

    upload_id: str
    org_id: str
    namespace_id: str
    bucket_id: str
    blob_key: str
    content_type: str
    max_bytes: int
    expires_at: int


@dataclass(frozen=True)
class StoredUpload:
    size_bytes: int
    etag: str | None


class UploadUrls(Protocol):
    def put_url(self, target: UploadTarget, *, base_url: str) -> str:
        """A URL the client PUTs the file to, good until target.expires_at. `base_url` is where this API answers
        (used where the URL points back at the API itself)."""

    def stored(self, target: UploadTarget) -> StoredUpload | None:
        """What was PUT to the target's key (None when nothing was)."""


# --------------------------------------------------------------------------------------------------------------------
# ColdStore: a cold collection's vectors outside the vector store (S3 Vectors, or parquet files in the blob store)
# --------------------------------------------------------------------------------------------------------------------


class ColdStoreUnavailable(DependencyUnavailable):
    """The cold store could not answer (a query falls back to the hot tier with a warning)."""


@dataclass(frozen=True)
class ColdCollection:
    """Where one collection's vectors sit in the cold store: its namespace, its id, and the named vectors it has
    (the cold store keeps one index per named vector, with the vector index's metric)."""

    namespace_id: str
    collection_id: str
    vectors: tuple[VectorIndexSpec, ...]


class ColdStore(Protocol):
    def write_part(self, target: ColdCollection, part: int, points: Sequence[VectorPoint]) -> None:
        """Store one page of points as part `part`. Idempotent: writing a part again replaces it, so a resumed copy
        never duplicates a point."""

    def count(self, target: ColdCollection) -> int:
        """How many points the collection has in the cold store (0 when it has none)."""

    def read_parts(self, target: ColdCollection, *, from_part: int = 0) -> Iterator[tuple[int, list[VectorPoint]]]:
        """(part, points with their vectors and payload) in part order, from `from_part` on."""

    def query(self, target: ColdCollection, request: SearchRequest) -> list[ScoredPoint]:
        """Nearest neighbours of request.vector on request.vector_name among the collection's points that pass
        request.filter, best first, scored as the vector store scores them (cosine: similarity, dot: dot product,
        euclidean: distance, smaller first). Raises ColdStoreUnavailable when the store cannot answer."""

    def drop(self, target: ColdCollection) -> None:
        """Remove the collection's cold copy; a missing one is a no-op."""
