"""Approximate search for the embedded runtime: Qdrant Edge's HNSW index built off the request path.

Edge never builds its index by itself, and EdgeShard.optimize() holds the GIL for its whole run (tens of seconds at
50,000 vectors), so it never runs in the server's process. Instead (`rebuild`):

1. with the shard's writes paused for the copy only (reads go on), the shard is flushed and its directory copied to
   `root/.optimizing-<collection>-<id>`; from then on every write to the live shard is also kept in a journal;
2. a child process (`python -m openpeek.adapters.qdrant.edge_index <dir>`) loads the copy, turns indexing on and
   optimizes it (HNSW over every segment past the threshold), flushes and exits; the server answers meanwhile, from the
   live shard (exact search, as before);
3. the swap, with no call using the shard (a short exclusive hold): the journal is replayed onto the optimized copy
   and flushed, the live directory is renamed to `.retired-<collection>-<id>`, the copy into its place, and the
   registry's entry is replaced by the new shard.

No write is lost: a write before the copy is in it; one after is in the journal and in the live shard's WAL; until the
copy is in place the live shard is the collection. A crash between the two renames leaves a `.retired-*` and no
collection directory: the next store of the root puts it back (`recover`). Searches stay correct throughout: the live
shard answers until the swap, and points written after a build sit in an unindexed segment, searched exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from openpeek.adapters.qdrant.edge_vectors import DIRECTORY as VECTOR_SIDECAR  # kept by the live shard's writes

OPTIMIZING_PREFIX = ".optimizing-"
RETIRED_PREFIX = ".retired-"
CONFIG_FILE = "edge_config.json"
INDEXING_THRESHOLD_KB = 1_000  # a segment past this many KiB of vectors gets its HNSW graph (Qdrant's unit)
DEFAULT_UNINDEXED_THRESHOLD = 20_000  # unindexed points that start a build on their own
DEFAULT_QUANTIZATION_THRESHOLD = 50_000  # points from which a build also quantizes (see BuildPlan)
CHECK_EVERY_WRITES = 50  # writes between two looks at a shard's unindexed count


@dataclass(frozen=True)
class BuildPlan:
    """How the child builds a collection's index.

    The graph: Qdrant's defaults (m 16, ef_construct 100), which keep recall@10 at 1.0 on the benchmark mixture; a
    lower ef_construct trades recall for little (64: 17% less CPU, 40: half, recall 0.96 at 50,000). Edge already
    builds on every core (one `hnsw-build-N` thread per CPU; max_indexing_threads 0 is its "auto", said explicitly
    so a persisted config cannot pin it lower). A keyword index adds no work until one of its values holds more than
    full_scan_threshold KiB of vectors; then Qdrant links that value's points among themselves too (payload_m), which
    doubled the build's CPU in a direct measurement (50,000 × 384, ten values, threshold lowered to 2 MB) and is kept:
    without those links (payload_m 0) the filtered recall@10 fell to 0.09. Expect it at a million (ten values of 150
    MB each).

    Scalar int8 quantization, for a collection of at least `quantize_from_points` points (0: never): Edge keeps an
    int8 copy of each vector (a quarter of the float32 size) pinned in RAM and the float32 originals in memory-mapped
    files (on_disk), which the page cache keeps only as far as they are read. What bench/edge_index.py measured at
    50,000 × 384, against the same build unquantized in the same run: the graph is built comparing int8 vectors, a
    third of the build's CPU time and a fifth of its duration; filtered searches a third faster, unfiltered the same;
    a process answering the queries held 13% less resident memory; recall@10 0.9995, because queries rescore the
    best candidates with the originals (QUANTIZED_SEARCH), so answers keep their exact scores. Small collections
    (builds of a few seconds) stay unquantized: nothing worth an extra file to gain."""

    m: int = 16
    ef_construct: int = 100
    quantize_from_points: int = DEFAULT_QUANTIZATION_THRESHOLD

    def config_for(self, points_count: int) -> dict[str, Any]:
        """The edge_config.json entries the child writes into the copy before it optimizes."""
        entries: dict[str, Any] = {
            "hnsw_config": {"m": self.m, "ef_construct": self.ef_construct, "full_scan_threshold": 10_000,
                            "max_indexing_threads": 0},
        }
        if self.quantize_from_points and points_count >= self.quantize_from_points:
            entries["quantization_config"] = {"scalar": {"type": "int8", "quantile": 0.99, "memory": "pinned"}}
            entries["vectors_on_disk"] = True
        return entries


QUANTIZED_SEARCH = qe.SearchParams(quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))
"""Every query's search parameters: on a quantized segment, the best limit × 2 candidates by int8 score are
rescored with the float32 originals; on the others (unquantized, or exact) they change nothing."""


def quantization_of(path: Path) -> str | None:
    """The shard's quantization as its config records it ("int8" after a quantized build), or None."""
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    scalar = (config.get("quantization_config") or {}).get("scalar")
    return scalar.get("type") if scalar else None


class IndexBuildFailed(Exception):
    """The child that optimizes the copy failed; the live shard is untouched."""


@dataclass
class IndexState:
    """A collection's index, as the namespace's stats report it."""

    building: bool = False
    builds: int = 0
    last_build_s: float | None = None
    last_swap_s: float | None = None  # how long the last swap held every call off the shard (journal replay, load)
    last_error: str | None = None
    writes_since_check: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, path: Path) -> dict[str, Any]:
        """`quantization` is read from the shard's config: it outlives the process, the counters do not."""
        return {"state": "building" if self.building else "idle", "builds": self.builds,
                "last_build_s": self.last_build_s, "last_swap_s": self.last_swap_s, "last_error": self.last_error,
                "quantization": quantization_of(path)}


