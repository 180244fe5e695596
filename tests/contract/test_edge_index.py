"""Qdrant Edge's HNSW index built off the request path (adapters/qdrant/edge_index.py): `optimize` indexes a copy in
a child process and swaps it in; writes racing the build are all kept; searches agree with exact search; the build
starts by itself past the unindexed threshold; the index state shows in the collection's info; a swap cut by a crash
is put back."""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import pytest

from openpeek.adapters.qdrant import edge_index
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.domain.vectors import SearchRequest, VectorIndexSpec, VectorPoint

DIMENSION = 16


@pytest.fixture(autouse=True)
def small_segments_are_indexed(monkeypatch):
    monkeypatch.setattr(edge_index, "INDEXING_THRESHOLD_KB", 10)  # a few hundred 16-d points get their graph


def points(start: int, count: int, seed: int = 0) -> list[VectorPoint]:
    rng = np.random.default_rng(seed + start)
    vectors = rng.normal(size=(count, DIMENSION)).astype(np.float32)
    return [VectorPoint(id=f"d{start + i}", vectors={"emb": vectors[i].tolist()}, payload={"group": (start + i) % 7})
            for i in range(count)]


def make_store(tmp_path, **options) -> QdrantEdgeStore:
    store = QdrantEdgeStore(tmp_path / "vectors", **options)
    store.create_collection("ns", [VectorIndexSpec("emb", DIMENSION)])
    return store


def top_ids(store, vector, limit=10) -> list[str]:
    (hits,) = store.query("ns", [SearchRequest("emb", vector, limit=limit)])
    return [hit.id for hit in hits]



def optimize_while(store: QdrantEdgeStore, collection: str, writer: Callable[[], None], stop: threading.Event) -> None:
    """Build the collection's index while `writer` runs on a thread; `stop` is set for it once the build returns."""
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        store.optimize(collection)
    finally:
        stop.set()
        thread.join()

def test_optimize_builds_the_index_and_searches_agree_with_exact(tmp_path):
    store = make_store(tmp_path, index_threshold=None)
    for start in range(0, 3000, 500):
        store.upsert("ns", points(start, 500))
    queries = np.random.default_rng(9).normal(size=(20, DIMENSION)).tolist()
    exact = [top_ids(store, q) for q in queries]  # no index yet: exhaustive
    assert store.info("ns").indexed_vectors_count == 0

    result = store.optimize("ns")

    info = store.info("ns")
    assert result["indexed_vectors_count"] == info.indexed_vectors_count >= 2500
    assert info.points_count == 3000 and info.status == "green"
    recall = np.mean([len(set(a) & set(top_ids(store, q))) / 10 for a, q in zip(exact, queries)])
    assert recall >= 0.95
    state = store.index_state("ns")
    assert (state["state"], state["builds"], state["last_error"]) == ("idle", 1, None) and state["last_build_s"] > 0
    assert 0 < state["last_swap_s"] <= state["last_build_s"]  # the swap: the built shard loaded, the journal replayed, swapped in
    assert not [p for p in (tmp_path / "vectors").iterdir() if p.name.startswith((".optimizing-", ".retired-"))]
    store.close()

    reopened = QdrantEdgeStore(tmp_path / "vectors", index_threshold=None)
    assert reopened.info("ns").indexed_vectors_count == info.indexed_vectors_count  # the swap is durable
    assert reopened.count("ns") == 3000
    reopened.close()


def test_writes_racing_the_build_and_the_swap_are_never_lost(tmp_path):
    store = make_store(tmp_path, index_threshold=None)
    store.upsert("ns", points(0, 2000))
    written: list[str] = []
    stop = threading.Event()
    seen_building: list[str] = []

    def writer():
        start = 100_000
        while not stop.is_set():
            batch = points(start, 20)
            store.upsert("ns", batch)
            written.extend(p.id for p in batch)
            seen_building.append(store.info("ns").status)
            start += 20

    optimize_while(store, "ns", writer, stop)
    store.upsert("ns", points(500_000, 10))  # and after the swap

    assert len(written) > 20  # the writer ran during the build
    assert "yellow" in seen_building  # the stats said an index was being built
    expected = {f"d{i}" for i in range(2000)} | set(written) | {f"d{500_000 + i}" for i in range(10)}
    assert store.count("ns") == len(expected)
    assert {p.id for p in store.retrieve("ns", sorted(expected))} == expected
    assert store.info("ns").indexed_vectors_count >= 1500
    store.close()
    reopened = QdrantEdgeStore(tmp_path / "vectors", index_threshold=None)
    assert reopened.count("ns") == len(expected)
    reopened.close()


