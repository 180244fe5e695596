"""One query across tiers: a retriever's feature search over collections in several lifecycle states.

The vector store answers for active and frozen collections (one namespace-wide query, as before); each cold
collection that has the searched vector index is scanned in the cold store with the same vector, filter and limit;
the lists are merged by score (one vector index, one metric, so the scores compare), a document found in both tiers
(a transition between its flip and its drop) counted once, and every hit is tagged `_source_tier` (hot | cold).

Archived collections hold no vectors: a retriever that targets only archived collections is refused, naming them.
A cold store that fails costs its results, not the query: the hot results come back with a warning.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Callable, Sequence

from openpeek.domain import tiering as rules
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import ScoredPoint, SearchRequest, SparseVector
from openpeek.ports import ColdStore, Table
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.tiering import TierStateRepository

logger = logging.getLogger(__name__)

SOURCE_TIER = "_source_tier"


@dataclass
class TierPlan:
    """The tiers one retriever execution reads: the cold collections to scan, and what it found where."""

    namespace: Namespace
    cold: list[tuple[Collection, ColdCollection]]
    warnings: list[str] = field(default_factory=list)
    hot_needed: bool = True  # False when every collection searched is cold: the vector store holds none of them

    def search(self, cold_store: ColdStore, requests: Sequence[SearchRequest],
               hot_results: list[list[ScoredPoint]]) -> list[list[ScoredPoint]]:
        merged = []
        for request, hot in zip(requests, hot_results):
            hits = [_tagged(hit, rules.HOT_TIER) for hit in hot]
            smaller_first = False
            for collection, target in self.cold:
                spec = next((spec for spec in target.vectors if spec.name == request.vector_name), None)
                if spec is None:
                    continue
                smaller_first = spec.metric == "euclidean"
                _check_cold_limits(collection, request)
                try:
                    found = cold_store.query(target, request)
                except DomainError:
                    raise
                except Exception as error:  # noqa: BLE001 - a failed cold tier is a warning, never a 500
                    logger.warning("cold store query of %s failed: %s", collection.collection_id, error)
                    self.warnings.append(f"collection '{collection.collection_name}' is cold and the cold store did "
                                         f"not answer ({error}); results come from the hot tier only")
                    continue
                hits += [_tagged(hit, rules.COLD_TIER) for hit in found]
            merged.append(_merge(hits, request.limit, smaller_first))
        return merged


def _check_cold_limits(collection: Collection, request: SearchRequest) -> None:
    if isinstance(request.vector, SparseVector):
        raise BadRequest(f"collection '{collection.collection_name}' is cold: the cold tier has no sparse (BM25) "
                         "search; rehydrate it (PATCH …/lifecycle {\"lifecycle_state\": \"active\"}) or search a dense "
                         "index", code="cold_tier_unsupported",
                         details={"collection_id": collection.collection_id, "vector_index": request.vector_name})
    if request.filter is not None and rules.has_text_match(request.filter):
        raise BadRequest(f"collection '{collection.collection_name}' is cold: the cold tier filters by exact values "
                         "and ranges, not full-text matches", code="cold_tier_unsupported",
                         details={"collection_id": collection.collection_id})


def _tagged(hit: ScoredPoint, tier: str) -> ScoredPoint:
    return replace(hit, payload={**hit.payload, SOURCE_TIER: tier})


def _merge(hits: list[ScoredPoint], limit: int, smaller_first: bool) -> list[ScoredPoint]:
    ordered = sorted(hits, key=lambda hit: (hit.score if smaller_first else -hit.score, hit.id))
    seen: set[str] = set()
    kept = []
    for hit in ordered:
        if hit.id in seen:
            continue
        seen.add(hit.id)
        kept.append(hit)
    return kept[:limit]


class CrossTierSearch:
    """Plans a retriever's tiers and records when collections were queried (for the sweeper), writing a
    collection's last-query time at most every LAST_QUERY_WRITE_EVERY."""

    def __init__(self, table: Table, cold: ColdStore, cold_target: Callable[[Namespace, Collection], ColdCollection],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._collections = CollectionRepository(table)
        self._tiers = TierStateRepository(table)
        self._cold = cold
        self._cold_target = cold_target
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}  # queries not yet written, per (namespace, collection)
        self._written_at: dict[tuple[str, str], datetime] = {}

    def plan(self, namespace: Namespace, retriever: Retriever, queries: int = 1) -> TierPlan | None:
        """`queries`: how many executions the plan serves (a batch plans once for all its inputs), each counted as a
        query of the collections it searches."""
        collections = self._collections.list_in(namespace.namespace_id)
        if not collections:
            return None
        by_key = {c.collection_id: c for c in collections} | {c.collection_name: c for c in collections}
        named = [by_key[identifier] for identifier in retriever.collection_identifiers if identifier in by_key]
        targets = named or collections
        searchable = [c for c in targets if c.lifecycle_state != rules.ARCHIVED]
        if retriever.collection_identifiers and named and not searchable:
            names = [c.collection_name for c in named]
            raise BadRequest(f"every collection this retriever searches is archived ({', '.join(names)}): archived "
                             "collections keep metadata only and cannot be searched", code="collections_archived",
                             details={"archived": [{"collection_id": c.collection_id,
                                                    "collection_name": c.collection_name} for c in named]})
        self._record(namespace, [c.collection_id for c in searchable], queries)
        cold = [(c, self._cold_target(namespace, c)) for c in searchable if c.lifecycle_state == rules.COLD]
        # Only named collections can be known to be all cold: an identifier without a collection item may name
        # documents upserted into the namespace directly, which are always in the vector store.
        only_cold = (bool(retriever.collection_identifiers) and len(cold) == len(searchable)
                     and all(identifier in by_key for identifier in retriever.collection_identifiers))
        return TierPlan(namespace, cold, hot_needed=not only_cold)

    def search(self, plan: TierPlan, requests: Sequence[SearchRequest],
               hot_results: list[list[ScoredPoint]]) -> list[list[ScoredPoint]]:
        return plan.search(self._cold, requests, hot_results)

    # -- last query times -----------------------------------------------------------------------------------------

    def _record(self, namespace: Namespace, collection_ids: list[str], queries: int = 1) -> None:
        now = self._clock()
        due = []
        with self._lock:
            for collection_id in collection_ids:
                key = (namespace.namespace_id, collection_id)
                self._pending[key] = self._pending.get(key, 0) + queries
                written = self._written_at.get(key)
                if written is None or now - written >= rules.LAST_QUERY_WRITE_EVERY:
                    due.append((key, self._pending.pop(key)))
                    self._written_at[key] = now
        if due:
            self._tiers.register(namespace.namespace_id)
        for (namespace_id, collection_id), count in due:
            try:
                self._write_query(namespace_id, collection_id, count, now)
            except Exception:  # noqa: BLE001 - bookkeeping must never fail a query
                logger.exception("could not record the last query of %s", collection_id)

    def _write_query(self, namespace_id: str, collection_id: str, count: int, now: datetime) -> None:
        for _ in range(8):
            tier = self._tiers.get(namespace_id, collection_id)
            window = parse(tier.window_started_at) if tier.window_started_at else None
            if window is None or now - window > rules.PROMOTE_WINDOW:
                recent, window_start = count, isoformat(now)
            else:
                recent, window_start = tier.recent_queries + count, tier.window_started_at
            try:
                self._tiers.save(namespace_id, replace(tier, last_queried_at=isoformat(now), recent_queries=recent,
                                                       window_started_at=window_start), tier)
                return
            except ConditionFailed:
                continue
