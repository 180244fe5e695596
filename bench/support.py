"""What the benchmarks share: percentiles, and a live `openpeek serve` on a free port with a fresh data dir."""

from __future__ import annotations

import os
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


@contextmanager
def live_server(data_dir: Path) -> Iterator[httpx.Client]:
    """`openpeek serve` as a user runs it; yields an HTTP client authenticated with the first-run key."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    key = None
    for _ in range(50):
        line = process.stdout.readline()
        key = key or next((word for word in line.split() if word.startswith("sk_")), None)
        if "serving on" in line or not line:
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
        process.terminate()
        process.wait(timeout=30)
