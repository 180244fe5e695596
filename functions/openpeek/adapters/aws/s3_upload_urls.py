"""UploadUrls deployed: an S3 presigned PUT, signed by the API Lambda's role (which may put objects under the
content prefix and nothing else: stacks/api.py). A presigned PUT cannot bound the size; confirm checks it, and
deletes what is over the limit."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.transfers import StoredUpload, UploadTarget

_CLIENT_CONFIG = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"})


class S3UploadUrls:
    def __init__(self, bucket: str, prefix: str = "", client: Any = None, clock: Any = time.time) -> None:
        self._bucket = bucket
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = client
        self._lock = threading.Lock()
        self._clock = clock

    def _s3(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.session.Session().client("s3", config=_CLIENT_CONFIG)
        return self._client

    def put_url(self, target: UploadTarget, *, base_url: str) -> str:
        expires_in = max(1, target.expires_at - int(self._clock()))
        try:
            return self._s3().generate_presigned_url(
                "put_object", Params={"Bucket": self._bucket, "Key": self._prefix + target.blob_key,
                                      "ContentType": target.content_type}, ExpiresIn=expires_in)
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"s3 presign failed: {error}") from error

    def download_url(self, blob_key: str, content_type: str, *, expires_at: int, base_url: str) -> str:
        try:
            return self._s3().generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": self._prefix + blob_key,
                                      "ResponseContentType": content_type},
                ExpiresIn=max(1, expires_at - int(self._clock())))
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"s3 presign failed: {error}") from error

    def stored(self, target: UploadTarget) -> StoredUpload | None:
        try:
            head = self._s3().head_object(Bucket=self._bucket, Key=self._prefix + target.blob_key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise DependencyUnavailable(f"s3 head failed: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"s3 head failed: {error}") from error
        return StoredUpload(size_bytes=int(head["ContentLength"]), etag=str(head.get("ETag", "")).strip('"') or None)
