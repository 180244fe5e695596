"""A dedicated-tier namespace through a live `openpeek serve` (the embedded runtime's own Qdrant server client): a
dedicated Qdrant that refuses connections is a 503 naming it, and no namespace is left behind."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_dedicated_qdrant_is_503_and_creates_nothing(server):
    base, _, data_dir = server
    key = subprocess.run(
        [sys.executable, "-m", "openpeek.cli", "keys", "create", "--org", "bigco", "--enterprise",
         "--data-dir", str(data_dir)], capture_output=True, text=True, check=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{closed_port()}"
    body = {"namespace_name": "prod", "vector_configs": [{"name": "emb", "dimension": 3}],
            "infrastructure": {"compute_tier": "dedicated_cpu", "qdrant_url": url, "qdrant_api_key": "secret-key",
                               "ray_head_node_url": "ray://ray-head:10001"}}
    response = httpx.post(f"{base}/v1/namespaces", headers=headers, json=body, timeout=60)
    assert response.status_code == 503, response.text
    assert url in response.json()["error"]["message"] and "secret-key" not in response.text
    assert httpx.get(f"{base}/v1/namespaces", headers=headers).json()["total_count"] == 0
    # the tier is refused outright when it names no server: nothing to route to, nothing accepted and ignored
    without_url = {**body, "infrastructure": {k: v for k, v in body["infrastructure"].items() if k != "qdrant_url"}}
    refused = httpx.post(f"{base}/v1/namespaces", headers=headers, json=without_url, timeout=60)
    assert refused.status_code == 400 and "qdrant_url" in refused.json()["error"]["details"]["missing"]
    shared = httpx.post(f"{base}/v1/namespaces", headers=headers, json={**body, "infrastructure": None}, timeout=60)
    assert shared.status_code == 200, shared.text
