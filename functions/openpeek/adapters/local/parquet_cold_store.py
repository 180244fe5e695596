"""The embedded cold store: a cold collection is a set of parts in the blob store, scanned exactly with numpy.

Layout, under the namespace's prefix (so deleting the namespace deletes them), for part n of a collection:

- `namespaces/<namespace_id>/cold/<collection_id>/part-<n>.<vector>.f32`: one per named dense vector, the raw
  little-endian float32 matrix (rows × dimension) in the part's row order; a row whose point lacks that vector is NaN;
- `….part-<n>.<vector>.norms`: for cosine vectors, each row's L2 norm (float32), so a scan never recomputes them;
- `….part-<n>.ids`: the part's id index: a 64-bit hash of every document id, sorted, with the row each is on (and a
  SHA-256 trailer), so reading one document by id opens only the part (and the row group) that holds it;
- `….part-<n>.terms`: the part's terms index: the 64-bit hash of every (row, term), sorted, where a row's terms are
  its top-level scalar payload values as `key=value` tokens (see _terms), and every distinct term of the part by
  hash (see _terms_index);
- `….part-<n>.parquet`: `document_id`, `payload` (JSON text, zstd) in row groups of PAYLOAD_GROUP rows, and in its
  key-value metadata the rows and the SHA-256 of every vector file and of both indexes. It is written last: a part
  without it does not exist, so a crash in the middle of a part leaves nothing a query or a count would see.

A query scans the vector files in chunks of at most SCAN_CHUNK_BYTES read into one buffer (readinto from the folder
blob store, so the pages stay in the page cache, not in the process), keeps the k best with argpartition, and then
decodes only the row groups of the parquet parts that hold those k. Nothing is kept in memory between queries, so a
cold collection costs disk, not RAM. The raw layout exists because decoding parquet dominated the scan (a 100,000 ×
384 query spent half its time in pyarrow's reader and a quarter recomputing norms). A part the earlier layout wrote
(vectors as parquet columns) is rewritten in this one the first time a query or a rehydration reads it; a part of the
raw layout written before the two indexes existed gets both (its vector files untouched) the first time it is read.

Filters: exact-match conditions (match a value, one of values, document ids), wherever they sit in the filter tree,
are looked up in the terms and id indexes, which read no payload. A term's hash absent from the part proves no row has
it; present with the term's own word, the rows listed have it; a hash two words of the part share (or a document id,
a string too long to be a term) leaves those rows undecided. The filter is worked out per row as certainly true,
certainly false or undecided (see _Lookup), and only the undecided rows' payloads are decoded, for the same Python
evaluator the retrievers use after the vector store (domain.filters, which agrees with Qdrant's semantics): a filter
of exact values decodes no payload, one that also has a range decodes the rows its exact values let through. A part
none of whose rows can pass is not scanned. A listing asks the same of each part (`select`): how many rows pass,
known before any is decoded where the indexes decided them all, then only the rows of its page are decoded. Scores
are those the vector store returns (cosine similarity, dot product, or euclidean distance, smaller first).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.domain import filters as filter_rules
from openpeek.domain.conditions import Filter, HasIds, MatchAny, MatchValue
from openpeek.domain.failures import BlobNotFound, ColdStoreUnavailable
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import ScoredPoint, SearchRequest, SparseVector, VectorIndexSpec, VectorPoint
from openpeek.ports import BlobStore

PAYLOAD_GROUP = 128  # rows per parquet row group: fetching the k best decodes at most k groups, not whole parts
SELECT_ROWS = 8 * PAYLOAD_GROUP  # a listing decides a part's undecided rows this many at a time
SCAN_CHUNK_BYTES = 4 << 20  # the one scan buffer of a query (4 MiB: ~2,700 rows of 384 floats)
METADATA_KEY = b"openpeek.cold"
MAX_TERM_CHARS = 256  # a longer string is not a term: a filter on its field reads the payload of the rows that have one
DIGEST = 32  # bytes of the SHA-256 trailer of an id index


def _prefix(target: ColdCollection) -> str:
    return f"namespaces/{target.namespace_id}/cold/{target.collection_id}/"


def _part_key(target: ColdCollection, part: int) -> str:
    return f"{_prefix(target)}part-{part:06d}.parquet"


def _vector_key(target: ColdCollection, part: int, name: str) -> str:
    return f"{_prefix(target)}part-{part:06d}.{name}.f32"


def _norms_key(target: ColdCollection, part: int, name: str) -> str:
    return f"{_prefix(target)}part-{part:06d}.{name}.norms"


def _ids_key(target: ColdCollection, part: int) -> str:
    return f"{_prefix(target)}part-{part:06d}.ids"


def _terms_key(target: ColdCollection, part: int) -> str:
    return f"{_prefix(target)}part-{part:06d}.terms"


def _part_number(key: str) -> int:
    return int(key.rsplit("part-", 1)[1].split(".", 1)[0])


class ParquetColdStore:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        # The folder blob store's files are read in place (readinto, row groups through a memory map); any other
        # blob store is read through get().
        self._folder: Path | None = blobs.root if isinstance(blobs, FolderBlobStore) else None
        # (index file, its SHA-256) already checked by this process: hashing a terms index on every filtered query
        # cost a third of the query; its checksum still changes whenever the part is written again.
        self._verified: set[tuple[str, bytes]] = set()

    # -- writes ---------------------------------------------------------------------------------------------------

    def write_part(self, target: ColdCollection, part: int, points: Sequence[VectorPoint]) -> None:
        checksums: dict[str, str] = {}
        for spec in target.vectors:
            if spec.sparse:
                continue  # sparse vectors are not carried to the cold tier (it cannot search them)
            matrix = np.full((len(points), spec.dimension), np.nan, dtype="<f4")
            for row, point in enumerate(points):
                value = point.vectors.get(spec.name)
                if value is not None and not isinstance(value, SparseVector):
                    matrix[row] = value
            data = matrix.tobytes()
            self._put_verified(_vector_key(target, part, spec.name), data)
            checksums[spec.name] = hashlib.sha256(data).hexdigest()
            if spec.metric == "cosine":
                norms = np.linalg.norm(np.nan_to_num(matrix), axis=1).astype("<f4")
                norms[norms == 0] = 1.0
                self._put_verified(_norms_key(target, part, spec.name), norms.tobytes())
        self._write_indexed(target, part, [point.id for point in points], [point.payload for point in points],
                            checksums)

    def _write_indexed(self, target: ColdCollection, part: int, ids: list[str], payloads: list[dict],
                       checksums: dict[str, str], texts: list[str] | None = None) -> None:
        """The id and terms indexes, then the parquet (ids, payloads) that records the vector files' and the
        indexes' checksums: last, so the part exists only once everything it names is in place."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        id_index = _hash_index([_hash(document_id) for document_id in ids], range(len(ids)))
        self._put_verified(_ids_key(target, part), id_index)
        terms_index = _terms_index([_terms(payload) for payload in payloads])
        self._put_verified(_terms_key(target, part), terms_index)
        table = pa.table({
            "document_id": pa.array(ids, pa.string()),
            "payload": pa.array(texts if texts is not None else [json.dumps(payload, default=str)
                                                                 for payload in payloads], pa.string()),
        }).replace_schema_metadata({METADATA_KEY: json.dumps({
            "rows": len(ids), "sha256": checksums, "ids": id_index[-DIGEST:].hex(),
            "terms": terms_index[-DIGEST:].hex()})})
        sink = io.BytesIO()
        # No dictionaries: ids and payloads rarely repeat, and a dictionary page made each row group 5× slower to read.
        pq.write_table(table, sink, compression="zstd", row_group_size=PAYLOAD_GROUP, use_dictionary=False)
        self._blobs.put(_part_key(target, part), sink.getvalue(), "application/vnd.apache.parquet")

    def _put_verified(self, key: str, data: bytes) -> None:
        """Write a vector file and read it back: a part is only as good as the bytes that reached the store."""
        self._blobs.put(key, data, "application/octet-stream")
        if hashlib.sha256(self._blobs.get(key)).digest() != hashlib.sha256(data).digest():
            raise ColdStoreUnavailable(f"cold store file {key} did not read back as written")

    # -- reads ----------------------------------------------------------------------------------------------------

    def _parts(self, target: ColdCollection) -> list[str]:
        return sorted((key for key in self._blobs.list(_prefix(target)) if key.endswith(".parquet")),
                      key=_part_number)

    def _path(self, key: str) -> Path:
        assert self._folder is not None
        return self._folder.joinpath(*key.split("/"))

    def _parquet(self, key: str):
        """The part's ParquetFile (its footer only), or None when the part is gone."""
        import pyarrow.parquet as pq

        try:
            if self._folder is not None:
                return pq.ParquetFile(str(self._path(key)), memory_map=True)
            return pq.ParquetFile(io.BytesIO(self._blobs.get(key)))
        except (BlobNotFound, FileNotFoundError):
            return None
        except OSError as error:  # an unreadable part is the store failing, not the caller's fault
            raise ColdStoreUnavailable(f"cold store part {key} cannot be read: {error}") from error

    def _opened(self, target: ColdCollection, key: str):
        """The part's ParquetFile in this layout (None when the part is gone); a part the earlier layout wrote is
        upgraded in place first."""
        parquet = self._parquet(key)
        if parquet is None:
            return None
        metadata = parquet.metadata.metadata or {}
        if METADATA_KEY not in metadata:
            self._upgrade(target, key, parquet)
        elif not {"ids", "terms"} <= set(json.loads(metadata[METADATA_KEY])):
            self._add_indexes(target, key, parquet)
        else:
            return parquet
        return self._parquet(key)

    def _add_indexes(self, target: ColdCollection, key: str, parquet) -> None:
        """Give a part of the raw layout written before the id and terms indexes existed both: its vector files stay
        as they are (their checksums carried over), the id index is written and the parquet rewritten last, so a
        crash midway leaves the part as it was and the next read indexes it again."""
        recorded = _recorded(parquet)
        table = parquet.read(columns=["document_id", "payload"], use_threads=False)
        texts = table.column("payload").to_pylist()
        self._write_indexed(target, _part_number(key), table.column("document_id").to_pylist(),
                            [json.loads(text) for text in texts], recorded["sha256"], texts=texts)

    def _upgrade(self, target: ColdCollection, key: str, parquet) -> None:
        """Rewrite a part of the earlier layout (every vector a fixed-size binary column `v:<name>` of float32 bytes,
        with `has:<name>` saying which rows have it) in this one, so cold collections demoted before the raw layout
        stay readable. write_part writes the vector files first and the parquet last (atomically), so a crash midway
        leaves the old part whole and the next read upgrades it again."""
        names = set(parquet.schema_arrow.names)
        if not {"document_id", "payload"} <= names or not any(name.startswith("v:") for name in names):
            raise ColdStoreUnavailable(f"cold store part {key} lacks its vector metadata (written by another layout)")
        table = parquet.read(use_threads=False)
        rows = table.num_rows
        points = [VectorPoint(document_id, {}, json.loads(text)) for document_id, text in
                  zip(table.column("document_id").to_pylist(), table.column("payload").to_pylist())]
        for spec in target.vectors:
            column = f"v:{spec.name}"
            if spec.sparse or column not in names:
                continue
            packed = b"".join(chunk.buffers()[1].to_pybytes()[chunk.offset * spec.dimension * 4:
                                                               (chunk.offset + len(chunk)) * spec.dimension * 4]
                              for chunk in table.column(column).chunks)
            matrix = np.frombuffer(packed, dtype="<f4").reshape(rows, spec.dimension)
            present = np.asarray(table.column(f"has:{spec.name}").to_pylist(), dtype=bool)
            for row in np.flatnonzero(present):
                points[row].vectors[spec.name] = matrix[row].tolist()
        self.write_part(target, _part_number(key), points)

    def _bytes(self, key: str) -> bytes:
        try:
            return self._blobs.get(key)
        except BlobNotFound:
            raise ColdStoreUnavailable(f"cold store file {key} is missing") from None

    def count(self, target: ColdCollection) -> int:
        total = 0
        for key in self._parts(target):
            parquet = self._parquet(key)
            if parquet is not None:
                total += parquet.metadata.num_rows
        return total

    def read_parts(self, target: ColdCollection, *, from_part: int = 0,
                   with_vectors: bool = True) -> Iterator[tuple[int, list[VectorPoint]]]:
        for key in self._parts(target):
            part = _part_number(key)
            if part < from_part:
                continue
            parquet = self._opened(target, key)
            if parquet is None:
                continue
            recorded = _recorded(parquet)
            table = parquet.read(columns=["document_id", "payload"], use_threads=False)
            ids = table.column("document_id").to_pylist()
            payloads = [json.loads(text) for text in table.column("payload").to_pylist()]
            points = [VectorPoint(document_id, {}, payload) for document_id, payload in zip(ids, payloads)]
            for spec in target.vectors if with_vectors else ():
                if spec.name not in recorded["sha256"]:
                    continue
                data = self._bytes(_vector_key(target, part, spec.name))
                if hashlib.sha256(data).hexdigest() != recorded["sha256"][spec.name]:
                    raise ColdStoreUnavailable(f"cold store part {key}: the {spec.name} vectors fail their checksum")
                matrix = np.frombuffer(data, dtype="<f4").reshape(len(points), spec.dimension)
                for row in np.flatnonzero(~np.isnan(matrix[:, 0])):
                    points[row].vectors[spec.name] = matrix[row].tolist()
            yield part, points

    def get(self, target: ColdCollection, document_ids: Sequence[str], *,
            with_vectors: bool = False) -> list[VectorPoint]:
        """Each part's id index (a few bytes a row) says which rows may hold the ids asked for; only those parts'
        parquet files are opened, and of them only the row groups that hold those rows."""
        wanted = {document_id: _hash(document_id) for document_id in document_ids}
        found: dict[str, VectorPoint] = {}
        for key in self._parts(target):
            missing = [document_id for document_id in wanted if document_id not in found]
            if not missing:
                break
            part = _part_number(key)
            located = self._id_index(target, key)
            if located is None:
                continue
            index = located
            candidates = np.flatnonzero(index.rows_with([wanted[document_id] for document_id in missing])).tolist()
            if not candidates:
                continue
            parquet = self._opened(target, key)
            if parquet is None:
                continue
            recorded = _recorded(parquet)
            index.check_recorded(recorded.get("ids"))
            matrices = self._matrices(target, part, recorded, index.row_count) if with_vectors else {}
            for row, (document_id, payload) in _rows(parquet, candidates).items():
                if document_id not in wanted or document_id in found:
                    continue  # another id with the same 64-bit hash
                vectors = {name: matrix[row].tolist() for name, matrix in matrices.items()
                           if not np.isnan(matrix[row, 0])}
                found[document_id] = VectorPoint(document_id, vectors, payload)
        return [found[document_id] for document_id in wanted if document_id in found]

    def _id_index(self, target: ColdCollection, key: str) -> "_HashIndex | None":
        """The id index of the part at key (None when the part is gone), read before the part itself: whoever opens
        the part then checks it against the checksum the part recorded. A part written before id indexes existed is
        indexed first."""
        ids_key = _ids_key(target, _part_number(key))
        try:
            data = self._blobs.get(ids_key)
        except BlobNotFound:
            if self._opened(target, key) is None:
                return None
            data = self._bytes(ids_key)
        return self._checked(_HashIndex.of_ids(ids_key, data))

    def _checked(self, index: "_HashIndex") -> "_HashIndex":
        key = index.key
        if (key, index.digest) not in self._verified:
            index.check()
            self._verified.add((key, index.digest))
        return index

    def _lookup(self, target: ColdCollection, key: str, parquet) -> "_Lookup":
        """The part's terms index (and its id index, read only for a condition on ids), each checked against the
        checksum the part recorded."""
        recorded = _recorded(parquet)
        part = _part_number(key)
        rows = parquet.metadata.num_rows

        def index(index_key: str, name: str) -> _HashIndex:
            data = self._bytes(index_key)
            found = self._checked(_HashIndex.of_terms(index_key, data, rows) if name == "terms"
                                  else _HashIndex.of_ids(index_key, data))
            found.check_recorded(recorded.get(name))
            return found

        return _Lookup(rows, index(_terms_key(target, part), "terms"), lambda: index(_ids_key(target, part), "ids"))

    def _matrices(self, target: ColdCollection, part: int, recorded: dict, rows: int) -> dict[str, np.ndarray]:
        """Every vector file of the part, checked against its recorded checksum."""
        matrices = {}
        for spec in target.vectors:
            if spec.name not in recorded["sha256"]:
                continue
            data = self._bytes(_vector_key(target, part, spec.name))
            if hashlib.sha256(data).hexdigest() != recorded["sha256"][spec.name]:
                raise ColdStoreUnavailable(f"cold store part {part}: the {spec.name} vectors fail their checksum")
            matrices[spec.name] = np.frombuffer(data, dtype="<f4").reshape(rows, spec.dimension)
        return matrices

    def query(self, target: ColdCollection, request: SearchRequest) -> list[ScoredPoint]:
        """Scores from the raw vector files of every part (payloads decoded only where a filter must see them),
        the k best kept across chunks, then ids and payloads from only the row groups that hold them."""
        spec = next((spec for spec in target.vectors if spec.name == request.vector_name), None)
        if spec is None or isinstance(request.vector, SparseVector) or request.limit <= 0:
            return []
        query = np.asarray(request.vector, dtype=np.float32)
        if spec.metric == "cosine":
            norm = float(np.linalg.norm(query))
            query = query / norm if norm > 0 else query
        smaller_first = spec.metric == "euclidean"
        chunk_rows = max(1, SCAN_CHUNK_BYTES // (spec.dimension * 4))
        buffer = np.empty((chunk_rows, spec.dimension), dtype="<f4")
        best = _Best(request.limit, smaller_first)
        parquets: dict[str, object] = {}
        decoded: dict[str, dict[int, tuple[str, dict]]] = {}  # per part, the rows the filter decoded
        for key in self._parts(target):
            parquet = self._opened(target, key)
            if parquet is None:
                continue
            parquets[key] = parquet
            rows = parquet.metadata.num_rows
            if rows == 0 or spec.name not in _recorded(parquet)["sha256"]:
                continue
            allowed = None
            if request.filter is not None:
                allowed, decoded[key] = self._passing(target, key, parquet, request.filter)
                if not allowed.any():
                    continue  # no row of the part passes: its vectors are not read
            part = _part_number(key)
            norms = (np.frombuffer(self._bytes(_norms_key(target, part, spec.name)), dtype="<f4")
                     if spec.metric == "cosine" else None)
            for start, matrix in self._chunks(_vector_key(target, part, spec.name), rows, buffer):
                scores = _scores(matrix, query, spec.metric,
                                 norms[start: start + len(matrix)] if norms is not None else None)
                keep = ~np.isnan(scores)
                if allowed is not None:
                    keep &= allowed[start: start + len(matrix)]
                if request.score_threshold is not None:
                    with np.errstate(invalid="ignore"):
                        keep &= ((scores <= request.score_threshold) if smaller_first
                                 else (scores >= request.score_threshold))
                best.offer(key, start, scores, keep, matrix if request.with_vectors else None)
        hits = []
        for key, rows in best.by_part().items():
            known = decoded.get(key, {})
            unread = [row for row in rows if row not in known]
            found = {**known, **(_rows(parquets[key], unread) if unread else {})}
            for row in rows:
                document_id, payload = found[row]
                score, vector = best.kept[(key, row)]
                hits.append(ScoredPoint(document_id, score, payload if request.with_payload else {},
                                        {spec.name: vector.tolist()} if vector is not None else {}))
        hits.sort(key=lambda hit: (hit.score if smaller_first else -hit.score, hit.id))
        return hits[: request.limit]

    def _passing(self, target: ColdCollection, key: str, parquet,
                 condition: Filter) -> tuple[np.ndarray, dict[int, tuple[str, dict]]]:
        """Which rows pass the filter: those the indexes prove pass, and of those they leave undecided, the ones
        the evaluator passes on their decoded payloads (returned too: a hit among them is not decoded again)."""
        possible, certain = self._decided(target, key, parquet, condition)
        return self._judged(parquet, condition, possible, certain, 0, parquet.metadata.num_rows)

    def _decided(self, target: ColdCollection, key: str, parquet, condition: Filter) -> tuple[np.ndarray, np.ndarray]:
        """(rows that may pass, rows that certainly pass) by the part's indexes alone."""
        if _answerable(condition):
            return self._lookup(target, key, parquet).decide(condition)
        # nothing in the filter the indexes answer (a range, say): every row is undecided, and no index is read
        rows = parquet.metadata.num_rows
        return np.ones(rows, dtype=bool), np.zeros(rows, dtype=bool)

    @staticmethod
    def _judged(parquet, condition: Filter, possible: np.ndarray, certain: np.ndarray, first: int,
                stop: int) -> tuple[np.ndarray, dict[int, tuple[str, dict]]]:
        """Rows first..stop of `certain` completed by the evaluator on the undecided ones' decoded payloads."""
        passing = certain[first:stop].copy()
        undecided = (first + np.flatnonzero(possible[first:stop] & ~certain[first:stop])).tolist()
        found = _rows(parquet, undecided) if undecided else {}
        for row, (document_id, payload) in found.items():
            passing[row - first] = filter_rules.matches(condition, payload, document_id)
        whole = np.zeros(len(certain), dtype=bool)
        whole[first:stop] = passing
        return whole, found

    def select(self, target: ColdCollection, condition: Filter | None) -> Iterator["_PartSelection"]:
        """Each part's passing rows, decided as a filtered query decides them (the terms and id indexes, then the
        evaluator on the undecided rows' payloads only); without a condition every row passes and nothing is
        decoded. A part the indexes alone rule out yields nothing, and its payloads are never read. Where the indexes
        leave rows undecided, the part comes in slices of SELECT_ROWS rows, each decoded only when the caller asks
        for it (a page that fills early leaves the rest of the part undecoded); a slice whose decoded rows all fail
        yields an empty selection, so that what it cost is counted."""
        for key in self._parts(target):
            parquet = self._opened(target, key)
            rows = parquet.metadata.num_rows if parquet is not None else 0
            if rows == 0:
                continue
            if condition is None:
                yield _PartSelection(self, target, key, parquet, np.arange(rows), {})
                continue
            possible, certain = self._decided(target, key, parquet, condition)
            if not possible.any():
                continue
            if not (possible & ~certain).any():  # decided by the indexes alone: one selection, nothing decoded
                yield _PartSelection(self, target, key, parquet, np.flatnonzero(certain), {})
                continue
            for first in range(0, rows, SELECT_ROWS):
                stop = min(rows, first + SELECT_ROWS)
                if not possible[first:stop].any():
                    continue
                allowed, known = self._judged(parquet, condition, possible, certain, first, stop)
                passing = np.flatnonzero(allowed)
                if passing.size or known:
                    yield _PartSelection(self, target, key, parquet, passing, known)

    def _chunks(self, key: str, rows: int, buffer: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, matrix view) over the vector file at key, at most len(buffer) rows at a time."""
        dimension = buffer.shape[1]
        if self._folder is None:
            whole = np.frombuffer(self._bytes(key), dtype="<f4")
            if whole.size != rows * dimension:
                raise ColdStoreUnavailable(f"cold store file {key} holds {whole.size} floats, not {rows * dimension}")
            for start in range(0, rows, len(buffer)):
                yield start, whole[start * dimension: (start + len(buffer)) * dimension].reshape(-1, dimension)
            return
        try:
            handle = open(self._path(key), "rb", buffering=0)
        except FileNotFoundError:
            raise ColdStoreUnavailable(f"cold store file {key} is missing") from None
        with handle:
            if os.fstat(handle.fileno()).st_size != rows * dimension * 4:
                raise ColdStoreUnavailable(f"cold store file {key} does not hold {rows} rows of {dimension}")
            view = memoryview(buffer).cast("B")
            for start in range(0, rows, len(buffer)):
                count = min(len(buffer), rows - start)
                wanted, filled = count * dimension * 4, 0
                while filled < wanted:
                    read = handle.readinto(view[filled:wanted])
                    if not read:
                        raise ColdStoreUnavailable(f"cold store file {key} ended early")
                    filled += read
                yield start, buffer[:count]

    def drop(self, target: ColdCollection) -> None:
        self._blobs.delete_prefix(_prefix(target))


class _PartSelection:
    """A part's rows that pass a filter (`passing`, in row order), with the payloads deciding them decoded (`known`):
    reading a slice of them decodes only the row groups that hold its rows, and no payload twice."""

    def __init__(self, store: ParquetColdStore, target: ColdCollection, key: str, parquet, passing: np.ndarray,
                 known: dict[int, tuple[str, dict]]) -> None:
        self._store, self._target, self._key, self._parquet = store, target, key, parquet
        self._passing, self._known = passing, known
        self.count = int(passing.size)
        self.decoded = len(known)

    def read(self, start: int, stop: int, *, with_vectors: bool = False) -> list[VectorPoint]:
        rows = self._passing[start:stop].tolist()
        unread = [row for row in rows if row not in self._known]
        found = _rows(self._parquet, unread) if unread else {}
        self.decoded += len(found)
        matrices = (self._store._matrices(self._target, _part_number(self._key), _recorded(self._parquet),
                                          self._parquet.metadata.num_rows) if with_vectors and rows else {})
        points = []
        for row in rows:
            document_id, payload = self._known[row] if row in self._known else found[row]
            vectors = {name: matrix[row].tolist() for name, matrix in matrices.items() if not np.isnan(matrix[row, 0])}
            points.append(VectorPoint(document_id, vectors, payload))
        return points


class _Best:
    """The k best (score, part, row) seen so far, with their vectors when the caller wants them."""

    def __init__(self, limit: int, smaller_first: bool) -> None:
        self._limit = limit
        self._sign = 1.0 if smaller_first else -1.0  # ascending order of sign × score is best first
        self._keys = np.empty(0, dtype=np.float64)
        self._where: list[tuple[str, int]] = []
        self._vectors: list[np.ndarray | None] = []
        self.kept: dict[tuple[str, int], tuple[float, np.ndarray | None]] = {}

    def offer(self, key: str, start: int, scores: np.ndarray, keep: np.ndarray, matrix: np.ndarray | None) -> None:
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            return
        ranked = self._sign * scores[rows].astype(np.float64)
        if rows.size > self._limit:
            chosen = np.argpartition(ranked, self._limit - 1)[: self._limit]
            rows, ranked = rows[chosen], ranked[chosen]
        keys = np.concatenate([self._keys, ranked])
        where = self._where + [(key, start + int(row)) for row in rows]
        vectors = self._vectors + [matrix[row].copy() if matrix is not None else None for row in rows]
        if keys.size > self._limit:
            chosen = np.argpartition(keys, self._limit - 1)[: self._limit]
            keys, where, vectors = keys[chosen], [where[i] for i in chosen], [vectors[i] for i in chosen]
        self._keys, self._where, self._vectors = keys, where, vectors
        self.kept = {spot: (float(self._sign * score), vector)
                     for spot, score, vector in zip(where, keys, vectors)}

    def by_part(self) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for key, row in self._where:
            grouped.setdefault(key, []).append(row)
        return grouped


def _recorded(parquet) -> dict:
    metadata = parquet.metadata.metadata or {}  # the footer's key-value pairs (schema_arrow would rebuild the schema)
    if METADATA_KEY not in metadata:
        raise ColdStoreUnavailable("a cold store part lacks its vector metadata (written by another layout)")
    return json.loads(metadata[METADATA_KEY])


def _rows(parquet, rows: list[int]) -> dict[int, tuple[str, dict]]:
    """document_id and payload of the given rows, decoding only the row groups that hold them (in one read)."""
    sizes = [parquet.metadata.row_group(group).num_rows for group in range(parquet.metadata.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes[:-1], dtype=np.int64)]).astype(np.int64)
    wanted = np.asarray(rows, dtype=np.int64)
    group_of = np.searchsorted(starts, wanted, side="right") - 1  # one search for all rows: per row, it dominated
    groups = sorted(set(group_of.tolist()))
    table = parquet.read_row_groups(groups, columns=["document_id", "payload"], use_threads=False)
    offset_of = np.zeros(len(sizes), dtype=np.int64)  # where each group read landed in the table
    offset_of[groups] = np.concatenate([[0], np.cumsum([sizes[group] for group in groups][:-1], dtype=np.int64)])
    # Whole columns to Python at once: an element at a time (as_py) cost more than the JSON decoding itself.
    ids, texts = table.column("document_id").to_pylist(), table.column("payload").to_pylist()
    return {row: (ids[at], json.loads(texts[at]))
            for row, at in zip(rows, (offset_of[group_of] + wanted - starts[group_of]).tolist())}


def _scores(matrix: np.ndarray, query: np.ndarray, metric: str, norms: np.ndarray | None) -> np.ndarray:
    """NaN for rows without the vector (stored as NaN). Products by einsum, on this thread: a BLAS matrix-vector
    product fans out to BLAS's threads, which on a busy machine made one chunk take 10-40 ms instead of 0.2."""
    if metric == "euclidean":
        return np.sqrt(np.maximum(((matrix - query) ** 2).sum(axis=1), 0.0))
    products = np.einsum("ij,j->i", matrix, query)
    return products / norms if metric == "cosine" else products


def _hash(text: str) -> int:
    """64 bits of BLAKE2b: the key of the id and terms indexes (surrogatepass: JSON may carry a lone surrogate)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _hash_index(hashes: Sequence[int], rows: Sequence[int]) -> bytes:
    """Sorted 64-bit hashes (little-endian), the row of each, then the SHA-256 of both."""
    keys = np.fromiter(hashes, dtype="<u8", count=len(hashes))
    where = np.fromiter(rows, dtype="<u4", count=len(hashes))
    order = np.argsort(keys, kind="stable")
    body = keys[order].tobytes() + where[order].tobytes()
    return body + hashlib.sha256(body).digest()


def _terms_index(row_terms: list[set[str]]) -> bytes:
    """A terms index: a header (pairs, words), the sorted (hash, row) pairs, then every distinct term of the part
    (its words) sorted by hash, as hashes, offsets and one UTF-8 blob, so a lookup can tell the term it asked for from
    another with the same hash; then the SHA-256 of all that. A hash two words of the part share keeps an empty word
    (no term is empty): a lookup of it stays undecided."""
    hashes, rows, words = [], [], {}
    for row, terms in enumerate(row_terms):
        for term in terms:
            hashed = words.setdefault(term, _hash(term))
            hashes.append(hashed)
            rows.append(row)
    pairs = _hash_index(hashes, rows)[:-DIGEST]
    by_hash: dict[int, bytes] = {}
    for term, hashed in words.items():
        by_hash[hashed] = b"" if hashed in by_hash else term.encode("utf-8", "surrogatepass")
    word_hashes = np.fromiter(sorted(by_hash), dtype="<u8", count=len(by_hash))
    blobs = [by_hash[int(hashed)] for hashed in word_hashes]
    offsets = np.concatenate([[0], np.cumsum([len(blob) for blob in blobs], dtype=np.int64)]).astype("<u4")
    body = (np.array([len(hashes), len(by_hash)], dtype="<u8").tobytes() + pairs + word_hashes.tobytes()
            + offsets.tobytes() + b"".join(blobs))
    return body + hashlib.sha256(body).digest()


class _HashIndex:
    """A part's id or terms index: which rows hold a hash (a row may hold it through a collision, never the reverse),
    and for a terms index, whether a hash found is the term asked for (`words`)."""

    def __init__(self, key: str, data: bytes, hashes: np.ndarray, rows: np.ndarray, row_count: int,
                 words: tuple[np.ndarray, np.ndarray, bytes] | None = None) -> None:
        self.key, self._data, self.digest = key, data, data[-DIGEST:]
        self._hashes, self._rows, self.row_count, self._words = hashes, rows, row_count, words
        if self._rows.size and int(self._rows.max()) >= self.row_count:
            raise ColdStoreUnavailable(f"cold store file {key} names rows its part does not have")

    @classmethod
    def of_ids(cls, key: str, data: bytes) -> "_HashIndex":
        body = data[:-DIGEST]
        if len(data) < DIGEST or len(body) % 12:
            raise ColdStoreUnavailable(f"cold store file {key} fails its checksum (it is cut short)")
        count = len(body) // 12
        return cls(key, data, np.frombuffer(body, dtype="<u8", count=count),
                   np.frombuffer(body, dtype="<u4", offset=8 * count), count)

    @classmethod
    def of_terms(cls, key: str, data: bytes, rows: int) -> "_HashIndex":
        body = data[:-DIGEST]
        try:
            pairs, words = (int(n) for n in np.frombuffer(body, dtype="<u8", count=2))
            at = 16
            hashes = np.frombuffer(body, dtype="<u8", count=pairs, offset=at)
            where = np.frombuffer(body, dtype="<u4", count=pairs, offset=at + 8 * pairs)
            at += 12 * pairs
            word_hashes = np.frombuffer(body, dtype="<u8", count=words, offset=at)
            offsets = np.frombuffer(body, dtype="<u4", count=words + 1, offset=at + 8 * words)
            blob = body[at + 12 * words + 4:]
        except ValueError:
            raise ColdStoreUnavailable(f"cold store file {key} fails its checksum (it is cut short)") from None
        if len(data) < DIGEST or int(offsets[-1]) != len(blob):
            raise ColdStoreUnavailable(f"cold store file {key} fails its checksum (it is cut short)")
        return cls(key, data, hashes, where, rows, (word_hashes, offsets, blob))

    def check(self) -> None:
        if hashlib.sha256(self._data[:-DIGEST]).digest() != self.digest:
            raise ColdStoreUnavailable(f"cold store file {self.key} fails its checksum")

    def check_recorded(self, recorded: str | None) -> None:
        if self.digest.hex() != recorded:
            raise ColdStoreUnavailable(f"cold store file {self.key} is not the one its part recorded")

    def lookup(self, terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows that may hold one of the terms, rows that certainly do): a hash found with its own word is certain,
        one found with another word is absent, one two words share stays possible."""
        assert self._words is not None
        word_hashes, offsets, blob = self._words
        certain_hashes, possible_hashes = [], []
        for term in terms:
            hashed = _hash(term)
            at = int(np.searchsorted(word_hashes, np.uint64(hashed)))
            if at == len(word_hashes) or int(word_hashes[at]) != hashed:
                continue
            word = blob[int(offsets[at]): int(offsets[at + 1])]
            if word == term.encode("utf-8", "surrogatepass"):
                certain_hashes.append(hashed)
            elif not word:
                possible_hashes.append(hashed)
        certain = self.rows_with(certain_hashes)
        return certain | self.rows_with(possible_hashes), certain

    def rows_with(self, hashes: Sequence[int]) -> np.ndarray:
        probe = np.fromiter(hashes, dtype="<u8", count=len(hashes))
        first, last = np.searchsorted(self._hashes, probe, "left"), np.searchsorted(self._hashes, probe, "right")
        found = np.zeros(self.row_count, dtype=bool)
        for start, end in zip(first.tolist(), last.tolist()):
            found[self._rows[start:end]] = True
        return found


# -- terms: exact-match filters decided without the payload --------------------------------------------------------
#
# A row's terms are its top-level payload fields' scalar values (each element of a list too) as tokens
# `<len(key)>:<key><type>:<value>`, where the value is written as domain.filters' equality compares it: booleans
# apart from numbers, 1 and 1.0 the same number, strings as they are. A value equality can never match (a dict, a
# list inside a list, None) has no token; a value that might but is not written as one (a string longer than
# MAX_TERM_CHARS, a type JSON writes through str()) leaves the field's `?` token, which keeps the row undecided.


def _token(key: str, value) -> str | None:
    if isinstance(value, bool):
        token = "b:1" if value else "b:0"
    elif isinstance(value, int):
        token = f"n:{int(value)}"  # int(): an int subclass (an IntEnum) is written by JSON as its number
    elif isinstance(value, float):
        number = float(value)
        token = f"n:{int(number)}" if math.isfinite(number) and number.is_integer() else f"n:{number!r}"
    elif isinstance(value, str) and len(value) <= MAX_TERM_CHARS:
        token = "s:" + str(value)
    else:
        return None
    return f"{len(key)}:{key}{token}"


def _unknown(key: str) -> str:
    return f"{len(key)}:{key}?"


def _terms(payload: dict) -> set[str]:
    if any(not isinstance(key, str) for key in payload):
        # JSON writes such a key as a string, which may then stand for another field's value: the terms are those
        # of the payload as it is stored
        payload = json.loads(json.dumps(payload, default=str))
    terms: set[str] = set()
    for key, value in payload.items():
        for item in value if isinstance(value, list) else (value,):
            if item is None or isinstance(item, (dict, list)):
                continue  # equality with a scalar never holds
            token = _token(key, item)
            terms.add(token if token is not None else _unknown(key))
    return terms


def _answerable(condition) -> bool:
    """Whether any condition of the filter is one the terms or id indexes answer (see _Lookup.decide); an empty
    filter is too (it passes every row without decoding one)."""
    if isinstance(condition, Filter):
        children = (*condition.must, *condition.should, *condition.must_not)
        return not children or any(_answerable(child) for child in children)
    return isinstance(condition, HasIds) or (isinstance(condition, (MatchValue, MatchAny)) and "." not in condition.key)


class _Lookup:
    """A filter worked out on a part's indexes, per row, in three values: `possible` (the row may pass) and `certain`
    (it passes), certain ⊆ truth ⊆ possible. A match the terms index answers is certain where the term itself is
    found, possible where a hash it shares with another word is, or where the field holds a value that is no term;
    ids are possible where their hash is found; a condition the indexes cannot answer is possible everywhere. Through
    must_not the two swap: a row where the condition is impossible certainly passes its negation."""

    def __init__(self, rows: int, terms: _HashIndex, ids: Callable[[], _HashIndex]) -> None:
        self._rows, self._terms, self._read_ids = rows, terms, ids
        self._ids: _HashIndex | None = None

    def decide(self, condition) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(condition, Filter):
            possible, certain = np.ones(self._rows, dtype=bool), np.ones(self._rows, dtype=bool)
            for child in condition.must:
                child_possible, child_certain = self.decide(child)
                possible &= child_possible
                certain &= child_certain
            if condition.should:
                answers = [self.decide(child) for child in condition.should]
                possible &= np.logical_or.reduce([answer[0] for answer in answers])
                certain &= np.logical_or.reduce([answer[1] for answer in answers])
            for child in condition.must_not:
                child_possible, child_certain = self.decide(child)
                possible &= ~child_certain
                certain &= ~child_possible
            return possible, certain
        nowhere = np.zeros(self._rows, dtype=bool)
        if isinstance(condition, HasIds):
            self._ids = self._ids or self._read_ids()
            return self._ids.rows_with([_hash(document_id) for document_id in condition.ids]), nowhere
        if isinstance(condition, (MatchValue, MatchAny)) and "." not in condition.key:
            values = (condition.value,) if isinstance(condition, MatchValue) else condition.values
            tokens = [_token(condition.key, value) for value in values]
            if all(token is not None for token in tokens):
                possible, certain = self._terms.lookup(tokens)
                unknown, _ = self._terms.lookup([_unknown(condition.key)])
                return possible | unknown, certain
        return np.ones(self._rows, dtype=bool), nowhere
