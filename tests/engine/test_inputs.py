"""Input shapes the service may write (plain list columns, several files), the composite mode's limits, and the
sample cap of kmeans: what a user sees when the prepare step or their parameters vary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score

from openpeek.engine.processing import EngineInputError, run_job


def blobs(per: int = 40, dimension: int = 12, groups: int = 3, seed: int = 2):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(groups), per)
    return (np.eye(dimension)[truth] * 3 + rng.normal(0, 0.05, (len(truth), dimension))).astype(np.float32), truth


def write_plain(path: Path, points: np.ndarray, start: int = 0) -> Path:
    """A plain list<float> column (not fixed-size), as a writer without the dimension would produce; no text column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"document_id": [f"d{start + i}" for i in range(len(points))],
                             "feature_0": pa.array(points.tolist(), pa.list_(pa.float32()))}), path)
    return path


def test_plain_list_columns_across_several_files_are_read_in_order(tmp_path):
    points, truth = blobs()
    files = [write_plain(tmp_path / "in" / "a.parquet", points[:50]),
             write_plain(tmp_path / "in" / "b.parquet", points[50:], start=50)]
    summary = run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "layout": False},
                      tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / "assignments.parquet")
    assert summary["num_points"] == len(points)
    assert table.column("document_id").to_pylist() == [f"d{i}" for i in range(len(points))]
    assert table.schema.field("cluster").type == pa.int32() and table.schema.field("x").type == pa.float32()
    assert adjusted_rand_score(truth, table.column("cluster").to_pylist()) == pytest.approx(1.0)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    # no text at all: every cluster still has a readable label and its representatives
    assert [c["label"] for c in result["clusters"]] == ["Cluster 0", "Cluster 1", "Cluster 2"]
    assert all(len(c["representative_ids"]) == 5 for c in result["clusters"])


def test_sample_size_caps_what_kmeans_clusters_and_the_rest_is_assigned(tmp_path):
    points, truth = blobs(per=100)
    files = [write_plain(tmp_path / "in" / "a.parquet", points)]
    run_job(files, {"method": "kmeans", "method_params": {"n_clusters": 3}, "sample_size": 60, "layout": False},
            tmp_path / "out")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    labels = pq.read_table(tmp_path / "out" / "assignments.parquet").column("cluster").to_pylist()
    assert result["sampled_points"] == 60 and result["noise_count"] == 0
    assert sum(c["num_members"] for c in result["clusters"]) == len(points)
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)


def test_dbscan_that_finds_only_noise_reports_it_without_clusters_or_metrics(tmp_path):
    points, _ = blobs(per=30)
    files = [write_plain(tmp_path / "in" / "a.parquet", points)]
    summary = run_job(files, {"method": "dbscan", "method_params": {"eps": 1e-6, "min_samples": 50},
                              "layout": False}, tmp_path / "out")
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    table = pq.read_table(tmp_path / "out" / "assignments.parquet").to_pydict()
    assert summary["num_clusters"] == 0 and result["clusters"] == []
    assert result["noise_count"] == len(points) and set(table["cluster"]) == {-1}
    assert table["similarity"] == [None] * len(points)
    assert set(result["metrics"].values()) == {None}


def test_composite_auto_with_three_rows_and_its_limits(tmp_path):
    rows = np.array([[1, 0, 0], [0.99, 0.05, 0], [0, 0, 1]], np.float32)
    ids = ["run_a:cl_0", "run_b:cl_0", "run_b:cl_1"]
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"document_id": ids, "feature_0": pa.array(rows.tolist(), pa.list_(pa.float32(), 3))}),
                   folder / "c.parquet")
    files = [folder / "c.parquet"]
    run_job(files, {"mode": "composite", "method": "auto", "layout": False}, tmp_path / "out")
    labels = pq.read_table(tmp_path / "out" / "assignments.parquet").column("cluster").to_pylist()
    assert labels[0] == labels[1] != labels[2]

    with pytest.raises(EngineInputError, match="n_clusters below 3"):
        run_job(files, {"mode": "composite", "method": "kmeans", "method_params": {"n_clusters": 3},
                        "layout": False}, tmp_path / "out2")
    pq.write_table(pa.table({"document_id": ids[:1], "feature_0": pa.array(rows[:1].tolist(),
                                                                          pa.list_(pa.float32(), 3))}),
                   folder / "c.parquet")
    with pytest.raises(EngineInputError, match="at least 2 source clusters"):
        run_job(files, {"mode": "composite", "method": "auto", "layout": False}, tmp_path / "out3")


def test_vectors_of_different_lengths_are_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"document_id": ["a", "b", "c", "d"],
                             "feature_0": pa.array([[1.0, 0.0], [0.0, 1.0, 0.0], [1.0], [0.0, 1.0]],
                                                   pa.list_(pa.float32()))}), folder / "a.parquet")
    with pytest.raises(EngineInputError, match="different lengths"):
        run_job([folder / "a.parquet"], {"method": "kmeans", "method_params": {"n_clusters": 2}, "layout": False},
                tmp_path / "out")
