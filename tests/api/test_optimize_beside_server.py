"""`openpeek optimize` beside a running `openpeek serve`: the command asks the server to build (the server holds the
collections open) and reports the build's progress; the server keeps answering, the namespace's stats show the index
and its int8 quantization; with the server stopped, the command builds in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from tests.api.conftest import free_port

DIMENSION = 384  # 1.5 KiB a vector: the 1,200 points fill a segment past Edge's indexing threshold (1,000 KiB)
POINTS = 1200


def openpeek(*args: str, data_dir, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openpeek.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def running_server(tmp_path):
    """`openpeek serve` that builds indexes only when asked, quantizing from 1,000 points."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENPEEK_EDGE_INDEX_THRESHOLD": "0",
           "OPENPEEK_EDGE_QUANTIZATION_THRESHOLD": "1000", "OPENPEEK_LOCAL_INFERENCE": "false"}
    process = subprocess.Popen([sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir",
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    key = None
    deadline = time.monotonic() + 90
    while key is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        key = next((word for word in line.split() if word.startswith("sk_")), None)
    assert key, "serve printed no key"
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=60)
    while time.monotonic() < deadline:
        try:
            client.get("/v1/health")
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield client, process, tmp_path
    client.close()
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def index_status(client) -> dict:
    response = client.get("/v1/namespaces/bench-optimize")
    response.raise_for_status()
    return response.json()["qdrant_status"]


def test_optimize_asks_the_running_server_then_builds_itself_once_it_stopped(running_server):
    client, process, data_dir = running_server
    client.post("/v1/namespaces", json={
        "namespace_name": "bench-optimize", "mode": "standalone",
        "vector_configs": [{"name": "emb", "dimension": DIMENSION, "metric": "cosine"}],
    }).raise_for_status()
    vectors = np.random.default_rng(3).normal(size=(POINTS, DIMENSION)).astype(np.float32)
    for start in range(0, POINTS, 400):
        documents = [{"document_id": f"doc-{i}", "vectors": {"emb": vectors[i].tolist()}}
                     for i in range(start, start + 400)]
        client.post("/v1/namespaces/bench-optimize/documents/upsert",
                    json={"documents": documents}).raise_for_status()
    before = index_status(client)
    assert before["indexed_vectors_count"] == 0
    assert (before["index"]["state"], before["index"]["builds"], before["index"]["quantization"]) == ("idle", 0, None)

    done = openpeek("optimize", data_dir=data_dir)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "a server is running" in done.stdout and "asked it to build every collection" in done.stdout
    assert "building (the server keeps answering)" in done.stdout
    assert f"of {POINTS} vectors indexed in" in done.stdout and "int8 quantized" in done.stdout
    after = index_status(client)
    assert after["points_count"] == POINTS and after["indexed_vectors_count"] >= 1000
    assert (after["index"]["state"], after["index"]["builds"], after["index"]["quantization"]) == ("idle", 1, "int8")
    assert after["index"]["last_error"] is None and after["index"]["last_build_s"] > 0
    # The swap's whole time, and the part of it writes waited for (reads never do).
    assert 0 < after["index"]["last_swap_blocked_s"] <= after["index"]["last_swap_s"] <= after["index"]["last_build_s"]
    # The server still answers and still writes, on the swapped-in shard.
    client.post("/v1/namespaces/bench-optimize/documents/upsert", json={"documents": [
        {"document_id": "doc-late", "vectors": {"emb": vectors[0].tolist()}}]}).raise_for_status()
    assert index_status(client)["points_count"] == POINTS + 1

    missing = openpeek("optimize", "--collection", "no_such_collection", data_dir=data_dir)
    assert missing.returncode == 1 and "no collection 'no_such_collection'" in missing.stderr

    process.terminate()
    process.wait(timeout=30)
    stopped = openpeek("optimize", data_dir=data_dir)
    assert stopped.returncode == 0, stdout_and_err(stopped)
    assert "a server is running" not in stopped.stdout
    assert f"of {POINTS + 1} vectors indexed in" in stopped.stdout and "int8 quantized" in stopped.stdout


def stdout_and_err(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr
