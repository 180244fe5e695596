"""VectorStore on a Qdrant server (the aws runtime), through qdrant-client over REST.

Each logical collection (`ns_<id>`) is an alias of a physical collection `<name>__v<N>`. The alias is what lets
`add_vector_indexes` rebuild a collection under a new schema and switch to it atomically, without the name ever
pointing at a half-filled collection. Tests pass `QdrantClient(location=":memory:")`, qdrant-client's in-process
engine, which behaves like the server except that it keeps no payload indexes (see `_local_indexes`).
"""

from __future__ import annotations

import ipaddress
import re
import threading
from contextlib import contextmanager, nullcontext, suppress
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from qdrant_client.local.qdrant_local import QdrantLocal

from openpeek.adapters.qdrant.mapping import (
    COPY_BATCH,
    DOCUMENT_ID_KEY,
    METRIC_BY_QDRANT_DISTANCE,
    SPARSE_METRIC,
    FilterTranslator,
    check_payload_merge,
    check_vector_specs,
    dense_as_arrays,
    document_id_of,
    index_params,
    ordered_unique,
    payload_selection,
    point_id,
    scroll_offset,
    stored_payload,
)
from openpeek.domain.conditions import DatetimeRange, Filter, Range
from openpeek.domain.errors import BadRequest
from openpeek.domain.failures import CollectionNotFound, DependencyUnavailable
from openpeek.domain.infrastructure import forbidden_vector_store_address
from openpeek.domain.vectors import (CollectionInfo, PayloadIndexSpec, PayloadType, ScoredPoint, SearchRequest,
                                     SparseVector, VectorIndexSpec, VectorPoint, VectorValue)
from openpeek.domain.vector_placement import placement_for

_DISTANCE = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "euclidean": models.Distance.EUCLID}
_TOKENIZER = {
    "word": models.TokenizerType.WORD,
    "whitespace": models.TokenizerType.WHITESPACE,
    "prefix": models.TokenizerType.PREFIX,
    "multilingual": models.TokenizerType.MULTILINGUAL,
}
_LOCAL_NOT_FOUND = re.compile(r"^Collection .* not found$")


class _Conditions:
    """qdrant-client's filter model, for mapping.FilterTranslator."""

    def match_value(self, key: str, value: str | int | bool) -> models.Condition:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def match_any(self, key: str, values: list[str] | list[int]) -> models.Condition:
        return models.FieldCondition(key=key, match=models.MatchAny(any=values))

    def match_text(self, key: str, text: str) -> models.Condition:
        return models.FieldCondition(key=key, match=models.MatchText(text=text))

    def range(self, c: Range) -> models.Condition:
        return models.FieldCondition(key=c.key, range=models.Range(gt=c.gt, gte=c.gte, lt=c.lt, lte=c.lte))

    def datetime_range(self, c: DatetimeRange) -> models.Condition:
        return models.FieldCondition(
            key=c.key, range=models.DatetimeRange(gt=c.gt, gte=c.gte, lt=c.lt, lte=c.lte)
        )

    def is_null(self, key: str) -> models.Condition:
        return models.IsNullCondition(is_null=models.PayloadField(key=key))

    def is_empty(self, key: str) -> models.Condition:
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=key))

    def has_ids(self, point_ids: list[str]) -> models.Condition:
        return models.HasIdCondition(has_id=point_ids)

    def filter(self, must: Any, should: Any, must_not: Any) -> models.Filter:
        return models.Filter(must=must, should=should, must_not=must_not)


_FILTERS: FilterTranslator[Any] = FilterTranslator(_Conditions())


def _filter(f: Filter | None) -> models.Filter | None:
    return None if f is None else _FILTERS.filter(f)


def _has_ids(ids: Sequence[str]) -> models.Filter:
    # Selecting by filter, not by id list, makes missing ids a no-op (an id list makes Qdrant answer 404).
    return models.Filter(must=[models.HasIdCondition(has_id=[point_id(i) for i in ids])])


