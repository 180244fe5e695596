"""A float32 copy of an embedded collection's dense vectors beside its Edge shard (the "vector sidecar").

Why: Edge hands a hit's vector out only as a Python list. A search whose hits a later stage computes on (mmr over the
200 candidates of a feature_search) built 76,800 float objects, converted them to an array and freed them: most of
what the stages after the search cost. With the sidecar a search asks Edge for ids and scores only, and reads the
hits' vectors from a memory-mapped float32 file in one fancy-index per vector index (SearchRequest.vectors_as_arrays).

Layout, `<shard directory>/.openpeek-vectors/` (Edge ignores it; it goes with the shard when the shard is dropped, and
an index build's swap moves it into the new shard directory):
- `<vector name, hex>.f32`: the rows of one dense vector index, `dimension` float32 each, append-only, memory-mapped
  (they live in the page cache like Edge's own vector files, not in the process's anonymous memory), grown by chunks;
- `rows.log`: one JSON line per write, `["u", [document ids], {name: [row, or -1 where the point has no such
  vector]}]` or `["d", [document ids]]`, replayed at open into the id → row maps; a replaced or deleted point's old row
  is a tombstone until compaction rewrites the files (when tombstones outnumber live rows);
- `state.json`: the rows and dimension of each index, `clean`, and the shard's files (names, sizes, modification
  times) when it was marked clean.

Exact: a row is what Edge stores, bit for bit (a cosine vector is Edge's own normalisation), so a stage computes on
exactly the numbers the lists would have held. An upsert computes its rows from the vectors it wrote, as Edge does
(edge_rows.py), reads back from Edge the few it cannot vouch for and a sample of the others to check it; any other
write (and an upsert the computation does not cover or that failed) reads the points back from Edge.

Never stale:
- in the process, writes and reads form a sequence lock: a write to the shard and its rows happen between two
  increments of `version` (with the shard's write lock held); a search notes `version` before asking Edge and checks
  it after reading the rows, and a write in between sends it back to Edge for the vectors;
- on disk, `clean` is true only when the sidecar and the shard hold the same writes and both are on disk: it is set
  after the shard's flush, once the sidecar's files are synced, with the shard's file list; the first write after
  that makes it false, durably, before Edge sees the write. At open a sidecar is used only if it is clean and the
  shard's files are still those recorded; otherwise (a crash mid-write, a missing or corrupt file, a shard written by
  a version without sidecars, a restored backup) it is rebuilt from Edge in the background, and searches read
  Edge's vectors until it is ready.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from openpeek.adapters.qdrant.durable_files import fsync_path

FORMAT = 1
DIRECTORY = ".openpeek-vectors"
STATE_FILE = "state.json"
LOG_FILE = "rows.log"
FIRST_CAPACITY = 1024  # rows of a new vector file
COMPACT_FROM_DEAD_ROWS = 4096  # tombstones below this are never worth a rewrite


def directory_for(shard: Path) -> Path:
    return shard / DIRECTORY


def shard_files(path: Path) -> list[list[Any]]:
    """What says whether a shard changed: every file's path, size and modification time (nanoseconds), the
    sidecar's own aside."""
    found = []
    for folder, folders, names in os.walk(path):
        if folder == str(path) and DIRECTORY in folders:
            folders.remove(DIRECTORY)
        for name in names:
            full = os.path.join(folder, name)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            found.append([os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns])
    return sorted(found)


