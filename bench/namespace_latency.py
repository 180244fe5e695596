"""GET namespace latency on the embedded runtime: in process and over HTTP, p50/p99 over 1,000 calls.

Baselines in the same run: the service call alone (no HTTP), and GET /v1/health (the HTTP stack with no auth and no
storage), so the numbers separate framework cost from openpeek's own."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings

CALLS = 1000
WARMUP = 50


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.50), 3), "p99_ms": round(pick(0.99), 3),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3), "calls": len(ordered)}


def timed(call, calls: int = CALLS) -> dict:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def in_process(data_dir: Path) -> dict:
    services = build_services(Settings(runtime="embedded", data_dir=data_dir))
    org = services.organizations.ensure_org("bench")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    principal = services.organizations.authenticate(f"Bearer {key}")
    services.namespaces.create(principal, {"namespace_name": "bench-ns"})
    client = TestClient(create_app(services))
    headers = {"Authorization": f"Bearer {key}"}
    results = {
        "service call (namespaces.get)": timed(lambda: services.namespaces.get(principal, "bench-ns")),
        "in-process ASGI GET /v1/health (baseline)": timed(lambda: client.get("/v1/health")),
        "in-process ASGI GET /v1/namespaces/bench-ns": timed(
            lambda: client.get("/v1/namespaces/bench-ns", headers=headers)
        ),
    }
    services.close()
    return results


def over_http(data_dir: Path) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    key = None
    for _ in range(20):
        line = process.stdout.readline()
        key = key or next((word for word in line.split() if word.startswith("sk_")), None)
        if "serving on" in line:
            break
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, headers=headers) as client:
            for _ in range(100):
                try:
                    client.get("/v1/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            client.post("/v1/namespaces", json={"namespace_name": "bench-http"}).raise_for_status()
            return {
                "HTTP GET /v1/health (baseline)": timed(lambda: client.get("/v1/health")),
                "HTTP GET /v1/namespaces/bench-http": timed(lambda: client.get("/v1/namespaces/bench-http")),
            }
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        results = {**in_process(Path(tmp) / "a"), **over_http(Path(tmp) / "b")}
    for name, numbers in results.items():
        print(f"{name:48s} p50 {numbers['p50_ms']:8.3f} ms   p99 {numbers['p99_ms']:8.3f} ms   "
              f"({numbers['calls']} calls)")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
