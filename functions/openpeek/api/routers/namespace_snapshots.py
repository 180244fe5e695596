"""Namespace snapshot routes (the SDK's NamespaceSnapshotsApi). Thin: parse, call NamespaceSnapshots, return.

A snapshot here is the namespace's configuration and its documents (vectors and payloads) exported to the blob store
(S3 deployed, the data folder embedded) with a sha256 per artifact; restore writes them back in place or into a new
namespace. Mixpeek's bucket-object copies, cross-plane imports, WAL restore points and isolated shards have no
counterpart in this deployment and are refused with a 400 that says so (services/snapshots.py). The SDK verifies with
a GET, so verify is a GET here too."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Body, Depends, Query, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.snapshots import CreateSnapshotRequest, ListSnapshotsRequest, RestoreSnapshotRequest
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/namespaces/{namespace_identifier}/snapshots",
                   tags=["Namespace Snapshots"])


@router.post("")
def create_snapshot(request: Request, namespace_identifier: str, body: CreateSnapshotRequest,
                    caller: Principal = Depends(principal)) -> dict:
    """CreateSnapshotResponse: the snapshot's task; a small namespace's export has finished when it answers."""
    return services(request).snapshots.create(caller, namespace_identifier, body.model_dump(exclude_none=True))


@router.post("/list")
def list_snapshots(request: Request, namespace_identifier: str,
                   body: Optional[ListSnapshotsRequest] = Body(default=None),
                   caller: Principal = Depends(principal)) -> dict:
    """ListSnapshotsResponse, newest first."""
    body = body or ListSnapshotsRequest()
    return services(request).snapshots.list(caller, namespace_identifier, skip=body.skip, limit=body.limit)


@router.get("/{snapshot_id}")
def get_snapshot(request: Request, namespace_identifier: str, snapshot_id: str,
                 download: bool = Query(default=False), caller: Principal = Depends(principal)) -> dict:
    """SnapshotDetailResponse; download=true adds a signed URL and the sha256 of every artifact, good for an hour."""
    return services(request).snapshots.get(caller, namespace_identifier, snapshot_id,
                                           download_base_url=str(request.base_url) if download else None)


@router.delete("/{snapshot_id}")
def delete_snapshot(request: Request, namespace_identifier: str, snapshot_id: str,
                    caller: Principal = Depends(principal)) -> dict:
    return services(request).snapshots.delete(caller, namespace_identifier, snapshot_id)


@router.post("/{snapshot_id}/restore")
def restore_snapshot(request: Request, namespace_identifier: str, snapshot_id: str, body: RestoreSnapshotRequest,
                     caller: Principal = Depends(principal)) -> dict:
    """RestoreSnapshotResponse: in place (confirm_in_place) or into a new namespace (target_namespace_name)."""
    return services(request).snapshots.restore(caller, namespace_identifier, snapshot_id,
                                               body.model_dump(exclude_none=True))


@router.get("/{snapshot_id}/verify")
def verify_snapshot(request: Request, namespace_identifier: str, snapshot_id: str,
                    deep: bool = Query(default=False), caller: Principal = Depends(principal)) -> dict:
    """SnapshotVerifyResponse: every artifact re-read and checked against its recorded sha256; deep=true also
    decodes each part and counts its documents. Read only."""
    return services(request).snapshots.verify(caller, namespace_identifier, snapshot_id, deep=deep)
