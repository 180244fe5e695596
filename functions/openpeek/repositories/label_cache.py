"""Cached LLM cluster labels: `LABELCACHE#<namespace_id>` / `<cache key>` (the key hashes the cluster's content and the
labeling settings), kept until `expires_at` (the table's TTL attribute)."""

from __future__ import annotations

from typing import Any

from openpeek.ports import Table


def _pk(namespace_id: str) -> str:
    return f"LABELCACHE#{namespace_id}"


class LabelCacheRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, namespace_id: str, key: str) -> dict[str, Any] | None:
        return self._table.get(_pk(namespace_id), key)

    def put(self, namespace_id: str, key: str, entry: dict[str, Any]) -> None:
        self._table.put({"pk": _pk(namespace_id), "sk": key, **entry})
