"""Wire models of the Bucket Uploads API (the SDK's CreateUploadRequest, BatchUploadRequest, ConfirmUploadRequest,
BatchConfirmRequest, ListUploadsRequest)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, StrictBool, StrictStr

from openpeek.api.models.namespaces import Strict


class CreateUpload(Strict):
    filename: StrictStr = Field(min_length=1, max_length=1024)
    content_type: StrictStr = Field(min_length=1, max_length=255)
    file_size_bytes: Optional[int] = Field(default=None, ge=1)
    presigned_url_expiration: Optional[int] = None
    metadata: Optional[dict[str, Any]] = None
    create_object_on_confirm: StrictBool = True  # Mixpeek's default: confirming registers the object
    object_metadata: Optional[dict[str, Any]] = None
    blob_property: Optional[StrictStr] = Field(default=None, min_length=1, max_length=64)
    blob_type: Optional[StrictStr] = None
    file_hash: Optional[StrictStr] = Field(default=None, min_length=1, max_length=80)
    skip_duplicates: StrictBool = False


class CreateUploadsBatch(Strict):
    uploads: list[CreateUpload] = Field(min_length=1, max_length=100)
    shared_metadata: Optional[dict[str, Any]] = None
    shared_object_metadata: Optional[dict[str, Any]] = None


class ConfirmUpload(Strict):
    etag: Optional[StrictStr] = None
    file_size_bytes: Optional[int] = Field(default=None, ge=1)
    auto_submit_batch: StrictBool = False


class ConfirmationEntry(Strict):
    upload_id: StrictStr
    etag: Optional[StrictStr] = None
    file_size_bytes: Optional[int] = Field(default=None, ge=1)


class ConfirmUploadsBatch(Strict):
    confirmations: list[ConfirmationEntry] = Field(min_length=1, max_length=100)


class ListUploads(Strict):
    filters: Optional[dict[str, Any]] = None
    sort: Optional[dict[str, Any]] = None
    search: Optional[StrictStr] = None
    return_presigned_urls: StrictBool = False
    limit: Optional[int] = Field(default=None, ge=1, le=1000)
    offset: Optional[int] = Field(default=None, ge=0)
