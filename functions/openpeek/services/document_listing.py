"""Paging through a namespace's documents (the SDK's namespace-scoped `POST /v1/documents/list`): the filter languages
of domain.filters, an optional free-text search, cursor or offset paging, and an optional exact total.

The vector store pages with an opaque offset; that offset is the cursor handed back. Conditions the store cannot
evaluate (starts_with, ends_with, regex) and the free-text search are applied here, on pages read in order, and such a
scan stops after SCAN_LIMIT stored documents with a warning rather than reading a whole namespace for one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from openpeek.domain import documents as document_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.conditions import MatchAny
from openpeek.domain.conditions import Filter
from openpeek.ports import VectorStore

SCAN_LIMIT = 20_000
MAX_OFFSET = 10_000


@dataclass(frozen=True)
class DocumentQuery:
    filters: dict[str, Any] | None = None
    search: str | None = None
    limit: int = 10
    offset: int = 0
    cursor: str | None = None
    include_total: bool = False
    return_vectors: bool = False
    collection_ids: Sequence[str] | None = None
    select: Sequence[str] | None = None


class DocumentListing:
    def __init__(self, vectors: VectorStore) -> None:
        self._vectors = vectors

    def list(self, namespace: Namespace, query: DocumentQuery) -> dict[str, Any]:
        parsed = filter_rules.parse_filter(query.filters) if query.filters else None
        if query.collection_ids:
            scope = Filter(must=(MatchAny(key="collection_id", values=tuple(query.collection_ids)),))
            parsed = filter_rules.combine(parsed, scope)
        in_python = parsed is not None and filter_rules.needs_python(parsed)
        store_filter = filter_rules.strip_python_only(parsed) if in_python else parsed
        needle = (query.search or "").strip().lower()
        if query.offset > MAX_OFFSET:
            raise BadRequest(f"offset is at most {MAX_OFFSET}; page further with pagination.next_cursor",
                             code="offset_too_large", details={"max_offset": MAX_OFFSET})

        def wanted(point) -> bool:
            if in_python and not filter_rules.matches(parsed, point.payload, point.id):
                return False
            return not needle or _mentions(point.payload, needle) or needle in point.id.lower()

        skip = 0 if query.cursor else query.offset
        found: list = []
        scanned = 0
        position = query.cursor
        truncated = False
        while len(found) < query.limit:
            # Exactly as many as still needed when nothing is filtered here, so the cursor lands right after the
            # last document returned; a bounded batch when Python filters (the cursor then resumes at the batch's
            # end, which is still after every document returned).
            batch = query.limit - len(found) + skip if not (in_python or needle) else min(256, SCAN_LIMIT - scanned)
            if batch <= 0:
                truncated = True
                break
            points, position = self._vectors.scroll(namespace.collection, filter=store_filter, limit=batch,
                                                    offset=position, with_vectors=query.return_vectors)
            scanned += len(points)
            for point in points:
                if not wanted(point):
                    continue
                if skip:
                    skip -= 1
                    continue
                found.append(point)
            if position is None:
                break
            if (in_python or needle) and len(found) >= query.limit:
                break
        total = None
        if query.include_total and not (in_python or needle):
            total = self._vectors.count(namespace.collection, store_filter)
        results = [_select(document_rules.present(point, with_vectors=query.return_vectors), query.select)
                   for point in found[:query.limit]]
        for document in results:
            document.setdefault("collection_id", document_rules.DEFAULT_COLLECTION_ID)
        warnings = None
        if truncated:
            warnings = [f"the search or python-only filter stopped after scanning {SCAN_LIMIT} documents; "
                        "page on with pagination.next_cursor"]
        page_size = query.limit
        return {
            "results": results,
            "pagination": {"total": total, "page": (query.offset // page_size) + 1 if not query.cursor else None,
                           "page_size": page_size,
                           "total_pages": max(1, -(-total // page_size)) if total is not None else None,
                           "next_page": None, "previous_page": None, "next_cursor": position},
            "total_documents": total,
            "warnings": warnings,
        }


def _mentions(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value.lower()
    if isinstance(value, dict):
        return any(_mentions(item, needle) for key, item in value.items() if not str(key).startswith("_"))
    if isinstance(value, list):
        return any(_mentions(item, needle) for item in value[:64])
    return False


def _select(document: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if not fields:
        return document
    kept = {key: document[key] for key in ("document_id", "collection_id") if key in document}
    for path in fields:
        head = path.split(".", 1)[0]
        if head in document:
            kept[head] = document[head]
    return kept
