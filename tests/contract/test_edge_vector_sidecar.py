"""The embedded store's vector sidecar (adapters/qdrant/edge_vectors.py): searches that ask for their hits' vectors as
float32 rows get exactly the vectors Edge holds, whatever was written, replaced, deleted, compacted, rebuilt or
swapped in by an index build — and whatever a crash, a lost or corrupt file, or a writer without a sidecar left
behind. Each answer is compared with the same search on a store that reads Edge's own lists (vector_sidecar=False)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest
import qdrant_edge as qe

from openpeek.adapters.qdrant import edge as edge_adapter
from openpeek.adapters.qdrant import edge_vectors
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.adapters.qdrant.mapping import point_id, stored_payload
from openpeek.domain.conditions import Filter, MatchValue
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.vectors import SearchRequest, SparseVector, VectorIndexSpec, VectorPoint
from tests.live_server import live_server

C = "ns_sidecar"
DIM = 12


def vectors(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIM))


def points(values: np.ndarray, first: int = 0, group: str = "a") -> list[VectorPoint]:
    return [VectorPoint(f"doc-{first + i}", {"emb": row.tolist()}, {"group": group, "n": first + i})
            for i, row in enumerate(values)]


def searches(seed: int = 99, count: int = 4) -> list[SearchRequest]:
    return [SearchRequest("emb", query.tolist(), limit=40, with_vectors=True, vectors_as_arrays=True)
            for query in vectors(count, seed)]


def sidecar_of(store: QdrantEdgeStore, collection: str = C) -> edge_vectors.VectorSidecar | None:
    return edge_adapter._SIDECARS.get(store._path(collection))


def wait_ready(store: QdrantEdgeStore, collection: str = C) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sidecar = sidecar_of(store, collection)
        if sidecar is not None and sidecar.ready and not sidecar.rebuilding:
            return
        time.sleep(0.01)
    raise AssertionError("the sidecar was not rebuilt")


def answers(store: QdrantEdgeStore, requests: list[SearchRequest], collection: str = C) -> list:
    """Each hit as (id, score, {name: vector as float32 bytes or sparse}) — exact equality, bit for bit."""
    out = []
    for hits in store.query(collection, requests):
        row = []
        for hit in hits:
            found = {}
            for name, value in hit.vectors.items():
                if isinstance(value, SparseVector):
                    found[name] = value
                else:
                    assert isinstance(value, np.ndarray) and value.dtype == np.float32 and value.ndim == 1
                    found[name] = value.tobytes()
            row.append((hit.id, hit.score, found))
        out.append(row)
    return out


def assert_same_as_edge(root: Path, store: QdrantEdgeStore, requests: list[SearchRequest] | None = None,
                        collection: str = C) -> None:
    requests = requests or searches()
    reference = QdrantEdgeStore(root, vector_sidecar=False)  # same shards (one registry): Edge's lists, converted
    try:
        assert answers(store, requests, collection) == answers(reference, requests, collection)
    finally:
        reference.close()


@pytest.fixture
def store(tmp_path: Path):
    opened = QdrantEdgeStore(tmp_path)
    opened.create_collection(C, [VectorIndexSpec("emb", DIM, "cosine")])
    yield opened
    opened.close()


def assert_reopens_clean(tmp_path) -> None:
    """A store opened anew on the same files uses their sidecar at once (it was marked clean) and it matches Edge."""
    again = QdrantEdgeStore(tmp_path)
    again.query(C, searches(count=1))
    assert sidecar_of(again).ready
    assert_same_as_edge(tmp_path, again)
    again.close()


def test_searches_read_the_sidecar_and_agree_with_edge_through_every_kind_of_write(store, tmp_path, monkeypatch):
    used = []
    original = QdrantEdgeStore._query_with_sidecar

    def spy(self, *args):
        found = original(self, *args)
        used.append(found is not None)
        return found

    monkeypatch.setattr(QdrantEdgeStore, "_query_with_sidecar", spy)
    store.upsert(C, points(vectors(300, 1)))
    wait_ready(store)
    assert_same_as_edge(tmp_path, store)
    store.upsert(C, points(vectors(100, 2), first=50, group="b"))  # replaced vectors
    store.upsert(C, [VectorPoint("doc-7", {}, {"group": "a"})])  # replaced whole, without a vector
    store.delete(C, ["doc-1", "doc-2", "missing"])
    store.delete_by_filter(C, Filter(must=(MatchValue("group", "b"),)))
    assert_same_as_edge(tmp_path, store)
    assert used and all(used)  # every search above was answered from the sidecar
    # lists still where the caller did not ask for arrays
    (hits,) = store.query(C, [SearchRequest("emb", vectors(1, 5)[0].tolist(), limit=3, with_vectors=True)])
    assert all(isinstance(hit.vectors["emb"], list) for hit in hits)


def test_a_sparse_index_and_a_second_dense_one_come_back_like_edges(tmp_path):
    store = QdrantEdgeStore(tmp_path)
    try:
        store.create_collection(C, [VectorIndexSpec("emb", DIM, "dot"), VectorIndexSpec("splade", 0, sparse=True)])
        base = vectors(60, 3)
        store.upsert(C, [VectorPoint(f"doc-{i}", {"emb": row.tolist(),
                                                  **({"splade": SparseVector((i, 500), (1.0, 0.5))} if i % 2 else {})})
                         for i, row in enumerate(base)])
        assert store.add_vector_indexes(C, [VectorIndexSpec("title", 3, "euclidean")]) == ["title"]
        store.upsert(C, [VectorPoint("doc-4", {"emb": base[4].tolist(), "title": [1.0, 2.0, 3.5]})])
        wait_ready(store)
        assert_same_as_edge(tmp_path, store, [SearchRequest("emb", q.tolist(), limit=20, with_vectors=True,
                                                            vectors_as_arrays=True) for q in vectors(3, 4)])
        (hits,) = store.query(C, [SearchRequest("title", [1.0, 2.0, 3.5], limit=1, with_vectors=True,
                                                vectors_as_arrays=True)])
        assert hits[0].id == "doc-4" and hits[0].vectors["title"].tolist() == [1.0, 2.0, 3.5]
    finally:
        store.close()


def test_a_reopened_store_trusts_a_clean_sidecar_and_rebuilds_any_other(tmp_path, monkeypatch):
    rebuilds = []
    original = QdrantEdgeStore._rebuild_sidecar_later
    monkeypatch.setattr(QdrantEdgeStore, "_rebuild_sidecar_later",
                        lambda self, path, sidecar: (rebuilds.append(path), original(self, path, sidecar)))

    store = QdrantEdgeStore(tmp_path)
    store.create_collection(C, [VectorIndexSpec("emb", DIM, "cosine")])
    store.upsert(C, points(vectors(200, 1)))
    wait_ready(store)
    store.close()
    directory = edge_vectors.directory_for(store._path(C))
    assert json.loads((directory / edge_vectors.STATE_FILE).read_text())["clean"]

    def reopened() -> tuple[QdrantEdgeStore, bool]:
        rebuilds.clear()
        again = QdrantEdgeStore(tmp_path)
        again.query(C, searches(count=1))  # opens the sidecar
        trusted = not rebuilds
        wait_ready(again)
        assert_same_as_edge(tmp_path, again)
        return again, trusted

    again, trusted = reopened()
    assert trusted  # clean and the shard unchanged: used at once
    again.close()
    monkeypatch.setattr(edge_adapter, "SIDECAR_REBUILD_PAGE", 64)  # rebuilds below read Edge in several pages

    # a corrupt vector file: the state says clean, but the file is shorter than its rows
    (vector_file,) = directory.glob("*.f32")
    vector_file.write_bytes(vector_file.read_bytes()[:100])
    again, trusted = reopened()
    assert not trusted
    again.close()

    # an older data dir: no sidecar at all
    shutil.rmtree(directory)
    again, trusted = reopened()
    assert not trusted
    again.close()

    # a writer without a sidecar (an older version) changed vectors after the sidecar was marked clean
    plain = QdrantEdgeStore(tmp_path, vector_sidecar=False)
    plain.upsert(C, points(vectors(200, 8)))
    plain.close()
    assert json.loads((directory / edge_vectors.STATE_FILE).read_text())["clean"]  # it cannot know
    again, trusted = reopened()
    assert not trusted  # the shard's files are not those the sidecar was marked clean with
    again.close()


def test_tombstones_are_compacted_away(store, tmp_path, monkeypatch):
    monkeypatch.setattr(edge_vectors, "COMPACT_FROM_DEAD_ROWS", 100)
    store.upsert(C, points(vectors(150, 1)))
    wait_ready(store)
    for round_number in range(4):
        store.upsert(C, points(vectors(150, 10 + round_number)))
    sidecar = sidecar_of(store)
    (column,) = sidecar.columns.values()
    assert column.rows - column.live() <= column.live()  # rewritten: no more dead rows than live ones
    assert column.live() == 150
    assert_same_as_edge(tmp_path, store)
    store.close()
    assert_reopens_clean(tmp_path)  # the compacted files too


def test_an_index_build_swap_keeps_the_sidecar_in_step(store, tmp_path):
    store.upsert(C, points(vectors(400, 1)))
    wait_ready(store)
    store.optimize(C)
    store.upsert(C, points(vectors(50, 2), first=20))
    assert_same_as_edge(tmp_path, store)
    store.close()
    assert_reopens_clean(tmp_path)


def test_dropping_and_recreating_a_collection_never_reads_the_old_vectors(store, tmp_path):
    store.upsert(C, points(vectors(100, 1)))
    wait_ready(store)
    store.drop_collection(C)
    assert not edge_vectors.directory_for(store._path(C)).exists()
    store.create_collection(C, [VectorIndexSpec("emb", DIM, "cosine")])
    store.upsert(C, points(vectors(100, 2)))
    wait_ready(store)
    assert_same_as_edge(tmp_path, store)


def test_a_search_racing_writes_never_gets_a_vector_the_hit_was_not_scored_with(store):
    """Two very different vectors alternate under the same ids while searches run: every hit's vector must be the
    one its score was computed with (cosine: the score is the query's dot product with the stored unit vector)."""
    first, second = vectors(80, 1), -vectors(80, 1) + 0.1
    store.upsert(C, points(first))
    wait_ready(store)
    stop = threading.Event()

    def writer() -> None:
        turn = 0
        while not stop.is_set():
            store.upsert(C, points(second if turn % 2 else first))
            turn += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        checked = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline or checked < 200:
            for request, hits in zip(searches(seed=checked), store.query(C, searches(seed=checked))):
                query = np.asarray(request.vector, dtype=np.float32)
                query /= np.linalg.norm(query)
                for hit in hits:
                    assert abs(float(query @ hit.vectors["emb"]) - hit.score) < 1e-4
                    checked += 1
    finally:
        stop.set()
        thread.join()


# -- a server killed mid-upsert ----------------------------------------------------------------------------------------

CRASH_DIM = 16
CRASH_DOCS = 1500


@contextlib.contextmanager
def crash_server(data_dir: Path, env: dict[str, str] | None = None,
                 key: str | None = None) -> Iterator[tuple[subprocess.Popen, httpx.Client]]:
    """`openpeek serve` (tests/live_server.py) with segment flushes and index builds held off, its process (to kill)
    and a client with its key."""
    processes: list[subprocess.Popen] = []
    with live_server(data_dir, env={"OPENPEEK_EDGE_FLUSH_INTERVAL_S": "3600", "OPENPEEK_EDGE_INDEX_THRESHOLD": "0",
                                    **(env or {})}, api_key=key, started=processes.append) as (base, found, _):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {found}"}, timeout=60) as client:
            yield processes[0], client


def upsert_body(seed: int, first: int, count: int) -> dict:
    values = np.random.default_rng(seed).standard_normal((count, CRASH_DIM))
    return {"documents": [{"document_id": f"doc-{first + i}", "vectors": {"emb": row.tolist()},
                           "payload": {"category": f"c{(first + i) % 5}"}} for i, row in enumerate(values)]}


def mmr_answers(client: httpx.Client, retriever_id: str) -> list:
    found = []
    for query in np.random.default_rng(5).standard_normal((6, CRASH_DIM)):
        response = client.post(f"/v1/retrievers/{retriever_id}/execute", headers={"X-Namespace": "crash"},
                               json={"inputs": {"query_vector": query.tolist()}})
        response.raise_for_status()
        body = response.json()
        assert body["stage_statistics"]["stages"]["diverse"]["metadata"]["diversity"] == ["emb"]
        found.append(body["documents"])
    assert all(len(documents) == 20 for documents in found)
    return found


def sidecar_state(data_dir: Path) -> dict:
    (state,) = data_dir.rglob(f"{edge_vectors.DIRECTORY}/{edge_vectors.STATE_FILE}")
    return json.loads(state.read_text())


def test_a_server_killed_mid_upsert_restarts_and_answers_mmr_like_a_store_without_a_sidecar(tmp_path):
    data_dir = tmp_path / "data"
    with crash_server(data_dir) as (process, client):
        key = client.headers["Authorization"].removeprefix("Bearer ")
        client.post("/v1/namespaces", json={
            "namespace_name": "crash",
            "vector_configs": [{"name": "emb", "dimension": CRASH_DIM, "metric": "cosine"}]}).raise_for_status()
        for first in range(0, CRASH_DOCS, 500):
            client.post("/v1/namespaces/crash/documents/upsert",
                        json=upsert_body(first, first, 500)).raise_for_status()
        created = client.post("/v1/retrievers", headers={"X-Namespace": "crash"}, json={
            "retriever_name": "diverse", "input_schema": {"query_vector": {"type": "array", "required": True}},
            "stages": [
                {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
                    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
                     "top_k": 100}], "final_top_k": 100}}},
                {"stage_name": "diverse", "config": {"stage_id": "mmr", "parameters": {"lambda": 0.5,
                                                                                          "top_k": 20}}}]})
        created.raise_for_status()
        retriever_id = created.json()["retriever_id"]
        mmr_answers(client, retriever_id)  # the sidecar opened, and used

        # Replace every vector, batch after batch, and kill the server while a batch is being written.
        acknowledged = []

        def writer() -> None:
            seed = 100
            with httpx.Client(base_url=str(client.base_url), headers=dict(client.headers), timeout=60) as own:
                while True:
                    first = (seed * 500) % CRASH_DOCS
                    try:
                        own.post("/v1/namespaces/crash/documents/upsert",
                                 json=upsert_body(seed, first, 500)).raise_for_status()
                    except httpx.HTTPError:
                        return
                    acknowledged.append(seed)
                    seed += 1

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        thread.join()
        process.wait()
        assert len(acknowledged) >= 3
    assert not sidecar_state(data_dir)["clean"]  # the crash left it marked as not matching the shard

    with crash_server(data_dir, key=key) as (_, client):
        while_rebuilding = mmr_answers(client, retriever_id)
        deadline = time.monotonic() + 120
        while not sidecar_state(data_dir)["clean"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sidecar_state(data_dir)["clean"]  # rebuilt from Edge
        from_the_sidecar = mmr_answers(client, retriever_id)

    with crash_server(data_dir, {"OPENPEEK_EDGE_VECTOR_SIDECAR": "false"}, key) as (_, client):
        without_a_sidecar = mmr_answers(client, retriever_id)
    assert while_rebuilding == without_a_sidecar
    assert from_the_sidecar == without_a_sidecar


def test_the_disk_says_dirty_before_edge_sees_a_write_and_clean_after_the_flush(tmp_path, monkeypatch):
    """The sidecar's own durability: the first write after a clean mark makes state.json dirty and fsyncs it before
    the shard is written; the shard's flush (here: every write, interval 0) syncs the sidecar, then marks it clean
    with the shard's files."""
    store = QdrantEdgeStore(tmp_path, flush_interval_s=0)
    try:
        store.create_collection(C, [VectorIndexSpec("emb", DIM, "cosine")])
        store.upsert(C, points(vectors(20, 1)))
        wait_ready(store)
        state = edge_vectors.directory_for(store._path(C)) / edge_vectors.STATE_FILE
        assert json.loads(state.read_text())["clean"]
        seen = []
        entry = edge_adapter._REGISTRY.shards[store._path(C)]

        class Watched:
            def __init__(self, real):
                self.real = real

            def update(self, operation):
                seen.append(json.loads(state.read_text())["clean"])  # what a crash at this point would leave
                return self.real.update(operation)

            def __getattr__(self, name):
                return getattr(self.real, name)

        monkeypatch.setattr(entry, "shard", Watched(entry.shard))
        store.upsert(C, points(vectors(20, 2)))
        assert seen == [False]
        described = json.loads(state.read_text())
        assert described["clean"] and described["shard_files"] == edge_vectors.shard_files(store._path(C))
    finally:
        store.close()


# -- an upsert's rows, computed from the vectors it wrote (adapters/qdrant/edge_rows.py) ------------------------------


def assert_rows_are_edges(store: QdrantEdgeStore, collection: str = C) -> None:
    """The sidecar holds a row for exactly the dense vectors Edge holds, each equal to Edge's bit for bit."""
    sidecar = sidecar_of(store, collection)
    assert sidecar is not None and sidecar.ready and not sidecar.needs_rebuild
    held, _ = store.scroll(collection, limit=100_000, with_vectors=True)
    for name, column in sidecar.columns.items():
        with_vector = [point for point in held if isinstance(point.vectors.get(name), list)]
        assert set(column.where) == {point.id for point in with_vector}
        positions, rows = sidecar.read([point.id for point in with_vector])[name]
        assert positions == list(range(len(with_vector)))
        expected = np.asarray([point.vectors[name] for point in with_vector], dtype=np.float32)
        assert rows.tobytes() == expected.reshape(rows.shape).tobytes()


def read_back_spy(monkeypatch) -> list[int]:
    """How many points each follow of a write read back from Edge."""
    counts: list[int] = []
    original = edge_adapter._point_vectors

    def spy(records, *args, **kwargs):
        counts.append(len(records))
        return original(records, *args, **kwargs)

    monkeypatch.setattr(edge_adapter, "_point_vectors", spy)
    return counts


def awkward_vectors(dimension: int, seed: int) -> list[list]:
    """Random vectors of every scale, and the ones a normalisation gets wrong first: integers, zero, already unit
    length, norms whose squares underflow or overflow float32, float32-subnormal and out-of-range values, -0.0."""
    rng = np.random.default_rng(seed)
    found = (rng.standard_normal((120, dimension)) * 10.0 ** rng.uniform(-3, 3, (120, 1))).tolist()
    found += rng.integers(-50, 50, (20, dimension)).tolist()  # Python ints
    found += [[0] * dimension, [0.0] * dimension, [-0.0] + [0.0] * (dimension - 1)]
    unit = rng.standard_normal((10, dimension)).astype(np.float32)
    found += (unit / np.linalg.norm(unit, axis=1, keepdims=True)).tolist()  # within 1e-6 of length 1: kept as is
    for scale in (1e-25, 1e-21, 1e-20, 1e-19, 1e-18, 1e17, 1e18, 1e19, 1e20):
        found += (rng.standard_normal((3, dimension)) * scale).tolist()
    mixed = rng.standard_normal((4, dimension))
    mixed[:, ::2] = 1e-40  # float32 subnormals beside ordinary values
    found += mixed.tolist()
    found += [[1e39] + [1.0] * (dimension - 1)]  # past float32's range: infinite once cast
    return found


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_upserted_rows_are_edges_bit_for_bit_for_each_metric_and_dimension(tmp_path, monkeypatch, metric):
    """Dimensions that take each of Edge's kernels: scalar (< 16), SSE (16-31), AVX with FMA (≥ 32, with and without
    values after the last block of 32)."""
    store = QdrantEdgeStore(tmp_path, index_threshold=None)
    try:
        for dimension in (3, 12, 16, 20, 32, 40, 384):
            collection = f"rows_{metric}_{dimension}"
            store.create_collection(collection, [VectorIndexSpec("emb", dimension, metric)])
            store.upsert(collection, [VectorPoint("first", {"emb": [1.0] * dimension})])
            wait_ready(store, collection)  # opened by that write; every write below is followed, never rebuilt
            read_back = read_back_spy(monkeypatch)
            written = awkward_vectors(dimension, seed=dimension)
            store.upsert(collection, [VectorPoint(f"doc-{i}", {"emb": v}) for i, v in enumerate(written)])
            store.upsert(collection, [VectorPoint(f"doc-{i}", {"emb": v})  # replaced
                                      for i, v in enumerate(awkward_vectors(dimension, seed=dimension + 1)[:50])])
            assert_rows_are_edges(store, collection)
            assert sidecar_of(store, collection).computed_rows
            assert sum(read_back) < len(written) // 2  # a sample and the rows it could not vouch for, not the lot
            monkeypatch.undo()
    finally:
        store.close()


def test_a_failed_update_leaves_the_sidecar_as_edge_holds_it(store, monkeypatch):
    """Nothing applied, or half the points applied, before Edge raised: the sidecar reads back what Edge holds."""
    store.upsert(C, points(vectors(40, 1)))
    wait_ready(store)
    entry = edge_adapter._REGISTRY.shards[store._path(C)]
    replacements = points(vectors(40, 2), group="b")

    class Failing:
        def __init__(self, real, applied):
            self.real, self.applied = real, applied

        def update(self, operation):
            if self.applied:
                self.real.update(qe.UpdateOperation.upsert_points([
                    qe.Point(point_id(p.id), {"emb": p.vectors["emb"]}, stored_payload(p)) for p in self.applied]))
            raise Exception("Service internal error: the disk went away")

        def __getattr__(self, name):
            return getattr(self.real, name)

    for applied in ([], replacements[:20]):
        monkeypatch.setattr(entry, "shard", Failing(entry.shard, applied))
        with pytest.raises(DependencyUnavailable):
            store.upsert(C, replacements)
        monkeypatch.undo()
        assert_rows_are_edges(store)
        assert sidecar_of(store).computed_rows  # read back at once, not taken for rows computed wrong
    held = {p.id: p.vectors["emb"] for p in store.retrieve(C, ["doc-0", "doc-39"], with_vectors=True)}
    sidecar = sidecar_of(store)
    assert sidecar.read(["doc-0"])["emb"][1].tolist()[0] == held["doc-0"]  # replaced by the half applied
    assert sidecar.read(["doc-39"])["emb"][1].tolist()[0] == held["doc-39"]  # still the first vector


def test_computed_rows_that_differ_from_edges_are_not_kept_nor_computed_again(store, monkeypatch, caplog):
    store.upsert(C, points(vectors(10, 1)))
    wait_ready(store)
    original = edge_adapter.edge_rows.stored_rows

    def off_by_one_bit(values, metric, *args):
        rows, unsure = original(values, metric, *args)
        rows = rows.copy()
        rows.view(np.int32)[0, 0] ^= 1  # the first point's: one of those compared with Edge
        return rows, unsure

    monkeypatch.setattr(edge_adapter.edge_rows, "stored_rows", off_by_one_bit)
    read_back = read_back_spy(monkeypatch)
    with caplog.at_level("WARNING", logger=edge_adapter.__name__):
        store.upsert(C, points(vectors(100, 2)))
    assert_rows_are_edges(store)
    assert not sidecar_of(store).computed_rows
    assert "differ from Edge's" in caplog.text
    read_back.clear()
    store.upsert(C, points(vectors(100, 3)))
    assert read_back == [100]  # every point read back from now on
    assert_rows_are_edges(store)


def test_rows_it_cannot_vouch_for_are_read_from_edge(store, monkeypatch):
    store.upsert(C, points(vectors(10, 1)))
    wait_ready(store)
    original = edge_adapter.edge_rows.stored_rows

    def wrong_but_unsure(values, metric, *args):
        rows, unsure = original(values, metric, *args)
        rows, unsure = rows.copy(), unsure.copy()
        rows[5] = 42.0  # not among the rows compared with Edge (first, last, evenly between)
        unsure[5] = True
        return rows, unsure

    monkeypatch.setattr(edge_adapter.edge_rows, "stored_rows", wrong_but_unsure)
    store.upsert(C, points(vectors(100, 2)))
    assert_rows_are_edges(store)
    assert sidecar_of(store).computed_rows


def test_upserts_the_computation_does_not_cover_read_their_rows_back(tmp_path):
    """A batch naming a document twice (Edge keeps the last), a point without one of the dense vectors, sparse
    vectors beside dense ones: the sidecar still holds Edge's rows."""
    store = QdrantEdgeStore(tmp_path)
    try:
        store.create_collection(C, [VectorIndexSpec("emb", DIM, "cosine"), VectorIndexSpec("title", 40, "dot"),
                                    VectorIndexSpec("splade", 0, sparse=True)])
        base, titles = vectors(30, 1), np.random.default_rng(2).standard_normal((30, 40))
        store.upsert(C, [VectorPoint(f"doc-{i}", {"emb": base[i].tolist(), "title": titles[i].tolist(),
                                                  "splade": SparseVector((i, 7), (0.5, 1.0))}) for i in range(30)])
        wait_ready(store)
        assert_rows_are_edges(store)  # dense and sparse together: computed
        store.upsert(C, [VectorPoint("doc-1", {"emb": base[2].tolist(), "title": titles[2].tolist()}),
                         VectorPoint("doc-1", {"emb": base[3].tolist(), "title": titles[3].tolist()})])
        store.upsert(C, [VectorPoint("doc-4", {"emb": base[5].tolist()})])  # loses its title vector
        assert_rows_are_edges(store)
        assert sidecar_of(store).read(["doc-1"])["emb"][1].tobytes() == \
            sidecar_of(store).read(["doc-3"])["emb"][1].tobytes()
        assert "doc-4" not in sidecar_of(store).columns["title"].where
        assert sidecar_of(store).computed_rows
    finally:
        store.close()


def test_an_upsert_names_each_point_once(store, monkeypatch):
    store.upsert(C, points(vectors(10, 1)))
    wait_ready(store)
    named = []
    original = edge_adapter.point_id
    monkeypatch.setattr(edge_adapter, "point_id", lambda document_id: (named.append(document_id),
                                                                        original(document_id))[1])
    store.upsert(C, points(vectors(100, 2)))
    assert len(named) == 100


def test_a_new_collection_s_sidecar_follows_its_first_write_without_a_rebuild(store, monkeypatch):
    rebuilds = []
    monkeypatch.setattr(QdrantEdgeStore, "_rebuild_sidecar_later", lambda self, path, sidecar: rebuilds.append(path))
    store.upsert(C, points(vectors(50, 1)))
    assert not rebuilds
    assert_rows_are_edges(store)
    assert_same_as_edge(store._root, store)
