"""UploadUrls embedded: a URL on `openpeek serve` itself (`PUT /v1/uploads/blob/<token>`), the token HMAC-signed
with the server's key, expiring, naming one upload and its size limit (domain/uploads.py reads it back)."""

from __future__ import annotations

from openpeek.domain.uploads import sign_token
from openpeek.ports import BlobNotFound, BlobStore, StoredUpload, UploadTarget

UPLOAD_ROUTE = "/v1/uploads/blob/"


class SignedUploadUrls:
    def __init__(self, signing_key: bytes, blobs: BlobStore) -> None:
        self._key = signing_key
        self._blobs = blobs

    def put_url(self, target: UploadTarget, *, base_url: str) -> str:
        token = sign_token({"upl": target.upload_id, "org": target.org_id, "ns": target.namespace_id,
                            "bkt": target.bucket_id, "key": target.blob_key, "max": target.max_bytes,
                            "exp": target.expires_at}, self._key)
        return base_url.rstrip("/") + UPLOAD_ROUTE + token

    def stored(self, target: UploadTarget) -> StoredUpload | None:
        try:
            return StoredUpload(size_bytes=len(self._blobs.get(target.blob_key)), etag=None)
        except BlobNotFound:
            return None
