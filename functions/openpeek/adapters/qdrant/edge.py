"""VectorStore on Qdrant Edge (the embedded runtime): one EdgeShard directory per collection, in this process.

Layout: `root/<collection>/` is a shard. Directories whose names start with a dot are this adapter's own scratch
(`.creating-*`, `.dropping-*`) and never collections; both appear and vanish by rename, so a crash leaves either the
old state or the new one, never a half-made collection.

Concurrency: Edge locks a shard's WAL, so a directory can be opened once per process; shards live in a process-wide
registry shared by every QdrantEdgeStore. EdgeShard is safe to call from several threads (its calls hold the GIL and
the shard synchronises internally; tested with concurrent writers and readers), so reads run side by side. Writes are
serialised per shard, so that each one is flushed before the next starts, and closing or dropping a shard waits until
no call is using it. Each shard is loaded through a descriptor of its directory (edge_index.load_shard), so that an
index build can rename the directory of an open shard and swap the built one in while reads go on.

Durability. EdgeShard.update() appends the operation to the shard's WAL before applying it (qdrant lib/edge,
edge_shard/update.rs: `wal.write(&record)` first, then `process_point_operation`), and EdgeShard.load() re-applies
every WAL entry that no flush has acknowledged yet (qdrant-edge-py 0.9.0 ships `EdgeShard::replay_wal`; its
"Failed to replay pending change" / "missing segment(s) containing wal entries" messages are in the binary). The WAL
segment is a memory-mapped file, so the entry is in the kernel's page cache when update() returns: a write that
returned survives the process being killed at any point after it (tests/contract/test_edge_durability.py SIGKILLs a
writer right after its upserts return, with no flush, and reads every point and payload index back). What the page
cache alone does not survive is the machine losing power before the kernel writes the page back.

So every write fsyncs the shard's WAL files (and the WAL directory, for segments it created or renamed) before it
returns: Linux writes back pages dirtied through a shared mapping on fsync of the file, whichever descriptor asks.
That is a few milliseconds for a 1,000-document batch, where EdgeShard.flush() (an fsync of the WAL and of every
segment file: vectors, payload storage, one set of files per payload index) takes 30-40 ms under the GIL. The
segments themselves are flushed by a background thread at most `flush_interval_s` after a shard's first unflushed
write (Qdrant's own model: WAL for durability, segments flushed on an interval, flush_interval_sec); a flush also lets
Edge truncate the WAL, so replay at load stays short. Nothing acknowledged is lost to a crash or a power loss.

`flush_interval_s=0` flushes every segment on every write instead (the slower, belt-and-braces policy), and so does
a shard whose WAL directory is not where Edge 0.9 keeps it. `durable_writes=False` (bulk loaders) leaves flushing to
close().
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import struct
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import qdrant_edge as qe

from openpeek.adapters.qdrant import edge_index, edge_rows, edge_vectors

from openpeek.adapters.qdrant.mapping import (
    DOCUMENT_ID_KEY,
    METRIC_BY_QDRANT_DISTANCE,
    SPARSE_METRIC,
    FilterTranslator,
    check_payload_merge,
    check_vector_specs,
    dense_as_arrays,
    document_id_of,
    index_params,
    ordered_unique,
    payload_selection,
    point_id,
    scroll_offset,
    stored_payload,
)
from openpeek.domain.conditions import DatetimeRange, Filter, Range
from openpeek.domain.failures import CollectionNotFound, DependencyUnavailable
from openpeek.domain.vectors import (CollectionInfo, PayloadIndexSpec, PayloadType, ScoredPoint, SearchRequest,
                                     SparseVector, VectorIndexSpec, VectorPoint, VectorValue)

_logger = logging.getLogger(__name__)

_DISTANCE = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclidean": qe.Distance.Euclid}
_TOKENIZER = {
    "word": qe.TokenizerType.Word,
    "whitespace": qe.TokenizerType.Whitespace,
    "prefix": qe.TokenizerType.Prefix,
    "multilingual": qe.TokenizerType.Multilingual,
}
_PAYLOAD_TYPE: dict[Any, PayloadType] = {
    qe.PayloadSchemaType.Keyword: "keyword",
    qe.PayloadSchemaType.Integer: "integer",
    qe.PayloadSchemaType.Float: "float",
    qe.PayloadSchemaType.Geo: "geo",
    qe.PayloadSchemaType.Text: "text",
    qe.PayloadSchemaType.Bool: "bool",
    qe.PayloadSchemaType.Datetime: "datetime",
    qe.PayloadSchemaType.Uuid: "uuid",
}
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_CONFIG_FILE = "edge_config.json"

PLACEHOLDER_VECTOR = "__openpeek_placeholder"
"""Edge refuses a shard without any vector while Qdrant server allows it (a namespace before its first extractor).
Such a shard gets this sparse vector, which stores nothing, is never reported, and cannot be declared by callers."""

_BAD_INPUT = (
    "Wrong input",
    "Bad input",
    "Bad request",
    "Vector dimension error",
    "Not existing vector name",
    "Validation",
    "failed to parse",
)
"""How Edge's error messages begin when the caller, not the store, is at fault (Edge raises bare Exception)."""


class _Conditions:
    """qdrant_edge's filter model, for mapping.FilterTranslator."""

    def match_value(self, key: str, value: str | int | bool) -> Any:
        if isinstance(value, bool):
            # qdrant-edge-py 0.9.0 converts a Python bool to an integer, so `== True` never matches a boolean;
            # numpy.bool_ is not an int to PyO3 and arrives as a boolean.
            value = np.bool_(value)  # type: ignore[assignment]
        return qe.FieldCondition(key, match=qe.MatchValue(value))

    def match_any(self, key: str, values: list[str] | list[int]) -> Any:
        return qe.FieldCondition(key, match=qe.MatchAny(values))

    def match_text(self, key: str, text: str) -> Any:
        return qe.FieldCondition(key, match=qe.MatchText(text))

    def range(self, c: Range) -> Any:
        def f(v: float | None) -> float | None:
            return None if v is None else float(v)

        return qe.FieldCondition(c.key, range=qe.RangeFloat(gt=f(c.gt), gte=f(c.gte), lt=f(c.lt), lte=f(c.lte)))

    def datetime_range(self, c: DatetimeRange) -> Any:
        return qe.FieldCondition(c.key, range=qe.RangeDateTime(gt=c.gt, gte=c.gte, lt=c.lt, lte=c.lte))

    def is_null(self, key: str) -> Any:
        return qe.IsNullCondition(key)

    def is_empty(self, key: str) -> Any:
        return qe.IsEmptyCondition(key)

    def has_ids(self, point_ids: list[str]) -> Any:
        return qe.HasIdCondition(set(point_ids))

    def filter(self, must: Any, should: Any, must_not: Any) -> Any:
        return qe.Filter(must=must, should=should, must_not=must_not)


