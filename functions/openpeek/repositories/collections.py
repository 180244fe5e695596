"""Collections on the Table port, in the partition their namespace owns (`NS#<namespace_id>`), so deleting the
namespace deletes them. `COL#<id>` holds a collection; `COLNAME#<name>` reserves its name in the same transaction.

Every read takes the organisation too: a collection is found only through a namespace of the caller's organisation
(the namespace item is read first), so another organisation's collection is simply not there."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.collections import Collection
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import NamespaceRepository, owned_partition


class CollectionNameTaken(Exception):
    pass


def _sk(collection_id: str) -> str:
    return f"COL#{collection_id}"


def _name_sk(name: str) -> str:
    return f"COLNAME#{name}"


class CollectionRepository:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._namespaces = NamespaceRepository(table)

    def _owned(self, org_id: str, namespace_id: str) -> bool:
        return self._namespaces.get(org_id, namespace_id) is not None

    def _item(self, collection: Collection) -> dict:
        return {"pk": owned_partition(collection.namespace_id), "sk": _sk(collection.collection_id),
                "version": collection.version, **collection.to_record()}

    def _name_item(self, collection: Collection) -> dict:
        return {"pk": owned_partition(collection.namespace_id), "sk": _name_sk(collection.collection_name),
                "collection_id": collection.collection_id}

    def create(self, collection: Collection) -> None:
        """Raises CollectionNameTaken (and writes nothing) when the name is in use in the namespace."""
        try:
            self._table.transact_write([Put(self._item(collection), if_absent=True),
                                        Put(self._name_item(collection), if_absent=True)])
        except ConditionFailed:
            raise CollectionNameTaken(collection.collection_name) from None

    def get(self, org_id: str, namespace_id: str, identifier: str) -> Collection | None:
        """By id, then by name (the SDK's routes take either)."""
        if not self._owned(org_id, namespace_id):
            return None
        return self.find_in(namespace_id, identifier)

    def find_in(self, namespace_id: str, identifier: str) -> Collection | None:
        """By id or name, in a namespace the caller has already resolved for its organisation."""
        partition = owned_partition(namespace_id)
        item = self._table.get(partition, _sk(identifier))
        if item is None:
            reservation = self._table.get(partition, _name_sk(identifier))
            item = None if reservation is None else self._table.get(partition, _sk(reservation["collection_id"]))
        return None if item is None else Collection.from_record(item, item["version"])

    def list(self, org_id: str, namespace_id: str) -> list[Collection]:
        if not self._owned(org_id, namespace_id):
            return []
        return self.list_in(namespace_id)

    def list_in(self, namespace_id: str) -> list[Collection]:
        return [Collection.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "COL#")]

    def list_by_source_bucket(self, org_id: str, namespace_id: str, bucket_id: str) -> list[Collection]:
        return [c for c in self.list(org_id, namespace_id)
                if c.source.type == "bucket" and bucket_id in c.source.bucket_ids]

    def list_by_source_collection(self, org_id: str, namespace_id: str, collection_id: str) -> list[Collection]:
        return [c for c in self.list(org_id, namespace_id)
                if c.source.type == "collection" and c.source.collection_id == collection_id]

    def save(self, collection: Collection, previous: Collection) -> Collection:
        """Conditional on the version read; moves the name reservation on rename. Raises ConditionFailed or
        CollectionNameTaken, and then nothing was written."""
        saved = replace(collection, version=previous.version + 1)
        operations: list[Put | Delete] = [Put(self._item(saved), if_version=previous.version)]
        renamed = saved.collection_name != previous.collection_name
        if renamed:
            operations += [Delete(owned_partition(previous.namespace_id), _name_sk(previous.collection_name)),
                           Put(self._name_item(saved), if_absent=True)]
        try:
            self._table.transact_write(operations)
        except ConditionFailed:
            if renamed and self._table.get(owned_partition(saved.namespace_id), _name_sk(saved.collection_name)):
                raise CollectionNameTaken(saved.collection_name) from None
            raise
        return saved

    def replacement(self, collection: Collection, previous: Collection) -> Put:
        """The conditional write of `collection` over `previous` (same name), for a caller's own transaction."""
        return Put(self._item(replace(collection, version=previous.version + 1)), if_version=previous.version)

    def delete(self, collection: Collection) -> None:
        self._table.transact_write([
            Delete(owned_partition(collection.namespace_id), _sk(collection.collection_id)),
            Delete(owned_partition(collection.namespace_id), _name_sk(collection.collection_name)),
        ])
