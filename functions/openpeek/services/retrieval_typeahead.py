"""Typeahead for a search box (the SDK's TypeaheadResponse): values of the named metadata fields that start with the
typed prefix, with document counts, and the namespace's recent retriever queries that start with it.

Field values are counted over a bounded scan of the namespace's documents (the first FIELD_SCAN_LIMIT of them, the
response's warnings say when the scan stopped short); collection names are not a source in this deployment."""

from __future__ import annotations

from collections import Counter
from typing import Any

from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import stored_key
from openpeek.domain.namespace import Namespace
from openpeek.ports import VectorStore
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository

MAX_FIELDS = 5
FIELD_SCAN_LIMIT = 10_000
SCAN_PAGE = 1_000
RECENT_SCAN = 500


class Typeahead:
    def __init__(self, vectors: VectorStore, executions: RetrieverExecutionRepository) -> None:
        self._vectors = vectors
        self._executions = executions

    def suggest(self, namespace: Namespace, prefix: str, fields: list[str], limit: int) -> dict[str, Any]:
        if len(fields) > MAX_FIELDS:
            raise BadRequest(f"at most {MAX_FIELDS} fields", code="invalid_fields", details={"fields": fields})
        folded = prefix.casefold()
        warnings: list[str] = []
        values = []
        if fields:
            counts, complete = self._field_values(namespace, fields, folded)
            if not complete:
                warnings.append(f"field values: counted over the first {FIELD_SCAN_LIMIT} documents only")
            for field in fields:
                ranked = sorted(counts[field].items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
                values += [{"field": field, "value": value, "count": count} for value, count in ranked]
        recent = self._recent(namespace, folded, limit)
        suggestions: list[str] = []
        for text in [v["value"] for v in values] + recent:
            if text not in suggestions:
                suggestions.append(text)
        return {"query": prefix, "suggestions": suggestions[:limit], "values": values, "collections": [],
                "recent_searches": recent, "warnings": warnings or None}

    def _field_values(self, namespace: Namespace, fields: list[str], folded: str
                      ) -> tuple[dict[str, Counter], bool]:
        paths = {field: stored_key(field).split(".") for field in fields}
        counts: dict[str, Counter] = {field: Counter() for field in fields}
        tops = sorted({path[0] for path in paths.values()})
        offset, scanned = None, 0
        while scanned < FIELD_SCAN_LIMIT:
            points, offset = self._vectors.scroll(namespace.collection, limit=SCAN_PAGE, offset=offset,
                                                  payload_fields=tops)
            scanned += len(points)
            for point in points:
                for field, path in paths.items():
                    for value in _values_at(point.payload, path):
                        if isinstance(value, str) and value.casefold().startswith(folded):
                            counts[field][value] += 1
            if offset is None:
                return counts, True
        return counts, False

    def _recent(self, namespace: Namespace, folded: str, limit: int) -> list[str]:
        found: list[str] = []
        for run in self._executions.recent_queries(namespace.namespace_id, RECENT_SCAN):
            text = run.get("query_text")
            if isinstance(text, str) and text.casefold().startswith(folded) and text not in found:
                found.append(text)
        return found[:limit]


def _values_at(payload: Any, path: list[str]) -> list[Any]:
    found = payload
    for part in path:
        found = found.get(part) if isinstance(found, dict) else None
    if isinstance(found, list):
        return found
    return [] if found is None else [found]