def _to_vector(value: VectorValue) -> Any:
    if isinstance(value, SparseVector):
        return models.SparseVector(indices=list(value.indices), values=[float(v) for v in value.values])
    return [float(v) for v in value]


def _from_vectors(stored: Any) -> dict[str, VectorValue]:
    if not stored:
        return {}
    if not isinstance(stored, dict):  # an unnamed default vector, from a collection this adapter did not create
        stored = {"": stored}
    out: dict[str, VectorValue] = {}
    for name, value in stored.items():
        if isinstance(value, models.SparseVector):
            out[name] = SparseVector(tuple(value.indices), tuple(value.values))
        else:
            out[name] = list(value)
    return out


def _schema_params(spec: PayloadIndexSpec) -> models.PayloadSchemaParams:
    p = index_params(spec)
    t = spec.type
    if t == "keyword":
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, **p)
    if t == "integer":
        return models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, **p)
    if t == "float":
        return models.FloatIndexParams(type=models.FloatIndexType.FLOAT)
    if t == "bool":
        return models.BoolIndexParams(type=models.BoolIndexType.BOOL)
    if t == "geo":
        return models.GeoIndexParams(type=models.GeoIndexType.GEO)
    if t == "datetime":
        return models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME)
    if t == "uuid":
        return models.UuidIndexParams(type=models.UuidIndexType.UUID, **p)
    if "tokenizer" in p:
        p["tokenizer"] = _TOKENIZER[p["tokenizer"]]
    return models.TextIndexParams(type=models.TextIndexType.TEXT, **p)


