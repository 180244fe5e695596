"""Bucket objects (the SDK's CreateObjectRequest / ObjectResponse): one item of content in a bucket, made of blobs
(the bytes, kept in the BlobStore) and metadata (plain values, kept on the item).

Blob bytes never live in the table. Each entry of `BucketObject.blobs` is a dict:

    {"blob_id": "blob_...", "property": <schema property>, "type": <blob type>, "blob_key": <BlobStore key>,
     "size_bytes": int, "mime_type": str, "content_hash": <sha256 hex of the bytes>, "filename": str | None,
     "source_url": str | None, "metadata": dict}

Blob key layout (every key of a namespace lives under `content_prefix(namespace_id)`, so deleting, cloning or reaping
a namespace deals with its content by one prefix):

    namespaces/<namespace_id>/content/<bucket_id>/objects/<object_id>/<property>/<blob_id>   inline, base64, URL
    namespaces/<namespace_id>/content/<bucket_id>/uploads/<upload_id>/<filename>   bytes PUT to an upload URL;
        an object made from an upload points at its key as is

Readers (the extractors) call `BlobStore.get(blob["blob_key"])` and never build keys themselves.

Status: PENDING when registered; the ingestion side moves an object to IN_PROGRESS, then COMPLETED (with
`document_count`) or FAILED (with `error`) through `ObjectRepository.update_status`.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")
MAX_OBJECTS_PER_BATCH = 100
MAX_INLINE_BLOB_BYTES = 50 * 1024 * 1024  # base64/inline data travels in the request body: keep it bounded
MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024  # one S3 PUT; larger files need multipart, which the SDK's route lacks
MAX_IDEMPOTENCY_KEY = 255
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]")


def content_prefix(namespace_id: str) -> str:
    """Every blob of the namespace's buckets lives under this BlobStore prefix."""
    return f"namespaces/{namespace_id}/content/"


def bucket_prefix(namespace_id: str, bucket_id: str) -> str:
    return f"{content_prefix(namespace_id)}{bucket_id}/"


def object_blob_key(namespace_id: str, bucket_id: str, object_id: str, property_name: str, blob_id: str) -> str:
    """One key per version of a blob: replacing an object's content (unique-key upsert) writes new keys and removes
    the old ones only once the new item is saved, so a failed replacement leaves the old content whole."""
    return f"{bucket_prefix(namespace_id, bucket_id)}objects/{object_id}/{property_name}/{blob_id}"


def upload_blob_key(namespace_id: str, bucket_id: str, upload_id: str, filename: str) -> str:
    return f"{bucket_prefix(namespace_id, bucket_id)}uploads/{upload_id}/{safe_filename(filename)}"


def safe_filename(filename: str) -> str:
    """A file name that is one harmless key segment on S3 and on a filesystem."""
    cleaned = _SAFE_SEGMENT.sub("_", os.path.basename(filename or "")).strip("._") or "file"
    return cleaned[:200]


def new_object_id() -> str:
    """`obj_` + 10 base-36 characters of microseconds + 8 random ones: ids sort by creation time, so listing a
    bucket's objects in the table's key order is listing them oldest first."""
    micros = time.time_ns() // 1000
    stamp = ""
    for _ in range(10):
        micros, digit = divmod(micros, 36)
        stamp = _ALPHABET[digit] + stamp
    random_part = "".join(_ALPHABET[byte % 36] for byte in os.urandom(8))
    return f"obj_{stamp}{random_part}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_fingerprint(blobs: list[dict[str, Any]]) -> str:
    """What `skip_duplicates` compares: the blobs' properties and content hashes, independent of their order."""
    parts = sorted(f"{blob['property']}={blob['content_hash']}" for blob in blobs)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class BucketObject:
    object_id: str
    bucket_id: str
    namespace_id: str
    org_id: str
    status: str = "PENDING"
    blobs: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    key_prefix: str | None = None
    error: str | None = None
    document_count: int = 0
    idempotency_key: str | None = None
    unique_key_value: str | None = None
    fingerprint: str | None = None
    created_at: str = ""
    updated_at: str = ""
    version: int = 1

    @property
    def size_bytes(self) -> int:
        return sum(int(blob.get("size_bytes") or 0) for blob in self.blobs)

    def blob(self, property_name: str) -> dict[str, Any] | None:
        return next((blob for blob in self.blobs if blob["property"] == property_name), None)

    def to_record(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id, "bucket_id": self.bucket_id, "namespace_id": self.namespace_id,
            "org_id": self.org_id, "status": self.status, "blobs": [dict(blob) for blob in self.blobs],
            "metadata": self.metadata, "key_prefix": self.key_prefix, "error": self.error,
            "document_count": self.document_count, "idempotency_key": self.idempotency_key,
            "unique_key_value": self.unique_key_value, "fingerprint": self.fingerprint,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "BucketObject":
        return cls(
            object_id=record["object_id"], bucket_id=record["bucket_id"], namespace_id=record["namespace_id"],
            org_id=record["org_id"], status=record.get("status") or "PENDING",
            blobs=tuple(record.get("blobs") or ()), metadata=record.get("metadata") or {},
            key_prefix=record.get("key_prefix"), error=record.get("error"),
            document_count=int(record.get("document_count") or 0), idempotency_key=record.get("idempotency_key"),
            unique_key_value=record.get("unique_key_value"), fingerprint=record.get("fingerprint"),
            created_at=record.get("created_at", ""), updated_at=record.get("updated_at", ""), version=version,
        )
