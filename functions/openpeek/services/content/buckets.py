"""Buckets: create, read (by id or name), patch, replace, delete and list within the caller's namespace."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from openpeek.domain import buckets as rules
from openpeek.domain import listing
from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import bucket_prefix
from openpeek.domain.failures import ConditionFailed
from openpeek.ports import BlobStore, EventBus
from openpeek.repositories.buckets import BucketNameTaken, BucketRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.services.content.events import publish

SAVE_ATTEMPTS = 8

BucketReaders = Callable[[Namespace, Bucket], list[str]]
"""The collections (names or ids) that read from a bucket: a bucket they read cannot be deleted."""


def no_readers(_namespace: Namespace, _bucket: Bucket) -> list[str]:
    return []


@dataclass(frozen=True)
class BucketStats:
    object_count: int
    failed_object_count: int
    total_size_bytes: int
    last_upload_at: str | None


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A bucket named '{name}' exists already in this namespace", code="bucket_name_taken",
                    details={"bucket_name": name})


class BucketService:
    def __init__(self, repository: BucketRepository, objects: ObjectRepository, blobs: BlobStore, events: EventBus,
                 readers: BucketReaders = no_readers) -> None:
        self._repository = repository
        self._objects = objects
        self._blobs = blobs
        self._events = events
        self._readers = readers

    def use_readers(self, readers: BucketReaders) -> None:
        """Set once the collections service exists (it is built after this one and reads buckets itself)."""
        self._readers = readers

    def create(self, namespace: Namespace, request: dict[str, Any]) -> Bucket:
        name = rules.validate_name(request["bucket_name"])
        schema = rules.validate_schema(request["bucket_schema"])
        now = isoformat(utcnow())
        bucket = Bucket(
            bucket_id=new_id("bkt"), bucket_name=name, namespace_id=namespace.namespace_id, org_id=namespace.org_id,
            bucket_schema=schema, unique_key=rules.validate_unique_key(request.get("unique_key"), schema),
            storage_class=rules.validate_storage_class(request.get("storage_class")),
            description=request.get("description"), metadata=request.get("metadata") or {},
            created_at=now, updated_at=now,
        )
        try:
            self._repository.create(bucket)
        except BucketNameTaken:
            raise _name_taken(name) from None
        publish(self._events, "bucket.created", namespace, {"bucket_id": bucket.bucket_id,
                                                             "bucket_name": bucket.bucket_name})
        return bucket

    def get(self, namespace: Namespace, identifier: str) -> Bucket:
        found = self._repository.get(namespace.org_id, namespace.namespace_id, identifier)
        if found is None:
            raise NotFound("bucket", identifier)
        return found

    def list(self, namespace: Namespace, *, search: str | None = None, case_sensitive: bool = False,
             filters: dict[str, Any] | None = None, sorts: list[dict[str, Any]] | None = None) -> list[Bucket]:
        """Oldest first unless `sorts` says otherwise; `search` looks in name, id and description; `filters` is the
        API's filter language over the bucket's fields."""
        return listing.select(
            self._repository.list(namespace.org_id, namespace.namespace_id), name=lambda item: item.bucket_name, identifier=lambda item: item.bucket_id,
            description=lambda item: item.description, record=lambda item: item.to_record(),
            created_at=lambda item: item.created_at, search=search, case_sensitive=case_sensitive, filters=filters,
            sorts=sorts)

    def update(self, namespace: Namespace, identifier: str, changes: dict[str, Any], *, replace_all: bool = False,
               force_schema_break: bool = False) -> tuple[Bucket, BucketStats]:
        """PATCH (absent fields kept) or PUT (`replace_all`: absent optional fields cleared). `unique_key` cannot
        change; a schema that drops or retypes a property objects already use is refused unless forced."""
        for _ in range(SAVE_ATTEMPTS):
            current = self.get(namespace, identifier)
            updated = self._changed(namespace, current, changes, replace_all, force_schema_break)
            try:
                saved = self._repository.save(updated, current)
            except BucketNameTaken:
                raise _name_taken(updated.bucket_name) from None
            except ConditionFailed:
                continue
            publish(self._events, "bucket.updated", namespace, {"bucket_id": saved.bucket_id,
                                                                 "bucket_name": saved.bucket_name})
            return saved, self.stats(namespace, saved)
        raise Conflict("The bucket kept changing while this request was applied; try again",
                       code="concurrent_modification")

    def _changed(self, namespace: Namespace, current: Bucket, changes: dict[str, Any], replace_all: bool,
                 force_schema_break: bool) -> Bucket:
        if "unique_key" in changes and changes["unique_key"] is not None:
            wanted = rules.validate_unique_key(changes["unique_key"], current.bucket_schema)
            if wanted != current.unique_key:
                raise BadRequest("unique_key cannot change after the bucket is created; create a new bucket",
                                 code="unique_key_immutable", details={"unique_key": current.unique_key})
        if changes.get("storage_class") is not None and changes["storage_class"] != current.storage_class:
            rules.validate_storage_class(changes["storage_class"])
        updates: dict[str, Any] = {"updated_at": isoformat(utcnow())}
        if changes.get("bucket_name") is not None:
            updates["bucket_name"] = rules.validate_name(changes["bucket_name"])
        if changes.get("bucket_schema") is not None:
            schema = rules.validate_schema(changes["bucket_schema"])
            if current.unique_key:
                rules.validate_unique_key(current.unique_key, schema)
            broken = rules.removed_or_retyped(current.bucket_schema, schema)
            if broken and not force_schema_break and self._has_objects(namespace, current):
                raise BadRequest(
                    f"the new schema drops or retypes {', '.join(broken)}, which objects of this bucket may use; "
                    "pass force_schema_break=true to apply it anyway", code="schema_break",
                    details={"properties": broken})
            updates["bucket_schema"] = schema
        cleared = {"description": None, "metadata": {}, "storage_class": "standard"}  # what PUT leaves when absent
        for key, empty in cleared.items():
            if changes.get(key) is not None:
                updates[key] = changes[key]
            elif replace_all:
                updates[key] = empty
        return replace(current, **updates)

    def _has_objects(self, namespace: Namespace, bucket: Bucket) -> bool:
        page, _ = self._objects.list_by_bucket(namespace.org_id, namespace.namespace_id, bucket.bucket_id, limit=1)
        return bool(page)

    def delete(self, namespace: Namespace, identifier: str) -> tuple[Bucket, int]:
        """The bucket, its objects and their blobs; refused while collections read from it. Returns the bucket and
        how many objects went with it."""
        bucket = self.get(namespace, identifier)
        readers = self._readers(namespace, bucket)
        if readers:
            raise Conflict(f"bucket '{bucket.bucket_name}' is the source of collections {', '.join(readers)}; "
                           "delete them or change their source first", code="bucket_in_use",
                           details={"collections": readers})
        objects = self.stats(namespace, bucket).object_count
        # The bucket goes first: once it is gone no new object can land in it, and a failure part way leaves only
        # unreachable items and blobs, which the namespace's delete and reaper remove by prefix.
        self._repository.delete(bucket)
        self._objects.delete_bucket_items(namespace.namespace_id, bucket.bucket_id)
        self._blobs.delete_prefix(bucket_prefix(namespace.namespace_id, bucket.bucket_id))
        publish(self._events, "bucket.deleted", namespace, {"bucket_id": bucket.bucket_id,
                                                             "bucket_name": bucket.bucket_name})
        return bucket, objects

    def describe(self, namespace: Namespace, identifier: str) -> tuple[Bucket, BucketStats]:
        bucket = self.get(namespace, identifier)
        return bucket, self.stats(namespace, bucket)

    def list_described(self, namespace: Namespace, **criteria: Any) -> list[tuple[Bucket, BucketStats]]:
        return [(bucket, self.stats(namespace, bucket)) for bucket in self.list(namespace, **criteria)]

    def stats(self, namespace: Namespace, bucket: Bucket) -> BucketStats:
        counts = self._objects.bucket_counts(namespace.namespace_id, bucket.bucket_id)
        return BucketStats(object_count=int(counts["object_count"] or 0),
                           failed_object_count=int(counts["failed_object_count"] or 0),
                           total_size_bytes=int(counts["total_size_bytes"] or 0),
                           last_upload_at=counts["last_upload_at"])  # type: ignore[arg-type]

    def counts(self, namespace: Namespace) -> dict[str, int]:
        """bucket_count and object_count of the namespace, as NamespaceModel reports them."""
        buckets = self._repository.list(namespace.org_id, namespace.namespace_id)
        objects = sum(self._objects.count_by_bucket(namespace.org_id, namespace.namespace_id, bucket.bucket_id)
                      for bucket in buckets)
        return {"bucket_count": len(buckets), "object_count": objects}

