"""Idempotency records of document upserts: `IDEMP#<key>` in the partition the namespace owns (deleted with it),
holding the request's fingerprint and its first answer until `expires_at` (the table's TTL attribute)."""

from __future__ import annotations

from typing import Any

from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


def _sk(key: str) -> str:
    return f"IDEMP#{key}"


class IdempotencyRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, namespace_id: str, key: str) -> dict[str, Any] | None:
        return self._table.get(owned_partition(namespace_id), _sk(key))

    def put(self, namespace_id: str, key: str, *, fingerprint: str, response: str, expires_at: int) -> None:
        self._table.put({"pk": owned_partition(namespace_id), "sk": _sk(key), "fingerprint": fingerprint,
                         "response": response, "expires_at": expires_at})
