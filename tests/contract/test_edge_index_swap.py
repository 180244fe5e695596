"""The swap that ends an index build (adapters/qdrant/edge_index.py): the journal is replayed onto the built shard
while the live one answers, so reads never wait for it and writes wait only for the journal's tail; writes racing
every step of it are kept, and a process killed at any step leaves a data dir that opens with every acknowledged
write. The replay is paused from the tests through edge_index._replay, so nothing here depends on timing; the thread
joins' timeouts only turn a deadlock into a failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from openpeek.adapters.qdrant import edge, edge_index
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.domain.vectors import SearchRequest, VectorIndexSpec, VectorPoint
from tests.contract.test_edge_index import optimize_while

DIMENSION = 16
DEADLOCK_GUARD_S = 60


@pytest.fixture(autouse=True)
def small_segments_are_indexed(monkeypatch):
    monkeypatch.setattr(edge_index, "INDEXING_THRESHOLD_KB", 10)  # a few hundred 16-d points get their graph


@pytest.fixture(params=["descriptors", "paths"])
def directories(request, monkeypatch):
    """`descriptors`: shards loaded through /proc/self/fd (Linux); `paths`: a system without it, where the swap
    reloads the built shard with every call held off."""
    if request.param == "paths":
        monkeypatch.setattr(edge_index, "PROC_FD", Path("/nonexistent-proc-fd"))
    return request.param


def points(start: int, count: int) -> list[VectorPoint]:
    vectors = np.random.default_rng(start).normal(size=(count, DIMENSION)).astype(np.float32)
    return [VectorPoint(id=f"d{start + i}", vectors={"emb": vectors[i].tolist()}, payload={"n": start + i})
            for i in range(count)]


def make_store(root: Path) -> QdrantEdgeStore:
    store = QdrantEdgeStore(root, index_threshold=None)
    store.create_collection("ns", [VectorIndexSpec("emb", DIMENSION)])
    store.upsert("ns", points(0, 2000))
    return store


def nearest(store: QdrantEdgeStore, point: VectorPoint) -> tuple[str, float]:
    (hits,) = store.query("ns", [SearchRequest("emb", point.vectors["emb"], limit=1)])
    return hits[0].id, hits[0].score


def in_thread(call) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


class WaitersSeen:
    """A shard's write lock, recording the threads that asked for it."""

    def __init__(self, lock) -> None:
        self.lock = lock
        self.waiters: list[threading.Thread] = []

    def __enter__(self):
        self.waiters.append(threading.current_thread())
        return self.lock.__enter__()

    def __exit__(self, *failure):
        return self.lock.__exit__(*failure)


def writes_after_the_build(monkeypatch, write) -> None:
    """Run `write` when the child has built the copy: what it writes is journaled, replayed at the swap."""
    real_optimize = edge_index._optimize_in_child

    def build_then_write(copy, config):
        real_optimize(copy, config)
        write()

    monkeypatch.setattr(edge_index, "_optimize_in_child", build_then_write)


def test_reads_are_answered_while_the_journal_is_replayed_and_while_its_tail_is(tmp_path, monkeypatch):
    store = make_store(tmp_path / "vectors")
    journaled = points(10_000, 600)
    writes_after_the_build(monkeypatch, lambda: [store.upsert("ns", journaled[i:i + 50]) for i in range(0, 600, 50)])
    real_replay = edge_index._replay
    seen: dict[str, tuple] = {}

    def replay_after_a_query(shard, operations, *, tail):
        phase = "tail" if tail else "catch-up"
        if phase not in seen:
            query, answer = in_thread(lambda: nearest(store, journaled[-1]))
            query.join(DEADLOCK_GUARD_S)
            seen[phase] = (query.is_alive(), answer, store.index_state("ns")["builds"], len(operations))
        real_replay(shard, operations, tail=tail)

    monkeypatch.setattr(edge_index, "_replay", replay_after_a_query)

    store.optimize("ns")

    waiting, answer, builds, operations = seen["catch-up"]
    assert not waiting and builds == 0 and operations == 12  # answered during the replay, before the swap
    assert answer[0][0] == "d10599" and answer[0][1] == pytest.approx(1.0, abs=1e-5)  # by the live shard
    waiting, answer, builds, operations = seen["tail"]
    assert not waiting and builds == 0 and answer[0][0] == "d10599"  # writes held, reads still answered
    assert operations == 0  # no write came after the catch-up
    state = store.index_state("ns")
    assert state["builds"] == 1 and state["last_error"] is None
    assert 0 < state["last_swap_blocked_s"] <= state["last_swap_s"] <= state["last_build_s"]
    assert nearest(store, journaled[-1])[0] == "d10599" and store.count("ns") == 2600
    assert store.info("ns").indexed_vectors_count >= 1500
    store.close()


