"""Every point of a cluster execution's map in the packed binary form of domain.packed_map, a page at a time, for the
studio's WebGL map (a million points are ~12 MB of float32 here against ~60 MB of JSON).

The stored map is one gzip'd JSON blob per run; decoding it is the slow part (about a second per million points), so
the decoded columns of the last few maps read stay in memory: a browser asks for a map in several pages, often in
parallel, and every page after the first is then a slice. A completed run's map never changes (label edits live on the
run record and come from ClusterResults.groups), so a cached map is never stale; a re-computed deferred map is a new
blob read only after its run says `layout: ready`."""

from __future__ import annotations

import gzip
import json
import math
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from openpeek.domain import packed_map
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.ports import BlobStore
from openpeek.repositories.clusters import ClusterRepository
from openpeek.domain.cluster_runs import ClusterRun
from openpeek.services.clustering.steps import points_key

MAX_PAGE = 200_000  # a page of 3-D points is 3.2 MB: under a Lambda response's 6 MB once base64-encoded
# Document ids are up to 512 characters: their pages end at this many bytes (the header's `count` says where), so
# a page stays under the Lambda limit whatever the ids; the reader asks again from offset + count.
ID_PAGE_BYTES = 4_000_000
CACHED_MAPS = 3
POSITIONS = "positions"
DOCUMENT_IDS = "document_ids"


@dataclass
class _DecodedMap:
    document_ids: list[str]
    x: array
    y: array
    z: array | None
    cluster: array
    cluster_ids: list[str]
    centres: dict[str, list[float]]


class MapPoints:
    def __init__(self, clusters: Any, results: Any, repository: ClusterRepository, blobs: BlobStore) -> None:
        """`clusters`: the ClusterService (finds a cluster by id or name); `results`: ClusterResults (labels, and the
        deferred-map path)."""
        self._clusters = clusters
        self._results = results
        self._repository = repository
        self._blobs = blobs
        self._decoded: OrderedDict[str, _DecodedMap] = OrderedDict()
        self._lock = threading.Lock()

    def packed(self, namespace: Namespace, identifier: str, *, run_id: str | None, offset: int, limit: int | None,
               include: str) -> tuple[bytes | None, dict[str, Any] | None]:
        """(packed bytes, None), or (None, the JSON body naming the task) while a deferred map is being computed."""
        if include not in (POSITIONS, DOCUMENT_IDS):
            raise BadRequest(f"include is '{POSITIONS}' or '{DOCUMENT_IDS}'", code="invalid_include")
        run = self._completed_run(namespace, identifier, run_id)
        if run.layout in ("deferred", "computing"):
            body, ready = self._results.visualization(namespace, identifier, run_id=run.run_id,
                                                      centroids_only=True)
            if not ready:
                return None, body
        decoded = self._decoded_map(namespace, run)
        total = len(decoded.document_ids)
        size = min(limit or MAX_PAGE, MAX_PAGE)
        start = min(offset, total)
        end = min(start + size, total)
        if include == DOCUMENT_IDS:
            end = _within_bytes(decoded.document_ids, start, end, ID_PAGE_BYTES)
        three_d = decoded.z is not None
        header: dict[str, Any] = {
            "cluster_id": run.cluster_id, "run_id": run.run_id, "n_components": 3 if three_d else 2,
            "total_points": total, "offset": start, "count": end - start, "cluster_ids": decoded.cluster_ids,
        }
        if include == POSITIONS:
            groups = {group["cluster_id"]: group
                      for group in self._results.groups(namespace, identifier, run.run_id)["groups"]}
            header["centroids"] = [
                {"cluster_id": name, "label": (groups.get(name) or {}).get("label"),
                 "num_members": (groups.get(name) or {}).get("member_count"),
                 "position": decoded.centres.get(name)} for name in decoded.cluster_ids]
            columns: list[tuple[str, Any]] = [("x", decoded.x[start:end]), ("y", decoded.y[start:end])]
            if three_d:
                columns.append(("z", decoded.z[start:end]))
            columns.append(("cluster", decoded.cluster[start:end]))
        else:
            columns = [("document_id", decoded.document_ids[start:end])]
        return packed_map.pack(header, columns), None

    def _completed_run(self, namespace: Namespace, identifier: str, run_id: str | None) -> ClusterRun:
        """The named run, or the cluster's newest completed one (the same choice as the JSON map's)."""
        cluster = self._clusters.get(namespace, identifier)
        if run_id:
            run = self._repository.get_run(namespace.namespace_id, cluster.cluster_id, run_id)
            if run is None:
                raise NotFound("execution", run_id)
        else:
            run = next((r for r in self._repository.runs(namespace.namespace_id, cluster.cluster_id)
                        if r.completed), None)
            if run is None:
                raise NotFound("execution", f"{cluster.cluster_id} (no completed execution)",
                               code="no_completed_execution")
        if run.status != "completed":
            raise BadRequest(f"execution '{run.run_id}' is {run.status}; its map exists once it completes",
                             code="execution_not_completed", details={"run_id": run.run_id, "status": run.status})
        return run

    def _decoded_map(self, namespace: Namespace, run: ClusterRun) -> _DecodedMap:
        key = points_key(namespace.namespace_id, run.cluster_id, run.run_id)
        with self._lock:
            found = self._decoded.get(key)
            if found is not None:
                self._decoded.move_to_end(key)
                return found
        decoded = _decode(json.loads(gzip.decompress(self._blobs.get(key))))
        with self._lock:
            self._decoded[key] = decoded
            while len(self._decoded) > CACHED_MAPS:
                self._decoded.popitem(last=False)
        return decoded


def _within_bytes(ids: list[str], start: int, end: int, budget: int) -> int:
    """The end of the longest run of ids from `start` (at least one) whose newline-joined UTF-8 fits in `budget`."""
    position = start
    while position < end:
        budget -= len(ids[position].encode("utf-8")) + 1
        if budget < 0 and position > start:
            break
        position += 1
    return position


def _floats(values: list[Any]) -> array:
    return array("f", [math.nan if value is None else value for value in values])


def _decode(points: dict[str, Any]) -> _DecodedMap:
    names = points["cluster_ids"]
    three_d = any(value is not None for value in points.get("z") or [])
    cluster = array("i", [index if index is not None and 0 <= index < len(names) else -1
                          for index in points["cluster"]])
    decoded = _DecodedMap(document_ids=points["document_id"], x=_floats(points["x"]), y=_floats(points["y"]),
                          z=_floats(points["z"]) if three_d else None, cluster=cluster, cluster_ids=names,
                          centres=points.get("centres") or {})
    if not decoded.centres:
        decoded.centres = _mean_positions(decoded)
    return decoded


def _mean_positions(decoded: _DecodedMap) -> dict[str, list[float]]:
    """Maps stored before centres were kept with the points: each cluster's mean position, from the points."""
    axes = [decoded.x, decoded.y] + ([decoded.z] if decoded.z is not None else [])
    sums: dict[int, list[float]] = {}
    for row, index in enumerate(decoded.cluster):
        values = [axis[row] for axis in axes]
        if index < 0 or any(math.isnan(value) for value in values):
            continue
        total = sums.setdefault(index, [0.0] * (len(axes) + 1))
        for position, value in enumerate(values):
            total[position] += value
        total[-1] += 1
    return {decoded.cluster_ids[index]: [value / total[-1] for value in total[:-1]] for index, total in sums.items()}
