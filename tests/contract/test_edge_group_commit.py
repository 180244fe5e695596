"""Qdrant Edge with group commit (OPENPEEK_EDGE_FLUSH_INTERVAL_S > 0): a write that returned survives the process
being killed before any flush (Edge's WAL holds it and is replayed on load); and the flusher does flush in the end."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.ports import DatetimeRange, Filter, MatchValue, PayloadIndexSpec, VectorIndexSpec, VectorPoint

WRITER = textwrap.dedent("""
    import os, signal, sys
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore
    from openpeek.ports import PayloadIndexSpec, VectorIndexSpec, VectorPoint
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
