"""Filter usage counters: one item per hour and namespace (`FILTERUSE#<yyyymmddhh>` / `<namespace_id>`), all of an
hour in one partition so the auto-indexer reads a day without a scan; `counts` maps field → times filtered."""

from __future__ import annotations

from collections import Counter
from typing import Any

from openpeek.ports import Table


def _pk(hour: str) -> str:
    return f"FILTERUSE#{hour}"


class FilterUsageRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, hour: str, namespace_id: str) -> dict[str, Any] | None:
        return self._table.get(_pk(hour), namespace_id)

    def save(self, hour: str, namespace_id: str, counts: Counter, *, expires_at: int,
             previous: dict[str, Any] | None) -> None:
        """Conditional on `previous` (the item read, or None when there was none): ConditionFailed when another writer
        changed it meanwhile."""
        item = {"pk": _pk(hour), "sk": namespace_id, "counts": dict(counts),
                "version": (previous["version"] + 1) if previous else 1, "expires_at": expires_at}
        if previous is None:
            self._table.put(item, if_absent=True)
        else:
            self._table.put(item, if_version=previous["version"])

    def hour(self, hour: str) -> dict[str, Counter]:
        """namespace_id → counts of one hour."""
        return {item["sk"]: Counter(item["counts"]) for item in self._table.query(_pk(hour))}
