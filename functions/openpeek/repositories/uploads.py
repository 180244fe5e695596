"""Uploads on the Table port, in the partition their namespace owns: `UPL#<bucket_id>#<upload_id>`. The URL's
expiry is stored as `url_expires_at`: `expires_at` is the table's TTL attribute, and an upload outlives its URL."""

from __future__ import annotations

from dataclasses import replace

from openpeek.domain.uploads import Upload
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


def _sk(bucket_id: str, upload_id: str) -> str:
    return f"UPL#{bucket_id}#{upload_id}"


class UploadRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def _item(self, upload: Upload) -> dict:
        record = upload.to_record()
        record["url_expires_at"] = record.pop("expires_at")
        return {"pk": owned_partition(upload.namespace_id), "sk": _sk(upload.bucket_id, upload.upload_id),
                "version": upload.version, **record}

    @staticmethod
    def _upload(item: dict) -> Upload:
        return Upload.from_record({**item, "expires_at": item["url_expires_at"]}, item["version"])

    def create(self, upload: Upload) -> None:
        self._table.put(self._item(upload), if_absent=True)

    def get(self, org_id: str, namespace_id: str, bucket_id: str, upload_id: str) -> Upload | None:
        item = self._table.get(owned_partition(namespace_id), _sk(bucket_id, upload_id))
        if item is None or item.get("org_id") != org_id:
            return None
        return self._upload(item)

    def list_by_bucket(self, org_id: str, namespace_id: str, bucket_id: str) -> list[Upload]:
        return [self._upload(item)
                for item in self._table.query(owned_partition(namespace_id), f"UPL#{bucket_id}#")
                if item.get("org_id") == org_id]

    def save(self, upload: Upload, previous: Upload) -> Upload:
        """Conditional on the version read; raises ConditionFailed when someone else wrote first."""
        saved = replace(upload, version=previous.version + 1)
        self._table.transact_write([Put(self._item(saved), if_version=previous.version)])
        return saved

    def delete(self, upload: Upload) -> None:
        self._table.delete(owned_partition(upload.namespace_id), _sk(upload.bucket_id, upload.upload_id))

    def delete_bucket_items(self, namespace_id: str, bucket_id: str) -> None:
        pk = owned_partition(namespace_id)
        for item in self._table.query(pk, f"UPL#{bucket_id}#"):
            self._table.transact_write([Delete(pk, item["sk"])])
