"""Killing the embedded worker mid-batch (kill -9 of `openpeek serve`) loses no acknowledged object and writes no
duplicate document: the restarted server resumes the batch from its last checkpoint and finishes it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

OBJECTS = 700  # several groups of 128: the kill lands after the first checkpoint, before the end
WORDS = ["river", "mountain", "forest", "desert", "ocean", "valley", "glacier", "meadow", "canyon", "island"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir",
                             str(data_dir)], stdout=log.open("a"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_healthy(base: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited"
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become healthy")


def test_kill_minus_nine_mid_batch_resumes_without_loss_or_duplicates(tmp_path):
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = serve(data_dir, port, log)
    try:
        wait_healthy(base, first)
        key = re.search(r"\b(sk_[A-Za-z0-9_-]{20,})", log.read_text()).group(1)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}", "X-Namespace": "durable"},
                           timeout=60)
        assert api.post("/v1/namespaces", json={"namespace_name": "durable"}).status_code == 200
        assert api.post("/v1/buckets", json={"bucket_name": "notes", "bucket_schema": {
            "properties": {"body": {"type": "text"}}}}).status_code == 200
        created = api.post("/v1/collections", json={
            "collection_name": "notes", "source": {"type": "bucket", "bucket_ids": ["notes"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "input_mappings": {"text": "body"}}})
        assert created.status_code == 200, created.text
        collection_id = created.json()["collection_id"]
        object_ids = []
        for start in range(0, OBJECTS, 100):
            page = api.post("/v1/buckets/notes/objects/batch", json={"objects": [
                {"blobs": [{"property": "body", "type": "text",
                            "data": f"Note {n}: a walk by the {WORDS[n % 10]} and the {WORDS[(n // 10) % 10]}."}]}
                for n in range(start, start + 100)]})
            assert page.status_code == 200, page.text
            object_ids += [entry["object_id"] for entry in page.json()["succeeded"]]
        batch = api.post("/v1/buckets/notes/batches?auto_submit=true", json={"object_ids": object_ids}).json()

        # Kill the server as soon as the batch has acknowledged a first group of objects, well before its end.
        deadline = time.monotonic() + 120
        acknowledged = 0
        while time.monotonic() < deadline:
            state = api.get(f"/v1/buckets/notes/batches/{batch['batch_id']}").json()
            acknowledged = (state.get("progress") or {}).get("processed") or 0
            if acknowledged:
                break
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert 0 < acknowledged < OBJECTS, f"the batch was not caught mid-way ({acknowledged} processed)"
    finally:
        if first.poll() is None:
            first.kill()

    second = serve(data_dir, port, log)
    try:
        wait_healthy(base, second)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = api.get(f"/v1/buckets/notes/batches/{batch['batch_id']}").json()
            if state["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"):
                break
            time.sleep(0.5)
        assert state["status"] == "COMPLETED", state.get("failure_reason")
        assert state["documents_resolvable"] is True
        assert state["documents_written"] == OBJECTS
        assert "resumed" in " ".join(entry["message"] for entry in
                                     api.get(f"/v1/buckets/notes/batches/{batch['batch_id']}/logs").json()["logs"])
        # One document per object, no more: the re-run group overwrote the same document ids.
        count = api.get(f"/v1/collections/{collection_id}/documents/count").json()["count"]
        assert count == OBJECTS
        listed = api.post("/v1/buckets/notes/objects/list", json={}, params={"limit": 1000}).json()
        assert all(obj["status"] == "COMPLETED" for obj in listed["results"])
    finally:
        second.terminate()
        second.wait(20)
