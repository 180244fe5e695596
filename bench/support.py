"""What the benchmarks share: percentiles, and a live `openpeek serve` on a free port with a fresh data dir."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx


def percentiles(samples: list[float]) -> dict:
    """p50/p99/mean in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.50), 3), "p99_ms": round(pick(0.99), 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3), "calls": len(ordered)}


def timed(call: Callable[[], object], calls: int, warmup: int = 50) -> dict:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


WARM_UP_TIMEOUT_S = 180


@contextmanager
def live_server(data_dir: Path, *, functions: str | None = None, profile: str | None = None,
                extra_env: dict[str, str] | None = None, api_key: str | None = None,
                started: Callable[[subprocess.Popen], None] | None = None) -> Iterator[httpx.Client]:
    """`openpeek serve` as a user runs it; yields an HTTP client authenticated with the first-run key once the server
    says its warm-up (local model, clustering engine) has finished: before that, the warm-up threads compete with the
    requests being measured. `functions` puts another code version first on the server's path (bench/upsert_profile);
    `profile` runs the server under cProfile, written when it stops. `api_key`: a key of the data dir's organisation,
    for a restart (only the first run prints one). `started` is handed the server's process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-o", profile]
    command += ["-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if functions:
        env["PYTHONPATH"] = functions
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if started is not None:
        started(process)  # e.g. bench/edge_index.py reads the server's resident memory from /proc/<pid>
    key = api_key
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        key = key or next((word for word in line.split() if word.startswith("sk_")), None)
        if "warm-up finished" in line or not line:
            break
    if key is None:
        process.terminate()
        raise RuntimeError("openpeek serve printed no first-run key")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=120) as client:
            for _ in range(200):
                try:
                    client.get("/v1/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield client
    finally:
        # SIGINT, not SIGTERM: uvicorn shuts down and returns, so cProfile gets to write its file.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ranked_books_namespace(client: httpx.Client, namespace: str) -> str:
    """The tiering benchmarks' namespace (tiering off: nothing moves unless the bench moves it) with a `books` bucket
    of a text `body` and an integer `rank`; the client now sends X-Namespace. The client's API key."""
    client.post("/v1/namespaces", json={"namespace_name": namespace,
                                        "tiering": {"enabled": False}}).raise_for_status()
    client.headers["X-Namespace"] = namespace
    client.post("/v1/buckets", json={"bucket_name": "books", "bucket_schema": {"properties": {
        "body": {"type": "text"}, "rank": {"type": "integer"}}}}).raise_for_status()
    return client.headers["Authorization"].split()[-1]


def ranked_books_collection(client: httpx.Client, name: str) -> str:
    """A collection of the `books` bucket (text_extractor, `rank` passed through); its id."""
    created = client.post("/v1/collections", json={
        "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "rank"}]}})
    created.raise_for_status()
    return created.json()["collection_id"]
