"""The `buckets` section of a namespace manifest: bucket definitions (name, schema, unique key, storage class,
description, metadata), matched by name. Objects are content, not configuration: a manifest never carries them."""

from __future__ import annotations

import json
from typing import Any

from openpeek.domain import buckets as rules
from openpeek.domain.namespace import Namespace
from openpeek.services.content.buckets import BucketService

FIELDS = ("bucket_name", "description", "bucket_schema", "unique_key", "storage_class", "metadata")
_UPDATABLE = ("description", "bucket_schema", "storage_class", "metadata")


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=list))


def _declared(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: entry[key] for key in FIELDS if entry.get(key) not in (None, {})}


class BucketKind:
    key, type_name, name_key = "buckets", "bucket", "bucket_name"

    def __init__(self, buckets: BucketService) -> None:
        self._buckets = buckets

    def export(self, namespace: Namespace) -> list[dict[str, Any]]:
        return [_normal(_declared(bucket.to_record())) for bucket in self._buckets.list(namespace)]

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        rules.validate_name(entry.get("bucket_name") or "")
        self.normalize(namespace, entry)

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        schema = rules.validate_schema(entry.get("bucket_schema") or {})
        return _normal(_declared({
            **entry, "bucket_schema": schema, "unique_key": rules.validate_unique_key(entry.get("unique_key"), schema),
            "storage_class": rules.validate_storage_class(entry.get("storage_class")),
        }))

    def refused(self, fields: list[str]) -> list[str]:
        """unique_key identifies the objects already stored: it cannot change in place."""
        return [name for name in fields if name not in _UPDATABLE]

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str:
        return self._buckets.create(namespace, _declared(entry)).bucket_id

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str:
        changes = {key: entry.get(key) for key in _UPDATABLE if key in entry}
        bucket, _ = self._buckets.update(namespace, name, changes)
        return bucket.bucket_id

    def delete(self, namespace: Namespace, name: str) -> None:
        self._buckets.delete(namespace, name)
