"""Namespace snapshots on the Table port: `SNAP#<snapshot_id>` in the partition the namespace owns, so deleting the
namespace deletes its snapshot records (its blob prefix, which holds their artifacts, goes with it too)."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.records import Delete, Put
from openpeek.domain.snapshots import Snapshot
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

_PREFIX = "SNAP#"


def _sk(snapshot_id: str) -> str:
    return f"{_PREFIX}{snapshot_id}"


class SnapshotRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, snapshot: Snapshot) -> dict:
        return {"pk": owned_partition(snapshot.namespace_id), "sk": _sk(snapshot.snapshot_id),
                "version": snapshot.version, **snapshot.to_record()}

    def creation(self, snapshot: Snapshot) -> Put:
        """The write that creates the record; the caller puts it in the transaction that creates its task."""
        return Put(self._item(snapshot), if_absent=True)

    def get(self, namespace_id: str, snapshot_id: str) -> Snapshot | None:
        item = self._table.get(owned_partition(namespace_id), _sk(snapshot_id))
        return None if item is None else Snapshot.from_record(item, item["version"])

    def list(self, namespace_id: str) -> list[Snapshot]:
        """Newest first."""
        found = [Snapshot.from_record(item, item["version"])
                 for item in self._table.query(owned_partition(namespace_id), _PREFIX)]
        return sorted(found, key=lambda snapshot: (snapshot.created_at, snapshot.snapshot_id), reverse=True)

    def save(self, snapshot: Snapshot, previous: Snapshot) -> Snapshot:
        """Conditional on the version read (ConditionFailed when someone else wrote it)."""
        saved = replace(snapshot, version=previous.version + 1)
        self._table.put(self._item(saved), if_version=previous.version)
        return saved

    def deletion(self, snapshot: Snapshot) -> Delete:
        return Delete(owned_partition(snapshot.namespace_id), _sk(snapshot.snapshot_id), if_version=snapshot.version)
