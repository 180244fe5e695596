"""Layout stability across re-executions (the SDK's `layout_stability: align`): a new run's map is registered onto
the previous run's coordinates with the least-squares similarity transform (uniform scale, rotation or reflection,
translation; Umeyama 1991) computed over the documents both maps hold. Cluster assignments are never touched: this
only moves coordinates, so a re-run map keeps its shape, orientation and place and users keep their bearings.

Arrays in, arrays out; numpy only (the finalize step imports it, not the API Lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

MIN_SHARED_DOCUMENTS = 20


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
        return Alignment(coordinates, False, f"only {shared} shared documents with the previous run (minimum {minimum})")
    scale, rotation, translation = similarity_transform(source[usable].astype(np.float64),
                                                        target[usable].astype(np.float64))
    moved = (scale * coordinates.astype(np.float64) @ rotation.T + translation).astype(coordinates.dtype)
    return Alignment(moved, True, f"aligned to previous run on {shared} shared documents")