@dataclass
class _Column:
    """One dense vector index: its file, the rows written, and which row holds each document's vector."""

    path: Path
    dimension: int
    rows: int = 0
    where: dict[str, int] = field(default_factory=dict)
    mapped: np.memmap | None = None
    view: np.ndarray | None = None  # a plain ndarray over the mapping (fancy-indexing a memmap builds a memmap)

    def capacity(self) -> int:
        return 0 if self.view is None else self.view.shape[0]

    def map(self, capacity: int) -> None:
        """Map the file at `capacity` rows, growing it first where it is shorter. Readers holding the previous
        mapping keep a valid one (the file only grows here)."""
        capacity = max(capacity, FIRST_CAPACITY)
        size = capacity * self.dimension * 4
        with open(self.path, "r+b" if self.path.exists() else "w+b") as handle:
            if os.fstat(handle.fileno()).st_size < size:
                handle.truncate(size)
        self.mapped = np.memmap(self.path, dtype=np.float32, mode="r+", shape=(capacity, self.dimension))
        self.view = np.asarray(self.mapped)

    def append(self, matrix: np.ndarray) -> int:
        """Write the rows after the last one; the first row's number."""
        first = self.rows
        if first + len(matrix) > self.capacity():
            self.map(max(2 * self.capacity(), first + len(matrix)))
        assert self.view is not None
        if hasattr(os, "pwrite"):
            # Through the file, not the mapping: the kernel copies into the page cache without the page fault per
            # fresh page that writing through the mapping takes (half the time), and the mapping shares those pages.
            data = memoryview(np.ascontiguousarray(matrix, dtype=np.float32)).cast("B")
            offset = first * self.dimension * 4
            fd = os.open(self.path, os.O_WRONLY)
            try:
                while data:
                    written = os.pwrite(fd, data, offset)
                    data, offset = data[written:], offset + written
            finally:
                os.close(fd)
        else:
            self.view[first:first + len(matrix)] = matrix
        self.rows = first + len(matrix)
        return first

    def live(self) -> int:
        return len(self.where)

    def close(self) -> None:
        self.view = None
        self.mapped = None


