"""What crosses the boundary when content moves in or out: a blob fetched from a URL, and one upload's target and what
was PUT to it (the BlobFetcher and UploadUrls ports speak these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FetchedBlob:
    data: bytes
    content_type: str | None
    filename: str | None


@dataclass(frozen=True)
class UploadTarget:
    """Where one upload's bytes go: the blob key, the most bytes it may carry, until when (epoch seconds)."""

    upload_id: str
    org_id: str
    namespace_id: str
    bucket_id: str
    blob_key: str
    content_type: str
    max_bytes: int
    expires_at: int


@dataclass(frozen=True)
class StoredUpload:
    size_bytes: int
    etag: str | None