class QdrantServerStore:
    """VectorStore over qdrant-client; the same code serves a remote server and the in-process `:memory:` engine."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        # qdrant-client's local engine (":memory:" or a path) accepts payload indexes but keeps none of them, so
        # info() could not show them. In that mode only, the declared indexes are remembered here, per instance,
        # keyed by logical collection name; against a server they are always read back from Qdrant.
        self._local = isinstance(getattr(client, "_client", None), QdrantLocal)
        self._local_indexes: dict[str, dict[str, PayloadType]] = {}
        # The local engine is plain Python without locks; the FastAPI app calls from its thread pool.
        self._local_lock = threading.RLock()

    @classmethod
    def connect(cls, url: str, api_key: str | None, timeout: float = 10) -> "QdrantServerStore":
        """A store on the server at url (REST). The timeout bounds every request, so a dead server fails fast."""
        # No version probe at construction: it would cost a cold-started Lambda a request before its first call.
        client = QdrantClient(
            url=url, api_key=api_key, timeout=timeout, check_compatibility=False  # type: ignore[arg-type]
        )
        return cls(client)

    @classmethod
    def connect_dedicated(cls, url: str, api_key: str | None, *, resolver: Callable[[str, int], list[str]],
                          private_allowed: Callable[[str], bool] = lambda host: True,
                          timeout: float = 10) -> "QdrantServerStore":
        """A store on a namespace's own Qdrant (a dedicated tier). Its host must resolve, and to no address that is
        never a vector store (link-local: cloud metadata; multicast; unspecified); a loopback or private address only
        where `private_allowed(host)` (the operator's list, deployed). Raises DependencyUnavailable when the name
        does not resolve, BadRequest when it resolves to a refused address."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = list(resolver(host, parts.port or (443 if parts.scheme == "https" else 80)))
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise DependencyUnavailable(f"qdrant host '{host}' does not resolve")
        for address in addresses:
            reason = forbidden_vector_store_address(address)
            if reason is None and not _public(address) and not private_allowed(host):
                reason = "private"
            if reason:
                raise BadRequest(f"infrastructure.qdrant_url host '{host}' resolves to a {reason} address, which is "
                                 "never a vector store", code="invalid_infrastructure",
                                 details={"field": "qdrant_url", "reason": reason})
        return cls.connect(url, api_key, timeout=timeout)

    @classmethod
    def in_memory(cls) -> "QdrantServerStore":
        """qdrant-client's in-process local mode: the server's API with no server (tests, OPENPEEK_QDRANT_URL=:memory:)."""
        return cls(QdrantClient(location=":memory:"))

    def close(self) -> None:
        """Release the client's connections (runtime.Services.close calls this at shutdown)."""
        self._client.close()

    # -- collections ---------------------------------------------------------------------------------------------

    def create_collection(
        self, collection: str, vectors: Sequence[VectorIndexSpec], payload_indexes: Sequence[PayloadIndexSpec] = (),
        *, tier: str = "shared",
    ) -> None:
        """On a distributed Qdrant, with the shard and replica counts of the namespace's tier (domain/vector_placement)."""
        check_vector_specs(vectors)
        schemas = [(ix.field_name, ix.type, _schema_params(ix)) for ix in payload_indexes]
        with self._call(collection):
            if self._resolve(collection) is not None:
                return
            dense, sparse = self._vector_config(vectors)
            physical = self._next_physical(collection)
            self._client.create_collection(physical, vectors_config=dense, sparse_vectors_config=sparse,
                                           **self._placement(tier))
            if self._local:
                self._local_indexes[collection] = {name: type_ for name, type_, _ in schemas}
            else:
                for name, _, schema in schemas:
                    self._client.create_payload_index(physical, name, field_schema=schema, wait=True)
            # The alias comes last: until it exists the collection is not visible, so a crash leaves no half-made one.
            self._client.update_collection_aliases(
                change_aliases_operations=[
                    models.CreateAliasOperation(
                        create_alias=models.CreateAlias(collection_name=physical, alias_name=collection)
                    )
                ]
            )

    def _cluster_nodes(self) -> int:
        """Peers in the server's cluster (1 when distributed mode is off, and in the local engine)."""
        if self._local:
            return 1
        status = self._client.cluster_status()
        peers = getattr(status, "peers", None) or {}
        return max(1, len(peers)) if getattr(status, "status", "disabled") == "enabled" else 1

    def _placement(self, tier: str) -> dict[str, int]:
        """create_collection's shard arguments for the tier on this cluster (none on a single node: the defaults)."""
        nodes = self._cluster_nodes()
        if nodes <= 1:
            return {}
        placement = placement_for(tier, nodes)
        return {"shard_number": placement.shard_number, "replication_factor": placement.replication_factor,
                "write_consistency_factor": placement.write_consistency_factor}

    def _same_placement(self, info: Any) -> dict[str, int]:
        """The shard arguments a rebuilt collection keeps from the one it replaces."""
        if self._local:
            return {}
        params = info.config.params
        return {name: getattr(params, name) for name in ("shard_number", "replication_factor",
                                                          "write_consistency_factor")
                if getattr(params, name, None) is not None}

    def drop_collection(self, collection: str) -> None:
        with self._call(collection):
            aliases = self._aliases()
            if collection in aliases:
                self._client.update_collection_aliases(
                    change_aliases_operations=[
                        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection))
                    ]
                )
            # Leftovers of an interrupted create or migration (unaliased `__vN`) go with the collection.
            for name in self._physical_names(collection):
                self._client.delete_collection(name)
            self._local_indexes.pop(collection, None)

    def collection_exists(self, collection: str) -> bool:
        with self._call(collection):
            return self._resolve(collection) is not None

    def add_vector_indexes(self, collection: str, vectors: Sequence[VectorIndexSpec]) -> list[str]:
        """Servers that can add a named vector in place (PUT /collections/{name}/vectors/{vector}: Qdrant 1.18+,
        qdrant/qdrant#8605; the CDK stack pins 1.19) do so, keeping every point and every concurrent write. An older
        server gets a rebuild: a new physical collection with the union schema receives a copy of every point, the
        alias moves to it in one atomic call, and only then is the old one deleted. A failure before the switch leaves
        the old collection as it was (the partial copy is deleted at once, or by drop_collection after a crash).
        Writes made to the old collection while that copy runs are not carried over."""
        check_vector_specs(vectors)
        with self._call(collection):
            source = self._require(collection)
            info = self._client.get_collection(source)
            dense = dict(self._dense_params(info))
            sparse = dict(info.config.params.sparse_vectors or {})
            added = [v for v in vectors if v.name not in dense and v.name not in sparse]
            if not added:
                return []
            new_dense, new_sparse = self._vector_config(added)
            if self._create_in_place(source, new_dense, new_sparse):
                return [v.name for v in added]
            target = self._next_physical(collection)
            try:
                self._client.create_collection(
                    target, vectors_config={**dense, **new_dense}, sparse_vectors_config={**sparse, **new_sparse},
                    **self._same_placement(info),
                )
                if not self._local:
                    for field, index in (info.payload_schema or {}).items():
                        schema = index.params if index.params is not None else index.data_type
                        self._client.create_payload_index(target, field, field_schema=schema, wait=True)
                self._copy_points(source, target)
            except BaseException:
                # Nothing points at the partial copy yet; remove it now rather than at drop_collection.
                with suppress(Exception):
                    self._client.delete_collection(target)
                raise
            self._client.update_collection_aliases(
                change_aliases_operations=[
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=collection)),
                    models.CreateAliasOperation(
                        create_alias=models.CreateAlias(collection_name=target, alias_name=collection)
                    ),
                ]
            )
            self._client.delete_collection(source)
            return [v.name for v in added]

    def _create_in_place(self, physical: str, dense: dict[str, Any], sparse: dict[str, Any]) -> bool:
        """Add named vectors to the live collection (Qdrant servers with PUT /collections/{c}/vectors/{v}, and
        qdrant-client's local mode): every point is kept and writes never pause, unlike the copy. False when the
        server predates the route (404/405 before anything was created), so the caller falls back to the copy."""
        configs: list[Any] = [
            models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=params.size, distance=params.distance))
            for params in dense.values()
        ]
        configs += [models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=params.modifier))
                    for params in sparse.values()]
        names = list(dense) + list(sparse)
        for position, (name, config) in enumerate(zip(names, configs)):
            try:
                self._client.create_vector_name(physical, name, config, wait=True)
            except UnexpectedResponse as refused:
                if position == 0 and refused.status_code in (404, 405):
                    return False
                raise
        return True

    def create_payload_index(self, collection: str, index: PayloadIndexSpec) -> None:
        schema = _schema_params(index)
        with self._call(collection):
            if self._local:
                self._require(collection)
                self._local_indexes.setdefault(collection, {})[index.field_name] = index.type
                return
            self._client.create_payload_index(collection, index.field_name, field_schema=schema, wait=True)

    def drop_payload_index(self, collection: str, field_name: str) -> None:
        with self._call(collection):
            if self._local:
                self._require(collection)
                self._local_indexes.get(collection, {}).pop(field_name, None)
                return
            info = self._client.get_collection(collection)
            if field_name in (info.payload_schema or {}):
                self._client.delete_payload_index(collection, field_name, wait=True)

    # -- points --------------------------------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        structs = [
            models.PointStruct(
                id=point_id(p.id),
                vector={name: _to_vector(v) for name, v in p.vectors.items()},
                payload=stored_payload(p),
            )
            for p in points
        ]
        with self._call(collection):
            if not structs:
                self._require(collection)
            # Batches keep each request under the server's body limit whatever the caller sends.
            for start in range(0, len(structs), COPY_BATCH):
                self._client.upsert(collection, points=structs[start : start + COPY_BATCH], wait=True)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        with self._call(collection):
            if not ids:  # Qdrant refuses an empty id list as an empty update
                self._require(collection)
                return
            self._client.delete(
                collection, points_selector=models.PointIdsList(points=[point_id(i) for i in ids]), wait=True
            )

    def delete_by_filter(self, collection: str, filter: Filter) -> None:
        selector = models.FilterSelector(filter=_FILTERS.filter(filter))
        with self._call(collection):
            self._client.delete(collection, points_selector=selector, wait=True)

    def retrieve(self, collection: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        wanted = ordered_unique(ids)
        with self._call(collection):
            records = self._client.retrieve(
                collection, ids=[point_id(i) for i in wanted], with_payload=True, with_vectors=with_vectors
            )
        found = {}
        for r in records:
            doc_id = document_id_of(r, r.payload)
            found[doc_id] = VectorPoint(doc_id, _from_vectors(r.vector), dict(r.payload or {}))
        return [found[i] for i in wanted if i in found]

    def query(self, collection: str, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        batch = [
            models.QueryRequest(
                query=_to_vector(r.vector),
                using=r.vector_name,
                limit=r.limit,
                filter=_filter(r.filter),
                score_threshold=r.score_threshold,
                # The document_id is needed to name each hit even when the caller wants no payload.
                with_payload=payload_selection(r.payload_fields) if r.with_payload else [DOCUMENT_ID_KEY],
                with_vector=r.with_vectors,
            )
            for r in requests
        ]
        with self._call(collection):
            if not batch:
                self._require(collection)
                return []
            responses = self._client.query_batch_points(collection, requests=batch)
        return [
            [
                ScoredPoint(
                    id=document_id_of(p, p.payload),
                    score=p.score,
                    payload=dict(p.payload or {}) if r.with_payload else {},
                    vectors=(dense_as_arrays(_from_vectors(p.vector)) if r.vectors_as_arrays
                             else _from_vectors(p.vector)),
                )
                for p in response.points
            ]
            for r, response in zip(requests, responses)
        ]

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
        start = scroll_offset(offset)
        with self._call(collection):
            records, next_offset = self._client.scroll(
                collection,
                scroll_filter=_filter(filter),
                limit=limit,
                offset=start,
                with_payload=payload_selection(payload_fields),
                with_vectors=with_vectors,
            )
        points = [
            VectorPoint(document_id_of(r, r.payload), _from_vectors(r.vector), dict(r.payload or {}))
            for r in records
        ]
        return points, None if next_offset is None else str(next_offset)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        with self._call(collection):
            return self._client.count(collection, count_filter=_filter(filter), exact=True).count

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        check_payload_merge(ids, payload)
        with self._call(collection):
            self._client.set_payload(collection, payload=payload, points=_has_ids(ids), wait=True)

    def info(self, collection: str) -> CollectionInfo:
        with self._call(collection):
            ci = self._client.get_collection(collection)
        vectors = {
            name: VectorIndexSpec(name, p.size, METRIC_BY_QDRANT_DISTANCE[str(p.distance.value).lower()])
            for name, p in self._dense_params(ci)
            # Manhattan exists in Qdrant but not in the port; only a collection made by other tools can have it.
            if str(p.distance.value).lower() in METRIC_BY_QDRANT_DISTANCE
        }
        for name in ci.config.params.sparse_vectors or {}:
            vectors[name] = VectorIndexSpec(name, 0, SPARSE_METRIC, sparse=True)
        if self._local:
            payload_indexes = dict(self._local_indexes.get(collection, {}))
        else:
            payload_indexes = {k: v.data_type.value for k, v in (ci.payload_schema or {}).items()}
        return CollectionInfo(
            status=ci.status.value,
            points_count=ci.points_count or 0,
            indexed_vectors_count=ci.indexed_vectors_count or 0,
            segments_count=ci.segments_count or 0,
            vectors=vectors,
            payload_indexes=payload_indexes,  # type: ignore[arg-type]
        )

    # -- internals -----------------------------------------------------------------------------------------------

    @contextmanager
    def _call(self, collection: str) -> Iterator[None]:
        """Serialises calls where the engine needs it; turns qdrant-client's failures into the port's exceptions."""
        with self._local_lock if self._local else nullcontext():
            try:
                yield
            except (CollectionNotFound, DependencyUnavailable):
                raise
            except Exception as exc:
                translated = _translate(exc, collection)
                if translated is None:
                    raise
                raise translated from exc

    def _aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self._client.get_aliases().aliases}

    def _resolve(self, collection: str) -> str | None:
        """The physical collection behind a logical name, or None. Every collection this adapter makes is an alias;
        a bare collection of that name (made by other tools) is not one of ours and is not migrated."""
        return self._aliases().get(collection)

    def _require(self, collection: str) -> str:
        physical = self._resolve(collection)
        if physical is None:
            raise CollectionNotFound(collection)
        return physical

    def _physical_names(self, collection: str) -> list[str]:
        pattern = re.compile(re.escape(collection) + r"__v\d+")
        return [c.name for c in self._client.get_collections().collections if pattern.fullmatch(c.name)]

    def _next_physical(self, collection: str) -> str:
        # Never reuse a version number: a leftover of an interrupted run may still hold that name.
        versions = [int(name.rsplit("__v", 1)[1]) for name in self._physical_names(collection)]
        return f"{collection}__v{max(versions, default=0) + 1}"

    @staticmethod
    def _vector_config(
        specs: Sequence[VectorIndexSpec],
    ) -> tuple[dict[str, models.VectorParams], dict[str, models.SparseVectorParams]]:
        dense = {
            s.name: models.VectorParams(size=s.dimension, distance=_DISTANCE[s.metric]) for s in specs if not s.sparse
        }
        sparse = {s.name: models.SparseVectorParams() for s in specs if s.sparse}
        return dense, sparse

    @staticmethod
    def _dense_params(info: models.CollectionInfo) -> list[tuple[str, models.VectorParams]]:
        stored = info.config.params.vectors
        if stored is None:
            return []
        if isinstance(stored, models.VectorParams):
            return [("", stored)]
        return list(stored.items())

    def _copy_points(self, source: str, target: str) -> None:
        offset: Any = None
        while True:
            records, offset = self._client.scroll(
                source, limit=COPY_BATCH, offset=offset, with_payload=True, with_vectors=True
            )
            if records:
                self._client.upsert(
                    target,
                    points=[models.PointStruct(id=r.id, vector=r.vector or {}, payload=r.payload) for r in records],
                    wait=True,
                )
            if offset is None:
                break
        copied = self._client.count(target, exact=True).count
        expected = self._client.count(source, exact=True).count
        if copied != expected:
            raise DependencyUnavailable(f"copy of {source} into {target} holds {copied} of {expected} points")


def _public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _translate(exc: BaseException, collection: str) -> Exception | None:
    if isinstance(exc, UnexpectedResponse):
        status = exc.status_code or 0
        detail = _detail(exc)
        if status == 404:
            return CollectionNotFound(collection)
        if status >= 500 or status in (401, 403, 408, 429) or status == 0:
            return DependencyUnavailable(f"qdrant answered {status}: {detail}")
        return ValueError(detail)
    if isinstance(exc, (ResponseHandlingException, httpx.TransportError, ConnectionError, TimeoutError)):
        return DependencyUnavailable(f"qdrant unreachable: {exc}")
    if isinstance(exc, ValueError) and _LOCAL_NOT_FOUND.match(str(exc)):
        return CollectionNotFound(collection)
    return None


def _detail(exc: UnexpectedResponse) -> str:
    try:
        return str(exc.structured()["status"]["error"])
    except Exception:
        return exc.content.decode("utf-8", "replace")[:300]
