"""Layout stability across re-executions (the SDK's `layout_stability: align`): a new run's map is registered onto
the previous run's coordinates with the least-squares similarity transform (uniform scale, rotation or reflection,
translation; Umeyama 1991) computed over the documents both maps hold. Cluster assignments are never touched: this
only moves coordinates, so a re-run map keeps its shape, orientation and place and users keep their bearings.

Arrays in, arrays out; numpy only (the finalize step imports it, not the API Lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

MIN_SHARED_DOCUMENTS = 20
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Alignment:
    coordinates: np.ndarray  # the new map, moved (or as it was when not aligned)
    aligned: bool
    reason: str


def similarity_transform(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """scale, rotation (orthogonal; a reflection is allowed, since UMAP is free to mirror a map) and translation
    minimising Σ‖scale·R·source_i + t − target_i‖²."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    variance = float((centred_source ** 2).sum()) / len(source)
    u, singular, vt = np.linalg.svd(centred_target.T @ centred_source / len(source))
    rotation = u @ vt
    scale = float(singular.sum()) / variance if variance > 0 else 1.0
    translation = target_mean - scale * rotation @ source_mean
    return scale, rotation, translation


def align_layout(document_ids: Sequence[str], coordinates: np.ndarray, previous_ids: Sequence[str],
                 previous: np.ndarray, *, minimum: int = MIN_SHARED_DOCUMENTS) -> Alignment:
    """The new map (rows in document_ids order) registered onto the previous one over their shared documents."""
    if coordinates.shape[1] != previous.shape[1]:
        return Alignment(coordinates, False, f"the previous run's map has {previous.shape[1]} dimensions, this one "
                                             f"{coordinates.shape[1]}")
    where = {document_id: row for row, document_id in enumerate(previous_ids)}
    pairs = [(row, where[document_id]) for row, document_id in enumerate(document_ids) if document_id in where]
    new_rows = np.fromiter((new for new, _ in pairs), dtype=np.int64, count=len(pairs))
    old_rows = np.fromiter((old for _, old in pairs), dtype=np.int64, count=len(pairs))
    source, target = coordinates[new_rows], previous[old_rows]
    usable = np.isfinite(source).all(axis=1) & np.isfinite(target).all(axis=1)
    shared = int(usable.sum())
    if shared < minimum:
        return Alignment(coordinates, False,
                         f"only {shared} shared documents with the previous run (minimum {minimum})")
    scale, rotation, translation = similarity_transform(source[usable].astype(np.float64),
                                                        target[usable].astype(np.float64))
    moved = (scale * coordinates.astype(np.float64) @ rotation.T + translation).astype(coordinates.dtype)
    return Alignment(moved, True, f"aligned to previous run on {shared} shared documents")


@dataclass(frozen=True)
class MapAlignment:
    columns: dict[str, list[float | None]] | None  # the moved x, y (z) columns; None when the map stays as it is
    reason: str


def align_map(new: Mapping[str, Any], previous: Mapping[str, Any], dimensions: int, *,
              minimum: int = MIN_SHARED_DOCUMENTS) -> MapAlignment:
    """align_layout on stored maps: columns document_id, x, y, z of Python values (None where a point has no place),
    as the cluster steps keep them."""
    axes = AXES[:dimensions]
    previous_dimensions = 3 if any(value is not None for value in previous.get("z") or []) else 2
    if previous_dimensions != dimensions:
        return MapAlignment(None, f"the previous run's map has {previous_dimensions} dimensions, this one {dimensions}")
    outcome = align_layout(new["document_id"], _matrix(new, axes), previous["document_id"], _matrix(previous, axes),
                           minimum=minimum)
    if not outcome.aligned:
        return MapAlignment(None, outcome.reason)
    columns = {axis: [None if value is None else float(moved) for value, moved in
                      zip(new[axis], outcome.coordinates[:, position])] for position, axis in enumerate(axes)}
    return MapAlignment(columns, outcome.reason)


def _matrix(points: Mapping[str, Any], axes: Sequence[str]) -> np.ndarray:
    return np.array([[np.nan if value is None else value for value in points[axis]] for axis in axes],
                    dtype=np.float64).T.reshape(-1, len(axes))
