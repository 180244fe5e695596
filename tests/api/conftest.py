"""A live `openpeek serve` for the tests that drive it through the official SDK, as a user would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`openpeek serve` on a free port with an empty data dir; yields (base_url, first-run key)."""
    data_dir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    key = None
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline and key is None:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"\b(sk_[A-Za-z0-9_-]{20,})", line)
        if match:
            key = match.group(1)
    assert key, "serve printed no key: " + "".join(lines)
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base, key, data_dir
    process.terminate()
    process.wait(timeout=20)


