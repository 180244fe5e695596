"""The ports the services depend on: protocols only.

Each port is small on purpose: it is the least a service needs, in the shape the AWS service gives it, so that an
embedded adapter can honour the same contract (tests/contract/ runs the contract against every adapter). The values
they exchange are domain vocabulary (openpeek.domain.records, .vectors, .conditions, .events, .inference,
.cluster_jobs); adapters raise openpeek.domain.failures' exceptions, never their SDK's, so services stay ignorant of
which adapter runs them.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Protocol, Sequence, runtime_checkable

from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.conditions import Filter
from openpeek.domain.events import DomainEvent
from openpeek.domain.inference import InferenceService
from openpeek.domain.infrastructure import DedicatedVectorStore
from openpeek.domain.records import Delete, Item, Put
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.transfers import FetchedBlob, StoredUpload, UploadTarget
from openpeek.domain.webhooks import CheckedUrl
from openpeek.domain.vectors import (CollectionInfo, PayloadIndexSpec, ScoredPoint, SearchRequest, VectorIndexSpec,
                                     VectorPoint)


# --------------------------------------------------------------------------------------------------------------------
# Table: the key-value shape DynamoDB gives (a failed condition: openpeek.domain.failures.ConditionFailed)
# --------------------------------------------------------------------------------------------------------------------


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


class VectorStore(Protocol):
    def create_collection(
        self, collection: str, vectors: Sequence[VectorIndexSpec], payload_indexes: Sequence[PayloadIndexSpec] = (),
        *, tier: str = "shared",
    ) -> None:
        """Create the collection with these named vectors and payload indexes. Idempotent when it exists already.
        `tier`: the namespace's infrastructure tier, which sets its shards and replicas on a distributed store."""

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


class VectorPlacements(Protocol):
    """Which store holds a namespace's collection: the deployment's shared one, or the namespace's dedicated Qdrant
    (seed 000's dedicated tiers). The VectorStore the services use routes by it."""

    def store_for(self, target: DedicatedVectorStore | None) -> VectorStore:
        """The store at target (the shared store for None). Failures there raise DependencyUnavailable."""

    def place(self, collection: str, target: DedicatedVectorStore | None) -> None:
        """From now on this collection's operations go to target (its namespace was created or re-pointed)."""

    def forget(self, collection: str) -> None:
        """The collection's namespace is gone: its placement goes, and a dedicated client nothing else uses closes."""


# --------------------------------------------------------------------------------------------------------------------
# BlobStore: bytes by key (S3 or a folder)
# --------------------------------------------------------------------------------------------------------------------


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


@runtime_checkable
class EventBus(Protocol):
    def publish(self, event: DomainEvent) -> None: ...


# --------------------------------------------------------------------------------------------------------------------
# InferenceRegistry: name → embedder, with its dimension and modality
# --------------------------------------------------------------------------------------------------------------------


class Embedder(Protocol):
    service: InferenceService

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of service.dimension floats per text, in order. Provider failures raise
        DependencyUnavailable (the API answers 502/503)."""


class ImageEmbedder(Embedder, Protocol):
    """An embedder whose space holds images too (Titan Multimodal): image documents, and text queries that find
    them."""

    def embed_images(self, images: Sequence[bytes]) -> list[list[float]]:
        """One vector per image (PNG or JPEG bytes), in order; failures raise DependencyUnavailable."""

    def embed_text_and_image(self, text: str, image: bytes) -> list[float]:
        """One vector for a text and an image together."""


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

    def cluster_documents(self, columns: dict[str, list[Any]]) -> bytes:
        """A finished run's export file (cluster_documents.parquet) holding these columns."""


# --------------------------------------------------------------------------------------------------------------------
# Orchestrator: runs a cluster job's steps (prepare → engine → finalize, mark-failed on error) somewhere else
# --------------------------------------------------------------------------------------------------------------------


class Orchestrator(Protocol):
    driver_process_id: str | None
    """Names this server process when it drives the jobs' steps itself (embedded: a new id at every start). Each task
    records it (additional_data "worker"), so a task recorded with another id was orphaned by a restart. None where
    the steps are driven elsewhere and outlive any process (Step Functions)."""

    def start(self, job: ClusterJob) -> None:
        """Start the job's steps and return at once. Raises DependencyUnavailable when it could not be started, and
        ComputeUnavailable when the compute the job asks for cannot be used from here."""

    def cancel(self, job: ClusterJob) -> None:
        """Stop the job if it still runs (best effort; the task is already CANCELED)."""

    def run_now(self, job: ClusterJob) -> bool:
        """Run a small job to its end before returning, where this runtime can (True); False when it was started
        asynchronously instead."""


# --------------------------------------------------------------------------------------------------------------------
# Metrics: business numbers out of the services (CloudWatch EMF in both runtimes)
# --------------------------------------------------------------------------------------------------------------------


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...

    def milliseconds(self, name: str, value: float) -> None: ...


# --------------------------------------------------------------------------------------------------------------------
# LlmClient: one JSON-answering prompt to a language model (cluster labels)
# --------------------------------------------------------------------------------------------------------------------


class LlmClient(Protocol):
    provider: str
    usable: bool

    def complete_json(
        self, prompt: str, *, model: str, parameters: dict[str, Any] | None = None, schema: dict[str, Any] | None = None
    ) -> Any:
        """The parsed JSON the model answered. Every failure (no key, HTTP error, timeout, an answer that is not
        JSON) raises DependencyUnavailable with a short message that never carries the API key."""


# --------------------------------------------------------------------------------------------------------------------
# Authorizer: document-level authorization (OpenFGA relations) for the retrievers' pull modes
# --------------------------------------------------------------------------------------------------------------------


