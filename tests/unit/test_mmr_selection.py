"""MMR's array implementation (domain/stages/mmr.select, the mmr stage's vector and field paths) picks the same
documents in the same order with the same scores as the textbook definition evaluated pair by pair."""

from __future__ import annotations

import numpy as np
import pytest

from openpeek.domain.namespace import Namespace, check_vector_configs
from openpeek.domain.stages import mmr
from openpeek.domain.stages.candidates import Candidate
from openpeek.services.stages.base import RunContext
from openpeek.services.stages.mmr import Mmr


def reference_mmr(relevance: list[float], similarity: list[list[float]], balance: float,
                  top_k: int) -> tuple[list[int], list[float]]:
    """Carbonell & Goldstein, literally: at each step every unpicked document's λ·relevance − (1−λ)·max similarity to
    the picked ones (no penalty before the first pick), the best taken; ties go to the lowest index."""
    chosen: list[int] = []
    scores: list[float] = []
    for _ in range(min(top_k, len(relevance))):
        best, best_value = None, None
        for document in range(len(relevance)):
            if document in chosen:
                continue
            value = balance * relevance[document]
            if chosen:
                value -= (1 - balance) * max(similarity[document][picked] for picked in chosen)
            if best_value is None or value > best_value:
                best, best_value = document, value
        chosen.append(best)
        scores.append(best_value)
    return chosen, scores


def clustered_unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, dimension))
    points = centres[rng.integers(0, 6, count)] + 0.3 * rng.standard_normal((count, dimension))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.mark.parametrize("balance, top_k", [(1.0, 10), (0.7, 25), (0.5, 40), (0.0, 15), (0.3, 200)])
def test_select_equals_the_pairwise_definition(balance, top_k):
    vectors = clustered_unit_vectors(150, 32, seed=11)
    similarity = vectors @ vectors.T
    relevance = mmr.normalised_relevance(np.random.default_rng(5).uniform(0.2, 0.9, 150))
    expected_order, expected_scores = reference_mmr(relevance.tolist(), similarity.tolist(), balance, top_k)
    order, scores = mmr.select(relevance, lambda i: similarity[i], balance, top_k)
    assert order == expected_order
    assert scores == pytest.approx(expected_scores, abs=1e-12)


def namespace() -> Namespace:
    return Namespace(namespace_id="ns_1", org_id="org_1", namespace_name="mmr", created_at="2026-01-01T00:00:00Z",
                     updated_at="2026-01-01T00:00:00Z", version=1, mode="standalone",
                     vector_configs=tuple(check_vector_configs([{"name": "emb", "dimension": 16},
                                                                {"name": "img", "dimension": 8}])))


def run_stage(candidates: list[Candidate], parameters: dict) -> list[Candidate]:
    stage = Mmr(dependencies=None)
    context = RunContext(namespace=namespace(), stage_name="diverse", inputs={}, request={}, search_index="emb")
    return stage.run(context, stage.parse("diverse", parameters), candidates)


def documents(count: int = 120) -> tuple[list[Candidate], np.ndarray, np.ndarray]:
    emb = clustered_unit_vectors(count, 16, seed=3).astype(np.float32)
    img = clustered_unit_vectors(count, 8, seed=4).astype(np.float32) * 2.5  # not unit length: cosine normalises
    scores = np.sort(np.random.default_rng(9).uniform(0.1, 0.95, count))[::-1]
    candidates = [Candidate(f"doc-{i}", float(scores[i]), {"category": f"c{i % 7}", "brand": f"b{i % 3}"},
                            {"emb": emb[i].tolist(), "img": img[i].tolist()}) for i in range(count)]
    return candidates, emb, img


def test_the_stage_on_one_index_picks_what_the_definition_picks():
    candidates, emb, _ = documents()
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    relevance = mmr.normalised_relevance(np.array([c.score for c in candidates]))
    expected, expected_scores = reference_mmr(relevance.tolist(), (unit @ unit.T).tolist(), 0.6, 20)
    kept = run_stage(candidates, {"lambda": 0.6, "top_k": 20})
    assert [c.document_id for c in kept] == [f"doc-{i}" for i in expected]
    assert [c.payload["scores"]["mmr"] for c in kept] == pytest.approx([round(s, 6) for s in expected_scores],
                                                                       abs=2e-6)


def test_the_stage_on_two_weighted_indexes_picks_what_the_definition_picks():
    candidates, emb, img = documents()
    unit = [space / np.linalg.norm(space, axis=1, keepdims=True) for space in (emb, img)]
    similarity = 0.75 * (unit[0] @ unit[0].T) + 0.25 * (unit[1] @ unit[1].T)
    relevance = mmr.normalised_relevance(np.array([c.score for c in candidates]))
    expected, _ = reference_mmr(relevance.tolist(), similarity.tolist(), 0.5, 15)
    kept = run_stage(candidates, {"lambda": 0.5, "top_k": 15, "diversity_features": [
        {"feature_uri": "emb", "weight": 0.75}, {"feature_uri": "img", "weight": 0.25}]})
    assert [c.document_id for c in kept] == [f"doc-{i}" for i in expected]


def test_the_stage_on_fields_picks_what_the_definition_picks():
    candidates, _, _ = documents(60)
    same = [[(0.5 if a.payload["category"] == b.payload["category"] else 0.0)
             + (0.5 if a.payload["brand"] == b.payload["brand"] else 0.0) for b in candidates] for a in candidates]
    relevance = mmr.normalised_relevance(np.array([c.score for c in candidates]))
    expected, _ = reference_mmr(relevance.tolist(), same, 0.4, 12)
    kept = run_stage(candidates, {"lambda": 0.4, "top_k": 12, "diversity_fields": ["category", "brand"]})
    assert [c.document_id for c in kept] == [f"doc-{i}" for i in expected]
