"""Maximal marginal relevance (Carbonell & Goldstein 1998): pick, one at a time, the document that maximises
λ·relevance − (1−λ)·max similarity to the documents already picked. Relevance is min-max normalised over the input so
that λ weighs two quantities on the same [0, 1] scale."""

from __future__ import annotations

from typing import Callable

import numpy as np


def normalised_relevance(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        return np.ones_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def attribute_codes(keys: list[tuple]) -> np.ndarray:
    """One integer column per diversity field: equal values share a code, a missing value matches nothing."""
    columns = []
    for position in range(len(keys[0]) if keys else 0):
        codes: dict = {}
        columns.append([codes.setdefault(key[position], len(codes)) if key[position] is not None else -1 - i
                        for i, key in enumerate(keys)])
    return np.array(columns, dtype=np.int64).T.reshape(len(keys), -1)


def select(relevance: np.ndarray, similarity_to: Callable[[int], np.ndarray], balance: float,
           top_k: int) -> tuple[list[int], list[float]]:
    """Indexes in MMR order (at most top_k) and each one's MMR score when picked. `similarity_to(i)` is document i's
    similarity to every document: only the picked documents' rows are ever computed (top_k of them, not N×N), and
    each pick updates every document's closest similarity at once (O(top_k·N) array work, no loop over pairs)."""
    n = len(relevance)
    chosen: list[int] = []
    scores: list[float] = []
    if n == 0:
        return chosen, scores
    gain = balance * relevance
    value = gain.astype(np.float64, copy=True)  # nothing chosen yet: no similarity penalty
    closest = None  # max similarity to anything chosen so far
    for _ in range(min(top_k, n)):
        pick = int(np.argmax(value))
        chosen.append(pick)
        scores.append(float(value[pick]))
        row = similarity_to(pick)
        closest = row if closest is None else np.maximum(closest, row)
        value = gain - (1 - balance) * closest
        value[chosen] = -np.inf  # picked documents are never picked again
    return chosen, scores
