"""One data directory rule for every CLI command: a key made by `openpeek keys create` with no --data-dir (from the
folder `make run` serves, or a folder below it), or with the same --data-dir `make run ARGS=--data-dir X` passes,
authenticates against `openpeek serve` started the same way; each command says which directory it used."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.conftest import free_port


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openpeek.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=True, timeout=120)


def test_keys_created_without_a_data_dir_authenticate_against_serve_with_the_same_defaults(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "OPENPEEK_DATA_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    checkout = tmp_path / "checkout"
    below = checkout / "docs" / "notes"
    below.mkdir(parents=True)
    expected = checkout.resolve() / ".openpeek"

    first = run_cli("keys", "create", "--org", "acme", cwd=checkout, env=env)
    assert first.stdout.strip().startswith("sk_") and f"data dir {expected}" in first.stderr
    # From a folder below, the same store; and `--data-dir .openpeek`, as `make run ARGS=--data-dir .openpeek` says.
    second = run_cli("keys", "create", "--org", "acme", "--name", "second", cwd=below, env=env)
    assert f"data dir {expected}" in second.stderr
    third = run_cli("keys", "create", "--org", "acme", "--name", "third", "--data-dir", ".openpeek", cwd=checkout,
                    env=env)
    assert f"data dir {expected}" in third.stderr
    listed = run_cli("keys", "list", "--org", "acme", cwd=below, env=env)
    assert len(listed.stdout.strip().splitlines()) == 3

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port)], cwd=checkout,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for created in (first, second, third):
            answer = httpx.get(f"{base}/v1/namespaces", timeout=10,
                               headers={"Authorization": f"Bearer {created.stdout.strip()}"})
            assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"data dir {expected}" in output
