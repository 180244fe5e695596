"""The working set a retriever's stages pass along: documents with their score, payload and (when a stage needs
them) vectors. Field paths are the user's (`metadata.x`, `score`, `document_id`, `scores.mmr`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from openpeek.domain.filters import stored_key


@dataclass
class Candidate:
    document_id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, Any]


_MISSING = object()


def dense_matrix(rows: list[Any]) -> np.ndarray | None:
    """The candidates' dense vectors of one index as one float32 matrix, one row each: lists of numbers (as a store
    returns them) or float32 rows (a search that asked for vectors_as_arrays), mixed or not. None when a row is
    missing or is not dense (sparse, or another type)."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    if all(type(row) is np.ndarray and row.ndim == 1 for row in rows):
        return np.stack(rows).astype(np.float32, copy=False)
    if all(isinstance(row, list) for row in rows):
        return np.array(rows, dtype=np.float32)
    if not all(isinstance(row, list) or (type(row) is np.ndarray and row.ndim == 1) for row in rows):
        return None
    return np.stack([np.asarray(row, dtype=np.float32) for row in rows])


def value_at(candidate: Candidate, path: str, default: Any = None) -> Any:
    """The value a user's field path names: `score` and `document_id` are the candidate's own; `metadata.x` reads the
    caller's metadata (stored under `_internal`); anything else walks the payload by dots."""
    if path == "score":
        return candidate.score
    if path == "document_id":
        return candidate.document_id
    found: Any = candidate.payload
    for part in stored_key(path).split("."):
        found = found.get(part, _MISSING) if isinstance(found, dict) else _MISSING
        if found is _MISSING:
            return default
    return found


def with_value(candidate: Candidate, path: str, value: Any) -> Candidate:
    """A copy whose payload holds `value` at `path` (dicts along the path copied, so the input is never changed)."""
    if path == "score":
        return Candidate(candidate.document_id, value, candidate.payload, candidate.vectors)
    parts = stored_key(path).split(".")
    payload = dict(candidate.payload)
    node = payload
    for part in parts[:-1]:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[parts[-1]] = value
    return Candidate(candidate.document_id, candidate.score, payload, candidate.vectors)


def synthetic(document_id: str, score: float, fields: dict[str, Any]) -> Candidate:
    """A document a stage makes (a group, a cluster, an aggregation, a context): no vectors, fields at top level."""
    return Candidate(document_id, score, fields, {})