def test_writes_racing_every_step_of_the_swap_are_all_kept(tmp_path, monkeypatch, directories):
    store = make_store(tmp_path / "vectors")
    written: list[str] = []
    stop = threading.Event()

    def writer():
        start = 100_000
        while not stop.is_set():
            batch = points(start, 10)
            store.upsert("ns", batch)
            written.extend(p.id for p in batch)
            start += 10

    def wait_for_the_journal_to_grow() -> None:
        """Until the build's journal holds a write more than now (counted there, not in `written`: the writer
        may be preempted between its upsert returning and its recording it)."""
        journal = edge._REGISTRY.shards[(tmp_path / "vectors" / "ns").resolve()].shard.journal
        than = len(journal)
        deadline = time.monotonic() + DEADLOCK_GUARD_S
        while len(journal) <= than and time.monotonic() < deadline:
            time.sleep(0.001)

    real_replay = edge_index._replay
    tails: list[int] = []
    held: list[str] = []
    late_writers: list[threading.Thread] = []

    def replay_while_writes_arrive(shard, operations, *, tail):
        if not tail:
            wait_for_the_journal_to_grow()  # every catch-up round leaves new writes for the next, and the tail
        else:
            tails.append(len(operations))
            if directories == "descriptors":
                # A write that arrives now waits for the swap on the old shard's entry, then goes to the new one.
                entry = edge._REGISTRY.shards[(tmp_path / "vectors" / "ns").resolve()]
                entry.write_lock = WaitersSeen(entry.write_lock)  # this swap holds the lock inside
                late = points(900_000, 5)
                thread, _ = in_thread(lambda: store.upsert("ns", late))
                deadline = time.monotonic() + DEADLOCK_GUARD_S
                while thread not in entry.write_lock.waiters and time.monotonic() < deadline:
                    time.sleep(0.001)
                assert thread in entry.write_lock.waiters
                held.extend(p.id for p in late)
                late_writers.append(thread)
        real_replay(shard, operations, tail=tail)

    monkeypatch.setattr(edge_index, "_replay", replay_while_writes_arrive)
    writes_after_the_build(monkeypatch, wait_for_the_journal_to_grow)  # the catch-up has something to replay
    optimize_while(store, "ns", writer, stop)
    for late in late_writers:
        late.join(DEADLOCK_GUARD_S)
        assert not late.is_alive()
    store.upsert("ns", points(500_000, 10))  # and after the swap

    assert tails and tails[0] > 0  # the tail held writes that arrived during the catch-up's last round
    assert len(held) == (5 if directories == "descriptors" else 0)
    expected = {f"d{i}" for i in range(2000)} | set(written) | set(held) | {f"d{500_000 + i}" for i in range(10)}
    assert store.count("ns") == len(expected)
    assert {p.id for p in store.retrieve("ns", sorted(expected))} == expected
    state = store.index_state("ns")
    assert state["builds"] == 1 and state["last_error"] is None and state["last_swap_blocked_s"] > 0
    assert store.info("ns").indexed_vectors_count >= 1500
    root = tmp_path / "vectors"
    assert not [p for p in root.iterdir() if p.name.startswith((".optimizing-", ".retired-"))]
    store.close()
    reopened = QdrantEdgeStore(root, index_threshold=None)
    assert reopened.count("ns") == len(expected)
    assert {p.id for p in reopened.retrieve("ns", sorted(expected))} == expected
    reopened.close()


