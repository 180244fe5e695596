"""Approximate search for the embedded runtime: Qdrant Edge's HNSW index built off the request path.

Edge never builds its index by itself, and EdgeShard.optimize() holds the GIL for its whole run (tens of seconds at
50,000 vectors), so it never runs in the server's process. Instead (`rebuild`):

1. with the shard's writes paused for the copy only (reads go on), the shard is flushed and its directory copied to
   `root/.optimizing-<collection>-<id>`; from then on every write to the live shard is also kept in a journal;
2. a child process (`python -m openpeek.adapters.qdrant.edge_index <dir>`) loads the copy, turns indexing on and
   optimizes it (HNSW over every segment past the threshold), flushes and exits; the server answers meanwhile, from the
   live shard (exact search, as before);
3. the swap, which reads never wait for: the optimized copy is loaded and the journal replayed onto it while the live
   shard keeps answering and taking writes (in rounds, until a round finds nothing new); then, with writes held
   (reads go on, from the live shard), the journal's tail is replayed, the copy's WAL fsynced, the live directory
   renamed to `.retired-<collection>-<id>`, the copy into its place (the vector sidecar, left out of the copy, moved
   over into it), and the registry's entry replaced by the built shard, already open; a write that waited goes to
   it. The old shard is closed once the reads that began on it finish. Both shards are loaded through a descriptor
   of their directory (`load_shard`), which is what lets their directories be renamed while they are open. Where
   there is no /proc/self/fd, the tail, the renames and a reload of the built shard at the collection's path hold
   every call off instead (`_swap_reopening`).

No write is lost: a write before the copy is in it; one after is in the journal and in the live shard's WAL; until the
copy is in place the live shard is the collection, and the copy is renamed into place only with every acknowledged
write replayed onto it and durable, writes held. A crash before that leaves the live directory and scratch; one
between the two renames leaves a `.retired-*` and no collection directory: the next store of the root puts it back
(`recover`); one after leaves the built collection, with every write. Searches stay correct throughout: the live
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

from openpeek.adapters.qdrant.durable_files import fsync_path
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
    # The last swap, whole (the built shard loaded, the journal replayed, swapped in), and how long of it writes
    # waited (reads go on), or every call where shards are loaded by path (_swap_reopening).
    last_swap_s: float | None = None
    last_swap_blocked_s: float | None = None
    last_error: str | None = None
    writes_since_check: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self, path: Path) -> dict[str, Any]:
        """`quantization` is read from the shard's config: it outlives the process, the counters do not."""
        return {"state": "building" if self.building else "idle", "builds": self.builds,
                "last_build_s": self.last_build_s, "last_swap_s": self.last_swap_s,
                "last_swap_blocked_s": self.last_swap_blocked_s, "last_error": self.last_error,
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
    docstring). `registry` is edge._REGISTRY, `open_shard(shard, path, directory_fd)` makes its entry. Returns the
    shard's info."""
    if not state.lock.acquire(blocking=False):
        raise IndexBuildFailed(f"an index build of {path.name} is already running")
    started = time.perf_counter()
    copy = path.parent / f"{OPTIMIZING_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
    entry = registry.get(path)
    journaling = None
    built: Any = None  # the optimized copy, loaded, until it is the registry's entry
    built_fd: int | None = None
    swapped = False
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
        swap_started = time.perf_counter()
        prefetch(copy)
        built, built_fd = load_shard(copy)  # the live shard answers every call meanwhile
        replayed = _catch_up(built, journaling.journal)
        built.flush()  # what was replayed so far is in the copy's segments before any write waits
        swap = _swap_open if built_fd is not None else _swap_reopening
        retired, blocked_s = swap(registry, path, copy, entry, journaling, built, built_fd, replayed, open_shard)
        built = built_fd = None
        swapped = True
        with entry.gate.exclusive():  # the old shard closes once the reads that began on it finish
            if not entry.closed:
                entry.close_shard()
        shutil.rmtree(retired, ignore_errors=True)
        state.last_swap_blocked_s = round(blocked_s, 6)  # a few syscalls when no write came meanwhile
        state.last_swap_s = round(time.perf_counter() - swap_started, 3)
        state.builds += 1
        state.last_error = None
        state.last_build_s = round(time.perf_counter() - started, 3)
        return _info(registry.get(path).shard)
    except BaseException as error:
        if journaling is not None and not swapped and not entry.closed:
            with entry.write_lock:
                entry.shard = journaling.real  # the live shard stays what it was, with every write
        if built is not None and not swapped:
            _close_quietly(built, built_fd)
        shutil.rmtree(copy, ignore_errors=True)
        state.last_error = f"{type(error).__name__}: {error}"
        raise
    finally:
        state.building = False
        state.writes_since_check = 0
        state.lock.release()


