"""A collection's documents, where they already live: the namespace's vector store, each point carrying
`collection_id`. List (filters, sort, pagination, vectors), count, get, create, patch (payload only: vectors kept),
put (the whole document replaced), delete, batch update/delete, bulk patch by filter, and distinct values and
aggregations over payload fields. The namespace-wide routes (`/v1/documents/...`, X-Namespace) run the same code
without the collection condition."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import orjson

from openpeek.domain import document_schema as schema_rules
from openpeek.domain import documents as document_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import tiering as tier_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, DomainError, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.conditions import Filter, MatchAny
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import CollectionNotFound, DependencyUnavailable
from openpeek.domain.vectors import VectorPoint
from openpeek.ports import ColdSelection, EventBus, VectorStore
from openpeek.services.collections.collections import CollectionService, documents_of

MAX_PAGE = 1000
MAX_SCAN = 100_000  # documents a sort, a search, a distinct or an aggregation may read; beyond it: narrow the filter
SCAN_PAGE = 1000
MAX_BATCH = 1000
MAX_EVENT_IDS = 100
MAX_LISTINGS_TOGETHER = 10  # the SDK's BatchListDocumentsRequest: at most 10 queries in one call
LISTING_THREADS = 4  # listings of one batch running at once: each mostly waits on its store
OFFSET_CURSOR = "offset:"  # a cursor this service made (sorted or searched pages); any other is the store's own


TIER_MARK = "_source_tier"  # on documents read from a cold or archived collection: the tier they came from


@dataclass(frozen=True)
class TieredDocuments:
    """A collection's documents outside the vector store: `tier` (cold | archived), how many, a reader of them in a
    stable order (`points(with_vectors=...)`), and where the tier has an id index, a reader of named documents
    (`get(document_ids, with_vectors=...)`, the order asked, missing ones left out) that reads no others."""

    tier: str
    count: Callable[[], int]
    points: Callable[..., Iterator[VectorPoint]]
    get: Callable[..., list[VectorPoint]] | None = None
    # Where the tier can pick a filter's documents itself (the cold store's `select`): `select(filter)` gives, part by
    # part, how many pass and a reader of only those; without it, every document is decoded and the filter evaluated
    # here.
    select: Callable[[Filter | None], Iterator[ColdSelection]] | None = None


@dataclass
class ListQuery:
    filters: dict[str, Any] | None = None
    sort: dict[str, Any] | None = None
    search: str | None = None
    limit: int = 100
    offset: int = 0
    cursor: str | None = None
    return_vectors: bool = False
    include_total: bool = False
    select: list[str] | None = None


@dataclass
class Page:
    documents: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
    offset: int
    limit: int


class CollectionDocumentService:
    def __init__(self, collections: CollectionService, vectors: VectorStore, events: EventBus,
                 check_writable: Callable[[Namespace, str], None] | None = None,
                 tiered_documents: Callable[[Namespace, str], TieredDocuments | None] | None = None) -> None:
        self._collections = collections
        self._vectors = vectors
        self._events = events
        # Refuses writes to collections that are frozen, cold, archived or moving between tiers (services/tiering).
        self._check_writable = check_writable or (lambda namespace, collection_id: None)
        # Where a collection's documents are when they are no longer in the vector store (cold or archived).
        self._tiered_documents = tiered_documents or (lambda namespace, collection_id: None)

    def collection_id(self, namespace: Namespace, identifier: str) -> str:
        """The id of the collection a route names: a collection's id or name, or the bare collection_id that
        bring-your-own upserts gave their documents. Neither: 404."""
        found = self._collections.find(namespace, identifier)
        if found is not None:
            return found.collection_id
        if identifier == document_rules.DEFAULT_COLLECTION_ID or self._count(namespace, documents_of(identifier)):
            return identifier
        raise NotFound("collection", identifier)

    def list_collection(self, namespace: Namespace, identifier: str, query: ListQuery) -> Page:
        collection_id = self.collection_id(namespace, identifier)
        tiered = self._tiered_documents(namespace, collection_id)
        if tiered is not None:
            return self._list_tiered(tiered, query)
        return self.list(namespace, documents_of(collection_id), query)

    def list_namespace(self, namespace: Namespace, collection_ids: list[str] | None, query: ListQuery) -> Page:
        tiers = self._tiers_in(namespace, collection_ids)
        if not tiers:
            return self.list(namespace, scope_of(collection_ids), query)
        return self._list_across_tiers(namespace, collection_ids, tiers, query)

    def list_namespace_many(self, namespace: Namespace, queries: list[tuple[list[str] | None, ListQuery]],
                            ) -> list[Page | str]:
        """Several namespace-wide listings of one namespace in one call (`POST /v1/documents/list/batch`), run
        together on a few threads. Each answers on its own: a listing refused or left unanswered by its store gives
        its message in its place (a str) and the others still answer, in the order asked."""
        if not 1 <= len(queries) <= MAX_LISTINGS_TOGETHER:
            raise BadRequest(f"a batch lists from 1 to {MAX_LISTINGS_TOGETHER} queries", code="invalid_batch")

        def one(entry: tuple[list[str] | None, ListQuery]) -> Page | str:
            try:
                return self.list_namespace(namespace, *entry)
            except DomainError as error:
                return error.message
            except DependencyUnavailable as error:
                return f"the store did not answer: {error}"

        if len(queries) == 1:
            return [one(queries[0])]
        with ThreadPoolExecutor(max_workers=min(LISTING_THREADS, len(queries)),
                                thread_name_prefix="openpeek-list-batch") as pool:
            return list(pool.map(one, queries))

    def _tiers_in(self, namespace: Namespace, collection_ids: list[str] | None) -> list[tuple[Collection,
                                                                                               TieredDocuments]]:
        """The cold and archived collections a namespace-wide listing covers, in collection id order."""
        wanted = set(collection_ids) if collection_ids else None
        tiers = []
        for collection in sorted(self._collections.list(namespace), key=lambda item: item.collection_id):
            if collection.lifecycle_state not in (tier_rules.COLD, tier_rules.ARCHIVED) or (
                    wanted is not None and collection.collection_id not in wanted):
                continue
            tiered = self._tiered_documents(namespace, collection.collection_id)
            if tiered is not None:
                tiers.append((collection, tiered))
        return tiers

    def _list_across_tiers(self, namespace: Namespace, collection_ids: list[str] | None,
                           tiers: list[tuple[Collection, TieredDocuments]], query: ListQuery) -> Page:
        """One listing over the vector store's documents and those of cold and archived collections, in one stable
        order: the vector store's documents first (its own order), then each tiered collection's (collection id
        order, each in its stored order), marked with their tier. Filters and search mean what they mean for the
        vector store's documents (a full-text match, which only the vector store answers, is refused naming the
        collection). Paging: the store's cursor while its documents last, then `offset:<position>` in the whole
        order; an offset counts across it too. A sort or a search orders every match (at most MAX_SCAN) here; without
        them, a tiered page is found by counting each part's matches, decoding only the page (see _TieredWalk)."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}", code="invalid_pagination")
        wanted = filter_rules.parse_filter(query.filters)
        tier_rules.refuse_text_filter([(collection.collection_name, collection.collection_id, tiered.tier)
                                       for collection, tiered in tiers], wanted)
        # The tiered collections' documents are read from their tier only: a collection between a transition's flip
        # and its drop still has them in the vector store too, and they must not be listed twice.
        hot_scope = filter_rules.combine(scope_of(collection_ids), Filter(must_not=(MatchAny(
            "collection_id", tuple(collection.collection_id for collection, _ in tiers)),)))
        store_filter = filter_rules.combine(hot_scope, filter_rules.strip_python_only(wanted) if wanted else None)
        python_filter = wanted if wanted is not None and filter_rules.needs_python(wanted) else None

        filtered = wanted is not None or bool(query.search)

        def walk() -> _TieredWalk:
            return _TieredWalk([tiered for _, tiered in tiers], wanted, with_vectors=query.return_vectors,
                               step_by_count=not filtered)

        def shown(point: VectorPoint, tier: str | None) -> dict[str, Any]:
            view = _present(point, query.return_vectors, query.select)
            return view if tier is None else {**view, TIER_MARK: tier}

        if query.sort or query.search or python_filter is not None:
            hot = self._scan_matching(namespace, store_filter, python_filter, query)
            tier_of: dict[int, str] = {}
            matched = list(hot)
            for point, tier in walk().everything(query.search):
                if len(matched) >= MAX_SCAN:
                    raise _too_many()
                tier_of[id(point)] = tier
                matched.append(point)
            if query.sort:
                matched = _sorted(matched, query.sort)
            start = _cursor_offset(query.cursor) if query.cursor else query.offset
            window = matched[start: start + query.limit]
            whole = {point.id: point for point in self._retrieve(
                namespace, [point.id for point in window if id(point) not in tier_of],
                with_vectors=query.return_vectors)}
            documents = [shown(point, tier_of[id(point)]) if id(point) in tier_of else shown(whole[point.id], None)
                         for point in window if id(point) in tier_of or point.id in whole]
            next_cursor = f"{OFFSET_CURSOR}{start + query.limit}" if start + query.limit < len(matched) else None
            return Page(documents, next_cursor, len(matched), start, query.limit)

        hot_total = self._count(namespace, store_filter)
        ours = bool(query.cursor and query.cursor.startswith(OFFSET_CURSOR))
        position = _tier_cursor_offset(query.cursor) if ours else (0 if query.cursor else query.offset)
        if (query.cursor and not ours) or position < hot_total:
            points, next_cursor, _ = self._page(namespace, store_filter, query)
            window = [shown(point, None) for point in points]
            if next_cursor is not None:
                total = hot_total + walk().total() if query.include_total else None
                return Page(window, next_cursor, total, position, query.limit)
            skip = 0
        else:
            window, skip = [], position - hot_total
        tiered = walk()
        taken, more = tiered.page(skip, query.limit - len(window))
        window += [shown(point, tier) for point, tier in taken]
        next_cursor = f"{OFFSET_CURSOR}{hot_total + skip + len(taken)}" if more else None
        total = hot_total + tiered.total() if query.include_total else None
        return Page(window, next_cursor, total, position, query.limit)

    def count_collection(self, namespace: Namespace, identifier: str) -> tuple[str, int]:
        collection_id = self.collection_id(namespace, identifier)
        tiered = self._tiered_documents(namespace, collection_id)
        if tiered is not None:
            return collection_id, tiered.count()
        return collection_id, self._count(namespace, documents_of(collection_id))

    def _list_tiered(self, tiered: "TieredDocuments", query: ListQuery) -> Page:
        """A cold or archived collection's page, read from where its documents are now (each marked with its tier):
        filters, search and sort are evaluated here, decoding at most MAX_SCAN documents (a cold store counts the
        documents its terms index proves pass without decoding them, see _TieredWalk)."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}", code="invalid_pagination")
        if query.cursor and not query.cursor.startswith(OFFSET_CURSOR):
            raise BadRequest("this collection is not in the vector store: page it with offset or the cursor it "
                             "returned", code="invalid_pagination")
        wanted = filter_rules.parse_filter(query.filters)
        start = _cursor_offset(query.cursor) if query.cursor else query.offset
        # A single collection is not stepped over by its count: its page is found part by part.
        walk = _TieredWalk([tiered], wanted, with_vectors=query.return_vectors, step_by_count=False)
        if query.sort or query.search:
            matched = [point for point, _ in walk.everything(query.search)]
            if query.sort:
                matched = _sorted(matched, query.sort)
            window = matched[start: start + query.limit]
            more, total = start + query.limit < len(matched), len(matched)
        else:
            taken, more = walk.page(start, query.limit)
            window = [point for point, _ in taken]
            total = walk.total() if query.include_total else None
        next_cursor = f"{OFFSET_CURSOR}{start + query.limit}" if more else None
        documents = [{**_present(point, query.return_vectors, query.select), TIER_MARK: tiered.tier}
                     for point in window]
        return Page(documents, next_cursor, total, start, query.limit)

    # -- reads ----------------------------------------------------------------------------------------------------

    def list(self, namespace: Namespace, scope: Filter | None, query: ListQuery) -> Page:
        """A page of documents. Without sort or search the store pages itself (cursor or offset); a sort or a search
        reads every match (at most MAX_SCAN) and orders them here."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}", code="invalid_pagination")
        wanted = filter_rules.parse_filter(query.filters)
        store_filter = filter_rules.combine(scope, filter_rules.strip_python_only(wanted) if wanted else None)
        python_filter = wanted if wanted is not None and filter_rules.needs_python(wanted) else None
        total = None
        if query.sort or query.search or python_filter is not None:
            matched = self._scan_matching(namespace, store_filter, python_filter, query)
            if query.sort:
                matched = _sorted(matched, query.sort)
            start = _cursor_offset(query.cursor) if query.cursor else query.offset
            page_ids = [point.id for point in matched[start: start + query.limit]]
            window = self._retrieve(namespace, page_ids, with_vectors=query.return_vectors)
            next_cursor = f"{OFFSET_CURSOR}{start + query.limit}" if start + query.limit < len(matched) else None
            total = len(matched)
        else:
            window, next_cursor, start = self._page(namespace, store_filter, query)
            if query.include_total:
                total = self._count(namespace, store_filter)
        return Page([_present(point, query.return_vectors, query.select) for point in window], next_cursor, total,
                    start, query.limit)

    def _page(self, namespace: Namespace, store_filter: Filter | None,
              query: ListQuery) -> tuple[list[VectorPoint], str | None, int]:
        """The store's own paging: a cursor resumes where the last page stopped; an offset skips that many."""
        if query.offset > MAX_SCAN:
            raise BadRequest(f"a page starts at most {MAX_SCAN:,} documents in; narrow the filter or follow the "
                             "cursor", code="invalid_pagination", details={"offset": query.offset})
        ours = bool(query.cursor and query.cursor.startswith(OFFSET_CURSOR))
        offset = query.cursor if query.cursor and not ours else None
        skip = _cursor_offset(query.cursor) if ours else query.offset
        if query.cursor and offset is not None:
            skip = 0
        try:
            if skip:
                # Step over the skipped documents reading ids only, then read the page itself.
                _, offset = self._vectors.scroll(namespace.collection, filter=store_filter, limit=skip,
                                                 payload_fields=[])
                if offset is None:
                    return [], None, skip
            window, next_offset = self._vectors.scroll(namespace.collection, filter=store_filter, limit=query.limit,
                                                       offset=offset, with_vectors=query.return_vectors)
        except CollectionNotFound:
            return [], None, skip
        return window, next_offset, skip

    def _count(self, namespace: Namespace, store_filter: Filter | None) -> int:
        try:
            return self._vectors.count(namespace.collection, store_filter)
        except CollectionNotFound:
            return 0

    def get(self, namespace: Namespace, identifier: str | None, document_id: str, *,
            with_vectors: bool) -> dict[str, Any]:
        """One document; through a collection route (identifier), only one of that collection."""
        collection_id = self.collection_id(namespace, identifier) if identifier is not None else None
        tiered = self._tiered_documents(namespace, collection_id) if collection_id is not None else None
        if tiered is not None:
            if tiered.get is not None:
                found = next(iter(tiered.get([document_id], with_vectors=with_vectors)), None)
            else:
                found = next((point for point in tiered.points(with_vectors=with_vectors) if point.id == document_id),
                             None)
            if found is None:
                raise NotFound("document", document_id)
            return {**_present(found, with_vectors), TIER_MARK: tiered.tier}
        return _present(self._point(namespace, collection_id, document_id, with_vectors=with_vectors), with_vectors)

    def get_in_namespace(self, namespace: Namespace, document_id: str, *, with_vectors: bool) -> dict[str, Any]:
        """One document wherever its collection is: the vector store first, then each cold or archived collection
        (marked with its tier), so an id keeps resolving after its collection leaves the vector store."""
        found = self._retrieve(namespace, [document_id], with_vectors=with_vectors)
        if found:
            return document_rules.present(found[0], with_vectors=with_vectors)
        for _, tiered in self._tiers_in(namespace, None):
            if tiered.get is not None:
                point = next(iter(tiered.get([document_id], with_vectors=with_vectors)), None)
            else:
                point = next((item for item in tiered.points(with_vectors=with_vectors) if item.id == document_id),
                             None)
            if point is not None:
                return {**_present(point, with_vectors), TIER_MARK: tiered.tier}
        raise NotFound("document", document_id)

    def batch_get(self, namespace: Namespace, document_ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        if len(document_ids) > MAX_BATCH:
            raise BadRequest(f"at most {MAX_BATCH} document_ids per call", code="too_many_documents")
        found = self._retrieve(namespace, document_ids, with_vectors=False)
        present = {point.id for point in found}
        return [_present(point, False) for point in found], [i for i in dict.fromkeys(document_ids) if i not in present]

    def _point(self, namespace: Namespace, collection_id: str | None, document_id: str, *,
               with_vectors: bool) -> VectorPoint:
        found = self._retrieve(namespace, [document_id], with_vectors=with_vectors)
        if not found or (collection_id is not None and found[0].payload.get("collection_id") != collection_id):
            raise NotFound("document", document_id)
        return found[0]

    def _retrieve(self, namespace: Namespace, ids: list[str], *, with_vectors: bool) -> list[VectorPoint]:
        try:
            return self._vectors.retrieve(namespace.collection, ids, with_vectors=with_vectors)
        except CollectionNotFound:
            return []

    def _scan_matching(self, namespace: Namespace, store_filter: Filter | None, python_filter: Filter | None,
                       query: ListQuery) -> list[VectorPoint]:
        """The hot documents a listing that sorts, searches or filters in Python must see whole, read with only the
        fields the sort and the Python-side filter look at (a search looks at every field); the page's documents are
        fetched whole afterwards."""
        fields = None if query.search else sorted(
            {key.split(".")[0] for key in filter_rules.keys_read(python_filter)}
            | ({filter_rules.stored_key((query.sort or {}).get("field")).split(".")[0]} if query.sort else set()))
        return [point for point in self._scan(namespace, store_filter, payload_fields=fields)
                if (python_filter is None or filter_rules.matches(python_filter, point.payload, point.id))
                and (not query.search or _mentions(point.payload, query.search))]

    def _scan(self, namespace: Namespace, store_filter: Filter | None, *, with_vectors: bool = False,
              payload_fields: list[str] | None = None) -> Iterator[VectorPoint]:
        offset: str | None = None
        read = 0
        while True:
            try:
                points, offset = self._vectors.scroll(namespace.collection, filter=store_filter, limit=SCAN_PAGE,
                                                      offset=offset, with_vectors=with_vectors,
                                                      payload_fields=payload_fields)
            except CollectionNotFound:
                return
            read += len(points)
            if read > MAX_SCAN:
                raise BadRequest(f"this request would read more than {MAX_SCAN} documents; narrow it with filters",
                                 code="too_many_documents", details={"max_scan": MAX_SCAN})
            yield from points
            if offset is None:
                return

    # -- writes ---------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """A document written by hand into a collection: its payload fields, metadata and lineage, and vectors
        named by vector index or by the collection's feature URI."""
        collection = self._collections.get(namespace, identifier)
        self._check_writable(namespace, collection.collection_id)
        document_id = new_id("doc")
        point = self._build(namespace, collection, document_id, body, created_at=None)
        self._vectors.upsert(namespace.collection, [point])
        self._publish(namespace, "document.created", [document_id], collection.collection_id)
        return _present(point, False)

    def replace(self, namespace: Namespace, identifier: str | None, document_id: str,
                body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the document becomes exactly the body (payload, metadata and vectors); created_at and the collection
        stay."""
        collection_id = self.collection_id(namespace, identifier) if identifier is not None else None
        current = self._point(namespace, collection_id, document_id, with_vectors=False)
        owner = current.payload.get("collection_id") or document_rules.DEFAULT_COLLECTION_ID
        self._check_writable(namespace, owner)
        collection = self._collections.find(namespace, owner)  # None for bring-your-own documents
        point = self._build(namespace, collection, document_id, body, created_at=current.payload.get("created_at"),
                            collection_id=owner)
        self._vectors.upsert(namespace.collection, [point])
        self._publish(namespace, "document.updated", [document_id], owner)
        return _present(point, False)

    def patch(self, namespace: Namespace, identifier: str | None, document_id: str,
              changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH: the named payload fields are set (metadata merged), everything else — vectors included — kept."""
        collection_id = self.collection_id(namespace, identifier) if identifier is not None else None
        current = self._point(namespace, collection_id, document_id, with_vectors=False)
        self._check_writable(namespace, current.payload.get("collection_id") or document_rules.DEFAULT_COLLECTION_ID)
        self._vectors.set_payload(namespace.collection, [document_id], _payload_changes(current.payload, changes))
        self._publish(namespace, "document.updated", [document_id], current.payload.get("collection_id"))
        return _present(self._point(namespace, None, document_id, with_vectors=False), False)

    def delete(self, namespace: Namespace, identifier: str, document_id: str) -> None:
        collection_id = self.collection_id(namespace, identifier)
        self._check_writable(namespace, collection_id)
        self._point(namespace, collection_id, document_id, with_vectors=False)
        self._vectors.delete(namespace.collection, [document_id])
        self._publish(namespace, "document.deleted", [document_id], collection_id)

    def batch_update(self, namespace: Namespace, identifier: str, updates: list[dict[str, Any]] | None,
                     filters: dict[str, Any] | None = None,
                     update_data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Each {document_id, update_data} patched on its own (a missing document is reported, not fatal), or one
        update_data applied to every document the filters match."""
        collection_id = self.collection_id(namespace, identifier)
        self._check_writable(namespace, collection_id)
        if not updates:
            if update_data is None:
                raise BadRequest("send updates, or filters with update_data", code="invalid_request")
            ids = self._bulk(namespace, collection_id, filters, update_data)
            return [{"document_id": document_id, "success": True, "error": None} for document_id in ids]
        if len(updates) > MAX_BATCH:
            raise BadRequest(f"at most {MAX_BATCH} updates per call", code="too_many_documents")
        found = {point.id: point for point in self._retrieve(namespace, [u["document_id"] for u in updates],
                                                           with_vectors=False)
                 if point.payload.get("collection_id") == collection_id}
        planned = []
        for update in updates:  # every change checked before any is written
            point = found.get(update["document_id"])
            planned.append((update["document_id"],
                            None if point is None else _payload_changes(point.payload, update["update_data"])))
        results = []
        for document_id, changes in planned:
            if changes is None:
                results.append({"document_id": document_id, "success": False, "error": "document not found"})
                continue
            self._vectors.set_payload(namespace.collection, [document_id], changes)
            results.append({"document_id": document_id, "success": True, "error": None})
        self._publish(namespace, "document.updated", [r["document_id"] for r in results if r["success"]],
                      collection_id)
        return results

    def bulk_update(self, namespace: Namespace, identifier: str, filters: dict[str, Any] | None,
                    update_data: dict[str, Any]) -> int:
        """The same payload changes on every document that matches the filter."""
        return len(self._bulk(namespace, self.collection_id(namespace, identifier), filters, update_data))

    def _bulk(self, namespace: Namespace, collection_id: str, filters: dict[str, Any] | None,
              update_data: dict[str, Any]) -> list[str]:
        _payload_changes({}, update_data)  # refuse system fields and vectors before reading anything
        self._check_writable(namespace, collection_id)
        ids = [point.id for point in self._matching(namespace, documents_of(collection_id), filters)]
        for start in range(0, len(ids), SCAN_PAGE):
            chunk = ids[start: start + SCAN_PAGE]
            if "metadata" not in update_data:  # the same change for every document: one write per chunk
                self._vectors.set_payload(namespace.collection, chunk, _payload_changes({}, update_data))
                continue
            for point in self._retrieve(namespace, chunk, with_vectors=False):  # metadata merges per document
                changes = _payload_changes(point.payload, update_data)
                self._vectors.set_payload(namespace.collection, [point.id], changes)
        self._publish(namespace, "document.updated", ids, collection_id)
        return ids

    def batch_delete(self, namespace: Namespace, identifier: str, document_ids: list[str] | None,
                     filters: dict[str, Any] | None) -> list[dict[str, Any]]:
        collection_id = self.collection_id(namespace, identifier)
        self._check_writable(namespace, collection_id)
        if not document_ids and filters is None:
            raise BadRequest("name document_ids or filters", code="invalid_request")
        if document_ids:
            if len(document_ids) > MAX_BATCH:
                raise BadRequest(f"at most {MAX_BATCH} document_ids per call", code="too_many_documents")
            present = {point.id for point in self._retrieve(namespace, document_ids, with_vectors=False)
                       if point.payload.get("collection_id") == collection_id}
            ids = [document_id for document_id in dict.fromkeys(document_ids) if document_id in present]
            results = [{"document_id": document_id, "success": document_id in present,
                        "error": None if document_id in present else "document not found"}
                       for document_id in dict.fromkeys(document_ids)]
        else:
            ids = [point.id for point in self._matching(namespace, documents_of(collection_id), filters)]
            results = [{"document_id": document_id, "success": True, "error": None} for document_id in ids]
        for start in range(0, len(ids), SCAN_PAGE):
            self._vectors.delete(namespace.collection, ids[start: start + SCAN_PAGE])
        self._publish(namespace, "document.deleted", ids, collection_id)
        return results

    def _matching(self, namespace: Namespace, scope: Filter, filters: dict[str, Any] | None,
                  fields: Iterable[str] = ()) -> Iterable[VectorPoint]:
        """Every document the filters match, with only the payload `fields` (user paths) and what the filter's
        Python-side conditions test: reading whole payloads is most of a scan's cost."""
        wanted = filter_rules.parse_filter(filters)
        store_filter = filter_rules.combine(scope, filter_rules.strip_python_only(wanted) if wanted else None)
        python_side = wanted is not None and filter_rules.needs_python(wanted)
        keys = {filter_rules.stored_key(name) for name in fields}
        if python_side:
            keys |= filter_rules.keys_read(wanted)
        points = list(self._scan(namespace, store_filter, payload_fields=sorted({k.split(".")[0] for k in keys})))
        if python_side:
            points = [p for p in points if filter_rules.matches(wanted, p.payload, p.id)]
        return points

    # -- whole-collection reads and imported writes (export, import, reconciliation) ------------------------------

    def each(self, namespace: Namespace, identifier: str, *, filters: dict[str, Any] | None = None,
             with_vectors: bool = False) -> Iterator[dict[str, Any]]:
        """Every document of a collection that passes the filters, as the listing presents them, page by page in
        the listing's order, wherever its tier keeps them."""
        query = ListQuery(filters=filters, limit=MAX_PAGE, return_vectors=with_vectors)
        while True:
            page = self.list_collection(namespace, identifier, query)
            yield from page.documents
            if page.next_cursor is None or not page.documents:
                return
            query = ListQuery(filters=filters, limit=MAX_PAGE, return_vectors=with_vectors, cursor=page.next_cursor)

    def write_imported(self, namespace: Namespace, identifier: str, documents: list[tuple[int, str, dict[str, Any]]],
                       *, dry_run: bool) -> tuple[int, list[dict[str, Any]]]:
        """Documents rebuilt from an import, each (position, document_id, body) checked as a hand-written one is; a
        document that fails is reported by position and the rest are written (none on a dry run). Returns (written,
        errors)."""
        collection = self._collections.get(namespace, identifier)
        if not dry_run:
            self._check_writable(namespace, collection.collection_id)
        points, errors = [], []
        for position, document_id, body in documents:
            try:
                points.append(self._build(namespace, collection, document_id, body, created_at=None))
            except BadRequest as refused:
                errors.append({"row": position, "error": refused.message})
        if dry_run:
            return 0, errors
        for start in range(0, len(points), MAX_BATCH):
            self._vectors.upsert(namespace.collection, points[start: start + MAX_BATCH])
        self._publish(namespace, "document.created", [point.id for point in points], collection.collection_id)
        return len(points), errors

    # -- distinct and aggregate -----------------------------------------------------------------------------------

    def distinct(self, namespace: Namespace, identifier: str, field: str, filters: dict[str, Any] | None,
                 limit: int) -> tuple[list[dict[str, Any]], int]:
        counts: Counter = Counter()
        scope = documents_of(self.collection_id(namespace, identifier))
        for point in self._matching(namespace, scope, filters, [field]):
            for value in _values(point.payload, field):
                counts[_hashable(value)] += 1
        ordered = sorted(counts.items(), key=lambda pair: (-pair[1], str(pair[0])))
        return [{"value": _plain(value), "count": count} for value, count in ordered[:limit]], len(counts)

    def aggregate(self, namespace: Namespace, identifier: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        collection_id = self.collection_id(namespace, identifier)
        group_by = request.get("group_by") or []
        aggregations = request["aggregations"]
        for aggregation in aggregations:
            if aggregation["function"] not in _AGGREGATIONS:
                raise BadRequest(f"aggregation function '{aggregation['function']}' is not one of "
                                 f"{', '.join(_AGGREGATIONS)}", code="invalid_aggregation")
            if aggregation["function"] != "count" and not aggregation.get("field"):
                raise BadRequest(f"aggregation '{aggregation['alias']}' needs a field", code="invalid_aggregation")
        groups: dict[tuple, list[dict[str, Any]]] = {}
        fields = [g["field"] for g in group_by] + [a["field"] for a in aggregations if a.get("field")]
        if request.get("unwind"):
            fields.append(request["unwind"])
        for point in self._matching(namespace, documents_of(collection_id), request.get("filters"), fields):
            payload = _visible(point)
            unwound = [payload]
            if request.get("unwind"):
                unwound = [{**payload, request["unwind"]: item}
                           for item in (_lookup(payload, request["unwind"]) or [])] \
                    if isinstance(_lookup(payload, request["unwind"]), list) else [payload]
            for row in unwound:
                key = tuple(_hashable(_lookup(row, g["field"])) for g in group_by)
                groups.setdefault(key, []).append(row)
        results = []
        for key, rows in groups.items():
            group = {(g.get("alias") or g["field"]): _plain(value) for g, value in zip(group_by, key)}
            metrics = {a["alias"]: _AGGREGATIONS[a["function"]](rows, a.get("field")) for a in aggregations}
            results.append({"group": group, "metrics": metrics})
        for condition in request.get("having") or []:
            results = [r for r in results if _having(r["metrics"].get(condition["field"]), condition)]
        if request.get("sort_by"):
            descending = (request.get("sort_direction") or "desc").lower() == "desc"
            results.sort(key=lambda r: _sort_key(r["metrics"].get(request["sort_by"],
                                                                  r["group"].get(request["sort_by"]))),
                         reverse=descending)
        if request.get("limit"):
            results = results[: request["limit"]]
        return results

    # -- dry-run validation ---------------------------------------------------------------------------------------

    def validate(self, namespace: Namespace, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../documents/schema/validate: the document `create` would write, checked without writing anything —
        by the checks create itself runs (protected fields, vectors by index name or feature URI, sizes; create
        stops at the first) and against the collection's output schema (types, required properties)."""
        collection = self._collections.get(namespace, identifier)
        found: list[dict[str, Any]] = []
        try:
            self._build(namespace, collection, VALIDATION_DOCUMENT_ID, body, created_at=None)
        except BadRequest as error:
            found.append({"field": _refused_field(error), "rule": error.code, "message": error.message,
                          "expected": None})
        fields = {key: value for key, value in body.items()
                  if key not in _NOT_PAYLOAD and key not in document_rules.SYSTEM_FIELDS}
        schema_violations, undeclared = schema_rules.violations(collection.output_schema, fields)
        found += schema_violations
        warnings = [f"'{name}' is not in the collection's output schema; create stores it as given"
                    for name in undeclared]
        try:
            self._check_writable(namespace, collection.collection_id)
        except DomainError as error:
            warnings.append(f"create would be refused now, whatever the document: {error.message}")
        return {"valid": not found, "collection_id": collection.collection_id, "violations": found,
                "checked_fields": sorted(fields), "warnings": warnings}

    # -- helpers --------------------------------------------------------------------------------------------------

    def _build(self, namespace: Namespace, collection: Collection | None, document_id: str, body: dict[str, Any], *,
               created_at: str | None, collection_id: str | None = None) -> VectorPoint:
        vectors = dict(body.get("vectors") or {})
        if collection is not None:
            by_uri = {index.feature_uri: index.vector_name for index in collection.vector_indexes}
            vectors = {by_uri.get(name, name): value for name, value in vectors.items()}
        payload = {key: value for key, value in body.items() if key not in _NOT_PAYLOAD}
        source = {key: body[key] for key in (*document_rules.LINEAGE_FIELDS, "metadata", "source_type")
                  if body.get(key) is not None}
        [checked] = document_rules.check_batch(namespace, [{"document_id": document_id, "vectors": vectors,
                                                           "payload": payload}])
        if checked.dropped_fields:
            raise BadRequest(f"these fields are written by the service, not by the caller: "
                             f"{', '.join(sorted(checked.dropped_fields))}", code="protected_field",
                             details={"fields": sorted(checked.dropped_fields)})
        now = isoformat(utcnow())
        return document_rules.build_point(
            namespace, checked, source,
            collection_id=collection.collection_id if collection is not None else collection_id,
            created_at=created_at or now, updated_at=now)

    def _publish(self, namespace: Namespace, event_type: str, ids: list[str], collection_id: str | None) -> None:
        if not ids:
            return
        self._events.publish(DomainEvent(
            type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"collection_id": collection_id, "count": len(ids), "document_ids": ids[:MAX_EVENT_IDS],
                  "truncated": len(ids) > MAX_EVENT_IDS},
            occurred_at=isoformat(utcnow()),
        ))


def scope_of(collection_ids: list[str] | None) -> Filter | None:
    """The namespace-wide list's optional restriction to some collections."""
    if not collection_ids:
        return None
    return Filter(must=(MatchAny("collection_id", tuple(collection_ids)),))


def _payload_changes(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(changes, dict) or not changes:
        raise BadRequest("name at least one field to change", code="invalid_update")
    if "vectors" in changes:
        raise BadRequest("PATCH changes payload fields and keeps vectors; send the whole document with PUT to "
                         "replace its vectors", code="invalid_update", details={"field": "vectors"})
    protected = sorted(key for key in changes if key in document_rules.SYSTEM_FIELDS and key != "metadata")
    if protected:
        raise BadRequest(f"these fields are written by the service, not by the caller: {', '.join(protected)}",
                         code="protected_field", details={"fields": protected})
    update = {key: value for key, value in changes.items() if key != "metadata"}
    if "metadata" in changes:
        if not isinstance(changes["metadata"], dict):
            raise BadRequest("metadata must be an object", code="invalid_update")
        internal = dict(current.get(document_rules.INTERNAL) or {})
        internal["metadata"] = {**(internal.get("metadata") or {}), **changes["metadata"]}
        update[document_rules.INTERNAL] = internal
    update["updated_at"] = isoformat(utcnow())
    return update


VALIDATION_DOCUMENT_ID = "doc_schema_validation"  # names the document a dry run builds; nothing is written
# The keys of a written document that are not payload fields: create reads them (or, for ids, ignores them).
_NOT_PAYLOAD = ("vectors", "metadata", "features", "document_id", "collection_id", "acl",
                *document_rules.LINEAGE_FIELDS, "source_type", "document_schema_version")


def _refused_field(error: BadRequest) -> str | None:
    """The field a refusal of create names (a vector index, or the first protected field), when it names one."""
    details = error.details or {}
    if details.get("vector_index"):
        return f"vectors.{details['vector_index']}"
    return (details.get("fields") or [None])[0] or details.get("path")


def _too_many() -> BadRequest:
    return BadRequest(f"this request would read more than {MAX_SCAN} documents; narrow it with filters",
                      code="too_many_documents", details={"max_scan": MAX_SCAN})


class _TieredWalk:
    """The documents of cold and archived collections that pass a filter, in the listing's order (each collection in
    turn, each in its stored order), read only as far as a page needs them. A tier that selects them itself (the
    cold store) says part by part how many pass before any is read, so a page is found by counting and only its own
    documents (and the payloads its terms index left undecided) are decoded; any other tier is decoded whole here.
    MAX_SCAN bounds the payloads actually decoded, not the documents a terms index ruled out without decoding.
    With `step_by_count` (an unfiltered listing), a whole collection a page starts beyond is stepped over by its
    count. One walk serves one page and then, if asked, its total."""

    def __init__(self, tiers: list[TieredDocuments], condition: Filter | None, *, with_vectors: bool,
                 step_by_count: bool) -> None:
        self._tiers, self._condition, self._with_vectors = tiers, condition, with_vectors
        self._step_by_count = step_by_count
        self._skip = 0
        self._counting = False
        self._finished = 0  # payloads decoded by the selections already left behind
        self._current: ColdSelection | None = None
        self._seen = 0  # matches in the selections (and collections stepped over) met so far
        self._stream = self._selections()

    def _selections(self) -> Iterator[tuple[str, ColdSelection]]:
        for tiered in self._tiers:
            if self._step_by_count:
                count = tiered.count()
                if self._counting or self._skip >= count:
                    self._skip -= min(self._skip, count)
                    self._seen += count
                    continue
            chosen = (tiered.select(self._condition) if tiered.select is not None
                      else _decoded_selections(tiered, self._condition, self._with_vectors))
            for selection in chosen:
                yield tiered.tier, selection

    def _enter(self, selection: ColdSelection) -> None:
        if self._current is not None:
            self._finished += self._current.decoded
        self._current = selection
        self._seen += selection.count
        self._check()

    def _check(self) -> None:
        if self._finished + (self._current.decoded if self._current is not None else 0) > MAX_SCAN:
            raise _too_many()

    def page(self, skip: int, take: int) -> tuple[list[tuple[VectorPoint, str]], bool]:
        """(the matches from the skip-th on, at most `take`, with their tier; whether any match follows them)."""
        self._skip = skip
        taken: list[tuple[VectorPoint, str]] = []
        for tier, selection in self._stream:
            self._enter(selection)
            if self._skip >= selection.count:
                self._skip -= selection.count
                continue
            stop = min(selection.count, self._skip + take - len(taken))
            if stop > self._skip:
                taken += [(point, tier) for point in selection.read(self._skip, stop,
                                                                    with_vectors=self._with_vectors)]
                self._check()
            self._skip = 0
            if len(taken) == take:
                # the page is full: another follows if this part has more, or a later one has any
                return taken, stop < selection.count or self._another()
        return taken, False

    def _another(self) -> bool:
        for _, selection in self._stream:
            self._enter(selection)
            if selection.count:
                return True
        return False

    def total(self) -> int:
        """Every match of the walk, those already paged over included, counted without reading the rest."""
        self._counting = True
        for _, selection in self._stream:
            self._enter(selection)
        return self._seen

    def everything(self, search: str | None = None) -> list[tuple[VectorPoint, str]]:
        """Every match (that also mentions `search`, when given), for a sort or a search to order."""
        found: list[tuple[VectorPoint, str]] = []
        for tier, selection in self._stream:
            self._enter(selection)
            for start in range(0, selection.count, SCAN_PAGE):
                points = selection.read(start, min(selection.count, start + SCAN_PAGE),
                                        with_vectors=self._with_vectors)
                self._check()
                found += [(point, tier) for point in points if not search or _mentions(point.payload, search)]
        return found


class _DecodedSelection:
    """Documents already decoded here (a tier that cannot pick a filter's documents itself) that pass it."""

    def __init__(self, passing: list[VectorPoint], decoded: int) -> None:
        self._passing, self.count, self.decoded = passing, len(passing), decoded

    def read(self, start: int, stop: int, *, with_vectors: bool = False) -> list[VectorPoint]:
        return self._passing[start:stop]


def _decoded_selections(tiered: TieredDocuments, condition: Filter | None,
                        with_vectors: bool) -> Iterator[_DecodedSelection]:
    """A tier's documents in chunks of SCAN_PAGE, each decoded whole and passed through the evaluator."""
    chunk: list[VectorPoint] = []

    def passing() -> _DecodedSelection:
        return _DecodedSelection([point for point in chunk if condition is None
                                  or filter_rules.matches(condition, point.payload, point.id)], len(chunk))

    for point in tiered.points(with_vectors=with_vectors):
        chunk.append(point)
        if len(chunk) == SCAN_PAGE:
            yield passing()
            chunk = []
    if chunk:
        yield passing()


def _present(point: VectorPoint, with_vectors: bool, select: list[str] | None = None) -> dict[str, Any]:
    view = document_rules.present(point, with_vectors=with_vectors)
    view.setdefault("collection_id", document_rules.DEFAULT_COLLECTION_ID)
    if select:
        keep = {*select, "document_id", "collection_id", "vectors"}
        view = {key: value for key, value in view.items() if key in keep}
    return view




def _visible(point: VectorPoint) -> dict[str, Any]:
    return document_rules.present(point, with_vectors=False)


def _tier_cursor_offset(cursor: str) -> int:
    """A position in a listing across tiers: past the vector store's documents it may lie beyond MAX_SCAN (reading
    up to it is what MAX_SCAN bounds)."""
    try:
        return int(cursor[len(OFFSET_CURSOR):])
    except ValueError:
        raise BadRequest("cursor is not one this service gave out", code="invalid_cursor") from None


def _cursor_offset(cursor: str) -> int:
    try:
        value = int(cursor[len(OFFSET_CURSOR):]) if cursor.startswith(OFFSET_CURSOR) else -1
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SCAN:
        raise BadRequest("cursor is not one this service gave out", code="invalid_cursor")
    return value


def _lookup(payload: dict[str, Any], field: str) -> Any:
    value: Any = payload
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _values(payload: dict[str, Any], field: str) -> list[Any]:
    path = filter_rules.stored_key(field)
    found = _lookup(payload, path)
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return ("__json__", orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "__json__":
        return orjson.loads(value[1])
    return value


def _mentions(payload: dict[str, Any], needle: str) -> bool:
    wanted = needle.lower()
    return any(isinstance(value, str) and wanted in value.lower() for value in payload.values())


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _sorted(points: list[VectorPoint], sort: dict[str, Any]) -> list[VectorPoint]:
    field, direction = sort.get("field"), (sort.get("direction") or "asc")
    if not isinstance(field, str) or direction not in ("asc", "desc"):
        raise BadRequest("sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": sort})
    path = filter_rules.stored_key(field)
    keyed = [(_lookup(point.payload, path) if path != "document_id" else point.id, point) for point in points]
    present = [(value, point) for value, point in keyed if value is not None]
    present.sort(key=lambda pair: _sort_key(pair[0]), reverse=direction == "desc")
    return [point for _, point in present] + [point for value, point in keyed if value is None]


def _numbers(rows: list[dict[str, Any]], field: str | None) -> list[float]:
    out = []
    for row in rows:
        value = _lookup(row, field or "")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out.append(value)
    return out


def _field_values(rows: list[dict[str, Any]], field: str | None) -> list[Any]:
    return [value for value in (_lookup(row, field or "") for row in rows) if value is not None]


_AGGREGATIONS = {
    "count": lambda rows, field: len(rows) if not field else len(_field_values(rows, field)),
    "count_distinct": lambda rows, field: len({_hashable(v) for v in _field_values(rows, field)}),
    "sum": lambda rows, field: sum(_numbers(rows, field)),
    "avg": lambda rows, field: (sum(_numbers(rows, field)) / len(_numbers(rows, field))) if _numbers(rows, field)
    else None,
    "min": lambda rows, field: min(_field_values(rows, field), key=_sort_key, default=None),
    "max": lambda rows, field: max(_field_values(rows, field), key=_sort_key, default=None),
    "first": lambda rows, field: next(iter(_field_values(rows, field)), None),
    "last": lambda rows, field: (_field_values(rows, field) or [None])[-1],
    "push": lambda rows, field: _field_values(rows, field),
    "add_to_set": lambda rows, field: [_plain(v) for v in dict.fromkeys(_hashable(v)
                                                                         for v in _field_values(rows, field))],
}

_HAVING = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
           "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _having(value: Any, condition: dict[str, Any]) -> bool:
    compare = _HAVING.get(condition.get("operator"))
    if compare is None:
        raise BadRequest(f"having operator must be one of {', '.join(_HAVING)}", code="invalid_aggregation")
    try:
        return value is not None and compare(value, condition.get("value"))
    except TypeError:
        return False
