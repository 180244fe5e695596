"""Bucket objects: register (one, or up to 100 per call), read, patch, replace, delete, list, aggregate, soft-delete.

Registration checks every blob against the bucket's schema before anything is stored, then gathers the bytes (inline
text, base64 or a data: URI, an https URL, or a confirmed upload), verifies checksums, applies `skip_duplicates`, the
unique key policy and `idempotency_key`, writes the blobs and finally the table item. If the item cannot be written
the blobs written for it are removed again, so a failure leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from openpeek.domain import buckets as bucket_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import objects as rules
from openpeek.domain.buckets import Bucket
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DomainError, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.objects import BucketObject
from openpeek.domain.uploads import Upload
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable
from openpeek.ports import BlobFetcher, BlobStore, EventBus, UploadUrls
from openpeek.repositories.objects import IdempotencyKeyUsed, ObjectRepository, UniqueKeyTaken
from openpeek.repositories.uploads import UploadRepository
from openpeek.services.content.buckets import BucketService
from openpeek.services.content.events import publish

SAVE_ATTEMPTS = 8
DOWNLOAD_URL_TTL_S = 3600
PARALLEL_BLOB_WRITES = 16  # blob writes are durable (fsync, or an S3 round trip): overlapping them is what is fast
_DEFAULT_MIME = {"text": "text/plain; charset=utf-8", "image": "application/octet-stream",
                 "audio": "application/octet-stream", "video": "application/octet-stream", "pdf": "application/pdf",
                 "excel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_MAGIC = ((b"%PDF", "application/pdf"), (b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF8", "image/gif"), (b"RIFF", "audio/wav"), (b"ID3", "audio/mpeg"), (b"PK\x03\x04",
          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))


@dataclass(frozen=True)
class Registered:
    """One object's registration: the object, and whether an earlier one was returned instead of a new one
    (`replayed_by`: "idempotency_key" or "skip_duplicates")."""

    object: BucketObject
    replayed_by: str | None = None


@dataclass
class _PendingBlob:
    record: dict[str, Any]
    data: bytes | None  # None: the bytes are already stored (an upload)


@dataclass
class _Prepared:
    """An object checked and gathered, its blobs not yet stored and its item not yet written."""

    object: BucketObject
    pending: list[_PendingBlob]
    existing: BucketObject | None
    blob_requests: list[dict[str, Any]]


class ObjectService:
    def __init__(self, buckets: BucketService, repository: ObjectRepository, uploads: UploadRepository,
                 blobs: BlobStore, fetcher: BlobFetcher, events: EventBus, urls: UploadUrls | None = None) -> None:
        self._urls = urls
        self._buckets = buckets
        self._repository = repository
        self._uploads = uploads
        self._blobs = blobs
        self._fetcher = fetcher
        self._events = events
        self._registered: Callable[[Namespace, str, list[str]], object] | None = None

    @property
    def download_signer(self) -> UploadUrls | None:
        """What signs this deployment's blob download URLs (namespace snapshots sign their artifacts' with it)."""
        return self._urls

    def after_registration(self, callback: Callable[[Namespace, str, list[str]], object]) -> None:
        """`callback(namespace, bucket_id, object_ids)` hears of every object registered (new or replaced, not a
        replay): a promoted namespace's automatic processing."""
        self._registered = callback

    # -- registration ------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, bucket_identifier: str, request: dict[str, Any], *,
               policy: str | None = None) -> Registered:
        bucket = self._buckets.get(namespace, bucket_identifier)
        prepared = self._prepare(namespace, bucket, request, policy)
        if isinstance(prepared, _Prepared):
            self._store_blobs(prepared.pending)
            prepared = self._commit(namespace, bucket, prepared)
        self._announce(namespace, [prepared])
        return prepared

    def create_batch(self, namespace: Namespace, bucket_identifier: str, requests: list[dict[str, Any]], *,
                     policy: str | None = None) -> tuple[list[tuple[int, Registered]], list[tuple[int, DomainError]]]:
        """Each object on its own: the ones that fit are registered, the others are reported with their error.
        Every object is checked and its bytes gathered first; then all the batch's blobs are written at once (the
        blob store's durable writes overlap instead of queueing); then the table items, one object at a time."""
        if not requests:
            raise BadRequest("objects must hold at least one object", code="empty_batch")
        if len(requests) > rules.MAX_OBJECTS_PER_BATCH:
            raise BadRequest(f"at most {rules.MAX_OBJECTS_PER_BATCH} objects per batch, got {len(requests)}",
                             code="batch_too_large", details={"max": rules.MAX_OBJECTS_PER_BATCH})
        bucket = self._buckets.get(namespace, bucket_identifier)
        outcomes: dict[int, Registered | _Prepared] = {}
        failed: list[tuple[int, DomainError]] = []
        for index, request in enumerate(requests):
            try:
                outcomes[index] = self._prepare(namespace, bucket, request, policy)
            except DomainError as error:
                failed.append((index, error))
        self._store_blobs([blob for outcome in outcomes.values() if isinstance(outcome, _Prepared)
                           for blob in outcome.pending])
        succeeded: list[tuple[int, Registered]] = []
        for index, outcome in outcomes.items():
            try:
                succeeded.append((index, self._commit(namespace, bucket, outcome)
                                  if isinstance(outcome, _Prepared) else outcome))
            except DomainError as error:
                failed.append((index, error))
        self._announce(namespace, [registered for _, registered in succeeded], batch=True)
        return succeeded, sorted(failed, key=lambda pair: pair[0])

    def _prepare(self, namespace: Namespace, bucket: Bucket, request: dict[str, Any],
                 policy: str | None) -> "Registered | _Prepared":
        """The object checked against the schema, its bytes gathered and verified, nothing stored yet; or the
        earlier object a replay or a skipped duplicate answers with."""
        idempotency_key = request.get("idempotency_key")
        if idempotency_key:
            earlier = self._repository.by_idempotency_key(namespace.org_id, namespace.namespace_id,
                                                          bucket.bucket_id, idempotency_key)
            if earlier is not None:
                return Registered(earlier, "idempotency_key")
        if request.get("edges"):
            raise BadRequest("object edges are not supported by this deployment; send the object without them",
                             code="unsupported_field", details={"field": "edges"})
        blob_requests = request.get("blobs") or []
        metadata = dict(request.get("metadata") or {})
        # Schema first, before any byte is fetched or stored.
        bucket_rules.check_object(bucket, [(blob["property"], blob["type"]) for blob in blob_requests], metadata)
        unique_value = bucket_rules.unique_key_value(bucket, metadata)
        policy = _policy(bucket, policy)
        existing = None
        if unique_value is not None:
            existing = self._repository.by_unique_key(namespace.org_id, namespace.namespace_id, bucket.bucket_id,
                                                      unique_value)
            if existing is not None and policy == "insert":
                raise _unique_taken(bucket, unique_value, existing.object_id)
            if existing is None and policy == "update":
                raise NotFound("object", unique_value, code="object_not_found_for_update")
        object_id = existing.object_id if existing is not None else rules.new_object_id()
        pending = [self._gather(namespace, bucket, object_id, blob) for blob in blob_requests]
        records = [blob.record for blob in pending]
        fingerprint = rules.object_fingerprint(records) if records else None
        if request.get("skip_duplicates") and fingerprint and existing is None:
            duplicate = self._repository.by_fingerprint(namespace.org_id, namespace.namespace_id, bucket.bucket_id,
                                                        fingerprint)
            if duplicate is not None:
                return Registered(duplicate, "skip_duplicates")
        now = isoformat(utcnow())
        obj = BucketObject(
            object_id=object_id, bucket_id=bucket.bucket_id, namespace_id=namespace.namespace_id,
            org_id=namespace.org_id, status="PENDING", blobs=tuple(records), metadata=metadata,
            key_prefix=request.get("key_prefix"), idempotency_key=idempotency_key, unique_key_value=unique_value,
            fingerprint=fingerprint, created_at=existing.created_at if existing else now, updated_at=now,
        )
        return _Prepared(obj, pending, existing, blob_requests)

    def _commit(self, namespace: Namespace, bucket: Bucket, prepared: "_Prepared") -> Registered:
        """Write the item of an object whose blobs are stored; if it cannot be written, its blobs go again."""
        obj, existing = prepared.object, prepared.existing
        written = [blob.record["blob_key"] for blob in prepared.pending if blob.data is not None]
        try:
            if existing is None:
                self._repository.create(obj)
            else:
                self._repository.save(replace(obj, idempotency_key=obj.idempotency_key or existing.idempotency_key),
                                      existing)
                self._remove_blobs(_blob_keys(existing.blobs) - _blob_keys(obj.blobs))
        except IdempotencyKeyUsed as used:
            self._remove_blobs(written)
            earlier = self._repository.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id,
                                           used.object_id)
            if earlier is None:
                raise Conflict("the idempotency_key belongs to an object that is being removed; try again",
                               code="idempotency_conflict") from None
            return Registered(earlier, "idempotency_key")
        except UniqueKeyTaken as taken:
            self._remove_blobs(written)
            raise _unique_taken(bucket, obj.unique_key_value or "", taken.object_id) from None
        except ConditionFailed:
            self._remove_blobs(written)
            raise Conflict("the object changed while it was registered; try again",
                           code="concurrent_modification") from None
        except DependencyUnavailable:
            self._remove_blobs(written)
            raise
        self._mark_uploads_used(namespace, bucket, prepared.blob_requests, obj.object_id)
        return Registered(obj if existing is None else self._reread(namespace, obj), None)

    def _reread(self, namespace: Namespace, obj: BucketObject) -> BucketObject:
        return self._repository.get(namespace.org_id, namespace.namespace_id, obj.bucket_id, obj.object_id) or obj

    def _gather(self, namespace: Namespace, bucket: Bucket, object_id: str, blob: dict[str, Any]) -> _PendingBlob:
        """The blob's bytes and record, checked (size, checksum), not yet stored."""
        prop, kind = blob["property"], blob["type"]
        has_data, upload_id = blob.get("data") is not None, blob.get("upload_id")
        if has_data == bool(upload_id):
            raise BadRequest(f"blob '{prop}' needs exactly one of 'data' and 'upload_id'", code="invalid_blob",
                             details={"property": prop})
        base = {"blob_id": new_id("blob"), "property": prop, "type": kind, "metadata": blob.get("metadata") or {},
                "filename": None, "source_url": None}
        if upload_id:
            upload = self._confirmed_upload(namespace, bucket, upload_id, prop)
            owner = upload.object_id and upload.object_id != object_id and self._repository.get(
                namespace.org_id, namespace.namespace_id, bucket.bucket_id, upload.object_id)
            if owner:
                # Its bytes are that object's blob: sharing them would let one delete pull the other's content.
                raise Conflict(f"upload '{upload_id}' already holds the blob of object {upload.object_id}; upload the "
                               "file again for another object", code="upload_in_use",
                               details={"upload_id": upload_id, "object_id": upload.object_id})
            if not self._blobs.exists(upload.blob_key):
                raise BadRequest(f"the bytes of upload '{upload_id}' are gone (the object that held them was "
                                 "deleted); upload the file again", code="upload_missing",
                                 details={"upload_id": upload_id})
            record = {**base, "blob_key": upload.blob_key, "size_bytes": upload.received_bytes or 0,
                      "mime_type": upload.content_type, "content_hash": upload.received_hash or "",
                      "filename": upload.filename, "upload_id": upload.upload_id}
            _verify_checksum(prop, blob.get("checksum"), record["content_hash"], None)
            return _PendingBlob(record, None)
        data, mime, filename, source = self._bytes_of(prop, kind, blob["data"])
        if len(data) > rules.MAX_INLINE_BLOB_BYTES:
            raise BadRequest(f"blob '{prop}' is {len(data)} bytes; inline, base64 and URL blobs may hold at most "
                             f"{rules.MAX_INLINE_BLOB_BYTES} bytes (use an upload for larger files)",
                             code="blob_too_large",
                             details={"property": prop, "max_bytes": rules.MAX_INLINE_BLOB_BYTES})
        digest = rules.content_hash(data)
        _verify_checksum(prop, blob.get("checksum"), digest, data)
        record = {**base, "blob_key": rules.object_blob_key(namespace.namespace_id, bucket.bucket_id, object_id, prop,
                                                            base["blob_id"]),
                  "size_bytes": len(data), "mime_type": mime or _sniff(data, kind, filename), "content_hash": digest,
                  "filename": filename, "source_url": source}
        return _PendingBlob(record, data)

    def _bytes_of(self, prop: str, kind: str, data: Any) -> tuple[bytes, str | None, str | None, str | None]:
        """(bytes, MIME type if known, file name if known, source URL) of a blob's `data`."""
        if not isinstance(data, str):
            if kind == "text" and isinstance(data, (int, float, bool)):
                return str(data).encode(), "text/plain; charset=utf-8", None, None
            raise BadRequest(f"blob '{prop}': data must be a string (text, base64, a data: URI or an https URL)",
                             code="invalid_blob", details={"property": prop})
        stripped = data.strip()
        lowered = stripped.lower()
        if lowered.startswith(("http://", "https://")) and " " not in stripped and "\n" not in stripped:
            if not lowered.startswith("https://"):
                raise BadRequest(f"blob '{prop}': only https URLs are fetched", code="blob_url_not_https",
                                 details={"property": prop, "url": stripped})
            fetched = self._fetcher.fetch(stripped, max_bytes=rules.MAX_INLINE_BLOB_BYTES)
            return fetched.data, fetched.content_type, fetched.filename, stripped
        if lowered.startswith("data:"):
            header, _, payload = stripped.partition(",")
            mime = header[5:].split(";")[0] or None
            if ";base64" in header.lower():
                return _decode_base64(prop, payload), mime, None, None
            return payload.encode(), mime, None, None
        if kind == "text":
            return data.encode("utf-8"), "text/plain; charset=utf-8", None, None
        return _decode_base64(prop, stripped), None, None, None

    def _confirmed_upload(self, namespace: Namespace, bucket: Bucket, upload_id: str, prop: str) -> Upload:
        upload = self._uploads.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id, upload_id)
        if upload is None:
            raise NotFound("upload", upload_id)
        if upload.status != "COMPLETED":
            raise BadRequest(f"upload '{upload_id}' for blob '{prop}' is {upload.status}; confirm it first",
                             code="upload_not_confirmed", details={"upload_id": upload_id, "status": upload.status})
        return upload

    def _mark_uploads_used(self, namespace: Namespace, bucket: Bucket, blob_requests: list[dict[str, Any]],
                           object_id: str) -> None:
        for blob in blob_requests:
            if not blob.get("upload_id"):
                continue
            for _ in range(SAVE_ATTEMPTS):
                upload = self._uploads.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id,
                                           blob["upload_id"])
                if upload is None or upload.object_id == object_id:
                    break
                try:
                    self._uploads.save(upload.with_changes(object_id=object_id), upload)
                    break
                except ConditionFailed:
                    continue

    def _store_blobs(self, pending: list[_PendingBlob]) -> None:
        """Write the blobs, several at a time; if any write fails, none of them is left behind."""
        fresh = [blob for blob in pending if blob.data is not None]
        if not fresh:
            return
        if len(fresh) == 1:
            blob = fresh[0]
            self._blobs.put(blob.record["blob_key"], blob.data or b"", blob.record["mime_type"])
            return

        def put(blob: _PendingBlob) -> str:
            self._blobs.put(blob.record["blob_key"], blob.data or b"", blob.record["mime_type"])
            return blob.record["blob_key"]

        with ThreadPoolExecutor(max_workers=min(PARALLEL_BLOB_WRITES, len(fresh))) as pool:
            futures = [pool.submit(put, blob) for blob in fresh]
        failures = [future.exception() for future in futures if future.exception() is not None]
        if failures:
            self._remove_blobs(blob.record["blob_key"] for blob in fresh)
            raise failures[0]

    def _remove_blobs(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self._blobs.delete(key)
            except DependencyUnavailable:
                pass  # unreachable now; the namespace's prefix delete removes it later

    def _announce(self, namespace: Namespace, registered: list[Registered], *, batch: bool = False) -> None:
        fresh = [r.object for r in registered if r.replayed_by is None]
        for obj in fresh:
            publish(self._events, "object.created", namespace, _event_data(obj))
        if batch and fresh:
            publish(self._events, "objects.created.batch", namespace,
                    {"bucket_id": fresh[0].bucket_id, "object_ids": [obj.object_id for obj in fresh]})
        if self._registered is not None and fresh:
            self._registered(namespace, fresh[0].bucket_id, [obj.object_id for obj in fresh])

    # -- reading -----------------------------------------------------------------------------------------------------

    def get(self, namespace: Namespace, bucket_identifier: str, object_id: str) -> BucketObject:
        bucket = self._buckets.get(namespace, bucket_identifier)
        found = self._repository.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id, object_id)
        if found is None:
            raise NotFound("object", object_id)
        return found

    def find(self, namespace: Namespace, object_id: str, *, buckets_first: Iterable[str] = ()) -> BucketObject | None:
        """The object with this id in whichever bucket of the namespace holds it (object ids are made unique, not
        per bucket), or None; the buckets named in `buckets_first` (ids) are looked in before the others."""
        first = list(dict.fromkeys(buckets_first))
        for bucket_id in first:
            found = self._repository.get(namespace.org_id, namespace.namespace_id, bucket_id, object_id)
            if found is not None:
                return found
        for bucket in self._buckets.list(namespace):
            if bucket.bucket_id not in first:
                found = self._repository.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id, object_id)
                if found is not None:
                    return found
        return None

    def describe(self, namespace: Namespace, bucket_identifier: str, object_id: str, *,
                 download_base_url: str | None = None) -> tuple[BucketObject, dict[str, str]]:
        """The object, and a download URL per blob when `download_base_url` (where this API answers) is given."""
        obj = self.get(namespace, bucket_identifier, object_id)
        return obj, ({} if download_base_url is None else self.download_urls([obj], base_url=download_base_url))

    @property
    def urls(self) -> UploadUrls | None:
        """Where this deployment's upload and download URLs come from (others hand out blobs through them too)."""
        return self._urls

    def download_urls(self, objects: Iterable[BucketObject], *, base_url: str) -> dict[str, str]:
        """A fresh download URL per blob (by blob_key), good for DOWNLOAD_URL_TTL_S."""
        if self._urls is None:
            return {}
        return {blob["blob_key"]: self.blob_download_url(blob["blob_key"], blob.get("mime_type") or
                                                         "application/octet-stream", base_url=base_url)
                for obj in objects for blob in obj.blobs}

    def blob_download_url(self, blob_key: str, content_type: str, *, base_url: str) -> str | None:
        """A fresh URL that GETs one stored blob without the API key, good for DOWNLOAD_URL_TTL_S (None where this
        deployment hands out no download URLs)."""
        if self._urls is None:
            return None
        expires_at = int(utcnow().timestamp()) + DOWNLOAD_URL_TTL_S
        return self._urls.download_url(blob_key, content_type, expires_at=expires_at, base_url=base_url)

    def page(self, namespace: Namespace, bucket_identifier: str, *, limit: int, offset: int = 0,
             after: str | None = None, filters: dict[str, Any] | None = None, sort: dict[str, Any] | None = None,
             search: str | None = None, download_base_url: str | None = None,
             ) -> tuple[list[BucketObject], int | None, str | None, dict[str, str]]:
        """A page of objects, oldest first unless sorted: (objects, total when known, cursor of the next page,
        download URLs by blob key when `download_base_url` is given). Without filters, search or sort a page is read
        straight from the table after the cursor."""
        found, total, cursor = self._page(namespace, bucket_identifier, limit=limit, offset=offset, after=after,
                                          filters=filters, sort=sort, search=search)
        urls = {} if download_base_url is None else self.download_urls(found, base_url=download_base_url)
        return found, total, cursor, urls

    def _page(self, namespace: Namespace, bucket_identifier: str, *, limit: int, offset: int, after: str | None,
              filters: dict[str, Any] | None, sort: dict[str, Any] | None,
              search: str | None) -> tuple[list[BucketObject], int | None, str | None]:
        bucket = self._buckets.get(namespace, bucket_identifier)
        wanted = filter_rules.parse_filter(filters)
        if wanted is None and not sort and not search and not offset:
            found, cursor = self._repository.list_by_bucket(namespace.org_id, namespace.namespace_id,
                                                            bucket.bucket_id, limit=limit, after=after)
            return found, None, cursor
        everything = list(self._repository.iterate_bucket(namespace.org_id, namespace.namespace_id, bucket.bucket_id))
        if search:
            needle = search.lower()
            everything = [obj for obj in everything if needle in obj.object_id.lower()
                          or any(needle in str(value).lower() for value in obj.metadata.values())
                          or any(needle in (blob.get("filename") or "").lower() for blob in obj.blobs)]
        if wanted is not None:
            everything = [obj for obj in everything if filter_rules.matches(wanted, object_view(obj), obj.object_id)]
        if sort:
            everything = _sorted(everything, sort)
        start = offset
        if after:
            ids = [obj.object_id for obj in everything]
            start = ids.index(after) + 1 if after in ids else len(ids)
        window = everything[start:start + limit]
        cursor = window[-1].object_id if start + limit < len(everything) and window else None
        return window, len(everything), cursor

    def aggregate(self, namespace: Namespace, bucket_identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        bucket = self._buckets.get(namespace, bucket_identifier)
        wanted = filter_rules.parse_filter(request.get("filters"))
        rows = [object_view(obj) for obj in
                self._repository.iterate_bucket(namespace.org_id, namespace.namespace_id, bucket.bucket_id)
                if wanted is None or filter_rules.matches(wanted, object_view(obj), obj.object_id)]
        return aggregate_rows(rows, request)

    # -- changes -----------------------------------------------------------------------------------------------------

    def update(self, namespace: Namespace, bucket_identifier: str, object_id: str, changes: dict[str, Any], *,
               replace_metadata: bool) -> BucketObject:
        """PATCH merges metadata keys; PUT (`replace_metadata`) replaces the metadata with what is given. Blobs do not
        change: a new version of the content is a new object."""
        bucket = self._buckets.get(namespace, bucket_identifier)
        for _ in range(SAVE_ATTEMPTS):
            current = self.get(namespace, bucket.bucket_id, object_id)
            given = dict(changes.get("metadata") or {})
            metadata = given if replace_metadata else {**current.metadata, **given}
            bucket_rules.check_object(bucket, [(b["property"], b["type"]) for b in current.blobs], metadata)
            unique_value = bucket_rules.unique_key_value(bucket, metadata)
            updated = replace(current, metadata=metadata, unique_key_value=unique_value,
                              key_prefix=changes.get("key_prefix", current.key_prefix) if not replace_metadata
                              else changes.get("key_prefix"), updated_at=isoformat(utcnow()))
            try:
                saved = self._repository.save(updated, current)
            except UniqueKeyTaken as taken:
                raise _unique_taken(bucket, unique_value or "", taken.object_id) from None
            except ConditionFailed:
                continue
            publish(self._events, "object.updated", namespace, _event_data(saved))
            return saved
        raise Conflict("The object kept changing while this request was applied; try again",
                       code="concurrent_modification")

    def delete(self, namespace: Namespace, bucket_identifier: str, object_id: str) -> BucketObject:
        obj = self.get(namespace, bucket_identifier, object_id)
        self._repository.delete(obj)
        self._remove_blobs(_blob_keys(obj.blobs))
        publish(self._events, "object.deleted", namespace, _event_data(obj))
        return obj

    def soft_delete(self, namespace: Namespace, bucket_identifier: str, object_ids: list[str],
                    reason: str) -> int:
        """Objects leave the bucket (their items and blobs go, each announced as object.deleted with the reason);
        the count of those that existed."""
        bucket = self._buckets.get(namespace, bucket_identifier)
        deleted = 0
        for object_id in dict.fromkeys(object_ids):
            obj = self._repository.get(namespace.org_id, namespace.namespace_id, bucket.bucket_id, object_id)
            if obj is None:
                continue
            self._repository.delete(obj)
            self._remove_blobs(_blob_keys(obj.blobs))
            publish(self._events, "object.deleted", namespace, {**_event_data(obj), "reason": reason, "soft": True})
            deleted += 1
        return deleted


# -- helpers ---------------------------------------------------------------------------------------------------------


def _policy(bucket: Bucket, policy: str | None) -> str:
    chosen = policy or (bucket.unique_key or {}).get("default_policy") or "insert"
    if chosen not in bucket_rules.UNIQUE_KEY_POLICIES:
        raise BadRequest(f"policy '{chosen}' is not one of {', '.join(bucket_rules.UNIQUE_KEY_POLICIES)}",
                         code="invalid_policy")
    return chosen


def _unique_taken(bucket: Bucket, value: str, object_id: str) -> Conflict:
    return Conflict(f"an object with unique key {value} exists already in bucket '{bucket.bucket_name}' "
                    f"({object_id}); use policy=update or upsert to replace it", code="duplicate_unique_key",
                    details={"unique_key": value, "object_id": object_id})


def _decode_base64(prop: str, text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"blob '{prop}': data is not valid base64 (binary blobs take base64, a data: URI or an "
                         "https URL)", code="invalid_blob", details={"property": prop}) from None


def _verify_checksum(prop: str, checksum: str | None, sha256_hex: str, data: bytes | None) -> None:
    """`checksum` as 'sha256:<hex>', 'md5:<hex>' or a bare hex digest (64 characters SHA-256, 32 MD5)."""
    if not checksum:
        return
    algorithm, _, digest = checksum.lower().rpartition(":")
    algorithm = algorithm or ("sha256" if len(digest) == 64 else "md5" if len(digest) == 32 else "")
    if algorithm == "sha256":
        actual = sha256_hex
    elif algorithm == "md5" and data is not None:
        actual = hashlib.md5(data, usedforsecurity=False).hexdigest()
    else:
        raise BadRequest(f"blob '{prop}': checksum must be 'sha256:<hex>' or 'md5:<hex>'"
                         + (" (uploads are verified by SHA-256)" if data is None else ""), code="invalid_checksum",
                         details={"property": prop})
    if actual != digest:
        raise BadRequest(f"blob '{prop}': checksum mismatch ({algorithm} of the bytes is {actual}, the request "
                         f"says {digest})", code="checksum_mismatch",
                         details={"property": prop, "expected": digest, "actual": actual})


def _sniff(data: bytes, kind: str, filename: str | None) -> str:
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    return _DEFAULT_MIME[kind]


def _blob_keys(blobs: Iterable[dict[str, Any]]) -> set[str]:
    return {blob["blob_key"] for blob in blobs}


def _event_data(obj: BucketObject) -> dict[str, Any]:
    return {"object_id": obj.object_id, "bucket_id": obj.bucket_id, "status": obj.status}


def object_view(obj: BucketObject) -> dict[str, Any]:
    """What filters, sorts and aggregations see: the metadata keys at the top level (as Mixpeek filters them) and
    under `metadata.`, beside the object's own fields."""
    return {**obj.metadata, "metadata": obj.metadata, "object_id": obj.object_id, "bucket_id": obj.bucket_id,
            "status": obj.status, "key_prefix": obj.key_prefix, "created_at": obj.created_at,
            "updated_at": obj.updated_at, "document_count": obj.document_count, "size_bytes": obj.size_bytes,
            "blob_count": len(obj.blobs), "blobs": [{"property": b["property"], "type": b["type"],
                                                      "mime_type": b.get("mime_type")} for b in obj.blobs]}


def _sorted(found: list[BucketObject], order: dict[str, Any]) -> list[BucketObject]:
    field = order.get("field")
    direction = str(order.get("direction") or "asc").lower()
    if not isinstance(field, str) or direction not in ("asc", "desc"):
        raise BadRequest("sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": order})
    keyed = [(_dotted(object_view(obj), field), obj) for obj in found]
    present = [(value, obj) for value, obj in keyed if value is not None]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in present)
    present.sort(key=lambda pair: pair[0] if numbers else str(pair[0]), reverse=direction == "desc")
    return [obj for _, obj in present] + [obj for value, obj in keyed if value is None]


