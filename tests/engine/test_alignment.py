"""Layout stability: a re-run's map registered onto the previous one (engine/alignment.py)."""

from __future__ import annotations

import numpy as np

from openpeek.engine.alignment import MIN_SHARED_DOCUMENTS, align_layout


def _moved(points: np.ndarray, *, scale: float, degrees: float, mirror: bool, shift: tuple[float, float]) -> np.ndarray:
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if mirror:
        rotation = rotation @ np.diag([1.0, -1.0])
    return scale * points @ rotation.T + np.asarray(shift)


def test_a_rotated_scaled_mirrored_and_shifted_map_is_put_back_where_it_was():
    previous = np.random.default_rng(0).normal(size=(200, 2)) * 5
    ids = [f"d{i}" for i in range(200)]
    new = _moved(previous, scale=0.3, degrees=130, mirror=True, shift=(40.0, -7.0))

    outcome = align_layout(ids, new, ids, previous)

    assert outcome.aligned and outcome.reason == "aligned to previous run on 200 shared documents"
    np.testing.assert_allclose(outcome.coordinates, previous, atol=1e-9)


def test_documents_new_to_this_run_move_with_the_shared_ones():
    rng = np.random.default_rng(1)
    previous = rng.normal(size=(100, 2))
    true_new = rng.normal(size=(150, 2))  # where all 150 would sit in the previous frame; the first 100 are shared
    true_new[:100] = previous
    layout = _moved(true_new, scale=2.0, degrees=-75, mirror=False, shift=(3.0, 3.0))

    outcome = align_layout([f"d{i}" for i in range(150)], layout, [f"d{i}" for i in range(100)], previous)

    np.testing.assert_allclose(outcome.coordinates, true_new, atol=1e-9)


def test_too_few_shared_documents_or_other_dimensions_leave_the_map_as_it_is():
    previous = np.random.default_rng(2).normal(size=(50, 2))
    new = previous + 10
    few = [f"d{i}" for i in range(MIN_SHARED_DOCUMENTS - 1)] + [f"new{i}" for i in range(50 - MIN_SHARED_DOCUMENTS + 1)]

    outcome = align_layout(few, new, [f"d{i}" for i in range(50)], previous)
    assert not outcome.aligned and outcome.coordinates is new
    assert outcome.reason == f"only {MIN_SHARED_DOCUMENTS - 1} shared documents with the previous run (minimum 20)"

    flat = align_layout([f"d{i}" for i in range(50)], np.zeros((50, 3)), [f"d{i}" for i in range(50)], previous)
    assert not flat.aligned and "2 dimensions" in flat.reason


def test_points_without_coordinates_do_not_count_as_shared():
    previous = np.random.default_rng(3).normal(size=(30, 2))
    new = previous.copy()
    new[:15] = np.nan  # e.g. noise the engine did not place

    outcome = align_layout([f"d{i}" for i in range(30)], new, [f"d{i}" for i in range(30)], previous)

    assert not outcome.aligned and outcome.reason.startswith("only 15 shared documents")