def test_the_build_starts_by_itself_past_the_unindexed_threshold(tmp_path, monkeypatch):
    monkeypatch.setattr(edge_index, "CHECK_EVERY_WRITES", 1)
    store = make_store(tmp_path, index_threshold=1000)
    for start in range(0, 900, 100):
        store.upsert("ns", points(start, 100))
    assert store.index_state("ns")["builds"] == 0  # below the threshold: nothing

    store.upsert("ns", points(900, 300))

    deadline = time.monotonic() + 120
    while store.index_state("ns")["builds"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.index_state("ns")["builds"] == 1 and store.index_state("ns")["last_error"] is None
    assert store.info("ns").indexed_vectors_count >= 1000 and store.count("ns") == 1200
    store.close()


def test_writes_that_pass_the_threshold_during_a_build_are_indexed_without_waiting_for_more(tmp_path, monkeypatch):
    monkeypatch.setattr(edge_index, "CHECK_EVERY_WRITES", 1)
    started, release = threading.Event(), threading.Event()
    real_optimize = edge_index._optimize_in_child

    def held_first_build(copy, config):
        if not started.is_set():
            started.set()
            release.wait(60)
        real_optimize(copy, config)

    monkeypatch.setattr(edge_index, "_optimize_in_child", held_first_build)
    store = make_store(tmp_path, index_threshold=1000)
    store.upsert("ns", points(0, 1200))
    assert started.wait(60)
    store.upsert("ns", points(1200, 1200))  # journaled during the build: replayed unindexed after the swap
    release.set()

    deadline = time.monotonic() + 120
    while store.index_state("ns")["builds"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.index_state("ns")["builds"] == 2 and store.index_state("ns")["last_error"] is None
    assert store.info("ns").indexed_vectors_count >= 2400 and store.count("ns") == 2400
    store.close()


def test_a_swap_cut_between_its_renames_is_put_back(tmp_path):
    store = make_store(tmp_path, index_threshold=None)
    store.upsert("ns", points(0, 50))
    store.close()
    root = tmp_path / "vectors"
    (root / "ns").rename(root / ".retired-ns-0badf00d")  # the crash: the live one moved away, the copy not yet in
    (root / ".optimizing-ns-12345678").mkdir()

    reopened = QdrantEdgeStore(root, index_threshold=None)

    assert reopened.count("ns") == 50
    assert sorted(p.name for p in root.iterdir()) == ["ns"]
    reopened.close()


def test_openpeek_optimize_indexes_every_collection_of_the_data_dir(tmp_path, capsys):
    from openpeek.cli import main
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    services = build_services(Settings(data_dir=tmp_path))
    services.vectors.create_collection("ns_one", [VectorIndexSpec("emb", DIMENSION)])
    services.vectors.upsert("ns_one", [VectorPoint(p.id, {"emb": p.vectors["emb"]}) for p in points(0, 600)])
    services.close()

    assert main(["optimize", "--data-dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "ns_one:" in out and "of 600 vectors indexed" in out
    services = build_services(Settings(data_dir=tmp_path))
    assert services.vectors.info("ns_one").indexed_vectors_count >= 500
    services.close()


def test_a_collection_past_the_quantization_threshold_is_built_int8_and_answers_like_exact(tmp_path):
    store = make_store(tmp_path, index_threshold=None, build_plan=edge_index.BuildPlan(quantize_from_points=2000))
    store.upsert("ns", points(0, 1500))
    store.optimize("ns")
    assert store.index_state("ns")["quantization"] is None  # below the threshold: the originals alone

    store.upsert("ns", points(1500, 1500))
    queries = np.random.default_rng(5).normal(size=(20, DIMENSION)).tolist()
    exact = [top_ids(store, q) for q in queries]
    store.optimize("ns")

    state = store.index_state("ns")
    assert (state["quantization"], state["builds"], state["last_error"]) == ("int8", 2, None)
    info = store.info("ns")
    assert info.index["quantization"] == "int8" and info.indexed_vectors_count >= 2500
    recall = np.mean([len(set(a) & set(top_ids(store, q))) / 10 for a, q in zip(exact, queries)])
    assert recall >= 0.95  # rescored with the originals
    (hit,) = store.query("ns", [SearchRequest("emb", points(0, 8)[7].vectors["emb"], limit=1)])[0]
    assert hit.id == "d7" and hit.score == pytest.approx(1.0, abs=1e-5)  # the original's score, not the int8 one
    store.close()

    reopened = QdrantEdgeStore(tmp_path / "vectors", index_threshold=None)
    assert reopened.index_state("ns")["quantization"] == "int8"  # recorded with the shard, across restarts
    reopened.close()