_FILTERS: FilterTranslator[Any] = FilterTranslator(_Conditions())


def _undecodable(error: Exception) -> bool:
    """Edge's answer for a stored payload it cannot deserialise."""
    return "Failed to decode value" in str(error) or "Failed to deserialize payload" in str(error)


def _filter(f: Filter | None) -> Any:
    return None if f is None else _FILTERS.filter(f)


def _to_vector(value: VectorValue) -> Any:
    if isinstance(value, SparseVector):
        return qe.SparseVector(list(value.indices), [float(v) for v in value.values])
    # Edge reads numbers (ints included) natively; copying a checked list float by float cost more than the write.
    return value if type(value) is list else [float(v) for v in value]


def _from_vectors(stored: Any) -> dict[str, VectorValue]:
    if not stored:
        return {}
    if not isinstance(stored, dict):
        stored = {"": stored}
    out: dict[str, VectorValue] = {}
    for name, value in stored.items():
        if isinstance(value, qe.SparseVector):
            if name != PLACEHOLDER_VECTOR:
                out[name] = SparseVector(tuple(value.indices), tuple(value.values))
        else:
            out[name] = value if type(value) is list else list(value)  # Edge hands out a fresh list on each read
    return out


def _payload_selector(r: SearchRequest) -> Any:
    """The whole payload, the projected keys, or (no payload wanted) the document id that names each hit."""
    selection = payload_selection(r.payload_fields) if r.with_payload else [DOCUMENT_ID_KEY]
    return True if selection is True else qe.PayloadSelector.Include(selection)


def _scored(hit: Any, *, with_payload: bool, arrays: bool = False) -> ScoredPoint:
    payload = hit.payload or {}  # read once (each access converts again, into a new dict: no copy needed)
    vectors = _from_vectors(hit.vector)
    return ScoredPoint(id=document_id_of(hit, payload), score=hit.score, payload=payload if with_payload else {},
                       vectors=dense_as_arrays(vectors) if arrays else vectors)


def _schema_params(spec: PayloadIndexSpec) -> Any:
    p = index_params(spec)
    t = spec.type
    if t == "keyword":
        return qe.KeywordIndexParams(is_tenant=p.get("is_tenant"))
    if t == "integer":
        return qe.IntegerIndexParams(lookup=p.get("lookup"), range=p.get("range"))
    if t == "float":
        return qe.FloatIndexParams()
    if t == "bool":
        return qe.BoolIndexParams()
    if t == "geo":
        return qe.GeoIndexParams()
    if t == "datetime":
        return qe.DatetimeIndexParams()
    if t == "uuid":
        return qe.UuidIndexParams(is_tenant=p.get("is_tenant"))
    return qe.TextIndexParams(
        tokenizer=_TOKENIZER[p["tokenizer"]] if "tokenizer" in p else None,
        min_token_len=p.get("min_token_len"),
        max_token_len=p.get("max_token_len"),
        lowercase=p.get("lowercase"),
    )


def _vector_operation(spec: VectorIndexSpec) -> Any:
    if spec.sparse:
        return qe.UpdateOperation.create_sparse_vector(spec.name)
    return qe.UpdateOperation.create_dense_vector(spec.name, spec.dimension, _DISTANCE[spec.metric])


def _check_names(specs: Sequence[VectorIndexSpec]) -> None:
    check_vector_specs(specs)
    if any(s.name == PLACEHOLDER_VECTOR for s in specs):
        raise ValueError(f"vector index name {PLACEHOLDER_VECTOR!r} is reserved")


def _translate(exc: BaseException) -> Exception | None:
    """Edge raises bare Exception with Qdrant's message; decide whose fault it is. Python's own errors pass."""
    if isinstance(exc, OSError):
        return DependencyUnavailable(f"qdrant edge storage: {exc}")
    if type(exc) is not Exception:
        return None
    message = str(exc)
    if message.startswith(_BAD_INPUT):
        return ValueError(message)
    return DependencyUnavailable(f"qdrant edge: {message}")


def _is_collection_name(name: Any) -> bool:
    return isinstance(name, str) and _COLLECTION_NAME.fullmatch(name) is not None


def _fsync_dir(path: Path) -> None:
    """Make a rename inside path durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _ReadWriteLock:
    """Any number of `shared` holders, or one `exclusive` holder. A waiting exclusive holder stops new shared ones,
    so closing a shard cannot starve under steady traffic. Not re-entrant: a call takes it once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(eq=False)
class _OpenShard:
    shard: Any  # qe.EdgeShard
    gate: _ReadWriteLock = field(default_factory=_ReadWriteLock)
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False
    path: Path | None = None
    dirty_since: float | None = None  # monotonic time of the first write not yet flushed
    flush_delay_s: float = 0.0  # segments flushed at most this long after dirty_since
    # The shard's files before this process loaded it (edge_vectors.shard_files), which a clean vector sidecar must
    # match; None once this process wrote vectors to it with no sidecar following (the sidecar is then rebuilt).
    files_at_load: list | None = None
    directory_fd: int | None = None  # the descriptor the shard was loaded through (edge_index.load_shard)
    superseded: bool = False  # an index build swapped another shard in: writes go there, reads here may finish

    @property
    def directory(self) -> Path | None:
        """Where the shard's files are, even after its directory was renamed (an index build's swap)."""
        return edge_index.directory_of(self.directory_fd, self.path)

    def sync_wal(self) -> bool:
        return sync_wal(self)

    def close_shard(self) -> None:
        """Close the shard, then the descriptor it was loaded through; the entry is closed whatever happens."""
        try:
            self.shard.close()
        finally:
            self.closed = True
            if self.directory_fd is not None:
                os.close(self.directory_fd)
                self.directory_fd = None


DEFAULT_FLUSH_INTERVAL_S = 5.0  # Qdrant's own flush_interval_sec
WAL_DIRECTORY = "wal"  # where Qdrant Edge 0.9 keeps a shard's write-ahead log


