"""Buckets on the Table port, in the partition their namespace owns (`NS#<namespace_id>`), so deleting the namespace
deletes them. `BKT#<bucket_id>` holds a bucket; `BKTNAME#<name>` reserves its name in the same transaction."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.buckets import Bucket
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


class BucketNameTaken(Exception):
    pass


def _sk(bucket_id: str) -> str:
    return f"BKT#{bucket_id}"


def _name_sk(name: str) -> str:
    return f"BKTNAME#{name}"


class BucketRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, bucket: Bucket) -> dict:
        return {"pk": owned_partition(bucket.namespace_id), "sk": _sk(bucket.bucket_id), "version": bucket.version,
                **bucket.to_record()}

    def _name_item(self, bucket: Bucket) -> dict:
        return {"pk": owned_partition(bucket.namespace_id), "sk": _name_sk(bucket.bucket_name),
                "bucket_id": bucket.bucket_id}

    def create(self, bucket: Bucket) -> None:
        """Raises BucketNameTaken; then nothing was written."""
        try:
            self._table.transact_write([Put(self._item(bucket), if_absent=True),
                                        Put(self._name_item(bucket), if_absent=True)])
        except ConditionFailed:
            raise BucketNameTaken(bucket.bucket_name) from None

    def _by_id(self, org_id: str, namespace_id: str, bucket_id: str) -> Bucket | None:
        item = self._table.get(owned_partition(namespace_id), _sk(bucket_id))
        if item is None or item.get("org_id") != org_id:
            return None
        return Bucket.from_record(item, item["version"])

    def get(self, org_id: str, namespace_id: str, identifier: str) -> Bucket | None:
        """By id, then by name (the SDK's `bucket_identifier` is either). Another organisation's bucket is None."""
        found = self._by_id(org_id, namespace_id, identifier)
        if found is not None:
            return found
        reservation = self._table.get(owned_partition(namespace_id), _name_sk(identifier))
        return None if reservation is None else self._by_id(org_id, namespace_id, reservation["bucket_id"])

    def list(self, org_id: str, namespace_id: str) -> list[Bucket]:
        return [Bucket.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "BKT#") if item.get("org_id") == org_id]

    def save(self, bucket: Bucket, previous: Bucket) -> Bucket:
        """Conditional on the version read; moves the name reservation on rename. Raises ConditionFailed or
        BucketNameTaken, and then nothing was written."""
        saved = replace(bucket, version=previous.version + 1)
        operations: list[Put | Delete] = [Put(self._item(saved), if_version=previous.version)]
        renamed = saved.bucket_name != previous.bucket_name
        if renamed:
            operations += [Delete(owned_partition(previous.namespace_id), _name_sk(previous.bucket_name)),
                           Put(self._name_item(saved), if_absent=True)]
        try:
            self._table.transact_write(operations)
        except ConditionFailed:
            if renamed and self._table.get(owned_partition(saved.namespace_id), _name_sk(saved.bucket_name)):
                raise BucketNameTaken(saved.bucket_name) from None
            raise
        return saved

    def delete(self, bucket: Bucket) -> None:
        self._table.transact_write([Delete(owned_partition(bucket.namespace_id), _sk(bucket.bucket_id)),
                                    Delete(owned_partition(bucket.namespace_id), _name_sk(bucket.bucket_name))])
