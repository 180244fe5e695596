"""The embedded cold store: a cold collection is a set of parquet parts in the blob store, scanned exactly with numpy.

Layout: `namespaces/<namespace_id>/cold/<collection_id>/part-<n>.parquet` (under the namespace's prefix, so deleting
the namespace deletes them), columns `document_id`, `payload` (JSON text), and per
named vector `v:<name>` (float32, fixed size) with `has:<name>` (whether the point has that vector). Nothing is held
in memory between queries: a query reads one part at a time, keeps the best k, and decodes the payloads of only the
rows a filter must see (or of the k kept), so a cold collection costs disk, not RAM.

Filters are evaluated by the same Python evaluator the retrievers use after the vector store (domain.filters), which
agrees with Qdrant's semantics; scores are those the vector store returns (cosine similarity, dot product, or
euclidean distance, smaller first).
"""

from __future__ import annotations

import io
import json
from typing import Iterator, Sequence

import numpy as np

from openpeek.domain import filters as filter_rules
from openpeek.domain.failures import BlobNotFound, ColdStoreUnavailable
from openpeek.domain.tiering import ColdCollection
from openpeek.domain.vectors import ScoredPoint, SearchRequest, SparseVector, VectorPoint
from openpeek.ports import BlobStore


def _prefix(target: ColdCollection) -> str:
    return f"namespaces/{target.namespace_id}/cold/{target.collection_id}/"


def _part_key(target: ColdCollection, part: int) -> str:
    return f"{_prefix(target)}part-{part:06d}.parquet"


def _part_number(key: str) -> int:
    return int(key.rsplit("part-", 1)[1].split(".", 1)[0])