def _dotted(view: dict[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


_FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "push", "add_to_set")


def aggregate_rows(rows: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """Group rows by the group_by fields and compute each aggregation per group (ObjectAggregationResponse)."""
    unsupported = [name for name in ("range_buckets",) if request.get(name)] + [
        f"group_by.{option}" for group in request["group_by"] for option in ("date_trunc", "date_part")
        if group.get(option)] + [f"aggregations.{operation['alias']}.distinct_field"
                                 for operation in request["aggregations"] if operation.get("distinct_field")]
    if unsupported:
        raise BadRequest(f"not supported here: {', '.join(unsupported)}", code="unsupported_aggregation",
                         details={"unsupported": unsupported})
    groups: dict[tuple, list[dict[str, Any]]] = {}
    names = [(g["field"], g.get("alias") or g["field"]) for g in request["group_by"]]
    unwind = request.get("unwind")
    expanded: list[dict[str, Any]] = []
    for row in rows:
        values = _dotted(row, unwind) if unwind else None
        if unwind and isinstance(values, list):
            expanded += [{**row, unwind: value} for value in values]
        else:
            expanded.append(row)
    for row in expanded:
        key = tuple(_hashable(_dotted(row, field)) for field, _ in names)
        groups.setdefault(key, []).append(row)
    results = []
    for key, members in groups.items():
        metrics = {}
        for operation in request["aggregations"]:
            function = operation["function"]
            if function not in _FUNCTIONS:
                raise BadRequest(f"aggregation function '{function}' is not one of {', '.join(_FUNCTIONS)}",
                                 code="invalid_aggregation")
            field = operation.get("field")
            if function != "count" and not field:
                raise BadRequest(f"aggregation '{operation['alias']}' ({function}) needs a field",
                                 code="invalid_aggregation")
            values = [_dotted(row, field) for row in members] if field else []
            present = [value for value in values if value is not None]
            numbers = [value for value in present if isinstance(value, (int, float)) and not isinstance(value, bool)]
            metrics[operation["alias"]] = {
                "count": lambda: len(present) if field else len(members),
                "count_distinct": lambda: len({_hashable(v) for v in present}),
                "sum": lambda: sum(numbers),
                "avg": lambda: (sum(numbers) / len(numbers)) if numbers else None,
                "min": lambda: min(present, key=_order_key) if present else None,
                "max": lambda: max(present, key=_order_key) if present else None,
                "first": lambda: present[0] if present else None,
                "last": lambda: present[-1] if present else None,
                "push": lambda: present,
                "add_to_set": lambda: list({repr(v): v for v in present}.values()),
            }[function]()
        results.append({"group": {alias: value for (_, alias), value in zip(names, key)}, "metrics": metrics})
    for condition in request.get("having") or []:
        results = [r for r in results if _having(r, condition)]
    if request.get("sort_by"):
        field = request["sort_by"]
        results.sort(key=lambda r: _order_key(r["metrics"].get(field, r["group"].get(field))),
                     reverse=str(request.get("sort_direction") or "desc").lower() == "desc")
    total = len(results)
    if request.get("limit"):
        results = results[: int(request["limit"])]
    return {"results": results, "total_groups": total, "query_info": {"objects_scanned": len(rows)}}


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def _order_key(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def _having(result: dict[str, Any], condition: dict[str, Any]) -> bool:
    value = result["metrics"].get(condition["field"])
    target = condition["value"]
    operator = condition["operator"]
    if value is None:
        return False
    comparisons = {"eq": lambda: value == target, "ne": lambda: value != target, "gt": lambda: value > target,
                   "gte": lambda: value >= target, "lt": lambda: value < target, "lte": lambda: value <= target}
    if operator not in comparisons:
        raise BadRequest(f"having operator '{operator}' is not one of {', '.join(comparisons)}",
                         code="invalid_aggregation")
    try:
        return comparisons[operator]()
    except TypeError:  # a number compared with a string: the condition does not hold
        return False
