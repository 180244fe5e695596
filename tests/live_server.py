"""`openpeek serve` on a free loopback port, started the one way every live-server test uses: the SDK tests
(tests/api/conftest.py), the tiering sweeper's test and the fuzz tier (its tests and `make fuzz`)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drain(stream, log_path: str | None) -> None:
    sink = open(log_path, "a", encoding="utf-8") if log_path else None
    try:
        for line in stream:
            if sink:
                sink.write(line)
                sink.flush()
    finally:
        if sink:
            sink.close()


@contextlib.contextmanager
def live_server(data_dir: Path | None = None, *, env: Mapping[str, str] | None = None,
                startup_timeout_s: float = 120, api_key: str | None = None,
                started: Callable[[subprocess.Popen], None] | None = None) -> Iterator[tuple[str, str, Path]]:
    """Yields (base_url, the first-run key, data dir) once health answers; the server is stopped on exit. Without a
    data dir it runs on a fresh temporary one. `env` adds to (or overrides) this process's environment. `api_key`: a
    key of the data dir's organisation, for a restart (only the first run prints one). `started` is handed the
    server's process (a test that kills it)."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="openpeek-serve-")))
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        if started is not None:
            started(process)
        try:
            key, lines = api_key, []
            deadline = time.monotonic() + startup_timeout_s
            while time.monotonic() < deadline and key is None:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line)
                match = re.search(r"\b(sk_[A-Za-z0-9_-]{20,})", line)
                key = match.group(1) if match else None
            assert key, "serve printed no key: " + "".join(lines)
            # Drain the server's output (into OPENPEEK_TEST_SERVER_LOG when set, for its tracebacks) so a chatty log can
            # never block it on a full pipe.
            log_path = os.environ.get("OPENPEEK_TEST_SERVER_LOG")
            threading.Thread(target=_drain, args=(process.stdout, log_path), daemon=True).start()
            base = f"http://127.0.0.1:{port}"
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield base, key, data_dir
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
