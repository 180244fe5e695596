"""A VectorStore that sends each collection's operations to the store that holds it: the deployment's shared store
(Qdrant Edge embedded, the Qdrant cluster deployed), or a namespace's dedicated Qdrant server (seed 000's dedicated
tiers with their own `qdrant_url`).

Where a collection lives is the namespace record's business; the router learns it two ways:
- `place` / `forget`, called by the namespace service when it creates, re-points or deletes a namespace in this
  process (so a namespace being created routes to its own server before its record exists);
- `locate(collection)`, a lookup of the namespace record, for collections this process has not placed itself (another
  Lambda or CLI process made them). Its answers are kept for `ttl_s` seconds, so a re-point made elsewhere is seen
  within that time and a busy collection costs one lookup per interval, not one per operation. A collection with no
  namespace record is not remembered (it may be one being created elsewhere).

One client per (URL, key), shared by the namespaces that use the same server with the same key, made on first use and
closed once no placed collection uses it (the namespace was deleted, or moved to another URL or key).

Failures of a dedicated server say which server and namespace, and never echo the server's answer (a URL chosen by a
caller must not become a way to read other hosts' responses)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Iterator, Sequence
from contextlib import contextmanager

from openpeek.domain.conditions import Filter
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.infrastructure import DedicatedVectorStore, NoNamespace
from openpeek.domain.vectors import (CollectionInfo, PayloadIndexSpec, ScoredPoint, SearchRequest, VectorIndexSpec,
                                     VectorPoint)
from openpeek.ports import VectorStore

Connector = Callable[[str, "str | None"], VectorStore]
Locator = Callable[[str], "DedicatedVectorStore | None | NoNamespace"]
_ANSWERED = re.compile(r"answered (\d{3})")


class VectorStoreRouter:
    def __init__(self, shared: VectorStore, locate: Locator, connect: Connector, *, ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._shared = shared
        self._locate = locate
        self._connect = connect
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        # collection → (target, until when it is trusted without a lookup, placed here rather than looked up)
        self._placements: dict[str, tuple[DedicatedVectorStore | None, float, bool]] = {}
        self._clients: dict[tuple[str, str | None], VectorStore] = {}

    # -- placement (the namespace service's side: ports.VectorPlacements) -------------------------------------------

    def store_for(self, target: DedicatedVectorStore | None) -> VectorStore:
        """The store at target (the shared store for None), e.g. to create a collection there before anything
        routes to it."""
        return self._shared if target is None else _Dedicated(lambda: self._client(target), target)

    def place(self, collection: str, target: DedicatedVectorStore | None) -> None:
        self._remember(collection, target, placed_here=True)

    def _remember(self, collection: str, target: DedicatedVectorStore | None, *, placed_here: bool) -> None:
        with self._lock:
            previous = self._placements.get(collection)
            self._placements[collection] = (target, self._clock() + self._ttl_s, placed_here)
        if previous is not None and previous[0] != target:
            self._close_unused(previous[0])

    def forget(self, collection: str) -> None:
        with self._lock:
            previous = self._placements.pop(collection, None)
        if previous is not None:
            self._close_unused(previous[0])

    def _target(self, collection: str) -> DedicatedVectorStore | None:
        now = self._clock()
        with self._lock:
            cached = self._placements.get(collection)
        if cached is not None and cached[1] > now:
            return cached[0]
        located = self._locate(collection)
        if isinstance(located, NoNamespace):
            if cached is not None and cached[2]:
                return cached[0]  # placed by a create still under way here: its record comes last
            if cached is not None:
                self.forget(collection)  # its namespace was deleted elsewhere
            return None
        self._remember(collection, located, placed_here=False)
        return located

    def _route(self, collection: str) -> VectorStore:
        return self.store_for(self._target(collection))

    def _client(self, target: DedicatedVectorStore) -> VectorStore:
        key = (target.url, target.api_key)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._connect(target.url, target.api_key)
            return client

    def _close_unused(self, target: DedicatedVectorStore | None) -> None:
        if target is None:
            return
        with self._lock:
            if any(placed == target for placed, _, _ in self._placements.values()):
                return
            client = self._clients.pop((target.url, target.api_key), None)
        close = getattr(client, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for store in [*clients, self._shared]:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    def __getattr__(self, name: str) -> Any:
        # What only the shared store offers (Edge's optimize / index_state / collections for `openpeek optimize`).
        return getattr(self._shared, name)

    # -- VectorStore --------------------------------------------------------------------------------------------------

    def create_collection(
        self, collection: str, vectors: Sequence[VectorIndexSpec], payload_indexes: Sequence[PayloadIndexSpec] = (),
        *, tier: str = "shared",
    ) -> None:
        self._route(collection).create_collection(collection, vectors, payload_indexes, tier=tier)

    def drop_collection(self, collection: str) -> None:
        self._route(collection).drop_collection(collection)

    def collection_exists(self, collection: str) -> bool:
        return self._route(collection).collection_exists(collection)

    def add_vector_indexes(self, collection: str, vectors: Sequence[VectorIndexSpec]) -> list[str]:
        return self._route(collection).add_vector_indexes(collection, vectors)

    def create_payload_index(self, collection: str, index: PayloadIndexSpec) -> None:
        self._route(collection).create_payload_index(collection, index)

    def drop_payload_index(self, collection: str, field_name: str) -> None:
        self._route(collection).drop_payload_index(collection, field_name)

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        self._route(collection).upsert(collection, points)

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        self._route(collection).delete(collection, ids)

    def delete_by_filter(self, collection: str, filter: Filter) -> None:
        self._route(collection).delete_by_filter(collection, filter)

    def retrieve(self, collection: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        return self._route(collection).retrieve(collection, ids, with_vectors=with_vectors)

    def query(self, collection: str, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        return self._route(collection).query(collection, requests)

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
        return self._route(collection).scroll(collection, filter=filter, limit=limit, offset=offset,
                                              with_vectors=with_vectors, payload_fields=payload_fields)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        return self._route(collection).count(collection, filter)

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        self._route(collection).set_payload(collection, ids, payload)

    def info(self, collection: str) -> CollectionInfo:
        return self._route(collection).info(collection)


class _Dedicated:
    """A dedicated server's store, whose failures name the server and the namespace and nothing the server said."""

    def __init__(self, client: Callable[[], VectorStore], target: DedicatedVectorStore) -> None:
        self._client = client  # connecting (name resolution included) fails inside the same guard as a call
        self._target = target

    @contextmanager
    def _failures(self, collection: str) -> Iterator[None]:
        try:
            yield
        except (DependencyUnavailable, ConnectionError, TimeoutError) as exc:
            answered = _ANSWERED.search(str(exc))
            how = f"answered {answered.group(1)}" if answered else "could not be reached"
            raise DependencyUnavailable(
                f"the dedicated vector store of namespace '{collection}' at {self._target.url} {how}; check "
                "infrastructure.qdrant_url and qdrant_api_key, or try again once that server is up"
            ) from exc

    def __getattr__(self, name: str) -> Any:
        def guarded(collection: str, *args: Any, **kwargs: Any) -> Any:
            with self._failures(collection):
                return getattr(self._client(), name)(collection, *args, **kwargs)

        return guarded
