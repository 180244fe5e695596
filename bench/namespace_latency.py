"""GET namespace latency on the embedded runtime: in process and over HTTP, p50/p99 over 1,000 calls.

Baselines in the same run: the service call alone (no HTTP), and GET /v1/health (the HTTP stack with no auth and no
storage), so the numbers separate framework cost from openpeek's own."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import support
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings

CALLS = 1000


def timed(call) -> dict:
    return support.timed(call, CALLS)


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
    with support.live_server(data_dir) as client:
        client.post("/v1/namespaces", json={"namespace_name": "bench-http"}).raise_for_status()
        return {
            "HTTP GET /v1/health (baseline)": timed(lambda: client.get("/v1/health")),
            "HTTP GET /v1/namespaces/bench-http": timed(lambda: client.get("/v1/namespaces/bench-http")),
        }


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
