"""Search interactions on the Table port, in the partition of the namespace they belong to (so deleting the namespace
deletes them), each with `expires_at` (the table's TTL attribute), as long as the execution history is kept:

- `NS#<namespace_id>` / `RINT#<interaction_id>`: one interaction;
- `NS#<namespace_id>` / `RINTSEEN#<dedup key>`: the mark that (execution, document, types) was recorded, expiring
  after the deduplication window; written in the same transaction as the interaction, conditional on the mark read,
  so two concurrent duplicates cannot both be kept.

Reads skip items past their `expires_at`, since DynamoDB deletes expired items only eventually."""

from __future__ import annotations

import time
from typing import Any

from openpeek.domain.records import Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

_PREFIX = "RINT#"
_SEEN_PREFIX = "RINTSEEN#"
_KEYS = ("pk", "sk", "expires_at", "version")
RECORDS_PER_WRITE = 25  # a transaction takes at most 100 items and 4 MB; an interaction is at most a few tens of KB


def _sk(interaction_id: str = "") -> str:
    return f"{_PREFIX}{interaction_id}"


class InteractionRepository:
    def __init__(self, table: Table, ttl_seconds: int) -> None:
        self._table = table
        self._ttl_seconds = ttl_seconds

    def _item(self, namespace_id: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"pk": owned_partition(namespace_id), "sk": _sk(record["interaction_id"]),
                "expires_at": int(time.time()) + self._ttl_seconds, **record}

    def seen(self, namespace_id: str, dedup_key: str) -> dict[str, Any] | None:
        """The deduplication mark as stored (live or expired), or None; pass it to `record_once`."""
        return self._table.get(owned_partition(namespace_id), _SEEN_PREFIX + dedup_key)

    @staticmethod
    def is_live(mark: dict[str, Any] | None) -> bool:
        return mark is not None and int(mark.get("expires_at") or 0) > time.time()

    def record_once(self, namespace_id: str, record: dict[str, Any], dedup_key: str,
                    mark: dict[str, Any] | None, window_s: int) -> None:
        """The interaction and its deduplication mark together, conditional on the mark read (absent, or the expired
        one at its version). Raises ConditionFailed when another request marked it meanwhile."""
        partition = owned_partition(namespace_id)
        fresh = {"pk": partition, "sk": _SEEN_PREFIX + dedup_key, "interaction_id": record["interaction_id"],
                 "expires_at": int(time.time()) + window_s}
        marking = (Put({**fresh, "version": 1}, if_absent=True) if mark is None
                   else Put({**fresh, "version": int(mark.get("version") or 0) + 1}, if_version=mark.get("version")))
        self._table.transact_write([Put(self._item(namespace_id, record), if_absent=True), marking])

    def record_many(self, namespace_id: str, records: list[dict[str, Any]]) -> None:
        """Several interactions, one write per RECORDS_PER_WRITE."""
        for first in range(0, len(records), RECORDS_PER_WRITE):
            self._table.transact_write([Put(self._item(namespace_id, record), if_absent=True)
                                        for record in records[first:first + RECORDS_PER_WRITE]])

    def get(self, namespace_id: str, interaction_id: str) -> dict[str, Any] | None:
        return self._live(self._table.get(owned_partition(namespace_id), _sk(interaction_id)))

    def delete(self, namespace_id: str, interaction_id: str) -> None:
        self._table.delete(owned_partition(namespace_id), _sk(interaction_id))

    def list(self, namespace_id: str) -> list[dict[str, Any]]:
        """The namespace's live interactions, newest first."""
        found = [self._live(item) for item in self._table.query(owned_partition(namespace_id), _PREFIX)]
        live = [item for item in found if item is not None]
        return sorted(live, key=lambda item: (item.get("timestamp") or "", item["interaction_id"]), reverse=True)

    @staticmethod
    def _live(item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None or int(item.get("expires_at") or 0) <= time.time():
            return None
        return {key: value for key, value in item.items() if key not in _KEYS}