PREFETCH_BLOCK = 4 << 20


def prefetch(directory: Path) -> None:
    """Read a built shard's segment files once, in large blocks, before it is loaded. EdgeShard.load holds the GIL,
    so every call of the process waits for it, and it reads what the page cache does not hold in small pieces:
    measured at 200,000 × 384 int8 with the files out of the cache, the load took 3.4 s (nearly all of it reading the
    pinned int8 vectors), 0.3 s after this read, which took 0.3 s itself with the GIL released. The originals of a
    quantized build are left out: they stay memory-mapped on disk (BuildPlan) and queries only touch them to
    rescore, so reading them would only push other pages out of the cache."""
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        config = {}
    mapped = {f"vector_storage-{name}" for name, params in (config.get("vectors") or {}).items()
              if params.get("on_disk")}
    block = bytearray(PREFETCH_BLOCK)
    for file in sorted((directory / "segments").rglob("*")):
        if file.parent.name in mapped and file.name == "matrix.dat" or not file.is_file():
            continue
        try:
            with open(file, "rb", buffering=0) as handle:
                while handle.readinto(block):
                    pass
        except OSError:
            pass  # only a warm-up: the load reads whatever this could not


CATCH_UP_ROUNDS = 8  # journal replays with writes flowing, before the tail is replayed with writes held


def _replay(shard: Any, operations: list[Any], *, tail: bool) -> None:
    """Apply journaled operations to the built shard, in the order the live shard applied them. `tail`: the last
    ones, replayed while writes wait."""
    for operation in operations:
        shard.update(operation)


def _catch_up(built: Any, journal: list[Any]) -> int:
    """Replay the journal onto the built shard while the live one keeps taking writes (each goes on the journal as
    it is applied): in rounds, each replaying what arrived during the one before, until a round finds nothing new.
    Returns how many operations were replayed; the rest, the tail, is replayed with writes held (_swap_open)."""
    replayed = 0
    for _ in range(CATCH_UP_ROUNDS):
        end = len(journal)  # the journal only grows; what is below `end` never changes
        if end == replayed:
            break
        _replay(built, journal[replayed:end], tail=False)
        replayed = end
    return replayed


def _swap_open(registry: Any, path: Path, copy: Path, entry: Any, journaling: _JournalingShard, built: Any,
               built_fd: int | None, replayed: int, open_shard: Any) -> tuple[Path, float]:
    """The swap where the built shard was loaded through its directory's descriptor (load_shard): renaming the
    directories changes nothing for either open shard, so the built one is swapped in without reloading and reads
    never wait. Writes wait while the tail of the journal is replayed and the directories renamed; writes that
    arrive meanwhile then go to the new shard (edge's _use looks again when it finds its entry superseded). The old
    shard is closed once the reads that began on it finish (by the caller). Returns the old shard's directory, now
    `.retired-*`, and how long writes waited."""
    successor = open_shard(built, path, built_fd)
    successor.sync_wal()  # the copy's WAL files (copied, then replayed onto) on disk before writes wait
    with entry.gate.shared(), entry.write_lock:
        blocked_started = time.perf_counter()
        if entry.closed:
            raise IndexBuildFailed(f"{path.name} was closed or dropped while its index was built")
        _replay(built, journaling.journal[replayed:], tail=True)
        if not successor.sync_wal():
            built.flush()
        # Every acknowledged write is durable in the copy: from here on, a crash leaves a data dir whose
        # collection (or, cut between the renames, its `.retired-*` put back by `recover`) has all of them.
        retired = _rename_into_place(path, copy)
        with registry.lock:
            registry.shards[path] = successor
        entry.superseded = True
        return retired, time.perf_counter() - blocked_started


