"""Durability of writes to Qdrant Edge (adapters/qdrant/edge.py, "Durability"): a write that returned survives the
process being killed before any flush (Edge's WAL holds it and is replayed on load); every write fsyncs the WAL before
it returns, so a power loss cannot take it either; the segments are flushed in the background within the interval,
or on every write with an interval of 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.domain.conditions import DatetimeRange, Filter, MatchValue
from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint

WRITER = textwrap.dedent("""
    import os, signal, sys
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint
    store = QdrantEdgeStore(sys.argv[1], flush_interval_s=3600)  # nothing but the WAL holds the writes
    store.create_collection("ns_kill", [VectorIndexSpec("emb", 4, "cosine")],
                            [PayloadIndexSpec("namespace_id", "keyword"), PayloadIndexSpec("created_at", "datetime")])
    for b in range(3):
        store.upsert("ns_kill", [VectorPoint(f"doc-{b}-{i}", {"emb": [1.0, i / 500, b / 3, 0.5]},
                                             {"namespace_id": "ns_kill", "created_at": "2025-01-01T00:00:00Z",
                                              "n": b * 500 + i}) for i in range(500)])
    print("acknowledged", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_acknowledged_writes_survive_a_killed_process_without_a_flush(tmp_path):
    result = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True)
    assert "acknowledged" in result.stdout and result.returncode == -signal.SIGKILL, result.stderr

    store = QdrantEdgeStore(tmp_path)
    try:
        assert store.count("ns_kill") == 1500
        assert store.count("ns_kill", Filter(must=(MatchValue("namespace_id", "ns_kill"),))) == 1500
        assert store.count("ns_kill", Filter(must=(DatetimeRange("created_at", gte="2024-01-01T00:00:00Z"),))) == 1500
        (last,) = store.retrieve("ns_kill", ["doc-2-499"])
        assert last.payload["n"] == 1499
    finally:
        store.close()


def test_the_flusher_flushes_written_shards_within_the_interval(tmp_path):
    from openpeek.adapters.qdrant import edge

    store = QdrantEdgeStore(tmp_path, flush_interval_s=0.05)
    store.create_collection("c", [VectorIndexSpec("emb", 2, "cosine")], [PayloadIndexSpec("k", "keyword")])
    store.upsert("c", [VectorPoint("a", {"emb": [1.0, 0.0]}, {"k": "x"})])
    entries = [e for e in edge._REGISTRY.shards.values() if str(tmp_path) in str(getattr(e, "path", ""))] or \
        list(edge._REGISTRY.shards.values())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(e.dirty_since is not None for e in entries):
        time.sleep(0.02)
    assert all(e.dirty_since is None for e in entries)
    store.close()


def _fsynced_paths(monkeypatch) -> list[str]:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return synced


def _entry(tmp_path):
    from openpeek.adapters.qdrant import edge

    return next(e for path, e in edge._REGISTRY.shards.items() if str(path).startswith(str(tmp_path.resolve())))


def test_every_write_fsyncs_the_wal_before_returning_and_defers_the_segments(tmp_path, monkeypatch):
    # The default policy, on Edge's files alone: the vector sidecar's own syncs are tested with it
    # (tests/contract/test_edge_vector_sidecar.py).
    store = QdrantEdgeStore(tmp_path, vector_sidecar=False)
    try:
        store.create_collection("c", [VectorIndexSpec("emb", 2, "cosine")], [PayloadIndexSpec("k", "keyword")])
        synced = _fsynced_paths(monkeypatch)
        store.upsert("c", [VectorPoint("a", {"emb": [1.0, 0.0]}, {"k": "x"})])
        wal = tmp_path.resolve() / "c" / "wal"
        assert sorted(str(wal / name) for name in os.listdir(wal)) == sorted(p for p in synced if p != str(wal))
        assert str(wal) in synced  # the directory too: segments the write created must not vanish on power loss
        assert _entry(tmp_path).dirty_since is not None  # the segments wait for the background flush
    finally:
        store.close()


def test_an_interval_of_zero_flushes_the_segments_on_every_write(tmp_path, monkeypatch):
    store = QdrantEdgeStore(tmp_path, flush_interval_s=0, vector_sidecar=False)  # Edge's files alone (see above)
    try:
        store.create_collection("c", [VectorIndexSpec("emb", 2, "cosine")])
        synced = _fsynced_paths(monkeypatch)
        store.upsert("c", [VectorPoint("a", {"emb": [1.0, 0.0]}, {})])
        assert _entry(tmp_path).dirty_since is None
        assert synced == []  # Edge's own flush did the syncing, not the WAL path
    finally:
        store.close()


def test_a_shard_without_a_wal_directory_is_not_reported_synced(tmp_path):
    from openpeek.adapters.qdrant.edge import _OpenShard, sync_wal

    assert sync_wal(_OpenShard(shard=None, path=tmp_path)) is False  # the caller then flushes the whole shard
    assert sync_wal(_OpenShard(shard=None)) is False
