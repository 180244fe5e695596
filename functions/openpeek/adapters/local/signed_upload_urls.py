"""UploadUrls embedded: a URL on `openpeek serve` itself (`PUT /v1/uploads/blob/<token>`), the token HMAC-signed
with the server's key, expiring, naming one upload and its size limit (domain/uploads.py reads it back); downloads
the same way (`GET /v1/blobs/<token>`, naming one blob)."""

from __future__ import annotations

from openpeek.domain.uploads import sign_token
from openpeek.domain.failures import BlobNotFound
from openpeek.domain.transfers import StoredUpload, UploadTarget
from openpeek.ports import BlobStore

UPLOAD_ROUTE = "/v1/uploads/blob/"
DOWNLOAD_ROUTE = "/v1/blobs/"


class SignedUploadUrls:
    def __init__(self, signing_key: bytes, blobs: BlobStore) -> None:
        self._key = signing_key
        self._blobs = blobs

    def put_url(self, target: UploadTarget, *, base_url: str) -> str:
        token = sign_token({"kind": "put", "upl": target.upload_id, "org": target.org_id, "ns": target.namespace_id,
                            "bkt": target.bucket_id, "key": target.blob_key, "max": target.max_bytes,
                            "exp": target.expires_at}, self._key)
        return base_url.rstrip("/") + UPLOAD_ROUTE + token

    def download_url(self, blob_key: str, content_type: str, *, expires_at: int, base_url: str) -> str:
        token = sign_token({"kind": "get", "key": blob_key, "type": content_type, "exp": expires_at}, self._key)
        return base_url.rstrip("/") + DOWNLOAD_ROUTE + token

    def stored(self, target: UploadTarget) -> StoredUpload | None:
        try:
            return StoredUpload(size_bytes=len(self._blobs.get(target.blob_key)), etag=None)
        except BlobNotFound:
            return None
