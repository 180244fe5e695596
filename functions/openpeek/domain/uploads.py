"""Uploads (the SDK's CreateUploadRequest / UploadResponse): a file too large for a request body goes straight to
the blob store through a URL handed out here — an S3 presigned PUT when deployed, a URL on `openpeek serve` itself
embedded — and is confirmed afterwards (size and checksum verified), optionally becoming an object.

The embedded URL carries a token: `<payload>.<signature>`, the payload the base64url JSON of the upload target, the
signature HMAC-SHA256 of the payload under the server's signing key. It expires, names one upload (single use is
enforced by the upload's state, not the token) and bounds the size.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field, replace
from typing import Any

from openpeek.domain.errors import BadRequest, Forbidden

DEFAULT_EXPIRATION_S = 3600
MIN_EXPIRATION_S = 60
MAX_EXPIRATION_S = 7 * 24 * 3600
MAX_UPLOADS_PER_BATCH = 100
STATUSES = ("PENDING", "COMPLETED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket_id: str
    namespace_id: str
    org_id: str
    filename: str
    content_type: str
    blob_key: str
    expires_at: str
    status: str = "PENDING"
    file_size_bytes: int | None = None
    file_hash: str | None = None
    presigned_url_expiration: int = DEFAULT_EXPIRATION_S
    metadata: dict[str, Any] = field(default_factory=dict)
    create_object_on_confirm: bool = False
    object_metadata: dict[str, Any] = field(default_factory=dict)
    blob_property: str | None = None
    blob_type: str | None = None
    skip_duplicates: bool = False
    received_bytes: int | None = None  # what reached the blob store (embedded: recorded by the PUT itself)
    received_hash: str | None = None
    received_at: str | None = None
    etag: str | None = None
    object_id: str | None = None
    message: str | None = None
    created_at: str = ""
    verified_at: str | None = None
    completed_at: str | None = None
    version: int = 1

    def to_record(self) -> dict[str, Any]:
        record = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "version"}
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Upload":
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record and name != "version"}
        return cls(**known, version=version)

    def with_changes(self, **changes: Any) -> "Upload":
        return replace(self, **changes)


def check_expiration(seconds: int | None) -> int:
    value = DEFAULT_EXPIRATION_S if seconds is None else seconds
    if not MIN_EXPIRATION_S <= value <= MAX_EXPIRATION_S:
        raise BadRequest(f"presigned_url_expiration must be between {MIN_EXPIRATION_S} and {MAX_EXPIRATION_S} "
                         "seconds", code="invalid_expiration", details={"presigned_url_expiration": value})
    return value


def normalise_sha256(value: str | None, field_name: str) -> str | None:
    """A SHA-256 given as 64 hex characters, optionally prefixed 'sha256:'; anything else is refused."""
    if value is None:
        return None
    digest = value.lower().removeprefix("sha256:")
    if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        raise BadRequest(f"{field_name} must be a SHA-256 hex digest (64 hex characters, optionally 'sha256:...')",
                         code="invalid_checksum", details={field_name: value})
    return digest


# -- the embedded upload token --------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(claims: dict[str, Any], key: bytes) -> str:
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_token(token: str, key: bytes, now_epoch: int) -> dict[str, Any]:
    """The claims of a token this server signed and that has not expired; Forbidden otherwise (nothing is stored)."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(signature, expected):
        raise Forbidden("the upload URL's signature does not match; use the URL exactly as it was handed out",
                        code="upload_token_invalid")
    try:
        claims = json.loads(_unb64(payload))
    except ValueError:
        raise Forbidden("the upload URL's token is malformed", code="upload_token_invalid") from None
    if not isinstance(claims, dict) or int(claims.get("exp", 0)) < now_epoch:
        raise Forbidden("the upload URL has expired; create a new upload", code="upload_token_expired")
    return claims