def test_a_dropped_collection_stops_the_swap_and_leaves_no_scratch(tmp_path, monkeypatch):
    store = make_store(tmp_path / "vectors")
    real_replay = edge_index._replay

    def drop_during_the_catch_up(shard, operations, *, tail):
        if not tail:
            store.drop_collection("ns")
        real_replay(shard, operations, tail=tail)

    writes_after_the_build(monkeypatch, lambda: store.upsert("ns", points(10_000, 10)))
    monkeypatch.setattr(edge_index, "_replay", drop_during_the_catch_up)

    with pytest.raises(edge_index.IndexBuildFailed, match="closed or dropped"):
        store.optimize("ns")

    assert not store.collection_exists("ns")
    assert [p.name for p in (tmp_path / "vectors").iterdir()] == []
    store.close()


KILLED = """
import sys, threading, time
import numpy as np
from openpeek.adapters.qdrant import edge_index
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.domain.vectors import VectorIndexSpec, VectorPoint

root, kill_point = sys.argv[1], sys.argv[2]
edge_index.INDEXING_THRESHOLD_KB = 10
store = QdrantEdgeStore(root, index_threshold=None)
store.create_collection("ns", [VectorIndexSpec("emb", 16)])
written = [0]

def write(count):
    start = 10_000 + written[0]
    vectors = np.random.default_rng(start).normal(size=(count, 16)).tolist()
    store.upsert("ns", [VectorPoint(f"d{start + i}", {"emb": vectors[i]}, {"n": start + i}) for i in range(count)])
    written[0] += count
    print("acknowledged", *[f"d{start + i}" for i in range(count)], flush=True)

def killed_here():
    print("kill me", flush=True)
    time.sleep(600)

vectors = np.random.default_rng(0).normal(size=(1000, 16)).tolist()
store.upsert("ns", [VectorPoint(f"d{i}", {"emb": vectors[i]}, {"n": i}) for i in range(1000)])
print("acknowledged", *[f"d{i}" for i in range(1000)], flush=True)

real_optimize, real_replay, real_rename = edge_index._optimize_in_child, edge_index._replay, edge_index._rename_into_place

def build_then_write(copy, config):
    real_optimize(copy, config)
    write(40)

def replay(shard, operations, *, tail):
    if not tail:
        # Each catch-up round, a write from another thread: journaled while the replay runs, so the tail has some.
        writer = threading.Thread(target=write, args=(10,))
        writer.start()
        writer.join()
        real_replay(shard, operations[: len(operations) // 2], tail=tail)
        if kill_point == "catch-up":
            killed_here()
        real_replay(shard, operations[len(operations) // 2:], tail=tail)
        return
    real_replay(shard, operations[: len(operations) // 2], tail=tail)
    if kill_point == "tail":
        killed_here()
    real_replay(shard, operations[len(operations) // 2:], tail=tail)

def rename_into_place(path, copy):
    retired = real_rename(path, copy)
    if kill_point == "renamed":
        killed_here()
    return retired

edge_index._optimize_in_child, edge_index._replay, edge_index._rename_into_place = (
    build_then_write, replay, rename_into_place)
store.optimize("ns")
write(30)  # to the built shard, swapped in
killed_here()
"""


@pytest.mark.parametrize("kill_point", ["catch-up", "tail", "renamed", "swapped"])
def test_a_process_killed_at_any_step_of_the_swap_leaves_every_acknowledged_write(tmp_path, kill_point):
    root = tmp_path / "vectors"
    process = subprocess.Popen([sys.executable, "-c", KILLED, str(root), kill_point], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acknowledged: list[str] = []
    try:
        for line in process.stdout:
            if line.startswith("acknowledged"):
                acknowledged += line.split()[1:]
            elif line.startswith("kill me"):
                break
        else:
            pytest.fail(f"the writer ended before its kill point: {process.stderr.read()[-2000:]}")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(DEADLOCK_GUARD_S)

    assert len(acknowledged) >= 1050  # the initial points and writes racing the build, at least
    reopened = QdrantEdgeStore(root, index_threshold=None)
    assert reopened.count("ns") == len(acknowledged)
    assert {p.id for p in reopened.retrieve("ns", acknowledged)} == set(acknowledged)
    assert sorted(p.name for p in root.iterdir()) == ["ns"]  # scratch and a retired shard cleared or put back
    if kill_point in ("renamed", "swapped"):
        assert reopened.info("ns").indexed_vectors_count >= 500  # the built shard is the collection
    reopened.close()