class _JournalingShard:
    """The live shard while a build runs: every update is applied and kept, to be replayed onto the built copy."""

    def __init__(self, shard: Any) -> None:
        self.real = shard
        self.journal: list[Any] = []

    def update(self, operation: Any) -> Any:
        result = self.real.update(operation)
        self.journal.append(operation)  # after it applied: an operation the shard refused is not replayed
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def recover(root: Path) -> None:
    """After a crash: a `.retired-*` whose collection is missing goes back (the swap was cut between its renames);
    one whose collection is there, and every `.optimizing-*`, is leftover scratch."""
    for leftover in sorted(root.iterdir()):
        if not leftover.is_dir():
            continue
        if leftover.name.startswith(OPTIMIZING_PREFIX):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover.name.startswith(RETIRED_PREFIX):
            collection = root / leftover.name[len(RETIRED_PREFIX):].rsplit("-", 1)[0]
            if collection.exists():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                os.rename(leftover, collection)


def rebuild(registry: Any, path: Path, state: IndexState, open_shard: Any,
            plan: BuildPlan = BuildPlan()) -> dict[str, Any]:
    """Build the HNSW index of the collection at `path` off the request path and swap it in (see the module's
    docstring). `registry` is edge._REGISTRY, `open_shard(shard, path)` makes its entry. Returns the shard's info."""
    if not state.lock.acquire(blocking=False):
        raise IndexBuildFailed(f"an index build of {path.name} is already running")
    started = time.perf_counter()
    copy = path.parent / f"{OPTIMIZING_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
    entry = registry.get(path)
    journaling = None
    try:
        state.building = True
        with entry.gate.shared():
            with entry.write_lock:
                entry.shard.flush()
                points_count = entry.shard.info().points_count
                # Not the vector sidecar: it follows the live shard's writes and moves over at the swap.
                shutil.copytree(path, copy, ignore=lambda folder, names: (
                    [VECTOR_SIDECAR] if Path(folder) == path and VECTOR_SIDECAR in names else []))
                journaling = _JournalingShard(entry.shard)
                entry.shard = journaling
        _optimize_in_child(copy, plan.config_for(points_count))
        with entry.gate.exclusive():  # nobody reads or writes the shard while it is replaced
            swap_started = time.perf_counter()
            if entry.closed:
                raise IndexBuildFailed(f"{path.name} was closed or dropped while its index was built")
            built = qe.EdgeShard.load(str(copy))
            for operation in journaling.journal:
                built.update(operation)
            built.flush()
            built.close()
            journaling.real.flush()
            journaling.real.close()
            entry.closed = True
            retired = path.parent / f"{RETIRED_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
            os.rename(path, retired)
            os.rename(copy, path)
            _fsync_dir(path.parent)
            if (retired / VECTOR_SIDECAR).is_dir():
                os.rename(retired / VECTOR_SIDECAR, path / VECTOR_SIDECAR)
            with registry.lock:
                registry.shards[path] = open_shard(qe.EdgeShard.load(str(path)), path)
            journaling = None
            state.last_swap_s = round(time.perf_counter() - swap_started, 3)
        shutil.rmtree(retired, ignore_errors=True)
        state.builds += 1
        state.last_error = None
        state.last_build_s = round(time.perf_counter() - started, 3)
        return _info(registry.get(path).shard)
    except BaseException as error:
        if journaling is not None and not entry.closed:
            with entry.write_lock:
                entry.shard = journaling.real  # the live shard stays what it was, with every write
        shutil.rmtree(copy, ignore_errors=True)
        state.last_error = f"{type(error).__name__}: {error}"
        raise
    finally:
        state.building = False
        state.writes_since_check = 0
        state.lock.release()


def _info(shard: Any) -> dict[str, Any]:
    info = shard.info()
    return {"points_count": info.points_count, "indexed_vectors_count": info.indexed_vectors_count,
            "segments_count": info.segments_count}


def _optimize_in_child(copy: Path, config: dict[str, Any]) -> None:
    done = subprocess.run([sys.executable, "-m", "openpeek.adapters.qdrant.edge_index", str(copy),
                           str(INDEXING_THRESHOLD_KB), json.dumps(config)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise IndexBuildFailed(f"the index build exited with status {done.returncode}: {reason}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def optimize_copy(directory: Path, threshold_kb: int = INDEXING_THRESHOLD_KB,
                  plan_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """In the child: indexing on in the copy's config (with the plan's graph and quantization settings, persisted
    with the shard, so later builds keep them), then Edge's optimizer, then flush."""
    plan_config = dict(plan_config or {})
    config_file = directory / CONFIG_FILE
    config = json.loads(config_file.read_text())
    config["optimizers"] = {**(config.get("optimizers") or {}), "indexing_threshold": threshold_kb}
    if plan_config.pop("vectors_on_disk", False):
        for params in (config.get("vectors") or {}).values():
            params["on_disk"] = True  # the optimized segments memory-map their originals (BuildPlan)
    config.update(plan_config)
    config_file.write_text(json.dumps(config))
    shard = qe.EdgeShard.load(str(directory))
    try:
        shard.optimize()
        shard.flush()
        return _info(shard)
    finally:
        shard.close()


if __name__ == "__main__":
    print(json.dumps(optimize_copy(Path(sys.argv[1]), int(sys.argv[2]),
                                   json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)))
