"""Bucket objects on the Table port, in the partition their namespace owns (`NS#<namespace_id>`), so deleting the
namespace deletes them.

`OBJ#<bucket_id>#<object_id>` holds an object (object ids sort by creation time, so a bucket's objects come back
oldest first and a page ends at a key the next page starts after). Three kinds of pointer are written in the same
transaction as the object they point at:
- `OBJIDEM#<bucket_id>#<sha256(idempotency_key)>` → object_id: a retried create replays the first answer;
- `OBJUK#<bucket_id>#<sha256(unique key value)>` → object_id: unique_key values are unique without a scan;
- `OBJHASH#<bucket_id>#<fingerprint>#<object_id>`: what `skip_duplicates` looks for (any object with these bytes).

`OBJSTAT#<bucket_id>` holds the bucket's counts (objects, failed objects, bytes, last registration), changed in the
same transaction as every object write, conditional on its version: counts stay exact without reading the objects,
and a write that loses the race on them is retried here (only concurrent writers to one bucket contend).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import replace
from typing import Any, Iterator

from openpeek.domain.objects import STATUSES, BucketObject
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

_PAGE = 1000
_STATS_ATTEMPTS = 32


class IdempotencyKeyUsed(Exception):
    def __init__(self, object_id: str) -> None:
        super().__init__(object_id)
        self.object_id = object_id


class UniqueKeyTaken(Exception):
    def __init__(self, object_id: str) -> None:
        super().__init__(object_id)
        self.object_id = object_id


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _sk(bucket_id: str, object_id: str) -> str:
    return f"OBJ#{bucket_id}#{object_id}"


def _idempotency_sk(bucket_id: str, key: str) -> str:
    return f"OBJIDEM#{bucket_id}#{_digest(key)}"


def _unique_sk(bucket_id: str, value: str) -> str:
    return f"OBJUK#{bucket_id}#{_digest(value)}"


def _hash_prefix(bucket_id: str, fingerprint: str) -> str:
    return f"OBJHASH#{bucket_id}#{fingerprint}#"


def _stats_sk(bucket_id: str) -> str:
    return f"OBJSTAT#{bucket_id}"


def _contribution(obj: BucketObject | None) -> dict[str, int]:
    """What one object adds to its bucket's counts."""
    if obj is None:
        return {"object_count": 0, "failed_object_count": 0, "total_size_bytes": 0}
    return {"object_count": 1, "failed_object_count": int(obj.status == "FAILED"), "total_size_bytes": obj.size_bytes}


class ObjectRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, obj: BucketObject) -> dict[str, Any]:
        return {"pk": owned_partition(obj.namespace_id), "sk": _sk(obj.bucket_id, obj.object_id),
                "version": obj.version, **obj.to_record()}

    def _pointers(self, obj: BucketObject) -> dict[str, Put]:
        """The pointer items of an object, by kind."""
        pk = owned_partition(obj.namespace_id)
        pointers: dict[str, Put] = {}
        if obj.idempotency_key:
            pointers["idempotency"] = Put({"pk": pk, "sk": _idempotency_sk(obj.bucket_id, obj.idempotency_key),
                                           "object_id": obj.object_id}, if_absent=True)
        if obj.unique_key_value:
            pointers["unique"] = Put({"pk": pk, "sk": _unique_sk(obj.bucket_id, obj.unique_key_value),
                                      "object_id": obj.object_id}, if_absent=True)
        if obj.fingerprint:
            pointers["fingerprint"] = Put({"pk": pk, "sk": _hash_prefix(obj.bucket_id, obj.fingerprint)
                                           + obj.object_id, "object_id": obj.object_id})
        return pointers

    def _pointer_changes(self, obj: BucketObject, previous: BucketObject) -> list[Put | Delete]:
        """Pointers whose key changed: the old one goes, the new one comes (unchanged ones are left alone)."""
        before, after = self._pointers(previous), self._pointers(obj)
        operations: list[Put | Delete] = []
        for kind in ("idempotency", "unique", "fingerprint"):
            old, new = before.get(kind), after.get(kind)
            if old is not None and (new is None or new.item["sk"] != old.item["sk"]):
                operations.append(Delete(old.item["pk"], old.item["sk"]))
            if new is not None and (old is None or new.item["sk"] != old.item["sk"]):
                operations.append(new)
        return operations

    def _pointer_deletes(self, obj: BucketObject) -> list[Delete]:
        return [Delete(put.item["pk"], put.item["sk"]) for put in self._pointers(obj).values()]

    def _explain_conflict(self, obj: BucketObject) -> None:
        pk = owned_partition(obj.namespace_id)
        if obj.idempotency_key:
            pointer = self._table.get(pk, _idempotency_sk(obj.bucket_id, obj.idempotency_key))
            if pointer is not None and pointer["object_id"] != obj.object_id:
                raise IdempotencyKeyUsed(pointer["object_id"])
        if obj.unique_key_value:
            pointer = self._table.get(pk, _unique_sk(obj.bucket_id, obj.unique_key_value))
            if pointer is not None and pointer["object_id"] != obj.object_id:
                raise UniqueKeyTaken(pointer["object_id"])

    def create(self, obj: BucketObject) -> None:
        """The object, its pointers and the bucket's counts, all or nothing. Raises IdempotencyKeyUsed or
        UniqueKeyTaken (naming the object that holds the key); then nothing was written."""
        try:
            self._write_counted(obj.namespace_id, obj.bucket_id, None, obj,
                                [Put(self._item(obj), if_absent=True), *self._pointers(obj).values()])
        except ConditionFailed:
            self._explain_conflict(obj)
            raise

    def _write_counted(self, namespace_id: str, bucket_id: str, before: BucketObject | None,
                       after: BucketObject | None, operations: list[Put | Delete]) -> None:
        """`operations` plus the change of the bucket's counts from `before` to `after`, in one transaction. When it
        fails because another write changed the counts first, it is tried again on the new counts; any other
        failure is the caller's ConditionFailed."""
        pk = owned_partition(namespace_id)
        old, new = _contribution(before), _contribution(after)
        if before is not None and after is not None and old == new:
            self._table.transact_write(operations)  # the counts do not move: no need to contend for them
            return
        for attempt in range(_STATS_ATTEMPTS):
            stats = self._table.get(pk, _stats_sk(bucket_id))
            item = {key: (stats or {}).get(key, 0) + new[key] - old[key] for key in new}
            item.update(pk=pk, sk=_stats_sk(bucket_id), version=(stats or {}).get("version", 0) + 1,
                        last_upload_at=max(filter(None, [(stats or {}).get("last_upload_at"),
                                                         after.created_at if after and not before else None]),
                                           default=None))
            counted = Put(item, if_absent=True) if stats is None else Put(item, if_version=stats["version"])
            try:
                self._table.transact_write([*operations, counted])
                return
            except ConditionFailed:
                now = self._table.get(pk, _stats_sk(bucket_id))
                if (now or {}).get("version") == (stats or {}).get("version"):
                    raise  # the counts did not move: the conflict is the caller's
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ConditionFailed(f"the counts of bucket {bucket_id} kept changing; try again")

    def bucket_counts(self, namespace_id: str, bucket_id: str) -> dict[str, int | str | None]:
        """object_count, failed_object_count, total_size_bytes and last_upload_at of a bucket, without reading
        its objects."""
        stats = self._table.get(owned_partition(namespace_id), _stats_sk(bucket_id)) or {}
        return {"object_count": int(stats.get("object_count", 0)),
                "failed_object_count": int(stats.get("failed_object_count", 0)),
                "total_size_bytes": int(stats.get("total_size_bytes", 0)),
                "last_upload_at": stats.get("last_upload_at")}

    def get(self, org_id: str, namespace_id: str, bucket_id: str, object_id: str) -> BucketObject | None:
        item = self._table.get(owned_partition(namespace_id), _sk(bucket_id, object_id))
        if item is None or item.get("org_id") != org_id:
            return None
        return BucketObject.from_record(item, item["version"])

    def list_by_bucket(self, org_id: str, namespace_id: str, bucket_id: str, *, limit: int = 100,
                       after: str | None = None) -> tuple[list[BucketObject], str | None]:
        """A page of the bucket's objects, oldest first, and the object id the next page starts after (None at the
        end)."""
        prefix = f"OBJ#{bucket_id}#"
        items = self._table.query(owned_partition(namespace_id), prefix, limit=limit + 1,
                                  start_after=None if after is None else prefix + after)
        objects = [BucketObject.from_record(item, item["version"]) for item in items[:limit]
                   if item.get("org_id") == org_id]
        return objects, (items[limit - 1]["object_id"] if len(items) > limit else None)

    def iterate_bucket(self, org_id: str, namespace_id: str, bucket_id: str) -> Iterator[BucketObject]:
        """Every object of the bucket, oldest first, read a page at a time."""
        after = None
        while True:
            page, after = self.list_by_bucket(org_id, namespace_id, bucket_id, limit=_PAGE, after=after)
            yield from page
            if after is None:
                return

    def count_by_bucket(self, org_id: str, namespace_id: str, bucket_id: str) -> int:
        """The bucket's objects (the partition is the namespace's, which belongs to one organisation)."""
        return int(self.bucket_counts(namespace_id, bucket_id)["object_count"])

    def by_idempotency_key(self, org_id: str, namespace_id: str, bucket_id: str, key: str) -> BucketObject | None:
        pointer = self._table.get(owned_partition(namespace_id), _idempotency_sk(bucket_id, key))
        return None if pointer is None else self.get(org_id, namespace_id, bucket_id, pointer["object_id"])

    def by_unique_key(self, org_id: str, namespace_id: str, bucket_id: str, value: str) -> BucketObject | None:
        pointer = self._table.get(owned_partition(namespace_id), _unique_sk(bucket_id, value))
        return None if pointer is None else self.get(org_id, namespace_id, bucket_id, pointer["object_id"])

    def by_fingerprint(self, org_id: str, namespace_id: str, bucket_id: str, fingerprint: str) -> BucketObject | None:
        for pointer in self._table.query(owned_partition(namespace_id), _hash_prefix(bucket_id, fingerprint), limit=5):
            found = self.get(org_id, namespace_id, bucket_id, pointer["object_id"])
            if found is not None:
                return found
        return None

    def save(self, obj: BucketObject, previous: BucketObject) -> BucketObject:
        """Conditional on the version read; pointers follow changed keys. Raises ConditionFailed,
        IdempotencyKeyUsed or UniqueKeyTaken, and then nothing was written."""
        saved = replace(obj, version=previous.version + 1)
        try:
            self._write_counted(saved.namespace_id, saved.bucket_id, previous, saved,
                                [Put(self._item(saved), if_version=previous.version),
                                 *self._pointer_changes(saved, previous)])
        except ConditionFailed:
            self._explain_conflict(saved)
            raise
        return saved

    def update_status(self, org_id: str, namespace_id: str, bucket_id: str, object_id: str, status: str, *,
                      error: str | None = None, document_count: int | None = None,
                      updated_at: str | None = None, attempts: int = 5) -> BucketObject | None:
        """Move an object to `status` (PENDING, IN_PROGRESS, COMPLETED, FAILED) with its error and document count,
        re-reading and retrying when another writer got in between. None when the object is gone (deleted while it
        was processed: nothing to record)."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        for _ in range(attempts):
            current = self.get(org_id, namespace_id, bucket_id, object_id)
            if current is None:
                return None
            changed = replace(current, status=status, error=error,
                              document_count=current.document_count if document_count is None else document_count,
                              updated_at=updated_at or current.updated_at)
            try:
                return self.save(changed, current)
            except ConditionFailed:
                continue
        raise ConditionFailed(f"object {object_id} kept changing while its status was recorded")

    def delete(self, obj: BucketObject) -> None:
        """The object, its pointers and its share of the bucket's counts; deleting what is gone already is a
        no-op."""
        try:
            self._write_counted(obj.namespace_id, obj.bucket_id, obj, None,
                                [Delete(owned_partition(obj.namespace_id), _sk(obj.bucket_id, obj.object_id),
                                        if_exists=True), *self._pointer_deletes(obj)])
        except ConditionFailed:
            if self._table.get(owned_partition(obj.namespace_id), _sk(obj.bucket_id, obj.object_id)) is not None:
                raise

    def delete_bucket_items(self, namespace_id: str, bucket_id: str) -> int:
        """Every object and pointer of the bucket (the bucket is being deleted); returns how many items went."""
        pk = owned_partition(namespace_id)
        deleted = 0
        for prefix in (f"OBJ#{bucket_id}#", f"OBJIDEM#{bucket_id}#", f"OBJUK#{bucket_id}#", f"OBJHASH#{bucket_id}#",
                       _stats_sk(bucket_id)):
            while True:
                keys = [item["sk"] for item in self._table.query(pk, prefix, limit=100)]
                if not keys:
                    break
                for start in range(0, len(keys), 25):
                    self._table.transact_write([Delete(pk, sk) for sk in keys[start:start + 25]])
                deleted += len(keys)
        return deleted