def _swap_reopening(registry: Any, path: Path, copy: Path, entry: Any, journaling: _JournalingShard, built: Any,
                    built_fd: int | None, replayed: int, open_shard: Any) -> tuple[Path, float]:
    """The swap where a directory cannot be held open by descriptor (no /proc/self/fd): a shard opened by path must
    be closed before its directory is renamed, so every call waits while the tail is replayed, both shards closed,
    the directories renamed and the built shard loaded again at the collection's path. Returns the old shard's
    directory and how long calls waited."""
    with entry.gate.exclusive():
        blocked_started = time.perf_counter()
        if entry.closed:
            raise IndexBuildFailed(f"{path.name} was closed or dropped while its index was built")
        _replay(built, journaling.journal[replayed:], tail=True)
        built.flush()
        built.close()
        journaling.real.flush()
        entry.close_shard()  # calls waiting on the gate find it closed and look the collection up again
        try:
            retired = _rename_into_place(path, copy)
            shard, directory_fd = load_shard(path)
        except BaseException:
            with registry.lock:
                del registry.shards[path]  # the next call loads whichever directory is the collection now
            raise
        with registry.lock:
            registry.shards[path] = open_shard(shard, path, directory_fd)
        entry.superseded = True
        return retired, time.perf_counter() - blocked_started


def _rename_into_place(path: Path, copy: Path) -> Path:
    """The live directory to `.retired-*`, the copy to its place, durably (a crash between the two renames is put
    back by `recover`). Returns the retired directory."""
    retired = path.parent / f"{RETIRED_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}"
    os.rename(path, retired)
    try:
        os.rename(copy, path)
        try:
            fsync_path(path.parent)
        except BaseException:
            os.rename(path, copy)
            raise
    except BaseException:
        os.rename(retired, path)  # the live shard stays the collection: the build fails, nothing is lost
        raise
    if (retired / VECTOR_SIDECAR).is_dir():
        # The sidecar followed every write the built shard now holds (its open files move with it); a crash before
        # this rename leaves the collection without one, rebuilt from Edge at the next open.
        try:
            os.rename(retired / VECTOR_SIDECAR, path / VECTOR_SIDECAR)
        except OSError:
            pass  # the swap stands (the live shard is already retired); the sidecar is rebuilt at the next open
    return retired


def _close_quietly(shard: Any, directory_fd: int | None) -> None:
    try:
        shard.close()
    except Exception:  # noqa: BLE001 - a copy being thrown away; the build's own error is what gets reported
        pass
    finally:
        if directory_fd is not None:
            os.close(directory_fd)


def load_shard(path: Path) -> tuple[Any, int | None]:
    """Load the shard at `path` through a descriptor of its directory (`/proc/self/fd/N`) where the system offers
    one: Edge opens files by path long after the load (new WAL segments, new segments, every flush), and through the
    descriptor those paths stay on this directory whatever it is renamed to. That is what lets a swap rename the
    directories of open shards: the built one is never reloaded and the old one answers until its reads finish.
    Returns the shard and the descriptor to close after it (None: loaded by path, see _swap_reopening)."""
    directory_fd = _open_directory(path)
    try:
        return qe.EdgeShard.load(str(directory_of(directory_fd, path))), directory_fd
    except BaseException:
        if directory_fd is not None:
            os.close(directory_fd)
        raise


def directory_of(directory_fd: int | None, path: Path | None) -> Path | None:
    """The path a shard loaded through `directory_fd` (or, without one, at `path`) is reached by."""
    return PROC_FD / str(directory_fd) if directory_fd is not None else path


PROC_FD = Path("/proc/self/fd")


def _open_directory(path: Path) -> int | None:
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    directory_fd = os.open(path, flags)
    if (PROC_FD / str(directory_fd)).is_dir():
        return directory_fd
    os.close(directory_fd)  # no /proc/self/fd here (not Linux): shards are loaded by path
    return None


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
