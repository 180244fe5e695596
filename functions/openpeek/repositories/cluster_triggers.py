"""Cluster triggers on the Table port, in the partition of the namespace that owns them (`NS#<namespace_id>`):
`TRG#<trigger_id>` holds a trigger, `TRGFIRE#<trigger_id>#<triggered_at>#<n>` one entry of its history. Deleting the
namespace deletes both with the rest of its partition.

An active trigger is also in the secondary index `gsi1` under `TRGDUE`, sorted by the time it is next due, so the
scheduled check finds the due ones across every organisation without a scan; a paused one leaves the index."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from openpeek.domain.clock import parse
from openpeek.domain.cluster_triggers import ClusterTrigger, Firing
from openpeek.domain.ids import new_id
from openpeek.domain.records import Delete
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

INDEX = "gsi1"
DUE = "TRGDUE"
HISTORY_RETENTION_S = 90 * 24 * 3600


def _trigger_sk(trigger_id: str) -> str:
    return f"TRG#{trigger_id}"


def _history_prefix(trigger_id: str) -> str:
    return f"TRGFIRE#{trigger_id}#"


class ClusterTriggerRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, trigger: ClusterTrigger) -> dict:
        item = {"pk": owned_partition(trigger.namespace_id), "sk": _trigger_sk(trigger.trigger_id),
                "version": trigger.version, **trigger.to_record()}
        if trigger.active and trigger.next_scheduled_at:
            item.update(gsi1pk=DUE, gsi1sk=f"{trigger.next_scheduled_at}#{trigger.trigger_id}")
        return item

    def get(self, namespace_id: str, trigger_id: str) -> ClusterTrigger | None:
        item = self._table.get(owned_partition(namespace_id), _trigger_sk(trigger_id))
        return None if item is None else ClusterTrigger.from_record(item, item["version"])

    def list(self, namespace_id: str) -> list[ClusterTrigger]:
        return [ClusterTrigger.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "TRG#")]

    def create(self, trigger: ClusterTrigger) -> None:
        self._table.put(self._item(trigger), if_absent=True)

    def save(self, trigger: ClusterTrigger, previous: ClusterTrigger) -> ClusterTrigger:
        """Stores `trigger` over the version read; ConditionFailed when another writer changed it since."""
        saved = replace(trigger, version=previous.version + 1)
        self._table.put(self._item(saved), if_version=previous.version)
        return saved

    def delete(self, trigger: ClusterTrigger) -> None:
        """The trigger and its history."""
        partition = owned_partition(trigger.namespace_id)
        keys = [(partition, _trigger_sk(trigger.trigger_id))] + [
            (item["pk"], item["sk"]) for item in self._table.query(partition, _history_prefix(trigger.trigger_id))]
        for start in range(0, len(keys), 100):
            self._table.transact_write([Delete(pk, sk) for pk, sk in keys[start:start + 100]])

    def due(self, now_iso: str, limit: int = 500) -> list[tuple[str, str]]:
        """(namespace_id, trigger_id) of the active triggers due at `now_iso`, soonest first. The index is eventually
        consistent: re-read each trigger before acting on it."""
        below = f"{now_iso}#\uffff"  # every trigger due at exactly now_iso, too
        return [(item["namespace_id"], item["trigger_id"])
                for item in self._table.query_index(INDEX, DUE, sk_below=below, limit=limit)]

    # -- history -----------------------------------------------------------------------------------------------------

    def record(self, namespace_id: str, firing: Firing) -> None:
        # The random suffix keeps two firings recorded in the same millisecond apart. A trigger firing every minute
        # would pile up entries for ever: each expires (the table's TTL) HISTORY_RETENTION_S after it fired.
        sk = f"{_history_prefix(firing.trigger_id)}{firing.triggered_at}#{new_id('f', 8)}"
        expires_at = int(parse(firing.triggered_at).timestamp()) + HISTORY_RETENTION_S
        self._table.put({"pk": owned_partition(namespace_id), "sk": sk, "expires_at": expires_at,
                         **firing.to_record()}, if_absent=True)

    def history(self, namespace_id: str, trigger_id: str, now: datetime) -> list[Firing]:
        """Newest first, without the entries past their retention (the TTL sweep removes them in its own time)."""
        return [Firing.from_record(item) for item in
                self._table.query(owned_partition(namespace_id), _history_prefix(trigger_id), descending=True)
                if int(item.get("expires_at") or 0) > now.timestamp()]
