"""The `collections` section of a namespace manifest: collections by name, their sources by bucket and collection
*name* (ids differ between namespaces; names are what a manifest carries across), and their extractor configuration.
Upstream collections are exported before the collections that read from them, and apply creates them in the
manifest's order."""

from __future__ import annotations

import json
from typing import Any

from openpeek.domain import collections as rules
from openpeek.domain.collections import Collection
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.namespace import Namespace
from openpeek.repositories.buckets import BucketRepository
from openpeek.services.collections.collections import CollectionService

_FIELDS = ("collection_name", "description", "metadata", "enabled", "source", "feature_extractor")
_PATCHABLE = ("description", "metadata", "enabled", "source")
_EXTRACTOR_FIELDS = ("feature_extractor_name", "version", "input_mappings", "field_passthrough", "parameters",
                     "include_all_source_fields")


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=list))


class CollectionKind:
    key, type_name, name_key = "collections", "collection", "collection_name"
    keeps_order = True  # upstream collections first: apply creates them in this order

    def __init__(self, collections: CollectionService, buckets: BucketRepository) -> None:
        self._collections = collections
        self._buckets = buckets

    def export(self, namespace: Namespace) -> list[dict[str, Any]]:
        found = self._collections.list(namespace)
        by_id = {c.collection_id: c for c in found}
        ordered: list[Collection] = []

        def visit(collection: Collection) -> None:
            if collection in ordered:
                return
            upstream = by_id.get(collection.source.collection_id or "")
            if upstream is not None:
                visit(upstream)
            ordered.append(collection)

        for collection in sorted(found, key=lambda c: c.collection_name):
            visit(collection)
        return [self._entry(namespace, collection, by_id) for collection in ordered]

    def _entry(self, namespace: Namespace, collection: Collection, by_id: dict[str, Collection]) -> dict[str, Any]:
        if collection.source.type == "bucket":
            names = []
            for bucket_id in collection.source.bucket_ids:
                bucket = self._buckets.get(namespace.org_id, namespace.namespace_id, bucket_id)
                names.append(bucket.bucket_name if bucket is not None else bucket_id)
            source: dict[str, Any] = {"type": "bucket", "bucket_ids": names}
        else:
            upstream = by_id.get(collection.source.collection_id or "")
            source = {"type": "collection",
                      "collection_id": upstream.collection_name if upstream else collection.source.collection_id}
        extractor = collection.feature_extractor.public()
        entry = {
            "collection_name": collection.collection_name, "description": collection.description,
            "metadata": collection.metadata, "enabled": collection.enabled, "source": source,
            "feature_extractor": {key: extractor[key] for key in _EXTRACTOR_FIELDS},
        }
        return _normal({key: value for key, value in entry.items() if value is not None})

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        """What can be checked before the manifest's buckets exist: the name, the source's shape and the
        extractor (known and runnable here)."""
        rules.check_name(entry.get("collection_name"))
        if not isinstance(entry.get("source"), dict):
            raise BadRequest("a collection needs a source", code="invalid_source")
        rules.CollectionSource.parse(entry["source"])
        extractor = entry.get("feature_extractor")
        if extractor is not None and not isinstance(extractor, dict):
            raise BadRequest("feature_extractor must be an object", code="invalid_feature_extractor")
        self._collections.check_extractor(extractor, entry.get("features"))

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry as export would write it once applied: the extractor's configuration completed by the rules
        (input mappings chosen, parameters kept), compared field by field with the existing collection."""
        normalized = {key: entry[key] for key in _FIELDS if entry.get(key) is not None}
        normalized.setdefault("enabled", True)
        try:
            normalized["feature_extractor"] = {
                key: value for key, value in self._collections.preview_extractor(namespace, entry).items()
                if key in _EXTRACTOR_FIELDS}
        except DomainError:
            pass  # the source is not there yet: compared as written
        return _normal(normalized)

    def refused(self, fields: list[str]) -> list[str]:
        """A collection's extractor is what its documents mean: it cannot change in place."""
        return [name for name in fields if name not in _PATCHABLE]

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str:
        request = {key: entry[key] for key in (*_FIELDS, "features") if entry.get(key) is not None}
        return self._collections.create(namespace, request).collection.collection_id

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str:
        changes = {key: entry[key] for key in _PATCHABLE if entry.get(key) is not None}
        return self._collections.patch(namespace, name, changes).collection.collection_id

    def delete(self, namespace: Namespace, name: str) -> None:
        self._collections.delete(namespace, name)
