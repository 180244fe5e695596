"""Uploads: hand out a URL the client PUTs a file to, receive it (embedded), confirm it (size and checksum
verified) and optionally turn it into an object; read, list and delete uploads."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any, AsyncIterable

from openpeek.domain import buckets as bucket_rules
from openpeek.domain import objects as object_rules
from openpeek.domain import uploads as rules
from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.tasks import Task
from openpeek.domain.uploads import Upload
from openpeek.domain.failures import BlobNotFound, ConditionFailed
from openpeek.domain.transfers import UploadTarget
from openpeek.ports import BlobStore, Table, UploadUrls
from openpeek.repositories.tasks import TaskRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.repositories.uploads import UploadRepository
from openpeek.services.content.buckets import BucketService
from openpeek.services.content.objects import ObjectService

SAVE_ATTEMPTS = 8


class UploadService:
    def __init__(self, buckets: BucketService, objects: ObjectService, object_repository: ObjectRepository,
                 repository: UploadRepository, blobs: BlobStore, urls: UploadUrls, table: Table,
                 tasks: TaskRepository, *, signing_key: bytes | None = None) -> None:
        self._table = table
        self._tasks = tasks
        self._buckets = buckets
        self._objects = objects
        self._object_repository = object_repository
        self._repository = repository
        self._blobs = blobs
        self._urls = urls
        self._signing_key = signing_key  # embedded only: checks the tokens of URLs that point back at this API

    # -- create ------------------------------------------------------------------------------------------------------

    def create(self, namespace: Namespace, bucket_identifier: str, request: dict[str, Any], *,
               base_url: str) -> tuple[Upload, str | None]:
        bucket = self._buckets.get(namespace, bucket_identifier)
        return self._create(namespace, bucket, request, base_url)

    def create_batch(self, namespace: Namespace, bucket_identifier: str, requests: list[dict[str, Any]], *,
                     shared_metadata: dict[str, Any] | None, shared_object_metadata: dict[str, Any] | None,
                     base_url: str) -> list[tuple[Upload, str | None]]:
        if not requests or len(requests) > rules.MAX_UPLOADS_PER_BATCH:
            raise BadRequest(f"uploads must hold 1 to {rules.MAX_UPLOADS_PER_BATCH} uploads", code="batch_too_large")
        bucket = self._buckets.get(namespace, bucket_identifier)
        for request in requests:  # every request checked before any upload is created
            self._check(bucket, request)
        return [self._create(namespace, bucket, {
            **request, "metadata": {**(shared_metadata or {}), **(request.get("metadata") or {})},
            "object_metadata": {**(shared_object_metadata or {}), **(request.get("object_metadata") or {})},
        }, base_url) for request in requests]

    def _check(self, bucket: Any, request: dict[str, Any]) -> None:
        size = request.get("file_size_bytes")
        if size is not None and size > object_rules.MAX_UPLOAD_BYTES:
            raise BadRequest(f"file_size_bytes {size} is over the upload limit of {object_rules.MAX_UPLOAD_BYTES} "
                             "bytes", code="blob_too_large", details={"max_bytes": object_rules.MAX_UPLOAD_BYTES})
        rules.check_expiration(request.get("presigned_url_expiration"))
        rules.normalise_sha256(request.get("file_hash"), "file_hash")
        if request.get("create_object_on_confirm"):
            prop = request.get("blob_property")
            if not prop:
                blobs = bucket.blob_properties()
                if len(blobs) != 1:
                    raise BadRequest("create_object_on_confirm needs blob_property (the bucket has "
                                     f"{len(blobs)} blob properties)", code="invalid_upload")
                prop = next(iter(blobs))
            kind = request.get("blob_type") or (bucket.properties.get(prop) or {}).get("type")
            metadata = dict(request.get("object_metadata") or {})
            bucket_rules.check_object(bucket, [(prop, kind)], metadata)
            bucket_rules.unique_key_value(bucket, metadata)

    def _create(self, namespace: Namespace, bucket: Any, request: dict[str, Any],
                base_url: str) -> tuple[Upload, str | None]:
        self._check(bucket, request)
        expiration = rules.check_expiration(request.get("presigned_url_expiration"))
        now = utcnow()
        upload_id = new_id("upl")
        prop = request.get("blob_property")
        if request.get("create_object_on_confirm") and not prop:
            prop = next(iter(bucket.blob_properties()))
        kind = request.get("blob_type") or ((bucket.properties.get(prop) or {}).get("type") if prop else None)
        upload = Upload(
            upload_id=upload_id, bucket_id=bucket.bucket_id, namespace_id=namespace.namespace_id,
            org_id=namespace.org_id, filename=request["filename"], content_type=request["content_type"],
            blob_key=object_rules.upload_blob_key(namespace.namespace_id, bucket.bucket_id, upload_id,
                                                  request["filename"]),
            expires_at=isoformat(now + timedelta(seconds=expiration)), file_size_bytes=request.get("file_size_bytes"),
            file_hash=rules.normalise_sha256(request.get("file_hash"), "file_hash"),
            presigned_url_expiration=expiration, metadata=request.get("metadata") or {},
            create_object_on_confirm=bool(request.get("create_object_on_confirm")),
            object_metadata=request.get("object_metadata") or {}, blob_property=prop, blob_type=kind,
            skip_duplicates=bool(request.get("skip_duplicates")), created_at=isoformat(now),
        )
        if upload.skip_duplicates and upload.file_hash and prop:
            duplicate = self._object_repository.by_fingerprint(
                namespace.org_id, namespace.namespace_id, bucket.bucket_id,
                object_rules.object_fingerprint([{"property": prop, "content_hash": upload.file_hash}]))
            if duplicate is not None:
                upload = upload.with_changes(status="COMPLETED", object_id=duplicate.object_id,
                                             message="an object with these bytes exists already; nothing to upload")
                self._repository.create(upload)
                return upload, None
        self._repository.create(upload)
        return upload, self._urls.put_url(self._target(upload), base_url=base_url)

    def _target(self, upload: Upload) -> UploadTarget:
        return UploadTarget(upload_id=upload.upload_id, org_id=upload.org_id, namespace_id=upload.namespace_id,
                            bucket_id=upload.bucket_id, blob_key=upload.blob_key, content_type=upload.content_type,
                            max_bytes=min(upload.file_size_bytes or object_rules.MAX_UPLOAD_BYTES,
                                          object_rules.MAX_UPLOAD_BYTES),
                            expires_at=int(parse(upload.expires_at).timestamp()))

    # -- receive (embedded: the PUT to the URL handed out) -----------------------------------------------------------

    async def receive(self, token: str, chunks: AsyncIterable[bytes], *, declared_length: int | None) -> Upload:
        """Store the bytes PUT to an embedded upload URL. The token must be this server's, unexpired, for an upload
        still waiting for its bytes; the body may not exceed the upload's size. Anything refused stores nothing."""
        if self._signing_key is None:
            raise NotFound("route", "upload")
        claims = rules.read_token(token, self._signing_key, int(utcnow().timestamp()))
        if claims.get("kind") != "put":
            raise Forbidden("this URL is not an upload URL", code="upload_token_invalid")
        upload = self._repository.get(claims["org"], claims["ns"], claims["bkt"], claims["upl"])
        if upload is None or upload.blob_key != claims["key"]:
            raise Forbidden("the upload this URL was made for no longer exists", code="upload_token_invalid")
        if upload.received_at is not None or upload.status != "PENDING":
            raise Conflict("this upload URL was used already; create a new upload", code="upload_token_used")
        limit = int(claims["max"])
        if declared_length is not None and declared_length > limit:
            raise BadRequest(f"the file is {declared_length} bytes; this upload allows at most {limit}",
                             code="blob_too_large", details={"max_bytes": limit})
        # Claim the upload before storing: of two PUTs racing with the same URL, one wins and the other stores nothing.
        now = isoformat(utcnow())
        try:
            claimed = self._repository.save(upload.with_changes(received_at=now), upload)
        except ConditionFailed:
            raise Conflict("this upload URL was used already; create a new upload", code="upload_token_used") from None
        try:
            body, digest = await _read_limited(chunks, limit)
            self._blobs.put(upload.blob_key, body, upload.content_type)
        except BaseException:
            self._release(claimed)
            raise
        for _ in range(SAVE_ATTEMPTS):
            current = self._repository.get(upload.org_id, upload.namespace_id, upload.bucket_id, upload.upload_id)
            if current is None:
                break
            try:
                return self._repository.save(current.with_changes(received_bytes=len(body), received_hash=digest,
                                                                  etag=digest[:32]), current)
            except ConditionFailed:
                continue
        return claimed

    def _release(self, claimed: Upload) -> None:
        try:
            self._repository.save(claimed.with_changes(received_at=None), claimed)
        except ConditionFailed:
            pass

    # -- confirm -----------------------------------------------------------------------------------------------------

    def confirm(self, namespace: Namespace, bucket_identifier: str, upload_id: str, request: dict[str, Any], *,
                policy: str | None = None) -> Upload:
        bucket = self._buckets.get(namespace, bucket_identifier)
        upload = self._get(namespace, bucket.bucket_id, upload_id)
        if upload.status == "COMPLETED":
            return upload  # confirming twice answers the same
        if upload.status != "PENDING":
            raise BadRequest(f"upload '{upload_id}' is {upload.status}", code="upload_not_pending")
        size, digest, etag = self._stored(upload)
        expected = request.get("file_size_bytes") or upload.file_size_bytes
        problem = None
        if expected is not None and size != expected:
            problem = (f"the stored file is {size} bytes, {expected} were declared", "size_mismatch")
        elif upload.file_hash and digest != upload.file_hash:
            problem = (f"the stored file's SHA-256 is {digest}, file_hash says {upload.file_hash}", "checksum_mismatch")
        elif size > object_rules.MAX_UPLOAD_BYTES:
            problem = (f"the stored file is over {object_rules.MAX_UPLOAD_BYTES} bytes", "blob_too_large")
        if problem is not None:
            # The bytes are not what was announced: they go, and the upload says why (a new upload is needed).
            self._blobs.delete(upload.blob_key)
            self._save(upload, status="FAILED", message=problem[0])
            raise BadRequest(f"upload '{upload_id}': {problem[0]}", code=problem[1],
                             details={"upload_id": upload_id})
        now = isoformat(utcnow())
        confirmed = self._save(upload, status="COMPLETED", received_bytes=size, received_hash=digest,
                               etag=request.get("etag") or etag, verified_at=now, completed_at=now)
        if upload.create_object_on_confirm:
            registered = self._objects.create(namespace, bucket.bucket_id, {
                "blobs": [{"property": upload.blob_property, "type": upload.blob_type, "upload_id": upload_id}],
                "metadata": upload.object_metadata, "skip_duplicates": upload.skip_duplicates,
            }, policy=policy)
            confirmed = self._get(namespace, bucket.bucket_id, upload_id)
            if confirmed.object_id != registered.object.object_id:
                confirmed = self._save(confirmed, object_id=registered.object.object_id)
        return confirmed

    def confirm_batch(self, namespace: Namespace, bucket_identifier: str, entries: list[dict[str, Any]]) -> Task:
        """Confirm each upload on its own, and record the outcome as a finished task (the SDK polls a task for
        this route): outputs per upload, FAILED entries with their error; COMPLETED_WITH_ERRORS when some failed."""
        bucket = self._buckets.get(namespace, bucket_identifier)
        outputs: list[dict[str, Any]] = []
        for entry in entries:
            try:
                confirmed = self.confirm(namespace, bucket.bucket_id, entry["upload_id"],
                                         {key: value for key, value in entry.items() if key != "upload_id"})
                outputs.append({"upload_id": confirmed.upload_id, "status": confirmed.status,
                                "object_id": confirmed.object_id})
            except DomainError as error:
                outputs.append({"upload_id": entry["upload_id"], "status": "FAILED", "error": error.message})
        failures = sum(1 for output in outputs if output["status"] == "FAILED")
        now = utcnow()
        status = "COMPLETED" if not failures else ("FAILED" if failures == len(outputs) else "COMPLETED_WITH_ERRORS")
        task = replace(Task.new(new_id("task"), namespace.namespace_id, "api_buckets_uploads_batch_confirm", now, 0,
                                [entry["upload_id"] for entry in entries], {"bucket_id": bucket.bucket_id}),
                       status=status, outputs=outputs)
        self._table.transact_write(self._tasks.creation(task, namespace.org_id))
        return task

    def _stored(self, upload: Upload) -> tuple[int, str, str | None]:
        """(size, SHA-256, etag) of what reached the blob store; 400 when nothing did."""
        if upload.received_bytes is not None and upload.received_hash:
            return upload.received_bytes, upload.received_hash, upload.etag
        stored = self._urls.stored(self._target(upload))
        if stored is None:
            raise BadRequest(f"nothing was uploaded for '{upload.upload_id}' yet; PUT the file to its URL first",
                             code="upload_missing", details={"upload_id": upload.upload_id})
        try:
            data = self._blobs.get(upload.blob_key)
        except BlobNotFound:
            raise BadRequest(f"nothing was uploaded for '{upload.upload_id}' yet", code="upload_missing") from None
        return len(data), hashlib.sha256(data).hexdigest(), stored.etag

    def _save(self, upload: Upload, **changes: Any) -> Upload:
        current = upload
        for _ in range(SAVE_ATTEMPTS):
            try:
                return self._repository.save(current.with_changes(**changes), current)
            except ConditionFailed:
                fresh = self._repository.get(upload.org_id, upload.namespace_id, upload.bucket_id, upload.upload_id)
                if fresh is None:
                    raise NotFound("upload", upload.upload_id) from None
                current = fresh
        raise Conflict("The upload kept changing while this request was applied; try again",
                       code="concurrent_modification")

    # -- read, list, delete ------------------------------------------------------------------------------------------

    def _get(self, namespace: Namespace, bucket_id: str, upload_id: str) -> Upload:
        found = self._repository.get(namespace.org_id, namespace.namespace_id, bucket_id, upload_id)
        if found is None:
            raise NotFound("upload", upload_id)
        return found

    def get(self, namespace: Namespace, bucket_identifier: str, upload_id: str) -> Upload:
        bucket = self._buckets.get(namespace, bucket_identifier)
        return self._get(namespace, bucket.bucket_id, upload_id)

    def list(self, namespace: Namespace, bucket_identifier: str) -> list[Upload]:
        bucket = self._buckets.get(namespace, bucket_identifier)
        return sorted(self._repository.list_by_bucket(namespace.org_id, namespace.namespace_id, bucket.bucket_id),
                      key=lambda upload: (upload.created_at, upload.upload_id))

    def delete(self, namespace: Namespace, bucket_identifier: str, upload_id: str) -> Upload:
        """The upload and its bytes, unless an object holds them (then only the upload record goes)."""
        upload = self.get(namespace, bucket_identifier, upload_id)
        owner = upload.object_id and self._object_repository.get(namespace.org_id, namespace.namespace_id,
                                                                 upload.bucket_id, upload.object_id)
        if not (owner and any(blob["blob_key"] == upload.blob_key for blob in owner.blobs)):
            self._blobs.delete(upload.blob_key)
        self._repository.delete(upload)
        return upload

    def download(self, token: str) -> tuple[bytes, str]:
        """The bytes and MIME type of the blob a download URL names (embedded; S3 serves its own)."""
        if self._signing_key is None:
            raise NotFound("route", "blob")
        claims = rules.read_token(token, self._signing_key, int(utcnow().timestamp()))
        if claims.get("kind") != "get":
            raise Forbidden("this URL is not a download URL", code="download_token_invalid")
        try:
            return self._blobs.get(claims["key"]), str(claims.get("type") or "application/octet-stream")
        except BlobNotFound:
            raise NotFound("blob", claims["key"].rsplit("/", 1)[-1]) from None

    def url_for(self, upload: Upload, *, base_url: str) -> str | None:
        """A fresh URL for an upload still waiting for its bytes."""
        if upload.status != "PENDING" or upload.received_at is not None:
            return None
        if parse(upload.expires_at) <= utcnow():
            return None
        return self._urls.put_url(self._target(upload), base_url=base_url)


async def _read_limited(chunks: AsyncIterable[bytes], limit: int) -> tuple[bytes, str]:
    """The body (joined once, at the end: no growing buffer copied over and over) and its SHA-256, refused as soon as
    it passes the limit."""
    parts: list[bytes] = []
    size = 0
    digest = hashlib.sha256()
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the file is over the {limit} bytes this upload allows", code="blob_too_large",
                             details={"max_bytes": limit})
        digest.update(chunk)
        parts.append(chunk)
    return b"".join(parts), digest.hexdigest()
