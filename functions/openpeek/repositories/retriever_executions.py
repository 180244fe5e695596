"""Retriever execution history on the Table port, in the partition of the namespace it ran in (so deleting the
namespace deletes it): `REXEC#<retriever_id>#<execution_id>` for a stored retriever's run, `AEXEC#<execution_id>`
for an ad-hoc one. Each item carries `expires_at` (the table's TTL attribute); reads skip items past it, since
DynamoDB deletes expired items only eventually."""

from __future__ import annotations

import time
from typing import Any

from openpeek.domain.records import Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

_RETRIEVER_PREFIX = "REXEC#"
_ADHOC_PREFIX = "AEXEC#"
_KEYS = ("pk", "sk", "expires_at")
RECORDS_PER_WRITE = 25  # a transaction takes at most 100 items and 4 MB; a record with its stage profile is a few KB


def _retriever_sk(retriever_id: str, execution_id: str = "") -> str:
    return f"{_RETRIEVER_PREFIX}{retriever_id}#{execution_id}"


def _adhoc_sk(execution_id: str = "") -> str:
    return f"{_ADHOC_PREFIX}{execution_id}"


class RetrieverExecutionRepository:
    def __init__(self, table: Table, ttl_seconds: int) -> None:
        self._table = table
        self._ttl_seconds = ttl_seconds

    def record(self, namespace_id: str, record: dict[str, Any]) -> None:
        """`record` has execution_id and retriever_id (None for an ad-hoc run)."""
        self._table.put(self._item(namespace_id, record))

    def record_many(self, namespace_id: str, records: list[dict[str, Any]]) -> None:
        """Several runs (a batch execution's) in one write per RECORDS_PER_WRITE instead of one each."""
        for first in range(0, len(records), RECORDS_PER_WRITE):
            self._table.transact_write([Put(self._item(namespace_id, record))
                                        for record in records[first:first + RECORDS_PER_WRITE]])

    def _item(self, namespace_id: str, record: dict[str, Any]) -> dict[str, Any]:
        retriever_id = record.get("retriever_id")
        sk = _retriever_sk(retriever_id, record["execution_id"]) if retriever_id else _adhoc_sk(record["execution_id"])
        return {"pk": owned_partition(namespace_id), "sk": sk, "expires_at": int(time.time()) + self._ttl_seconds,
                **record}

    def get(self, namespace_id: str, retriever_id: str | None, execution_id: str) -> dict[str, Any] | None:
        sk = _retriever_sk(retriever_id, execution_id) if retriever_id else _adhoc_sk(execution_id)
        item = self._table.get(owned_partition(namespace_id), sk)
        return self._live(item)

    def list(self, namespace_id: str, retriever_id: str | None) -> list[dict[str, Any]]:
        """Newest first."""
        prefix = _retriever_sk(retriever_id) if retriever_id else _adhoc_sk()
        found = [self._live(item) for item in self._table.query(owned_partition(namespace_id), prefix)]
        live = [item for item in found if item is not None]
        return sorted(live, key=lambda item: (item.get("created_at") or "", item["execution_id"]), reverse=True)

    def recent_queries(self, namespace_id: str, limit: int) -> list[dict[str, Any]]:
        """The namespace's live runs of every retriever and ad-hoc, newest first, at most `limit`."""
        pk = owned_partition(namespace_id)
        found = [self._live(item) for prefix in (_RETRIEVER_PREFIX, _ADHOC_PREFIX)
                 for item in self._table.query(pk, prefix)]
        live = [item for item in found if item is not None]
        return sorted(live, key=lambda item: item.get("created_at") or "", reverse=True)[:limit]

    def _live(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None or int(item.get("expires_at") or 0) <= time.time():
            return None
        return {key: value for key, value in item.items() if key not in _KEYS}
