"""Maximal marginal relevance (Carbonell & Goldstein 1998): pick, one at a time, the document that maximises
λ·relevance − (1−λ)·max similarity to the documents already picked. Relevance is min-max normalised over the input so
that λ weighs two quantities on the same [0, 1] scale."""

from __future__ import annotations

import numpy as np


def normalised_relevance(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        return np.ones_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    return unit @ unit.T


def attribute_similarity(keys: list[tuple], weights: list[float]) -> np.ndarray:
    """Documents are as similar as the weighted share of diversity fields on which their values are equal."""
    n = len(keys)
    similarity = np.zeros((n, n), dtype=np.float64)
    total = sum(weights) or 1.0
    for position, weight in enumerate(weights):
        column = [key[position] for key in keys]
        codes: dict = {}
        encoded = np.array([codes.setdefault(value, len(codes)) if value is not None else -1 - i
                            for i, value in enumerate(column)])
        similarity += (weight / total) * (encoded[:, None] == encoded[None, :])
    return similarity


def select(relevance: np.ndarray, similarity: np.ndarray, balance: float, top_k: int) -> tuple[list[int], list[float]]:
    """Indexes in MMR order (at most top_k) and each one's MMR score when picked."""
    n = len(relevance)
    chosen: list[int] = []
    scores: list[float] = []
    if n == 0:
        return chosen, scores
    closest = np.full(n, -np.inf)  # max similarity to anything chosen so far
    available = np.ones(n, dtype=bool)
    for _ in range(min(top_k, n)):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = balance * relevance - (1 - balance) * penalty
        value[~available] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        scores.append(float(value[pick]))
        available[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return chosen, scores