class Authorizer(Protocol):
    def list_objects(self, *, user: str, relation: str, object_type: str) -> list[str]:
        """The ids of every object of object_type on which user has relation."""

    def check_many(self, *, user: str, relation: str, object_ids: Iterable[str], object_type: str) -> dict[str, bool]:
        """Whether user has relation on each of object_ids."""


class AuthorizerFactory(Protocol):
    def __call__(self, config: dict[str, Any], token: str | None) -> Authorizer:
        """An Authorizer for a namespace's authorization config (api_url, store_id, model_id) and API token."""


# --------------------------------------------------------------------------------------------------------------------
# Managed content: fetching a blob from a URL, and the URL a client PUTs an upload to
# --------------------------------------------------------------------------------------------------------------------


class BlobFetcher(Protocol):
    def fetch(self, url: str, *, max_bytes: int) -> FetchedBlob:
        """The bytes at an https URL, under the webhook SSRF rules (public addresses only when deployed). A refused,
        unreachable or failing URL, or a body over max_bytes, raises the domain's BadRequest naming why."""


class UploadUrls(Protocol):
    def put_url(self, target: UploadTarget, *, base_url: str) -> str:
        """A URL the client PUTs the file to, good until target.expires_at. `base_url` is where this API answers
        (used where the URL points back at the API itself)."""

    def stored(self, target: UploadTarget) -> StoredUpload | None:
        """What was PUT to the target's key (None when nothing was)."""

    def download_url(self, blob_key: str, content_type: str, *, expires_at: int, base_url: str) -> str:
        """A URL that GETs one blob until expires_at (epoch seconds), without the API key."""

# --------------------------------------------------------------------------------------------------------------------
# ColdStore: a cold collection's vectors outside the vector store (S3 Vectors, or parquet files in the blob store)
# --------------------------------------------------------------------------------------------------------------------


class ColdStore(Protocol):
    def write_part(self, target: ColdCollection, part: int, points: Sequence[VectorPoint]) -> None:
        """Store one page of points as part `part`. Idempotent: writing a part again replaces it, so a resumed copy
        never duplicates a point."""

    def count(self, target: ColdCollection) -> int:
        """How many points the collection has in the cold store (0 when it has none)."""

    def read_parts(self, target: ColdCollection, *, from_part: int = 0,
                   with_vectors: bool = True) -> Iterator[tuple[int, list[VectorPoint]]]:
        """(part, points with their payload, and their vectors unless `with_vectors` is false) in part order, from
        `from_part` on. Without vectors the store reads only ids and payloads (a documents listing, a get)."""

    def get(self, target: ColdCollection, document_ids: Sequence[str], *,
            with_vectors: bool = False) -> list[VectorPoint]:
        """The named documents the collection holds (in the order asked, missing ones left out), read through the
        store's id index: only the parts (S3 Vectors: the keys) that hold them, never a scan."""

    def select(self, target: ColdCollection, condition: Filter | None) -> Iterator["ColdSelection"]:
        """The documents that pass `condition` (every document when None), one part at a time in read_parts' order,
        each part's in its stored order. What it costs is on each selection (`decoded`): the embedded store decides
        exact values on its terms index and decodes only the payloads it leaves undecided (a part the index alone
        rules out is left out); S3 Vectors, whose listing cannot filter, decodes each listed document. A part whose
        decoded documents all fail gives an empty selection, so that its cost is still counted."""

    def query(self, target: ColdCollection, request: SearchRequest) -> list[ScoredPoint]:
        """Nearest neighbours of request.vector on request.vector_name among the collection's points that pass
        request.filter, best first, scored as the vector store scores them (cosine: similarity, dot: dot product,
        euclidean: distance, smaller first). Raises ColdStoreUnavailable when the store cannot answer."""

    def drop(self, target: ColdCollection) -> None:
        """Remove the collection's cold copy; a missing one is a no-op."""


class ColdSelection(Protocol):
    """One part's documents that pass a filter: how many (`count`), the payloads decoded so far to know that and to
    read them (`decoded`), and a reader of the passing documents from the start-th to before the stop-th."""

    count: int
    decoded: int

    def read(self, start: int, stop: int, *, with_vectors: bool = False) -> list[VectorPoint]:
        """Those passing documents with their payloads (and vectors), decoding only those not decoded already."""

# --------------------------------------------------------------------------------------------------------------------
# WebhookSender: one signed POST of a webhook delivery to an address the SSRF rules checked
# --------------------------------------------------------------------------------------------------------------------


class WebhookSender(Protocol):
    def post(self, checked: CheckedUrl, body: bytes, headers: dict[str, str], *,
             timeout_s: float) -> tuple[int | None, str | None]:
        """(status code, None) when the target answered, (None, why) when it could not be reached in time. The
        connection goes to `checked.addresses[0]` (the host name kept for Host and TLS), never to a new resolution,
        and redirects are not followed."""

    def close(self) -> None:
        """Release the connections."""

# --------------------------------------------------------------------------------------------------------------------
# SecretStore: secrets kept apart from the table (Secrets Manager deployed, an encrypted folder embedded)
# --------------------------------------------------------------------------------------------------------------------


class SecretStore(Protocol):
    def put(self, name: str, revision: str, value: str) -> None:
        """Store `value` as revision `revision` of the secret `name` (created on first put); other revisions stay
        readable. Raises DependencyUnavailable when the store cannot be written."""

    def get(self, name: str, revision: str) -> str:
        """That revision's value. Raises SecretNotFound when it is not there, DependencyUnavailable when the store
        cannot be read."""

    def delete_revision(self, name: str, revision: str) -> None:
        """Forget one revision no record names any more (a store that ages old revisions out itself may keep it)."""

    def delete(self, name: str) -> None:
        """Remove the secret with all its revisions; a missing one is a no-op."""
