"""Namespace snapshots (the SDK's NamespaceSnapshotsApi): a point-in-time copy of a namespace kept as artifacts in the
blob store, with a record that holds what it contains and the sha256 of every artifact.

Artifacts, under the snapshot's prefix:

    config.json                the namespace's record (mode, extractors, vector configs, payload indexes), no secrets
    points/part-000000.jsonl.gz  one page of documents per part: id, vectors and payload, one JSON object a line
    manifest.json              the SnapshotManifest with the sha256 and size of config.json and of every part

The record is the trusted side. It keeps the manifest without its per-artifact digests (an item stays small however
many parts there are) and the digest of manifest.json; verify and restore check manifest.json against it, then every
artifact against the digests manifest.json names, so a damaged or missing artifact is found before anything is
written.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable

import numpy as np

from openpeek.domain.vectors import SparseVector, VectorPoint

PENDING, IN_PROGRESS, COMPLETED, FAILED = "pending", "in_progress", "completed", "failed"
MANUAL = "manual"
SCHEMA_VERSION = 2  # manifests carry a frontier (the SDK: "null on manifests older than schema version 2")
CONFIG_ARTIFACT = "config.json"
MANIFEST_ARTIFACT = "manifest.json"
POINTS_DIRECTORY = "points/"
CREATE_TASK_TYPE = "api_namespaces_snapshot_create"
RESTORE_TASK_TYPE = "api_namespaces_snapshot_restore"


def artifacts_prefix(namespace_id: str, snapshot_id: str) -> str:
    """Under the namespace's blob prefix: the namespace's deletion takes its snapshots' artifacts with it."""
    return f"namespaces/{namespace_id}/snapshots/{snapshot_id}/"


def part_artifact(part: int) -> str:
    return f"{POINTS_DIRECTORY}part-{part:06d}.jsonl.gz"


def digest(data: bytes) -> dict[str, Any]:
    """ArtifactDigest."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


# -- the points codec ------------------------------------------------------------------------------------------------


def _vector_json(value: Any) -> Any:
    """A dense vector whose values are all float32 (what the vector store keeps) as the base64 of its little-endian
    float32 bytes: a quarter of its JSON text, and read back to the same floats. Anything else as JSON numbers."""
    if isinstance(value, SparseVector):
        return {"indices": list(value.indices), "values": list(value.values)}
    exact = np.asarray(value, dtype=np.float64)
    narrow = exact.astype("<f4")
    if exact.ndim == 1 and np.array_equal(narrow.astype(np.float64), exact):
        return {"f32": base64.b64encode(narrow.tobytes()).decode("ascii")}
    return exact.tolist()


def _vector_value(value: Any) -> Any:
    if isinstance(value, dict) and "f32" in value:
        return np.frombuffer(base64.b64decode(value["f32"], validate=True), dtype="<f4").astype(np.float64).tolist()
    if isinstance(value, dict):
        return SparseVector(tuple(int(i) for i in value["indices"]), tuple(float(v) for v in value["values"]))
    return [float(v) for v in value]


def encode_points(points: Iterable[VectorPoint]) -> bytes:
    """A page of points as gzipped JSON lines (the fastest gzip level: float bytes hardly compress, payloads do)."""
    lines = "".join(json.dumps({"id": point.id, "vectors": {name: _vector_json(value)
                                                            for name, value in point.vectors.items()},
                                "payload": point.payload}, default=str, separators=(",", ":")) + "\n"
                    for point in points)
    return gzip.compress(lines.encode(), compresslevel=1, mtime=0)


class UnreadablePart(ValueError):
    """A points part that does not decompress or parse (truncated, overwritten)."""


def decode_points(data: bytes) -> list[VectorPoint]:
    try:
        text = gzip.decompress(data).decode()
        rows = [json.loads(line) for line in text.splitlines() if line]
        if not rows:  # the export writes no empty parts: an empty one lost its content
            raise ValueError("the part holds no documents")
        return [VectorPoint(row["id"], {name: _vector_value(value) for name, value in row["vectors"].items()},
                            row["payload"]) for row in rows]
    except (OSError, EOFError, zlib.error, binascii.Error, UnicodeDecodeError, ValueError, KeyError,
            TypeError) as error:
        raise UnreadablePart(str(error) or type(error).__name__) from None


# -- the snapshot record ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """`namespace_id`: the storage id of the namespace it was taken of; `manifest`: the SnapshotManifest once the
    export finished, without its per-artifact digests (those are in manifest.json, whose own digest is
    `manifest_digest`); `last_restore`: the RestoreReport of the latest restore from it."""

    snapshot_id: str
    namespace_id: str
    public_namespace_id: str
    namespace_name: str
    org_id: str
    created_at: str
    status: str = PENDING
    snapshot_type: str = MANUAL
    include_vectors: bool = True
    task_id: str | None = None
    completed_at: str | None = None
    manifest: dict[str, Any] | None = None
    manifest_digest: dict[str, Any] | None = None
    # collection id -> {collection_name, lifecycle_state} of the collections whose documents were outside the vector
    # store when the snapshot was taken (cold, archived, or moving between stores): the snapshot does not hold them,
    # and a restore in place leaves their documents alone
    uncaptured_collections: dict[str, dict[str, str]] = field(default_factory=dict)
    error: str | None = None
    last_restore: dict[str, Any] | None = None
    version: int = 1

    def to_record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Snapshot":
        known = {f.name for f in fields(cls)} - {"version"}
        return cls(**{key: value for key, value in record.items() if key in known}, version=version)

    @property
    def point_count(self) -> int:
        return int((self.manifest or {}).get("vector_point_count") or 0)

    def completed(self, manifest: dict[str, Any], stored: bytes, now: str) -> "Snapshot":
        """`manifest`: the whole SnapshotManifest; `stored`: manifest.json's bytes as written."""
        frontier = {key: value for key, value in manifest["frontier"].items() if key != "digests"}
        return replace(self, status=COMPLETED, manifest={**manifest, "frontier": frontier},
                       manifest_digest=digest(stored), completed_at=now, error=None)

    def failed(self, error: str, now: str) -> "Snapshot":
        return replace(self, status=FAILED, error=error, completed_at=now)


