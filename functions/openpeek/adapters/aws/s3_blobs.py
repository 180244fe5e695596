"""BlobStore on S3: parquet inputs, cluster artifacts and the cold tier of the deployed runtime.

Encryption is the bucket's default (set by the data stack), so requests carry no SSE headers and a change of key policy
needs no code change. Every SDK failure leaves here as a port exception, so services never catch botocore's.
"""

from __future__ import annotations

from typing import Any, Iterator

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.failures import BlobNotFound, DependencyUnavailable

# Standard mode retries throttling and transient 5xx with backoff; legacy mode retries less and without a quota.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_DELETE_BATCH = 1_000  # the most keys one DeleteObjects call accepts
_MAX_KEY_BYTES = 1_024  # S3's key length limit; refusing early makes it a caller error rather than a 502
# GetObject says NoSuchKey; HeadObject has no body, so only its status says "404". NoSuchBucket is also a 404 but means
# the deployment is misconfigured, which is why matching is by code and not by status.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


def _unavailable(action: str, error: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"S3 {action} failed: {error}")


class S3BlobStore:
    """BlobStore on one bucket, optionally under a key prefix so environments can share a bucket.

    `prefix` is treated as a folder: "dev" and "dev/" both store key "a" as "dev/a", and keys come back without it.
    The client is made on first use, so building the store (at Lambda import time) costs no network or credentials.
    """

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        self._bucket = bucket
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._client = LazyClient("s3", config=_CLIENT_CONFIG, client=client,
                                  setup_failed=lambda error: _unavailable("client setup", error))

    @property
    def bucket(self) -> str:
        return self._bucket

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._full_key(key)}"

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self._s3().put_object(Bucket=self._bucket, Key=self._full_key(key), Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(f"put {key!r}", error) from error

    def get(self, key: str) -> bytes:
        try:
            response = self._s3().get_object(Bucket=self._bucket, Key=self._full_key(key))
            return response["Body"].read()
        except ClientError as error:
            if _is_missing(error):
                raise BlobNotFound(key) from None
            raise _unavailable(f"get {key!r}", error) from error
        except BotoCoreError as error:
            raise _unavailable(f"get {key!r}", error) from error

    def exists(self, key: str) -> bool:
        try:
            self._s3().head_object(Bucket=self._bucket, Key=self._full_key(key))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise _unavailable(f"head {key!r}", error) from error
        except BotoCoreError as error:
            raise _unavailable(f"head {key!r}", error) from error
        return True

    def list(self, prefix: str = "") -> list[str]:
        start = len(self._prefix)
        try:
            return sorted(full_key[start:] for page in self._pages(prefix) for full_key in page)
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(f"list {prefix!r}", error) from error

    def delete(self, key: str) -> None:
        # S3 answers 204 for a missing key too, which is exactly the port's "missing is a no-op".
        try:
            self._s3().delete_object(Bucket=self._bucket, Key=self._full_key(key))
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(f"delete {key!r}", error) from error

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        try:
            # Deleting page by page is safe: the continuation token marks a position in key order, not an offset.
            for page in self._pages(prefix):
                for start in range(0, len(page), _DELETE_BATCH):
                    batch = page[start : start + _DELETE_BATCH]
                    response = self._s3().delete_objects(
                        Bucket=self._bucket,
                        Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                    )
                    errors = response.get("Errors", [])
                    deleted += len(batch) - len(errors)
                    if errors:
                        first = errors[0]
                        raise DependencyUnavailable(
                            f"S3 delete_prefix {prefix!r}: {len(errors)} keys not deleted "
                            f"(first {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}); "
                            f"{deleted} deleted so far"
                        )
        except (ClientError, BotoCoreError) as error:
            raise _unavailable(f"delete_prefix {prefix!r} after {deleted} deletions", error) from error
        return deleted

    # ---------------------------------------------------------------------------------------------------------------

    def _s3(self) -> Any:
        return self._client.get()

    def _full_key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError("blob key must be a non-empty string")
        full_key = self._prefix + key
        if len(full_key.encode("utf-8")) > _MAX_KEY_BYTES:
            raise ValueError(f"blob key {key!r} is longer than S3's {_MAX_KEY_BYTES} bytes")
        return full_key

    def _pages(self, prefix: str) -> Iterator[list[str]]:
        """Full keys under prefix, one list per ListObjectsV2 page."""
        if not isinstance(prefix, str):
            raise ValueError("blob prefix must be a string")
        paginator = self._s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
            yield [item["Key"] for item in page.get("Contents", ())]