def sync_wal(entry: _OpenShard) -> bool:
    """fsync the shard's WAL files and directory: every write applied so far survives a power loss. False when the
    shard has no WAL directory where Edge keeps it (the caller then flushes the whole shard). Called with the shard's
    write lock held, so no write changes the WAL meanwhile."""
    directory = entry.directory
    if directory is None:
        return False
    wal = directory / WAL_DIRECTORY
    try:
        names = os.listdir(wal)
    except OSError:
        return False
    for name in names:
        fd = os.open(wal / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(wal)
    return True


class _Registry:
    """The open shards of this process, by directory. An entry leaves the registry only after its shard is closed,
    and a directory is loaded only when it has no entry, so no directory is ever open twice."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shards: dict[Path, _OpenShard] = {}
        self.stores: dict[Path, int] = {}  # live QdrantEdgeStore instances per root

    def get(self, path: Path) -> _OpenShard:
        with self.lock:
            entry = self.shards.get(path)
            if entry is None:
                if not path.is_dir():
                    raise CollectionNotFound(path.name)
                files = edge_vectors.shard_files(path)  # before Edge's load touches them
                shard, directory_fd = edge_index.load_shard(path)
                entry = _OpenShard(shard, path=path, directory_fd=directory_fd, files_at_load=files)
                self.shards[path] = entry
            return entry

    def retire(self, path: Path, then: Callable[[], None] | None = None) -> None:
        """Flush and close the shard at path once no call uses it. `then` runs while nobody can open path again."""
        while True:
            with self.lock:
                entry = self.shards.get(path)
                if entry is None:
                    if then is not None:
                        then()
                    return
            with entry.gate.exclusive():
                try:
                    if not entry.closed:
                        try:
                            entry.shard.flush()
                        finally:
                            entry.close_shard()
                        if not entry.superseded:  # a superseded shard's sidecar goes on with its successor
                            _close_sidecar(path)
                finally:
                    entry.closed = True
                    with self.lock:
                        if self.shards.get(path) is entry:
                            del self.shards[path]
                            if then is not None:
                                then()
                            return


_REGISTRY = _Registry()
_INDEX_STATES: dict[Path, edge_index.IndexState] = {}
_SIDECARS: dict[Path, edge_vectors.VectorSidecar] = {}  # the open vector sidecars, by shard directory (registry lock)
_SIDECAR_OPENING = threading.Lock()  # one sidecar opened (its log replayed, or its files reset) at a time
SIDECAR_REBUILD_PAGE = 1024  # points read from Edge per step of a sidecar rebuild (the shard's write lock held)


def _index_state(path: Path) -> edge_index.IndexState:
    with _REGISTRY.lock:
        return _INDEX_STATES.setdefault(path, edge_index.IndexState())


def _open_shard(shard: Any, path: Path, directory_fd: int | None) -> "_OpenShard":
    """The entry of a shard an index build swapped in. The vector sidecar is not marked clean here: the built shard
    holds its journal's tail in its WAL only; its next flush (or close) marks it, and a crash before leaves the
    sidecar to be rebuilt, as its recorded files no longer match."""
    return _OpenShard(shard, path=path, directory_fd=directory_fd)


@contextmanager
def _held(path: Path) -> Iterator[Any]:
    """The shard at path with its write lock held, or None where it is not open (closed or dropped): unlike
    QdrantEdgeStore._use, never opens it, so a background job cannot reopen a shard its store closed."""
    while True:
        with _REGISTRY.lock:
            entry = _REGISTRY.shards.get(path)
        if entry is None:
            yield None
            return
        with entry.gate.shared():
            if entry.closed:
                continue  # replaced by an index build's swap, or closed: look again
            with entry.write_lock:
                if entry.superseded:
                    continue  # an index build swapped its shard in while this waited
                yield entry.shard
                return


def _sidecar_flushed(path: Path | None) -> None:
    """The shard at path was just flushed, with its write lock held (or every call held off)."""
    sidecar = _SIDECARS.get(path) if path is not None else None
    if sidecar is not None and sidecar.ready:
        try:
            sidecar.mark_clean(edge_vectors.shard_files(path))
        except OSError:
            pass  # stays dirty on disk: the next process rebuilds it


def _close_sidecar(path: Path) -> None:
    """The shard at path was flushed and closed: its sidecar marked clean (when ready) and closed."""
    with _REGISTRY.lock:
        sidecar = _SIDECARS.pop(path, None)
    if sidecar is None:
        return
    try:
        sidecar.mark_clean(edge_vectors.shard_files(path))
    except OSError:
        pass
    finally:
        sidecar.close()


def _point_vectors(records: Sequence[Any], ids: Sequence[str], names: Sequence[str],
                   document_ids: dict[str, str] | None = None) -> dict[str, tuple[list[int], np.ndarray]]:
    """Edge's records as VectorSidecar.put takes them: per dense index, the positions in ids of the points that
    have a vector there and those vectors as one float32 matrix. `document_ids`: point id → document id where the
    records carry no payload."""
    position_of = {document_id: position for position, document_id in enumerate(ids)}
    lists: dict[str, tuple[list[int], list]] = {name: ([], []) for name in names}
    for record in records:
        if document_ids is not None:
            document_id = document_ids.get(str(record.id))
        else:
            document_id = document_id_of(record, dict(record.payload or {}))
        position = position_of.get(document_id) if document_id is not None else None
        if position is None:
            continue
        for name, value in (record.vector or {}).items():
            if name in lists and not isinstance(value, qe.SparseVector):
                lists[name][0].append(position)
                lists[name][1].append(value)
    return {name: (positions, np.array(values, dtype=np.float32))
            for name, (positions, values) in lists.items() if positions}


def _holds_no_points(entry: _OpenShard) -> bool:
    """Whether the shard is open and empty; False where Edge cannot say (the sidecar is then rebuilt, as usual)."""
    try:
        return not entry.closed and entry.shard.count(qe.CountRequest(exact=True)) == 0
    except Exception:  # noqa: BLE001 - a rebuild reads the shard again and reports what fails
        return False


# Computed rows of each upsert compared with Edge's (first, last, and evenly between): another way of computing them
# (another Edge, another CPU) differs on most rows, so a handful tells.
CONFIRMED_ROWS = 8


@dataclass
class _WrittenRows:
    """The rows an upsert's points get in each dense index of the sidecar, computed from the vectors written
    (edge_rows.py): as VectorSidecar.put takes them, and the positions of the rows to read from Edge instead."""

    vectors: dict[str, tuple[list[int], np.ndarray]]
    unsure: set[int]


def _written_rows(sidecar: edge_vectors.VectorSidecar, points: Sequence[VectorPoint]) -> _WrittenRows | None:
    """The rows these points (unique ids) get, or None where they are not computed here: a point without a vector
    for one of the sidecar's indexes, a vector for an index it does not know, a dense vector that is not a list of
    numbers of the index's dimension, an index of unknown metric, a collection whose computed rows once differed
    from Edge's. Those writes read their rows back from Edge."""
    columns = sidecar.columns
    if not sidecar.computed_rows or not columns or not points or sidecar.metrics.keys() != columns.keys():
        return None
    dense = set(columns)
    sparse = set(sidecar.sparse_names)
    values: dict[str, list] = {name: [] for name in columns}
    for point in points:
        present = 0
        for name, value in point.vectors.items():
            if name in dense:
                if type(value) is not list:
                    return None
                values[name].append(value)
                present += 1
            elif name not in sparse or not isinstance(value, SparseVector):
                return None
        if present != len(dense):
            return None
    found: dict[str, tuple[list[int], np.ndarray]] = {}
    unsure: set[int] = set()
    positions = list(range(len(points)))
    for name, column in columns.items():
        try:
            matrix = edge_rows.float32_rows(values[name], column.dimension)
        except (struct.error, TypeError, ValueError, OverflowError):
            return None
        rows, doubtful = edge_rows.stored_rows(matrix, sidecar.metrics[name])
        found[name] = (positions, rows)
        unsure.update(np.flatnonzero(doubtful).tolist())
    return _WrittenRows(found, unsure)


class _Flusher:
    """One daemon thread for the process: flushes each written shard at most its flush_delay_s after its first
    unflushed write. Started on the first deferred write; idles (no wake-ups) while nothing is dirty."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def mark(self, entry: _OpenShard, delay_s: float) -> None:
        """Called with entry.write_lock held, after a write."""
        if entry.dirty_since is not None:
            return
        with self._cond:
            entry.flush_delay_s = delay_s
            entry.dirty_since = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="openpeek-edge-flush", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                # Checked under the condition that mark() sets dirty_since under: no wake-up is lost.
                while True:
                    with _REGISTRY.lock:
                        dirty = [e for e in _REGISTRY.shards.values() if e.dirty_since is not None]
                    if not dirty:
                        self._cond.wait()
                        continue
                    now = time.monotonic()
                    due = [e for e in dirty if e.dirty_since is not None and e.dirty_since + e.flush_delay_s <= now]
                    if due:
                        break
                    self._cond.wait(min((e.dirty_since or now) + e.flush_delay_s for e in dirty) - now)
            for entry in due:
                flush_entry(entry)


def flush_entry(entry: _OpenShard) -> None:
    """Flush a shard that may have unflushed writes; never while another thread writes it or after it was closed."""
    with entry.gate.shared():
        if entry.closed:
            return
        with entry.write_lock:
            if entry.dirty_since is None or entry.superseded:  # a superseded shard's writes are in its successor
                return
            try:
                entry.shard.flush()
                entry.dirty_since = None
                _sidecar_flushed(entry.path)
            except Exception:
                # The writes stay in the WAL (replayed at load); retry at the next round rather than spin.
                entry.dirty_since = time.monotonic()


_FLUSHER = _Flusher()


class QdrantEdgeStore:
    """VectorStore on Qdrant Edge shards under root, one directory per collection, opened on first use."""

    def __init__(self, root: str | Path, *, durable_writes: bool = True,
                 flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
                 index_threshold: int | None = edge_index.DEFAULT_UNINDEXED_THRESHOLD,
                 build_plan: edge_index.BuildPlan = edge_index.BuildPlan(), vector_sidecar: bool = True) -> None:
        """`index_threshold`: unindexed points past which a collection's HNSW index is built in the background
        (adapters/qdrant/edge_index.py); None or 0: only `optimize` builds it. `build_plan`: how (graph settings,
        int8 quantization past a size). `vector_sidecar`: searches that want float32 vectors read them from each
        collection's sidecar (adapters/qdrant/edge_vectors.py), which writes keep up to date; False: from Edge's
        lists (a sidecar another store of the process opened is still kept up to date by this one's writes)."""
        self._root = Path(root).resolve()
        self._root.mkdir(parents=True, exist_ok=True)
        self._durable = durable_writes
        self._flush_interval_s = flush_interval_s
        self._index_threshold = index_threshold
        self._build_plan = build_plan
        self._vector_sidecar = vector_sidecar
        with _REGISTRY.lock:
            first = not _REGISTRY.stores.get(self._root)
            _REGISTRY.stores[self._root] = _REGISTRY.stores.get(self._root, 0) + 1
            self._closed = False
            if first:
                # Scratch left by a crash: a `.creating-*` never became visible, a `.dropping-*` was already gone.
                # Only the first store of a root cleans, under the lock, so no create or drop of ours is under way.
                for leftover in self._root.iterdir():
                    if leftover.name.startswith((".creating-", ".dropping-")) and leftover.is_dir():
                        shutil.rmtree(leftover, ignore_errors=True)
                edge_index.recover(self._root)  # an index build's copy, or a swap a crash cut in two

    def close(self) -> None:
        """Flush and close every shard under root, unless another live store in this process shares the root. A
        later call on this store opens what it needs again."""
        with _REGISTRY.lock:
            if self._closed:
                return
            self._closed = True
            remaining = _REGISTRY.stores[self._root] - 1
            if remaining:
                _REGISTRY.stores[self._root] = remaining
                return
            del _REGISTRY.stores[self._root]
            paths = [p for p in _REGISTRY.shards if p.parent == self._root]
        errors = []
        for path in paths:
            try:
                _REGISTRY.retire(path)
            except Exception as exc:  # close the others before reporting
                errors.append(exc)
        if errors:
            raise DependencyUnavailable(f"closing qdrant edge shards failed: {errors[0]}") from errors[0]

    # -- collections ---------------------------------------------------------------------------------------------

    def create_collection(
        self, collection: str, vectors: Sequence[VectorIndexSpec], payload_indexes: Sequence[PayloadIndexSpec] = (),
        *, tier: str = "shared",  # one shard on local disk whatever the tier
    ) -> None:
        _check_names(vectors)
        schemas = [(ix.field_name, _schema_params(ix)) for ix in payload_indexes]
        dense = {
            s.name: qe.EdgeVectorParams(size=s.dimension, distance=_DISTANCE[s.metric]) for s in vectors if not s.sparse
        }
        sparse = {s.name: qe.EdgeSparseVectorParams() for s in vectors if s.sparse}
        if not dense and not sparse:
            sparse[PLACEHOLDER_VECTOR] = qe.EdgeSparseVectorParams()
        config = qe.EdgeConfig(vectors=dense, sparse_vectors=sparse)
        path = self._path(collection)
        self._register()
        # Under the registry lock: no other thread can open, create or drop this directory meanwhile.
        with _REGISTRY.lock, self._errors():
            if path.is_dir():
                return
            scratch = self._root / f".creating-{collection}-{uuid.uuid4().hex}"
            try:
                shard = qe.EdgeShard.create(str(scratch), config)
                try:
                    for name, schema in schemas:
                        shard.update(qe.UpdateOperation.create_field_index(name, schema))
                    shard.flush()
                finally:
                    shard.close()
                os.rename(scratch, path)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            _fsync_dir(self._root)

    def drop_collection(self, collection: str) -> None:
        if not _is_collection_name(collection):
            return  # no such directory can exist, as on the server no such collection can
        path = self._path(collection)
        tomb = self._root / f".dropping-{collection}-{uuid.uuid4().hex}"

        def hide() -> None:
            if path.is_dir():
                os.rename(path, tomb)
                _fsync_dir(self._root)

        with self._errors():
            _REGISTRY.retire(path, then=hide)
        shutil.rmtree(tomb, ignore_errors=True)

    def collection_exists(self, collection: str) -> bool:
        return _is_collection_name(collection) and self._path(collection).is_dir()

    def add_vector_indexes(self, collection: str, vectors: Sequence[VectorIndexSpec]) -> list[str]:
        """Edge 0.9 adds a named vector to a live shard (create_dense_vector / create_sparse_vector), existing
        points keeping everything they have, so nothing is copied; each addition is one WAL-logged operation, and a
        repeated call after a crash adds only what is still missing."""
        _check_names(vectors)
        with self._use(collection, write=True) as shard:
            present = self._stored_vectors(collection)
            added = [v for v in vectors if v.name not in present]
            sidecar = _SIDECARS.get(self._path(collection))
            if sidecar is not None:
                sidecar.begin_write()
            try:
                for spec in added:
                    shard.update(_vector_operation(spec))
                    if sidecar is not None:  # no point has a vector there yet
                        if spec.sparse:
                            sidecar.sparse_names.append(spec.name)
                        else:
                            sidecar.add_column(spec.name, spec.dimension)
                            sidecar.metrics[spec.name] = spec.metric
            finally:
                if sidecar is not None:
                    sidecar.end_write()
        return [v.name for v in added]

    def create_payload_index(self, collection: str, index: PayloadIndexSpec) -> None:
        schema = _schema_params(index)
        with self._use(collection, write=True) as shard:
            shard.update(qe.UpdateOperation.create_field_index(index.field_name, schema))

    def drop_payload_index(self, collection: str, field_name: str) -> None:
        with self._use(collection, write=True) as shard:
            shard.update(qe.UpdateOperation.delete_field_index(field_name))

    # -- points --------------------------------------------------------------------------------------------------

    def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        point_ids = [point_id(p.id) for p in points]
        edge_points = [
            qe.Point(pid, {name: _to_vector(v) for name, v in p.vectors.items()}, stored_payload(p))
            for pid, p in zip(point_ids, points)
        ]
        with self._use(collection, write=True) as shard:
            sidecar = self._sidecar_for_write(collection)
            if sidecar is None:
                shard.update(qe.UpdateOperation.upsert_points(edge_points))
                return
            ids = ordered_unique([p.id for p in points])
            written = _written_rows(sidecar, points) if len(ids) == len(points) else None  # duplicates: read back
            sidecar.begin_write()
            try:
                applied = False
                try:
                    shard.update(qe.UpdateOperation.upsert_points(edge_points))
                    applied = True
                finally:  # what Edge holds now, whether the update went through, failed, or failed half-way
                    self._follow(collection, shard, sidecar, ids, dict(zip(point_ids, (p.id for p in points))),
                                 written if applied else None)
            finally:
                sidecar.end_write()

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        wanted = ordered_unique(ids)
        points = [point_id(i) for i in wanted]
        with self._use(collection, write=True) as shard:
            sidecar = self._sidecar_for_write(collection)
            if sidecar is not None:
                sidecar.begin_write()
            try:
                if self._holds_undecodable_payload(shard, points):
                    # Edge reads a point's payload to delete it, and a failed update leaves the shard refusing writes
                    # until it recovers: a payload it cannot decode (nested past its recursion limit, written before
                    # the API limited depth) is cleared first.
                    shard.update(qe.UpdateOperation.overwrite_payload(points, {}))
                shard.update(qe.UpdateOperation.delete_points(points))
            except BaseException:
                if sidecar is not None:
                    self._follow(collection, shard, sidecar, wanted)
                raise
            else:
                if sidecar is not None:
                    sidecar.drop(wanted)
            finally:
                if sidecar is not None:
                    sidecar.end_write()

    def _holds_undecodable_payload(self, shard: Any, points: list) -> bool:
        try:
            with self._errors():
                shard.retrieve(points, True, False)
        except DependencyUnavailable as error:
            if not _undecodable(error):
                raise
            return True
        return False

    def delete_by_filter(self, collection: str, filter: Filter) -> None:
        edge_filter = _FILTERS.filter(filter)
        with self._use(collection, write=True) as shard:
            sidecar = self._sidecar_for_write(collection)
            if sidecar is None:
                shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))
                return
            matching = self._matching_ids(shard, edge_filter)  # the write lock held: the same points Edge deletes
            sidecar.begin_write()
            try:
                try:
                    shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))
                except BaseException:
                    self._follow(collection, shard, sidecar, matching)
                    raise
                sidecar.drop(matching)
            finally:
                sidecar.end_write()

    def _matching_ids(self, shard: Any, edge_filter: Any) -> list[str]:
        found: list[str] = []
        offset = None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(
                offset=offset, limit=SIDECAR_REBUILD_PAGE, filter=edge_filter,
                with_payload=qe.PayloadSelector.Include([DOCUMENT_ID_KEY]), with_vector=False))
            found += [document_id_of(r, dict(r.payload or {})) for r in records]
            if offset is None:
                return found

    def retrieve(self, collection: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        wanted = ordered_unique(ids)
        try:
            with self._use(collection) as shard:
                records = shard.retrieve([point_id(i) for i in wanted], True, with_vectors)
        except DependencyUnavailable as error:
            if not _undecodable(error):
                raise
            return self._retrieve_one_by_one(collection, wanted, with_vectors)
        found = {}
        for r in records:
            payload = dict(r.payload or {})  # converted once: each access to r.payload converts again
            doc_id = document_id_of(r, payload)
            found[doc_id] = VectorPoint(doc_id, _from_vectors(r.vector), payload)
        return [found[i] for i in wanted if i in found]

    def _retrieve_one_by_one(self, collection: str, wanted: Sequence[str], with_vectors: bool) -> list[VectorPoint]:
        """A point whose stored payload Edge cannot decode (nested past its recursion limit, written before the API
        limited depth) is returned without its payload, so that it can still be read and deleted."""
        points = []
        for document_id in wanted:
            try:
                with self._use(collection) as shard:
                    records = shard.retrieve([point_id(document_id)], True, with_vectors)
                points += [VectorPoint(document_id, _from_vectors(r.vector), dict(r.payload or {})) for r in records]
            except DependencyUnavailable as error:
                if not _undecodable(error):
                    raise
                with self._use(collection) as shard:
                    records = shard.retrieve([point_id(document_id)], False, with_vectors)
                points += [VectorPoint(document_id, _from_vectors(r.vector), {}) for r in records]
        return points

    def query(self, collection: str, requests: Sequence[SearchRequest]) -> list[list[ScoredPoint]]:
        arrays = [r.with_vectors and r.vectors_as_arrays for r in requests]
        sidecar = None
        if self._vector_sidecar and any(arrays):
            sidecar = _SIDECARS.get(self._path(collection))
            if sidecar is None:
                with self._use(collection, serialise=True):  # opened with writes held off (see _sidecar)
                    sidecar = self._sidecar(collection)
        with self._use(collection) as shard:
            version = sidecar.readable() if sidecar is not None else None
            if version is not None:
                found = self._query_with_sidecar(shard, requests, arrays, sidecar, version)
                if found is not None:
                    return found
            # Vectors from Edge: no sidecar, one not ready yet, or a write overlapped the search.
            batch = [self._edge_request(r, r.with_vectors) for r in requests]
            results = shard.query_batch(qe.QueryBatchRequest(batch)) if batch else []
        return [[_scored(p, with_payload=r.with_payload, arrays=wanted) for p in hits[:r.hits_used]]
                for r, wanted, hits in zip(requests, arrays, results)]

    @staticmethod
    def _edge_request(r: SearchRequest, with_vector: Any) -> Any:
        return qe.QueryRequest(
            limit=r.limit,
            query=qe.Query.Nearest(_to_vector(r.vector), using=r.vector_name),
            filter=_filter(r.filter),
            score_threshold=r.score_threshold,
            params=edge_index.QUANTIZED_SEARCH,  # rescored with the originals where a segment is quantized
            with_payload=_payload_selector(r),
            with_vector=with_vector,
        )

    def _query_with_sidecar(self, shard: Any, requests: Sequence[SearchRequest], arrays: list[bool],
                            sidecar: edge_vectors.VectorSidecar, version: int) -> list[list[ScoredPoint]] | None:
        """The searches with the dense vectors of the hits read from the sidecar (Edge returns only the sparse
        ones), or None when a write overlapped them (the sequence lock) or the sidecar misses a hit's vector of the
        index searched: the caller then asks Edge for the vectors."""
        if any(wanted and r.vector_name not in sidecar.columns and r.vector_name not in sidecar.sparse_names
               for r, wanted in zip(requests, arrays)):
            return None  # an index the sidecar does not know (it would leave the hits without that vector)
        sparse = list(sidecar.sparse_names) or False
        batch = [self._edge_request(r, sparse if wanted else r.with_vectors) for r, wanted in zip(requests, arrays)]
        results = shard.query_batch(qe.QueryBatchRequest(batch)) if batch else []
        answers = []
        try:
            for r, wanted, hits in zip(requests, arrays, results):
                scored = [_scored(p, with_payload=r.with_payload) for p in hits[:r.hits_used]]
                if wanted and scored:
                    for name, (positions, matrix) in sidecar.read([point.id for point in scored]).items():
                        if name == r.vector_name and len(positions) != len(scored):
                            return None
                        for row, position in enumerate(positions):
                            scored[position].vectors[name] = matrix[row]
                answers.append(scored)
        except (LookupError, IndexError, ValueError):  # a mapping replaced under the read: the lock says so too
            return None
        return answers if sidecar.version == version else None

    def scroll(
        self,
        collection: str,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        offset: str | None = None,
        with_vectors: bool = False,
        payload_fields: Sequence[str] | None = None,
    ) -> tuple[list[VectorPoint], str | None]:
        request = qe.ScrollRequest(
            offset=scroll_offset(offset),
            limit=limit,
            filter=_filter(filter),
            with_payload=payload_selection(payload_fields),
            with_vector=with_vectors,
        )
        with self._use(collection) as shard:
            records, next_offset = shard.scroll(request)
        points = []
        for r in records:
            payload = dict(r.payload or {})  # converted once: each access to r.payload converts again
            points.append(VectorPoint(document_id_of(r, payload), _from_vectors(r.vector), payload))
        return points, None if next_offset is None else str(next_offset)

    def count(self, collection: str, filter: Filter | None = None) -> int:
        request = qe.CountRequest(exact=True, filter=_filter(filter))
        with self._use(collection) as shard:
            return shard.count(request)

    def set_payload(self, collection: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        check_payload_merge(ids, payload)
        # By filter, not by id list: Edge fails the whole operation on a missing id, the port ignores it.
        selector = qe.Filter(must=[qe.HasIdCondition({point_id(i) for i in ids})])
        with self._use(collection, write=True) as shard:
            shard.update(qe.UpdateOperation.set_payload_by_filter(selector, payload))

    def optimize(self, collection: str) -> dict[str, Any]:
        """Build the collection's HNSW index now, in a child process, and swap it in (edge_index.rebuild); the
        collection answers reads and writes meanwhile. Returns its points and indexed vectors afterwards."""
        path = self._path(collection)
        with self._use(collection):
            pass  # opened (or CollectionNotFound)
        return edge_index.rebuild(_REGISTRY, path, _index_state(path), _open_shard, self._build_plan)

    def collections(self) -> list[str]:
        """The collections under root, by name."""
        return sorted(p.name for p in self._root.iterdir() if p.is_dir() and _is_collection_name(p.name))

    def index_state(self, collection: str) -> dict[str, Any]:
        """The collection's index builds: state (building | idle), how many, the last one's duration and error, and
        its quantization (int8 | None)."""
        path = self._path(collection)
        return _index_state(path).report(path)

    def _after_write(self, path: Path, shard: Any) -> None:
        """Every CHECK_EVERY_WRITES writes, start a background build when the unindexed points pass the threshold
        (points less indexed vectors: a collection with several named vectors counts each indexed vector)."""
        if not self._index_threshold:
            return
        state = _index_state(path)
        state.writes_since_check += 1
        if state.building or state.writes_since_check < edge_index.CHECK_EVERY_WRITES:
            return
        state.writes_since_check = 0
        info = shard.info()
        if info.points_count - info.indexed_vectors_count < self._index_threshold:
            return

        def build() -> None:
            try:
                # Writes that arrived during a build are replayed unindexed; when they alone pass the threshold the
                # next build starts at once instead of waiting for more writes (which may never come).
                while True:
                    info = edge_index.rebuild(_REGISTRY, path, state, _open_shard, self._build_plan)
                    if info["points_count"] - info["indexed_vectors_count"] < self._index_threshold:
                        return
            except Exception:  # noqa: BLE001 - recorded in the state (last_error); the next check retries
                pass

        state.building = True  # before the thread starts: the next writes do not start a second one
        threading.Thread(target=build, name=f"openpeek-index-{path.name}", daemon=True).start()

    def info(self, collection: str) -> CollectionInfo:
        # Serialised with writes: adding a vector rewrites the config file that _stored_vectors reads.
        with self._use(collection, serialise=True) as shard:
            state = shard.info()
            vectors = self._stored_vectors(collection)
        return CollectionInfo(
            # Qdrant's meaning: yellow while the optimizer (here, an index build off the request path) runs.
            status="yellow" if _index_state(self._path(collection)).building else "green",
            points_count=state.points_count,
            indexed_vectors_count=state.indexed_vectors_count,
            segments_count=state.segments_count,
            vectors=vectors,
            payload_indexes={name: _PAYLOAD_TYPE[ix.data_type] for name, ix in state.payload_schema.items()},
            index=self.index_state(collection),
        )

    # -- internals -----------------------------------------------------------------------------------------------

    # -- the vector sidecar --------------------------------------------------------------------------------------

    def _sidecar(self, collection: str) -> edge_vectors.VectorSidecar:
        """The collection's open sidecar, opened now if needed (a rebuild started when it is not ready and the
        shard holds points). Called with the shard's write lock held (no write changes the vector schema or the
        points meanwhile)."""
        path = self._path(collection)
        with _SIDECAR_OPENING:
            with _REGISTRY.lock:
                found = _SIDECARS.get(path)
                entry = _REGISTRY.shards.get(path)
            if found is not None:
                return found
            specs = self._stored_vectors(collection)
            sidecar = edge_vectors.VectorSidecar.open(
                edge_vectors.directory_for(path),
                {name: spec.dimension for name, spec in specs.items() if not spec.sparse},
                entry.files_at_load if entry is not None else None)
            sidecar.sparse_names = [name for name, spec in specs.items() if spec.sparse]
            sidecar.metrics = {name: spec.metric for name, spec in specs.items() if not spec.sparse}
            if not sidecar.ready and entry is not None and _holds_no_points(entry):
                sidecar.ready = True  # a new collection: nothing to read back (marked clean at the shard's flush)
            with _REGISTRY.lock:
                _SIDECARS[path] = sidecar
        if not sidecar.ready:
            self._rebuild_sidecar_later(path, sidecar)
        return sidecar

    def _sidecar_for_write(self, collection: str) -> edge_vectors.VectorSidecar | None:
        """The sidecar a write must follow (the write lock held): the open one, else one opened now where this store
        reads from sidecars. None: the write goes unfollowed, so a sidecar opened later is rebuilt, not trusted."""
        path = self._path(collection)
        sidecar = _SIDECARS.get(path)
        if sidecar is None and self._vector_sidecar:
            sidecar = self._sidecar(collection)
        if sidecar is None:
            entry = _REGISTRY.shards.get(path)
            if entry is not None:
                entry.files_at_load = None
        return sidecar

    def _follow(self, collection: str, shard: Any, sidecar: edge_vectors.VectorSidecar, ids: list[str],
                point_ids: dict[str, str] | None = None, written: "_WrittenRows | None" = None) -> None:
        """Give the sidecar these points' vectors as Edge now holds them: the rows an upsert computed (`written`,
        checked against Edge), else read back from Edge (its own float32 values, cosine vectors normalised by Edge).
        `point_ids`: point id → document id for these ids. If even that fails, the sidecar is rebuilt."""
        try:
            names = list(sidecar.columns)
            if not names:
                sidecar.put(ids, {})
                return
            if point_ids is None:
                point_ids = {point_id(i): i for i in ids}
            if written is not None and sidecar.computed_rows:
                vectors = self._confirmed(collection, shard, sidecar, ids, point_ids, written)
                if vectors is not None:
                    sidecar.put(ids, vectors)
                    return
            records = shard.retrieve(list(point_ids), False, names)
            sidecar.put(ids, _point_vectors(records, ids, names, point_ids))
        except Exception:  # noqa: BLE001 - the write's own outcome is the caller's to report
            _logger.warning("vector sidecar of %s could not follow a write; searches read Edge's vectors until it is "
                            "rebuilt", collection, exc_info=True)
            sidecar.ready = False
            sidecar.needs_rebuild = True
            self._rebuild_sidecar_later(self._path(collection), sidecar)

    @staticmethod
    def _confirmed(collection: str, shard: Any, sidecar: edge_vectors.VectorSidecar, ids: list[str],
                   point_ids: dict[str, str],
                   written: "_WrittenRows") -> dict[str, tuple[list[int], np.ndarray]] | None:
        """The computed rows, once Edge agrees: the rows edge_rows could not vouch for are read from Edge, and so
        are a few others, which must equal the computed ones bit for bit. None (read everything back) on any
        difference, and from then on for this collection: Edge (or the CPU it runs on) does not compute as
        edge_rows.py does."""
        names = list(sidecar.columns)
        count = len(ids)
        sample = {position * (count - 1) // (CONFIRMED_ROWS - 1) for position in range(CONFIRMED_ROWS)}
        checked = sorted(sample | written.unsure)
        by_position = list(point_ids)  # ids are unique: point ids in the order of ids
        records = shard.retrieve([by_position[position] for position in checked], False, names)
        held = _point_vectors(records, [ids[position] for position in checked], names, point_ids)
        for name in names:
            matrix = written.vectors[name][1]
            held_positions, held_matrix = held.get(name, ([], None))  # positions in `checked`
            row_of = {checked[index]: row for row, index in enumerate(held_positions)}
            if row_of.keys() != set(checked):  # a point Edge holds without this vector, or does not hold at all
                break
            sure = [position for position in checked if position not in written.unsure]
            if matrix[sure].tobytes() != held_matrix[[row_of[position] for position in sure]].tobytes():
                break
            doubtful = [position for position in checked if position in written.unsure]
            if doubtful:
                matrix[doubtful] = held_matrix[[row_of[position] for position in doubtful]]
        else:
            return written.vectors
        sidecar.computed_rows = False
        _logger.warning("vector sidecar of %s: rows computed from the written vectors differ from Edge's (%s); "
                        "its writes read Edge's vectors back from now on", collection, edge_rows.platform_summary())
        return None

    def _rebuild_sidecar_later(self, path: Path, sidecar: edge_vectors.VectorSidecar) -> None:
        with sidecar.lock:
            if sidecar.rebuilding:
                return  # the running rebuild sees needs_rebuild and starts over
            sidecar.rebuilding = True
        threading.Thread(target=self._rebuild_sidecar, args=(path, sidecar), daemon=True,
                         name=f"openpeek-vectors-{path.name}").start()

    def _rebuild_sidecar(self, path: Path, sidecar: edge_vectors.VectorSidecar) -> None:
        """Read every point's dense vectors from Edge into the sidecar, a page at a time with the shard's write lock
        held; writes in between go to the sidecar as usual (a point written after its page was read is written
        again, one read later is read as written). Ends ready and clean, unless the shard was closed or dropped."""
        try:
            while True:
                with _held(path) as shard:
                    if shard is None or sidecar.closed:
                        return
                    sidecar.begin_write()
                    try:
                        sidecar.reset()  # whatever it holds, the pages below read it all again
                        sidecar.needs_rebuild = False
                    finally:
                        sidecar.end_write()
                offset = None
                while True:
                    with _held(path) as shard:
                        if shard is None or sidecar.closed:
                            return
                        if sidecar.needs_rebuild:
                            break
                        records, offset = shard.scroll(qe.ScrollRequest(
                            offset=offset, limit=SIDECAR_REBUILD_PAGE,
                            with_payload=qe.PayloadSelector.Include([DOCUMENT_ID_KEY]),
                            with_vector=list(sidecar.columns) or False))
                        ids = [document_id_of(r, dict(r.payload or {})) for r in records]
                        sidecar.begin_write()
                        try:
                            sidecar.put(ids, _point_vectors(records, ids, list(sidecar.columns)))
                        finally:
                            sidecar.end_write()
                    if offset is None:
                        break
                with _held(path) as shard:
                    if shard is None or sidecar.closed:
                        return
                    if sidecar.needs_rebuild:
                        continue
                    shard.flush()  # the shard on disk as the sidecar follows it, so it can be marked clean
                    sidecar.ready = True
                    _sidecar_flushed(path)
                    return
        except Exception:  # noqa: BLE001 - searches keep reading Edge's vectors; the next open tries again
            _logger.warning("vector sidecar rebuild of %s failed; searches read Edge's vectors", path, exc_info=True)
            sidecar.ready = False
        finally:
            with sidecar.lock:
                sidecar.rebuilding = False

    def _path(self, collection: str) -> Path:
        # The name becomes a directory: refuse anything that could leave root or collide with scratch names.
        if not _is_collection_name(collection):
            raise ValueError(f"invalid collection name {collection!r}")
        return self._root / collection

    def _register(self) -> None:
        if self._closed:
            with _REGISTRY.lock:
                if self._closed:
                    _REGISTRY.stores[self._root] = _REGISTRY.stores.get(self._root, 0) + 1
                    self._closed = False

    @contextmanager
    def _use(self, collection: str, *, write: bool = False, serialise: bool = False) -> Iterator[Any]:
        """The open shard, held so that nobody closes it meanwhile. A write is serialised with the other writes of
        the shard and scheduled for flushing (see Durability); `serialise` only serialises."""
        path = self._path(collection)
        self._register()
        while True:
            with self._errors():
                entry = _REGISTRY.get(path)
            with entry.gate.shared():
                if entry.closed:
                    continue  # closed between lookup and gate (dropped, or the store closed): look again
                with self._errors():
                    if not (write or serialise):
                        yield entry.shard
                        return
                    with entry.write_lock:
                        if entry.superseded:
                            continue  # an index build swapped its shard in while this call waited: write there
                        yield entry.shard
                        if write:
                            self._after_write(path, entry.shard)
                        if write and self._durable:
                            if self._flush_interval_s <= 0 or not sync_wal(entry):
                                entry.shard.flush()
                                _sidecar_flushed(path)
                            else:
                                # Durable in the fsynced WAL; the segments follow within the interval, flushed with
                                # whatever else is written meanwhile.
                                _FLUSHER.mark(entry, self._flush_interval_s)
                return

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (CollectionNotFound, DependencyUnavailable):
            raise
        except Exception as exc:
            translated = _translate(exc)
            if translated is None:
                raise
            raise translated from exc

    def _stored_vectors(self, collection: str) -> dict[str, VectorIndexSpec]:
        """The vector schema as the shard records it: Edge rewrites edge_config.json whenever a vector is added.
        Callers hold the shard's write lock, so the file is not being rewritten under them."""
        config = json.loads((self._path(collection) / _CONFIG_FILE).read_text())
        vectors: dict[str, VectorIndexSpec] = {}
        for name, params in (config.get("vectors") or {}).items():
            metric = METRIC_BY_QDRANT_DISTANCE.get(str(params.get("distance", "")).lower())
            if metric is not None:
                vectors[name] = VectorIndexSpec(name, int(params["size"]), metric)
        for name in config.get("sparse_vectors") or {}:
            if name != PLACEHOLDER_VECTOR:
                vectors[name] = VectorIndexSpec(name, 0, SPARSE_METRIC, sparse=True)
        return vectors
