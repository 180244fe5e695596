"""Batches on the Table port.

- `NS#<namespace_id>` / `BATCH#<batch_id>`: the batch, in the partition its namespace owns (deleted with it).
- `NS#<namespace_id>` / `BATCHIDS#<batch_id>#<object_ids|retrying>#<n>`: the batch's id lists, a thousand ids per
  item (a batch of 50,000 objects would not fit in one DynamoDB item); rewritten only when the list changes.
- `BATCHID#<batch_id>` / `BATCH`: which organisation and namespace hold it (`/v1/batches/{id}` names no bucket).
- `ORGBATCHES#<org_id>` / `<created_at>#<batch_id>`: the organisation's batches, for `/v1/batches/list` without a
  namespace; entries whose batch went with its namespace are skipped and cleaned up.
- `NS#<namespace_id>` / `AUTOBATCH#<bucket_id>`: the bucket's automatic DRAFT that new objects join (a promoted
  namespace); replaced, conditionally on its version, when that batch has been submitted.
- The secondary index `gsi1` finds, without a scan, DRAFT batches by creation time (`BATCHDRAFT`: the reaper cancels
  those older than 30 minutes) and running ones (`BATCHACTIVE`: a restarted worker resumes them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from openpeek.domain import batches as rules
from openpeek.domain.batches import Batch
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

INDEX = "gsi1"
DRAFTS = "BATCHDRAFT"
ACTIVE = "BATCHACTIVE"


def extraction_job_key(namespace_id: str, batch_id: str, attempt: int, tier: int, part: int) -> str:
    """Where a heavy tier's extraction job of one manifest part keeps its files: input/ (what the job embeds) and
    output/ (what it made), under the attempt's prefix (deleted with the manifests)."""
    return f"{manifest_key(namespace_id, batch_id, attempt)}tier{tier}/job{part:05d}/"


def manifest_key(namespace_id: str, batch_id: str, attempt: int, tier: int | None = None,
                 part: int | None = None) -> str:
    """Where a deployed run keeps its manifest parts (under the namespace's prefix: deleted with it); without tier
    and part, the prefix of the whole attempt."""
    prefix = f"namespaces/{namespace_id}/batches/{batch_id}/{attempt}/"
    if tier is None:
        return prefix
    return f"{prefix}tier{tier}/part{part:05d}.json"


ID_LISTS = ("object_ids", "retrying")
IDS_PER_ITEM = 1000  # ~27 KB of ids per item


def _ids_sk(batch_id: str, kind: str, number: int) -> str:
    return f"BATCHIDS#{batch_id}#{kind}#{number:04d}"


def _sk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


def _pointer_pk(batch_id: str) -> str:
    return f"BATCHID#{batch_id}"


def _org_pk(org_id: str) -> str:
    return f"ORGBATCHES#{org_id}"


def _automatic_sk(bucket_id: str) -> str:
    return f"AUTOBATCH#{bucket_id}"


@dataclass(frozen=True)
class AutomaticDraftPointer:
    """Which batch a bucket's new objects join, at which version of the pointer."""

    batch_id: str
    version: int


class BatchRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, batch: Batch) -> dict:
        record = batch.to_record()
        ids = {kind: record.pop(kind) for kind in ID_LISTS}
        item = {"pk": owned_partition(batch.namespace_id), "sk": _sk(batch.batch_id), "version": batch.version,
                **record, "id_chunks": {kind: -(-len(values) // IDS_PER_ITEM) for kind, values in ids.items()}}
        if batch.status == rules.DRAFT:
            item.update(gsi1pk=DRAFTS, gsi1sk=f"{batch.created_at}#{batch.batch_id}")
        elif batch.status in rules.ACTIVE:
            item.update(gsi1pk=ACTIVE, gsi1sk=f"{batch.submitted_at or batch.created_at}#{batch.batch_id}")
        return item

    def _id_writes(self, batch: Batch, previous: Batch | None) -> list[Put | Delete]:
        """The id-list items that changed: a batch's object ids (up to 50,000) live beside its item, a thousand per
        item, so the batch item stays far below DynamoDB's 400 KB whatever the batch's size."""
        writes: list[Put | Delete] = []
        pk = owned_partition(batch.namespace_id)
        for kind in ID_LISTS:
            values = list(getattr(batch, kind))
            before = list(getattr(previous, kind)) if previous is not None else []
            if previous is not None and values == before:
                continue
            chunks = [values[first:first + IDS_PER_ITEM] for first in range(0, len(values), IDS_PER_ITEM)]
            for number, chunk in enumerate(chunks):
                writes.append(Put({"pk": pk, "sk": _ids_sk(batch.batch_id, kind, number), "ids": chunk}))
            old_count = -(-len(before) // IDS_PER_ITEM)
            writes += [Delete(pk, _ids_sk(batch.batch_id, kind, number)) for number in range(len(chunks), old_count)]
        return writes

    def creation(self, batch: Batch) -> list[Put | Delete]:
        """The writes that create a batch; the caller may add them to a transaction of its own."""
        pointer = {"pk": _pointer_pk(batch.batch_id), "sk": "BATCH", "org_id": batch.org_id,
                   "namespace_id": batch.namespace_id}
        listed = {"pk": _org_pk(batch.org_id), "sk": f"{batch.created_at}#{batch.batch_id}",
                  "namespace_id": batch.namespace_id, "batch_id": batch.batch_id}
        return [Put(self._item(batch), if_absent=True), Put(pointer, if_absent=True), Put(listed, if_absent=True),
                *self._id_writes(batch, None)]

    def automatic_draft(self, namespace_id: str, bucket_id: str) -> AutomaticDraftPointer | None:
        item = self._table.get(owned_partition(namespace_id), _automatic_sk(bucket_id))
        return None if item is None else AutomaticDraftPointer(item["batch_id"], int(item["version"]))

    def automatic_creation(self, batch: Batch, replacing: AutomaticDraftPointer | None) -> list[Put | Delete]:
        """The writes that create an automatic DRAFT and point its bucket's new objects at it; they fail
        (ConditionFailed) when another request opened one first."""
        pointer = {"pk": owned_partition(batch.namespace_id), "sk": _automatic_sk(batch.bucket_id),
                   "batch_id": batch.batch_id, "version": 1 if replacing is None else replacing.version + 1}
        claim = Put(pointer, if_absent=True) if replacing is None else Put(pointer, if_version=replacing.version)
        return [*self.creation(batch), claim]

    def update(self, batch: Batch, previous: Batch) -> list[Put | Delete]:
        """The conditional writes that store `batch` over `previous` (ConditionFailed when someone else moved it)."""
        return [Put(self._item(replace(batch, version=previous.version + 1)), if_version=previous.version),
                *self._id_writes(batch, previous)]

    def save(self, batch: Batch, previous: Batch) -> Batch:
        saved = replace(batch, version=previous.version + 1)
        ids = self._id_writes(saved, previous)
        if ids:
            self._table.transact_write([Put(self._item(saved), if_version=previous.version), *ids])
        else:
            self._table.put(self._item(saved), if_version=previous.version)
        return saved

    def _batch(self, item: dict) -> Batch:
        record = dict(item)
        chunks = record.pop("id_chunks", None) or {}
        for kind in ID_LISTS:
            if kind in record:  # written before the ids moved beside the item
                continue
            count = int(chunks.get(kind) or 0)
            found: list[str] = []
            if count:
                for entry in self._table.query(item["pk"], f"BATCHIDS#{item['batch_id']}#{kind}#"):
                    found.extend(entry["ids"])
            record[kind] = found
        return Batch.from_record(record, item["version"])

    def get(self, namespace_id: str, batch_id: str) -> Batch | None:
        item = self._table.get(owned_partition(namespace_id), _sk(batch_id))
        return None if item is None else self._batch(item)

    def locate(self, batch_id: str) -> tuple[str, str] | None:
        """(org_id, namespace_id) of a batch."""
        pointer = self._table.get(_pointer_pk(batch_id), "BATCH")
        return None if pointer is None else (pointer["org_id"], pointer["namespace_id"])

    def list(self, namespace_id: str) -> list[Batch]:
        return [self._batch(item) for item in self._table.query(owned_partition(namespace_id), "BATCH#")]

    def list_for_org(self, org_id: str, limit: int = 5000) -> list[Batch]:
        found = []
        for entry in self._table.query(_org_pk(org_id), descending=True, limit=limit):
            batch = self.get(entry["namespace_id"], entry["batch_id"])
            if batch is None:
                self._table.delete(entry["pk"], entry["sk"])  # its namespace (or the batch) is gone
                continue
            found.append(batch)
        return found

    def drafts_created_before(self, stamp: str, limit: int = 500) -> list[tuple[str, str]]:
        """(namespace_id, batch_id) of DRAFT batches created before `stamp`; re-read each before acting on it."""
        return [(item["namespace_id"], item["batch_id"])
                for item in self._table.query_index(INDEX, DRAFTS, sk_below=stamp, limit=limit)]

    def active(self, limit: int = 1000) -> list[tuple[str, str]]:
        """(namespace_id, batch_id) of PENDING and IN_PROGRESS batches, oldest submission first."""
        return [(item["namespace_id"], item["batch_id"])
                for item in self._table.query_index(INDEX, ACTIVE, limit=limit)]

    def delete(self, batch: Batch) -> None:
        pk = owned_partition(batch.namespace_id)
        for kind in ID_LISTS:  # the id lists first: a batch item never points at id items that are gone
            keys = [entry["sk"] for entry in self._table.query(pk, f"BATCHIDS#{batch.batch_id}#{kind}#")]
            for first in range(0, len(keys), 25):
                self._table.transact_write([Delete(pk, sk) for sk in keys[first:first + 25]])
        self._table.transact_write([
            Delete(pk, _sk(batch.batch_id)),
            Delete(_pointer_pk(batch.batch_id), "BATCH"),
            Delete(_org_pk(batch.org_id), f"{batch.created_at}#{batch.batch_id}"),
        ])