class ParquetColdStore:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def write_part(self, target: ColdCollection, part: int, points: Sequence[VectorPoint]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, pa.Array] = {
            "document_id": pa.array([point.id for point in points], pa.string()),
            "payload": pa.array([json.dumps(point.payload, default=str) for point in points], pa.string()),
        }
        for spec in target.vectors:
            if spec.sparse:
                continue  # sparse vectors are not carried to the cold tier (it cannot search them)
            matrix = np.zeros((len(points), spec.dimension), dtype=np.float32)
            present = np.zeros(len(points), dtype=bool)
            for row, point in enumerate(points):
                value = point.vectors.get(spec.name)
                if value is not None and not isinstance(value, SparseVector):
                    matrix[row] = value
                    present[row] = True
            # One fixed-size binary value per row (the float32 bytes): read back with one copy, where a list column
            # is decoded value by value (0.5 s of every 100,000 × 384 scan).
            columns[f"v:{spec.name}"] = pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(spec.dimension * 4), len(points), [None, pa.py_buffer(matrix.tobytes())])
            columns[f"has:{spec.name}"] = pa.array(present)
        sink = io.BytesIO()
        # Vectors uncompressed and without dictionaries (random floats do not compress; decoding them dominated the
        # scan: 0.8 s of a 1 s query at 100,000 × 384 with zstd), payloads compressed.
        vector_columns = [name for name in columns if name.startswith("v:")]
        pq.write_table(pa.table(columns), sink,
                       compression={name: ("none" if name in vector_columns else "zstd") for name in columns},
                       use_dictionary=["document_id", "payload"])
        self._blobs.put(_part_key(target, part), sink.getvalue(), "application/vnd.apache.parquet")

    def _parts(self, target: ColdCollection) -> list[str]:
        return sorted((key for key in self._blobs.list(_prefix(target)) if key.endswith(".parquet")),
                      key=_part_number)

    def _read(self, key: str, columns: list[str] | None = None):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(io.BytesIO(self._blobs.get(key)), columns=columns, use_threads=False)
        except BlobNotFound:
            return None
        except OSError as error:  # an unreadable part is the store failing, not the caller's fault
            raise ColdStoreUnavailable(f"cold store part {key} cannot be read: {error}") from error

    def count(self, target: ColdCollection) -> int:
        import pyarrow.parquet as pq

        total = 0
        for key in self._parts(target):
            try:
                total += pq.ParquetFile(io.BytesIO(self._blobs.get(key))).metadata.num_rows
            except BlobNotFound:
                continue
        return total

    def read_parts(self, target: ColdCollection, *, from_part: int = 0) -> Iterator[tuple[int, list[VectorPoint]]]:
        for key in self._parts(target):
            part = _part_number(key)
            if part < from_part:
                continue
            table = self._read(key)
            if table is None:
                continue
            ids = table.column("document_id").to_pylist()
            payloads = [json.loads(text) for text in table.column("payload").to_pylist()]
            points = [VectorPoint(document_id, {}, payload) for document_id, payload in zip(ids, payloads)]
            for spec in target.vectors:
                name = f"v:{spec.name}"
                if name not in table.column_names:
                    continue
                matrix = _matrix(table, name, spec.dimension)
                present = table.column(f"has:{spec.name}").to_numpy(zero_copy_only=False)
                for row in np.flatnonzero(present):
                    points[row].vectors[spec.name] = matrix[row].tolist()
            yield part, points

    def query(self, target: ColdCollection, request: SearchRequest) -> list[ScoredPoint]:
        """Two passes: scores from the vector columns of every part (payloads read only where a filter must see
        them), then ids and payloads from only the parts that hold the k best."""
        spec = next((spec for spec in target.vectors if spec.name == request.vector_name), None)
        if spec is None or isinstance(request.vector, SparseVector):
            return []
        query = np.asarray(request.vector, dtype=np.float32)
        smaller_first = spec.metric == "euclidean"
        if spec.metric == "cosine":
            norm = float(np.linalg.norm(query))
            query = query / norm if norm > 0 else query
        column, has = f"v:{spec.name}", f"has:{spec.name}"
        best: list[tuple[float, str, int, int]] = []  # (score, key, row, position in best order)
        kept_vectors: dict[tuple[str, int], np.ndarray] = {}
        for key in self._parts(target):
            wanted = [column, has] + (["document_id", "payload"] if request.filter is not None else [])
            table = self._read(key, wanted)
            if table is None or column not in table.column_names:
                continue
            matrix = _matrix(table, column, spec.dimension)
            keep = table.column(has).to_numpy(zero_copy_only=False).copy()
            scores = _scores(matrix, query, spec.metric)
            if request.filter is not None:
                texts = table.column("payload").to_pylist()
                ids = table.column("document_id").to_pylist()
                for row in np.flatnonzero(keep):
                    if not filter_rules.matches(request.filter, json.loads(texts[row]), ids[row]):
                        keep[row] = False
            if request.score_threshold is not None:
                keep &= (scores <= request.score_threshold) if smaller_first else (scores >= request.score_threshold)
            rows = np.flatnonzero(keep)
            if rows.size == 0:
                continue
            order = np.argsort(scores[rows] if smaller_first else -scores[rows], kind="stable")[: request.limit]
            for row in rows[order]:
                best.append((float(scores[row]), key, int(row), len(best)))
                if request.with_vectors:
                    kept_vectors[(key, int(row))] = matrix[row].copy()
            best.sort(key=lambda hit: (hit[0] if smaller_first else -hit[0], hit[3]))
            del best[request.limit:]
        by_part: dict[str, list[int]] = {}
        for _, key, row, _ in best:
            by_part.setdefault(key, []).append(row)
        found: dict[tuple[str, int], tuple[str, dict]] = {}
        for key, rows in by_part.items():
            table = self._read(key, ["document_id", "payload"])
            if table is None:
                continue
            picked = table.take(rows)
            for row, document_id, text in zip(rows, picked.column("document_id").to_pylist(),
                                              picked.column("payload").to_pylist()):
                found[(key, row)] = (document_id, json.loads(text))
        hits = []
        for score, key, row, _ in best:
            if (key, row) not in found:
                continue
            document_id, payload = found[(key, row)]
            vector = kept_vectors.get((key, row))
            hits.append(ScoredPoint(document_id, score, payload if request.with_payload else {},
                                    {spec.name: vector.tolist()} if vector is not None else {}))
        hits.sort(key=lambda hit: (hit.score if smaller_first else -hit.score, hit.id))
        return hits

    def drop(self, target: ColdCollection) -> None:
        self._blobs.delete_prefix(_prefix(target))


def _matrix(table, column: str, dimension: int) -> np.ndarray:
    array = table.column(column).combine_chunks()
    width = dimension * 4
    data = array.buffers()[1]
    flat = np.frombuffer(data, dtype=np.float32, count=len(array) * dimension, offset=array.offset * width)
    return flat.reshape(len(array), dimension)


def _scores(matrix: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    if metric == "euclidean":
        return np.sqrt(np.maximum(((matrix - query) ** 2).sum(axis=1), 0.0))
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1)
        norms[norms == 0] = 1.0
        return (matrix @ query) / norms
    return matrix @ query
