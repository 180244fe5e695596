"""The clustering job's files in parquet: the vectors the prepare step exports, and the assignments the engine writes.

pyarrow is imported inside the functions: the step functions and the embedded server load it when a job runs, the API
Lambda never does (its bundle has no pyarrow).
"""

from __future__ import annotations

import io
from typing import Any, Sequence


class VectorFrameWriter:
    """Rows of (document_id, one vector per feature, label text) into parquet parts of at most `rows_per_part` rows,
    so a million vectors never sit in memory at once. `flush()` returns a finished part or None.

    Vectors arrive as Python lists (what the vector store hands out) and are packed into float32 blocks every
    BLOCK_ROWS rows: a list of 384 floats lives only until its block is packed. Held until the part is written,
    50,000 such lists would be ~600 MB of Python objects that every garbage collection pass walks again (measured:
    the export of 100,000 × 384 spent more time in the collector than in the vector store)."""

    BLOCK_ROWS = 1024

    def __init__(self, feature_count: int, rows_per_part: int = 50_000) -> None:
        self._feature_count = feature_count
        self._rows_per_part = rows_per_part
        self._ids: list[str] = []
        self._pending: list[list[Sequence[float]]] = [[] for _ in range(feature_count)]
        self._blocks: list[list[Any]] = [[] for _ in range(feature_count)]
        self._texts: list[str | None] = []

    def add(self, document_id: str, vectors: Sequence[Sequence[float]], text: str | None) -> bytes | None:
        self._ids.append(document_id)
        for position, vector in enumerate(vectors):
            self._pending[position].append(vector)
        self._texts.append(text)
        if len(self._pending[0]) >= self.BLOCK_ROWS:
            self._pack()
        return self.flush() if len(self._ids) >= self._rows_per_part else None

    def _pack(self) -> None:
        import numpy as np

        for position, pending in enumerate(self._pending):
            if pending:
                self._blocks[position].append(np.asarray(pending, dtype=np.float32))
        self._pending = [[] for _ in range(self._feature_count)]

    def flush(self) -> bytes | None:
        if not self._ids:
            return None
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pack()
        columns: dict[str, Any] = {"document_id": pa.array(self._ids, pa.string())}
        for position, blocks in enumerate(self._blocks):
            matrix = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
            if matrix.ndim != 2:
                raise ValueError(f"feature {position}: vectors of different lengths in one part")
            columns[f"feature_{position}"] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()),
                                                                               matrix.shape[1])
        columns["text"] = pa.array(self._texts, pa.string())
        sink = pa.BufferOutputStream()  # Arrow's own growing buffer: no Python-level copies as the file grows
        # Uncompressed and plain: embeddings barely compress, and the file lives only until the job has read it.
        # Dictionary encoding (pyarrow's default) of a float column is tried and abandoned page by page, and reading
        # such pages back is ~3x slower; statistics on vectors serve no reader.
        pq.write_table(pa.table(columns), sink, compression="none", use_dictionary=False, write_statistics=False)
        self._ids, self._texts = [], []
        self._blocks = [[] for _ in range(self._feature_count)]
        return sink.getvalue().to_pybytes()


def read_assignments(data: bytes) -> dict[str, list[Any]]:
    """assignments.parquet as columns of Python values: document_id, cluster, similarity, x, y, z."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    names = set(table.column_names)
    return {name: (table.column(name).to_pylist() if name in names else [None] * table.num_rows)
            for name in ("document_id", "cluster", "similarity", "x", "y", "z")}


def cluster_documents(columns: dict[str, list[Any]]) -> bytes:
    """A run's export file (cluster_documents.parquet): the columns as given, one row per member and per centroid;
    `keywords` a list of strings and `centroid_vector` a list of float32 (empty on member rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"keywords": pa.list_(pa.string()), "centroid_vector": pa.list_(pa.float32()),
             "x": pa.float64(), "y": pa.float64(), "z": pa.float64(), "similarity": pa.float64(),
             "num_members": pa.int64(), "mean_cosine_similarity": pa.float64(),
             "min_cosine_similarity": pa.float64()}
    table = pa.table({name: pa.array(values, type=types.get(name, pa.string())) for name, values in columns.items()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


class ParquetJobFiles:
    """ports.JobFiles in parquet: what the cluster steps hand to the engine and read back from it."""

    def vector_writer(self, feature_count: int, rows_per_part: int = 50_000) -> VectorFrameWriter:
        return VectorFrameWriter(feature_count, rows_per_part)

    def read_assignments(self, data: bytes) -> dict[str, list[Any]]:
        return read_assignments(data)

    def cluster_documents(self, columns: dict[str, list[Any]]) -> bytes:
        return cluster_documents(columns)
