"""The clustering engine on parquet in a temporary folder, as the container runs it: every mode, the caps, the map,
the labels, and the input errors a user can cause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

from openpeek.engine import processing
from openpeek.engine.processing import EngineInputError, run_job

WORDS = ["guitar", "volcano", "invoice", "harbour"]


def blobs(per: int = 60, dimension: int = 16, groups: int = 3, spread: float = 0.05, seed: int = 1):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(groups), per)
    points = np.eye(dimension)[truth] * 3 + rng.normal(0, spread, (len(truth), dimension))
    return points.astype(np.float32), truth


def write(folder: Path, points: np.ndarray, *, texts=None, ids=None, extra: dict | None = None, name="part-0"):
    folder.mkdir(parents=True, exist_ok=True)
    columns = {"document_id": ids or [f"d{i}" for i in range(len(points))],
               "feature_0": pa.array(points.tolist(), pa.list_(pa.float32(), points.shape[1]))}
    for key, values in (extra or {}).items():
        columns[key] = pa.array(values.tolist(), pa.list_(pa.float32(), values.shape[1]))
    if texts is not None:
        columns["text"] = texts
    pq.write_table(pa.table(columns), folder / f"{name}.parquet")
    return sorted(folder.glob("*.parquet"))


def outputs(folder: Path) -> tuple[dict, dict]:
    result = json.loads((folder / "result.json").read_text())
    table = pq.read_table(folder / "assignments.parquet").to_pydict()
    return result, table


def test_full_kmeans_finds_the_groups_orders_them_by_size_and_labels_them(tmp_path):
    points, truth = blobs()
    points, truth = points[:-20], truth[:-20]  # the last group is smaller
    texts = [f"{WORDS[t]} note {i}" for i, t in enumerate(truth)]
    files = write(tmp_path / "in", points, texts=texts)

    summary = run_job(files, {"mode": "full", "method": "kmeans", "method_params": {"n_clusters": 3},
                              "layout": False}, tmp_path / "out")

    result, table = outputs(tmp_path / "out")
    assert summary["num_clusters"] == 3 and result["num_points"] == len(points)
    assert adjusted_rand_score(truth, table["cluster"]) == pytest.approx(1.0)
    assert [c["num_members"] for c in result["clusters"]] == [60, 60, 40]
    assert [c["cluster_id"] for c in result["clusters"]] == ["cl_0", "cl_1", "cl_2"]
    assert all(abs(np.linalg.norm(c["centroid"]) - 1) < 1e-5 for c in result["clusters"])
    assert WORDS[2] in result["clusters"][2]["label"].lower() and WORDS[2] in result["clusters"][2]["keywords"]
    assert result["metrics"]["silhouette_score"] > 0.9 and result["metrics"]["davies_bouldin_index"] < 0.2
    assert all(s > 0.99 for s in table["similarity"])
    assert table["x"] == [None] * len(points)  # no map asked for


def test_auto_picks_k_by_silhouette(tmp_path):
    points, truth = blobs(groups=4, per=40)
    run_job(write(tmp_path / "in", points), {"method": "auto", "layout": False}, tmp_path / "out")
    result, table = outputs(tmp_path / "out")
    assert result["method"] == "kmeans" and result["num_clusters"] == 4
    assert adjusted_rand_score(truth, table["cluster"]) == pytest.approx(1.0)


def test_density_methods_cluster_a_sample_mark_noise_and_assign_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(processing, "DENSITY_CAP", 120)
    points, truth = blobs(per=80)
    outlier = np.full((1, points.shape[1]), 0.0, np.float32)
    outlier[0, -1] = 3.0
    points = np.vstack([points, outlier])

    run_job(write(tmp_path / "in", points), {"method": "hdbscan", "method_params": {"min_cluster_size": 10},
                                             "layout": False}, tmp_path / "out")

    result, table = outputs(tmp_path / "out")
    assert result["sampled_points"] == 120 and result["num_clusters"] == 3
    labels = np.array(table["cluster"])
    assert adjusted_rand_score(truth[labels[:-1] >= 0], labels[:-1][labels[:-1] >= 0]) == pytest.approx(1.0)
    assert (labels >= 0).sum() >= len(points) - 10  # the points outside the sample were assigned, not dropped


def test_assign_uses_earlier_centroids_and_a_threshold(tmp_path):
    points, truth = blobs(per=10)
    centroids = np.eye(points.shape[1])[:3].tolist()
    far = np.zeros((1, points.shape[1]), np.float32)
    far[0, 9] = 1.0
    files = write(tmp_path / "in", np.vstack([points, far]))

    run_job(files, {"mode": "assign", "centroids": centroids, "centroid_ids": ["cl_a", "cl_b", "cl_c"],
                    "assignment_threshold": 0.5, "layout": False}, tmp_path / "out")

    result, table = outputs(tmp_path / "out")
    assert table["cluster"][:-1] == truth.tolist() and table["cluster"][-1] == -1
    assert [c["cluster_id"] for c in result["clusters"]] == ["cl_a", "cl_b", "cl_c"]
    assert result["noise_count"] == 1


def test_composite_groups_centroids_of_several_runs(tmp_path):
    base = np.eye(8)[:3]
    rows = np.vstack([base + 0.01, base - 0.01]).astype(np.float32)
    ids = [f"run_a:cl_{i}" for i in range(3)] + [f"run_b:cl_{i}" for i in range(3)]
    run_job(write(tmp_path / "in", rows, ids=ids), {"mode": "composite", "method": "kmeans",
                                                     "method_params": {"n_clusters": 3}, "normalize_features": False,
                                                     "layout": False}, tmp_path / "out")
    _, table = outputs(tmp_path / "out")
    groups = {}
    for row_id, cluster in zip(table["document_id"], table["cluster"]):
        groups.setdefault(cluster, set()).add(row_id.split(":")[1])
    assert sorted(map(sorted, groups.values())) == [["cl_0"], ["cl_1"], ["cl_2"]]


def test_several_features_are_normalized_weighted_and_concatenated(tmp_path):
    points, truth = blobs(per=20)
    noise = np.random.default_rng(3).normal(size=(len(points), 4)).astype(np.float32)
    files = write(tmp_path / "in", points, extra={"feature_1": noise})
    run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "layout": False,
                    "features": [{"column": "feature_0", "weight": 1.0}, {"column": "feature_1", "weight": 0.1}]},
            tmp_path / "out")
    result, table = outputs(tmp_path / "out")
    assert len(result["clusters"][0]["centroid"]) == 20
    assert adjusted_rand_score(truth, table["cluster"]) == pytest.approx(1.0)


def test_the_map_keeps_groups_apart_in_2d_and_3d_and_layout_mode_only_maps(tmp_path, monkeypatch):
    monkeypatch.setattr(processing, "LAYOUT_SAMPLE", 100)  # so the nearest-neighbour extension is exercised
    points, truth = blobs(per=70)
    files = write(tmp_path / "in", points)
    run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "vis_n_components": 3},
            tmp_path / "three")
    result, table = outputs(tmp_path / "three")
    coordinates = np.array([table["x"], table["y"], table["z"]]).T
    assert np.isfinite(coordinates).all()
    centres = np.array([coordinates[truth == g].mean(axis=0) for g in range(3)])
    spread = max(np.linalg.norm(coordinates[truth == g] - centres[g], axis=1).mean() for g in range(3))
    gaps = min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3))
    assert gaps > 2 * spread
    assert all(c["z"] is not None for c in result["clusters"])

    run_job(files, {"mode": "layout", "vis_n_components": 2}, tmp_path / "map")
    _, mapped = outputs_layout(tmp_path / "map")
    assert len(mapped["x"]) == len(points) and mapped["z"] == [None] * len(points)


def outputs_layout(folder: Path):
    return None, pq.read_table(folder / "assignments.parquet").to_pydict()


@pytest.mark.parametrize(("params", "points", "message"), [
    ({"method": "kmeans", "method_params": {"n_clusters": 50}}, 10, "n_clusters"),
    ({"method": "kmeans"}, 1, "Insufficient documents"),
    ({"mode": "assign"}, 5, "centroids"),
    ({"mode": "assign", "centroids": [[1.0, 0.0]]}, 5, "dimensions"),
    ({"method": "nope"}, 10, "unknown clustering method"),
    ({"features": [{"column": "feature_9"}]}, 10, "feature_9"),
    ({"vis_n_components": 4}, 10, "vis_n_components"),
])
def test_input_errors_are_refused_with_a_reason(tmp_path, params, points, message):
    data, _ = blobs(per=10)
    files = write(tmp_path / "in", data[:points])
    with pytest.raises(EngineInputError, match=message):
        run_job(files, {"layout": False, **params}, tmp_path / "out")


def test_a_nan_in_the_input_is_refused(tmp_path):
    data, _ = blobs(per=5)
    data[0, 0] = np.nan
    with pytest.raises(EngineInputError, match="NaN"):
        run_job(write(tmp_path / "in", data), {"layout": False}, tmp_path / "out")