class VectorSidecar:
    """The float32 rows of a collection's dense vector indexes. Writes (put, drop, add_column, reset) run with the
    shard's write lock held and between begin_write and end_write; reads (read) run under the shard's shared gate and
    check `version` around their search (see the module's docstring)."""

    def __init__(self, directory: Path, dimensions: dict[str, int]) -> None:
        self.directory = directory
        self.columns: dict[str, _Column] = {}
        self.ready = False  # every point of the shard is in it: reads may use it
        self.version = 0  # odd while a write is under way
        self.closed = False
        self.rebuilding = False
        self.needs_rebuild = False  # set by a write whose outcome it could not follow; the rebuild starts over
        self._clean_on_disk = False
        self._log: Any = None
        self._dimensions = dict(dimensions)
        self.sparse_names: list[str] = []  # the shard's sparse indexes, which searches still ask Edge for
        self.metrics: dict[str, str] = {}  # each dense index's metric: how Edge turns a written vector into its row
        # Whether a write may give the sidecar rows computed from the vectors it wrote (edge_rows.py) rather than
        # read back from Edge; false for good once a computed row differed from Edge's.
        self.computed_rows = True
        self.lock = threading.Lock()  # held by the rebuild thread's bookkeeping (rebuilding / needs_rebuild)

    # -- opening -------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, dimensions: dict[str, int], files_at_load: list | None) -> "VectorSidecar":
        """The sidecar as the directory holds it, ready when it is clean and the shard's files are those it was
        marked clean with (`files_at_load`: the shard's files before this process loaded it; None when this process
        wrote the shard without a sidecar). Otherwise an empty one, not ready, for the caller to rebuild."""
        sidecar = cls(directory, dimensions)
        if files_at_load is not None:
            try:
                if sidecar._load(files_at_load):
                    sidecar.ready = True
                    sidecar._clean_on_disk = True
                    return sidecar
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                pass  # a missing, short or corrupt file: rebuilt like any other doubt
        sidecar.close()
        sidecar = cls(directory, dimensions)
        sidecar.reset()
        return sidecar

    def _load(self, files_at_load: list) -> bool:
        state = json.loads((self.directory / STATE_FILE).read_text())
        if (state.get("format") != FORMAT or not state.get("clean") or state.get("shard_files") != files_at_load
                or {name: column["dimension"] for name, column in state["columns"].items()} != self._dimensions):
            return False
        for name, described in state["columns"].items():
            column = _Column(self._file_of(name), int(described["dimension"]), int(described["rows"]))
            if column.path.stat().st_size < column.rows * column.dimension * 4:
                return False
            column.map(column.rows)
            self.columns[name] = column
        with open(self.directory / LOG_FILE, "rb") as log:
            for line in log:
                self._replay(json.loads(line))
        if any(row >= column.rows for column in self.columns.values() for row in column.where.values()):
            return False
        self._log = open(self.directory / LOG_FILE, "ab")
        return True

    def _replay(self, entry: list) -> None:
        if entry[0] == "d":
            for column in self.columns.values():
                for document_id in entry[1]:
                    column.where.pop(document_id, None)
            return
        ids, rows_by_name = entry[1], entry[2]
        for name, column in self.columns.items():
            rows = rows_by_name.get(name)
            for position, document_id in enumerate(ids):
                row = -1 if rows is None else rows[position]
                if row < 0:
                    column.where.pop(document_id, None)
                else:
                    column.where[document_id] = row

    def _file_of(self, name: str) -> Path:
        return self.directory / f"{name.encode().hex() or '_'}.f32"

    def reset(self) -> None:
        """Empty, not ready, dirty on disk: the state a rebuild starts from."""
        self.ready = False
        self._close_files()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_state(clean=False)
        for stale in self.directory.iterdir():
            if stale.name != STATE_FILE:
                stale.unlink()
        self.columns = {}
        for name, dimension in self._dimensions.items():
            self._add(name, dimension)
        self._log = open(self.directory / LOG_FILE, "ab")

    def _add(self, name: str, dimension: int) -> None:
        column = _Column(self._file_of(name), dimension)
        column.map(FIRST_CAPACITY)
        self.columns[name] = column
        self._dimensions[name] = dimension

    # -- writes (the shard's write lock held) -------------------------------------------------------------------

    def begin_write(self) -> None:
        """Before the shard's write: readers from now on go to Edge, and the disk says dirty before Edge does."""
        self.version += 1
        if self._clean_on_disk:
            self._write_state(clean=False)

    def end_write(self) -> None:
        self.version += 1

    def put(self, ids: Sequence[str], vectors: dict[str, tuple[list[int], np.ndarray]]) -> None:
        """These points as the shard now holds them: for each index, the positions (in ids) of the points that have
        a vector there and their rows; a point without one loses its row."""
        rows_by_name: dict[str, list[int]] = {}
        for name, column in self.columns.items():
            positions, matrix = vectors.get(name, ([], None))
            if positions and len(positions) == len(ids) and positions == list(range(len(ids))):  # all, in order
                first = column.append(matrix)
                rows = list(range(first, first + len(ids)))
                column.where.update(zip(ids, rows))
                rows_by_name[name] = rows
                continue
            rows = [-1] * len(ids)
            if positions:
                first = column.append(matrix)
                for offset, position in enumerate(positions):
                    rows[position] = first + offset
            for document_id, row in zip(ids, rows):
                if row < 0:
                    column.where.pop(document_id, None)
                else:
                    column.where[document_id] = row
            rows_by_name[name] = rows
        self._append_log(["u", list(ids), rows_by_name])
        self._compact_if_worth_it()

    def drop(self, ids: Sequence[str]) -> None:
        for column in self.columns.values():
            for document_id in ids:
                column.where.pop(document_id, None)
        self._append_log(["d", list(ids)])
        self._compact_if_worth_it()

    def add_column(self, name: str, dimension: int) -> None:
        """A vector index added to the shard: no point has a vector there yet."""
        if name not in self.columns:
            self._add(name, dimension)

    def _append_log(self, entry: list) -> None:
        self._log.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._log.flush()  # to the kernel: a killed process's log is whole up to its last write

    def _compact_if_worth_it(self) -> None:
        dead = sum(column.rows - column.live() for column in self.columns.values())
        live = sum(column.live() for column in self.columns.values())
        if dead >= COMPACT_FROM_DEAD_ROWS and dead > live:
            self.compact()

    def compact(self) -> None:
        """Rewrite every vector file with its live rows only, and the log with one entry. The disk already says
        dirty (a write is under way), so a crash in the middle is a rebuild."""
        ids = sorted(set().union(*(column.where for column in self.columns.values())))
        rows_by_name: dict[str, list[int]] = {}
        for name, column in self.columns.items():
            rewritten = _Column(column.path.with_suffix(".f32.compacting"), column.dimension)
            rewritten.map(column.live())
            rows = [column.where.get(document_id, -1) for document_id in ids]
            kept = [row for row in rows if row >= 0]
            assert column.view is not None
            for start in range(0, len(kept), 4096):  # by chunks: no second full copy in anonymous memory
                rewritten.append(column.view[np.asarray(kept[start:start + 4096], dtype=np.int64)])
            rewritten.mapped.flush()  # type: ignore[union-attr]
            rewritten.close()
            os.replace(rewritten.path, column.path)
            renumbered, next_row = [], 0
            for row in rows:
                renumbered.append(next_row if row >= 0 else -1)
                next_row += row >= 0
            column.close()
            column.rows = len(kept)
            column.where = {document_id: row for document_id, row in zip(ids, renumbered) if row >= 0}
            column.map(column.rows)
            rows_by_name[name] = renumbered
        self._log.close()
        scratch = self.directory / (LOG_FILE + ".compacting")
        scratch.write_bytes(json.dumps(["u", ids, rows_by_name], separators=(",", ":")).encode() + b"\n")
        os.replace(scratch, self.directory / LOG_FILE)
        self._log = open(self.directory / LOG_FILE, "ab")

    # -- durability ----------------------------------------------------------------------------------------------

    def mark_clean(self, shard_files_now: list) -> None:
        """After the shard's flush, with its write lock held: the sidecar's files synced, then clean with the
        shard's files as they are now."""
        if not self.ready or self.closed or self.version % 2:
            return
        for column in self.columns.values():
            if column.mapped is not None:
                column.mapped.flush()
                fsync_path(column.path)  # rows written through the file (append) as well as through the mapping
        if self._log is not None:
            self._log.flush()
            os.fsync(self._log.fileno())
        self._write_state(clean=True, shard_files_now=shard_files_now)

    def _write_state(self, *, clean: bool, shard_files_now: list | None = None) -> None:
        state = {"format": FORMAT, "clean": clean, "shard_files": shard_files_now if clean else None,
                 "columns": {name: {"dimension": column.dimension, "rows": column.rows}
                             for name, column in self.columns.items()}}
        scratch = self.directory / (STATE_FILE + ".writing")
        with open(scratch, "wb") as handle:
            handle.write(json.dumps(state).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.directory / STATE_FILE)
        fsync_path(self.directory)
        self._clean_on_disk = clean

    def close(self) -> None:
        self.closed = True
        self._close_files()

    def _close_files(self) -> None:
        for column in self.columns.values():
            column.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- reads (the shard's shared gate held) -------------------------------------------------------------------

    def readable(self) -> int | None:
        """The version to check after reading, or None when reads cannot use the sidecar now."""
        version = self.version
        return version if self.ready and not self.closed and not version % 2 else None

    def read(self, document_ids: Sequence[str]) -> dict[str, tuple[list[int], np.ndarray]]:
        """For each index: the positions (in document_ids) of the documents with a vector there, and those vectors
        as one float32 matrix (a copy, in that order)."""
        found = {}
        for name, column in self.columns.items():
            view = column.view
            if view is None:
                raise LookupError("the sidecar was closed")
            rows = list(map(column.where.get, document_ids))  # one C loop: the common case has every row
            if None in rows:
                positions = [position for position, row in enumerate(rows) if row is not None]
                rows = [rows[position] for position in positions]
            else:
                positions = list(range(len(rows)))
            found[name] = (positions, view[np.asarray(rows, dtype=np.int64)])
        return found

    def disk_bytes(self) -> int:
        return sum(column.capacity() * column.dimension * 4 for column in self.columns.values())
