"""Automatic payload indexes (seed 000's auto_create_indexes): every 6 hours, a field of a namespace that has the
setting on and that was filtered more than 100 times in the last 24 hours gets a payload index of the type its stored
values show, marked automatic. Never a second index on a field, never one on a protected or system field."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpeek.domain.clock import utcnow
from openpeek.domain.documents import INTERNAL, SYSTEM_FIELDS
from openpeek.domain.payload_indexes import PROTECTED_FIELD_NAMES, PayloadIndex
from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import VectorStore
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.namespaces import NamespaceService

THRESHOLD = 100  # filtered more than this many times in 24 h
SAMPLE = 64  # stored values looked at to choose the index type
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

logger = logging.getLogger(__name__)


@dataclass
class AutoIndexResult:
    created: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def index_type(values: list[Any]) -> str | None:
    """The payload index type the values call for (all must agree), or None when they do not say."""
    kinds = set()
    for value in values:
        if isinstance(value, list):
            kinds.update(index_type([v]) or "mixed" for v in value)
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("float")
        elif isinstance(value, str):
            kinds.add("datetime" if _DATETIME.match(value) else "uuid" if _UUID.match(value) else "keyword")
        elif isinstance(value, dict) and {"lat", "lon"} <= set(value):
            kinds.add("geo")
        else:
            kinds.add("mixed")
    if kinds == {"integer", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 and "mixed" not in kinds else None


def protected(field_name: str) -> bool:
    return (field_name in PROTECTED_FIELD_NAMES or field_name.split(".")[0] in SYSTEM_FIELDS
            or field_name.startswith(INTERNAL))


class AutoIndexer:
    def __init__(self, usage: FilterUsage, repository: NamespaceRepository, namespaces: NamespaceService,
                 vectors: VectorStore, threshold: int = THRESHOLD) -> None:
        self._usage = usage
        self._repository = repository
        self._namespaces = namespaces
        self._vectors = vectors
        self._threshold = threshold

    def run(self, now: datetime | None = None) -> AutoIndexResult:
        self._usage.flush()  # this process's own counts count too
        result = AutoIndexResult()
        for namespace_id, counts in self._usage.last_day(now or utcnow()).items():
            namespace = self._repository.get_by_id(namespace_id)
            if namespace is None or not namespace.auto_create_indexes:
                continue
            indexed = {index.field_name for index in namespace.payload_indexes}
            for field_name, count in counts.most_common():
                if count <= self._threshold or field_name in indexed:
                    continue
                if protected(field_name):
                    result.skipped.append({"namespace_id": namespace_id, "field": field_name, "reason": "protected"})
                    continue
                kind = index_type(self._sample(namespace.collection, field_name))
                if kind is None:
                    result.skipped.append({"namespace_id": namespace_id, "field": field_name,
                                           "reason": "values of no single indexable type"})
                    continue
                try:
                    saved = self._namespaces.add_automatic_index(
                        namespace_id, PayloadIndex(field_name=field_name, type=kind, automatic=True))
                except DependencyUnavailable as error:
                    logger.warning("auto-index %s.%s failed, next run retries: %s", namespace_id, field_name, error)
                    continue
                if saved is not None:
                    result.created.append({"namespace_id": namespace_id, "field": field_name, "type": kind})
        return result

    def _sample(self, collection: str, field_name: str) -> list[Any]:
        from openpeek.domain.conditions import Filter, IsEmpty

        points, _ = self._vectors.scroll(collection, filter=Filter(must_not=(IsEmpty(field_name),)), limit=SAMPLE)
        values = []
        for point in points:
            value: Any = point.payload
            for part in field_name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                values.append(value)
        return values
