"""A collection's tier state (transition in progress, policy, last query) on the Table port, beside the collection
item in its namespace's partition (`COLTIER#<collection_id>`), so deleting the namespace deletes it. The collection's
`lifecycle_state` and its tier state change together in one transaction."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.collections import Collection
from openpeek.domain.tiering import TierState
from openpeek.domain.records import Put
from openpeek.ports import Table
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import owned_partition

SWEEP_PARTITION = "TIERING"


def _sk(collection_id: str) -> str:
    return f"COLTIER#{collection_id}"


class TierStateRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._collections = CollectionRepository(table)

    def register(self, namespace_id: str) -> None:
        """Put the namespace on the sweeper's list (idempotent): the sweeper visits registered namespaces only."""
        self._table.put({"pk": SWEEP_PARTITION, "sk": f"NS#{namespace_id}", "namespace_id": namespace_id})

    def registered(self) -> list[str]:
        return [item["namespace_id"] for item in self._table.query(SWEEP_PARTITION, "NS#")]

    def unregister(self, namespace_id: str) -> None:
        self._table.delete(SWEEP_PARTITION, f"NS#{namespace_id}")

    def get(self, namespace_id: str, collection_id: str) -> TierState:
        item = self._table.get(owned_partition(namespace_id), _sk(collection_id))
        if item is None:
            return TierState(collection_id)
        return TierState.from_record(item, item["version"])

    def list_in(self, namespace_id: str) -> dict[str, TierState]:
        return {item["collection_id"]: TierState.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "COLTIER#")}

    def write(self, namespace_id: str, state: TierState, previous: TierState) -> Put:
        item = {"pk": owned_partition(namespace_id), "sk": _sk(state.collection_id), "version": previous.version + 1,
                **state.to_record()}
        if previous.version == 0:
            return Put(item, if_absent=True)
        return Put(item, if_version=previous.version)

    def save(self, namespace_id: str, state: TierState, previous: TierState) -> TierState:
        """Conditional on the version read (ConditionFailed when someone else wrote it)."""
        self._table.transact_write([self.write(namespace_id, state, previous)])
        return replace(state, version=previous.version + 1)

    def save_with_collection(self, collection: Collection, previous_collection: Collection, state: TierState,
                             previous: TierState) -> tuple[Collection, TierState]:
        """The collection item (its lifecycle_state) and the tier state in one transaction."""
        saved = replace(collection, version=previous_collection.version + 1)
        self._table.transact_write([
            self._collections.replacement(collection, previous_collection),
            self.write(collection.namespace_id, state, previous),
        ])
        return saved, replace(state, version=previous.version + 1)