def digests_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The artifacts a stored manifest names, by path, with their digests."""
    return (manifest.get("frontier") or {}).get("digests") or {}


def parts_of(manifest: dict[str, Any]) -> list[str]:
    return sorted(path for path in digests_of(manifest) if path.startswith(POINTS_DIRECTORY))


def manifest(snapshot: Snapshot, *, point_count: int, digests: dict[str, dict[str, Any]],
             counted_before: int, counted_after: int) -> dict[str, Any]:
    """The SnapshotManifest of a finished export. The export scrolls while writes go on, so it lies between the
    counts read before and after it (the SDK's 'scroll_bracketed' capture)."""
    capture = "scroll_bracketed" if snapshot.include_vectors else "not_captured"
    moved = None if counted_before == counted_after else (
        f"the namespace held {counted_before} documents when the export began and {counted_after} when it ended")
    return {
        "snapshot_id": snapshot.snapshot_id, "namespace_id": snapshot.public_namespace_id,
        "namespace_name": snapshot.namespace_name, "schema_version": SCHEMA_VERSION,
        "created_at": snapshot.created_at, "snapshot_type": snapshot.snapshot_type,
        "vector_point_count": point_count, "s3_object_count": 0, "s3_total_bytes": 0, "s3_objects_copied": False,
        "include_vectors": snapshot.include_vectors,
        "frontier": {"consistency": "bracketed", "vectors": {"capture_mode": capture, "error": moved},
                     "digests": digests, "schema_versions": {"manifest": SCHEMA_VERSION, "points": 1, "config": 1}},
    }


# -- verification ----------------------------------------------------------------------------------------------------


@dataclass
class Verification:
    """What re-reading a snapshot's artifacts found: SnapshotVerifyIssue entries, and the counts verify reports."""

    issues: list[dict[str, str]] = field(default_factory=list)
    digests_verified: int = 0
    parts_verified: int = 0
    points_read: int = 0
    points_without_vectors: int = 0
    measured: bool = False

    @property
    def restorable(self) -> bool:
        return not any(issue["severity"] == "error" for issue in self.issues)

    def error(self, code: str, detail: str) -> None:
        self.issues.append({"code": code, "severity": "error", "detail": detail})

    def warning(self, code: str, detail: str) -> None:
        self.issues.append({"code": code, "severity": "warning", "detail": detail})

    @property
    def vector_capture(self) -> str:
        """Three-valued on purpose (the SDK's verdict): measured only when every part was decoded."""
        if not self.measured or not self.points_read:
            return "could_not_measure"
        return "measured_degraded" if self.points_without_vectors * 10 > self.points_read else "measured_ok"


def check_artifact(verification: Verification, path: str, data: bytes | None, recorded: dict[str, Any]) -> bool:
    """Compare one artifact's bytes (None: missing) with its recorded digest; True when it matches."""
    if data is None:
        verification.error("missing_artifact", f"{path} is missing from the snapshot's storage; a restore would "
                                               "lose what it holds")
        return False
    actual = digest(data)
    if actual["size"] != recorded.get("size"):
        verification.error("size_mismatch", f"{path} holds {actual['size']} bytes where {recorded.get('size')} "
                                            "were recorded (truncated or overwritten)")
        return False
    if actual["sha256"] != recorded.get("sha256"):
        verification.error("digest_mismatch", f"{path} no longer hashes to the sha256 recorded when the snapshot "
                                              "was taken (its content changed)")
        return False
    verification.digests_verified += 1
    return True
