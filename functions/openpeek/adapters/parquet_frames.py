"""The clustering job's files in parquet: the vectors the prepare step exports, and the assignments the engine writes.

pyarrow is imported inside the functions: the step functions and the embedded server load it when a job runs, the API
Lambda never does (its bundle has no pyarrow).
"""

from __future__ import annotations

import io
from typing import Any, Sequence


class VectorFrameWriter:
    """Rows of (document_id, one vector per feature, label text) into parquet parts of at most `rows_per_part` rows,
    so a million vectors never sit in memory at once. `flush()` returns a finished part or None."""

    def __init__(self, feature_count: int, rows_per_part: int = 50_000) -> None:
        self._feature_count = feature_count
        self._rows_per_part = rows_per_part
        self._ids: list[str] = []
        self._features: list[list[list[float]]] = [[] for _ in range(feature_count)]
        self._texts: list[str | None] = []

    def add(self, document_id: str, vectors: Sequence[Sequence[float]], text: str | None) -> bytes | None:
        self._ids.append(document_id)
        for position, vector in enumerate(vectors):
            self._features[position].append(vector)
        self._texts.append(text)
        return self.flush() if len(self._ids) >= self._rows_per_part else None

    def flush(self) -> bytes | None:
        if not self._ids:
            return None
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = {"document_id": pa.array(self._ids, pa.string())}
        for position, vectors in enumerate(self._features):
            # One C-level conversion of the whole part (pa.array over nested lists is ~2x slower).
            matrix = np.asarray(vectors, dtype=np.float32)
            columns[f"feature_{position}"] = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()),
                                                                               matrix.shape[1])
        columns["text"] = pa.array(self._texts, pa.string())
        buffer = io.BytesIO()
        # Uncompressed: embeddings barely compress, and the file lives only until the job has read it.
        pq.write_table(pa.table(columns), buffer, compression="none")
        self._ids, self._texts = [], []
        self._features = [[] for _ in range(self._feature_count)]
        return buffer.getvalue()


def read_assignments(data: bytes) -> dict[str, list[Any]]:
    """assignments.parquet as columns of Python values: document_id, cluster, similarity, x, y, z."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    names = set(table.column_names)
    return {name: (table.column(name).to_pylist() if name in names else [None] * table.num_rows)
            for name in ("document_id", "cluster", "similarity", "x", "y", "z")}


class ParquetJobFiles:
    """ports.JobFiles in parquet: what the cluster steps hand to the engine and read back from it."""

    def vector_writer(self, feature_count: int, rows_per_part: int = 50_000) -> VectorFrameWriter:
        return VectorFrameWriter(feature_count, rows_per_part)

    def read_assignments(self, data: bytes) -> dict[str, list[Any]]:
        return read_assignments(data)
