"""Wire models of the namespace snapshot routes (the SDK's CreateSnapshotRequest, ListSnapshotsRequest,
RestoreSnapshotRequest). Unknown keys are refused with 422."""

from __future__ import annotations

from typing import Optional, Union

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class SnapshotImportSource(Strict):
    bucket: StrictStr = Field(min_length=1, max_length=255)
    prefix: StrictStr = Field(min_length=1, max_length=1024)


class CreateSnapshotRequest(Strict):
    copy_s3_objects: Optional[StrictBool] = False
    include_vectors: Optional[StrictBool] = True
    import_from: Optional[SnapshotImportSource] = None


class ListSnapshotsRequest(Strict):
    skip: StrictInt = Field(default=0, ge=0, le=100_000)
    limit: StrictInt = Field(default=20, ge=1, le=100)


class RestoreSnapshotRequest(Strict):
    target_namespace_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=128)
    confirm_in_place: Optional[StrictBool] = False
    # an RFC 3339 instant or a WAL seq (the SDK's RestorePoint); refused by the service: there is no WAL to replay
    restore_point: Optional[Union[StrictInt, StrictStr]] = Field(default=None)
    isolated: Optional[StrictBool] = False
