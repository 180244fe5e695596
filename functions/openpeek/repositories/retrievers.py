"""Retrievers on the Table port, in the partition their namespace owns (`NS#<namespace_id>`), so deleting the
namespace deletes them. `RET#<id>` holds a retriever; `RETNAME#<name>` reserves its name in the same transaction."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.retrievers import Retriever
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


class RetrieverNameTaken(Exception):
    pass


def _name_sk(name: str) -> str:
    return f"RETNAME#{name}"


class RetrieverRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, retriever: Retriever) -> dict:
        return {"pk": owned_partition(retriever.namespace_id), "sk": f"RET#{retriever.retriever_id}",
                "version": retriever.version, **retriever.to_record()}

    def _name_item(self, retriever: Retriever) -> dict:
        return {"pk": owned_partition(retriever.namespace_id), "sk": _name_sk(retriever.retriever_name),
                "retriever_id": retriever.retriever_id}

    def create(self, retriever: Retriever) -> None:
        try:
            self._table.transact_write([Put(self._item(retriever), if_absent=True),
                                        Put(self._name_item(retriever), if_absent=True)])
        except ConditionFailed:
            raise RetrieverNameTaken(retriever.retriever_name) from None

    def get(self, namespace_id: str, retriever_id: str) -> Retriever | None:
        item = self._table.get(owned_partition(namespace_id), f"RET#{retriever_id}")
        return None if item is None else Retriever.from_record(item, item["version"])

    def find(self, namespace_id: str, identifier: str) -> Retriever | None:
        """By id, then by name (the SDK's routes take either)."""
        found = self.get(namespace_id, identifier)
        if found is not None:
            return found
        reservation = self._table.get(owned_partition(namespace_id), _name_sk(identifier))
        return None if reservation is None else self.get(namespace_id, reservation["retriever_id"])

    def list(self, namespace_id: str) -> list[Retriever]:
        return [Retriever.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "RET#")]

    def save(self, retriever: Retriever, previous: Retriever) -> Retriever:
        """Conditional on the version read; moves the name reservation on rename. Raises ConditionFailed or
        RetrieverNameTaken, and then nothing was written."""
        saved = replace(retriever, version=previous.version + 1)
        operations: list[Put | Delete] = [Put(self._item(saved), if_version=previous.version)]
        renamed = saved.retriever_name != previous.retriever_name
        if renamed:
            operations += [Delete(owned_partition(previous.namespace_id), _name_sk(previous.retriever_name)),
                           Put(self._name_item(saved), if_absent=True)]
        try:
            self._table.transact_write(operations)
        except ConditionFailed:
            if renamed and self._table.get(owned_partition(saved.namespace_id), _name_sk(saved.retriever_name)):
                raise RetrieverNameTaken(saved.retriever_name) from None
            raise
        return saved

    def delete(self, retriever: Retriever) -> None:
        self._table.transact_write([
            Delete(owned_partition(retriever.namespace_id), f"RET#{retriever.retriever_id}"),
            Delete(owned_partition(retriever.namespace_id), _name_sk(retriever.retriever_name)),
        ])
