"""Listing an organisation's namespaces: filter, search, sort, paginate, and the aggregate stats of the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openpeek.domain.errors import BadRequest
from openpeek.domain.paging import Window
from openpeek.services.namespaces import NamespaceService, NamespaceView
from openpeek.services.organizations import Principal

FILTERABLE = ("namespace_id", "namespace_name", "namespace_type", "mode", "description")
SORTABLE = ("namespace_name", "namespace_id", "created_at", "updated_at", "expires_at", "namespace_type", "mode")


@dataclass
class ListQuery:
    limit: int = 100
    offset: int = 0
    search: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    sorts: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    case_sensitive: bool = False
    include_total: bool = False


@dataclass
class Page:
    views: list[NamespaceView]
    total_count: int
    pagination: dict[str, Any]
    stats: dict[str, Any]


class NamespaceListing:
    def __init__(self, namespaces: NamespaceService) -> None:
        self._namespaces = namespaces

    def list(self, principal: Principal, query: ListQuery) -> Page:
        unknown = sorted(set(query.filters) - set(FILTERABLE))
        if unknown:
            raise BadRequest(
                f"Cannot filter namespaces on {unknown}; filterable fields: {list(FILTERABLE)}",
                code="invalid_filter",
                details={"unknown": unknown, "accepted": list(FILTERABLE)},
            )
        for name, _ in query.sorts:
            if name not in SORTABLE:
                raise BadRequest(
                    f"Cannot sort namespaces on '{name}'; sortable fields: {list(SORTABLE)}",
                    code="invalid_sort",
                    details={"field": name, "accepted": list(SORTABLE)},
                )
        fold = (lambda text: text) if query.case_sensitive else (lambda text: text.lower())
        records = [namespace.to_record() | {"namespace": namespace} for namespace in self._namespaces.list(principal)]

        def matches(record: dict[str, Any]) -> bool:
            for key, wanted in query.filters.items():
                values = wanted if isinstance(wanted, list) else [wanted]
                if fold(str(record.get(key) or "")) not in {fold(str(value)) for value in values}:
                    return False
            if query.search:
                needle = fold(query.search)
                haystack = (record["namespace_id"], record["namespace_name"], record.get("description") or "")
                if not any(needle in fold(text) for text in haystack):
                    return False
            return True

        selected = [record for record in records if matches(record)]
        selected.sort(key=lambda record: record["created_at"], reverse=True)  # newest first unless told otherwise
        for name, descending in reversed(query.sorts):
            selected.sort(key=lambda record: (record.get(name) is None, record.get(name) or ""), reverse=descending)

        window = Window(query.offset, query.limit)
        views = [NamespaceView(record["namespace"], self._namespaces.live_info(record["namespace"]),
                               counts=self._namespaces.content_counts(record["namespace"]))
                 for record in window.of_list(selected)]
        pagination = window.cursor_pagination(len(selected), include_total=query.include_total)
        return Page(views=views, total_count=len(selected), pagination=pagination, stats=_stats(views))


def _stats(views: list[NamespaceView]) -> dict[str, Any]:
    count = len(views) or 1
    extractors = sum(len(view.namespace.feature_extractors) for view in views)
    indexes = sum(len(view.namespace.user_payload_indexes()) for view in views)
    documents = sum(view.document_count or 0 for view in views)
    return {
        "total_feature_extractors": extractors,
        "total_payload_indexes": indexes,
        "total_documents": documents,
        "total_documents_complete": all(view.info is not None for view in views),
        "total_buckets": 0,
        "total_collections": 0,
        "total_objects": 0,
        "avg_feature_extractors_per_namespace": extractors / count,
        "avg_payload_indexes_per_namespace": indexes / count,
        "avg_documents_per_namespace": documents / count,
        "avg_buckets_per_namespace": 0.0,
        "avg_collections_per_namespace": 0.0,
        "avg_objects_per_namespace": 0.0,
    }
