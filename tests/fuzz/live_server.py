"""`openpeek serve` on a free loopback port with a fresh data dir, for the fuzz tier (the tests and `make fuzz`)."""

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
from typing import Iterator

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
def live_server(data_dir: Path | None = None, *, local_model: bool = False) -> Iterator[tuple[str, str, Path]]:
    """Yields (base_url, the first-run key, data dir); the server is stopped on exit. Without local_model the
    bundled text model is not loaded (a fuzz run sends vectors; loading torch would only slow its start)."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="openpeek-fuzz-")))
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "openpeek.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OPENPEEK_LOCAL_INFERENCE": "true" if local_model else "false"})
        try:
            key, lines = None, []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and key is None:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line)
                match = re.search(r"\b(sk_[A-Za-z0-9_-]{20,})", line)
                key = match.group(1) if match else None
            assert key, "serve printed no key: " + "".join(lines)
            # Drain the server's output (into OPENPEEK_FUZZ_LOG when set, for its tracebacks) so a chatty log can
            # never block it on a full pipe.
            log_path = os.environ.get("OPENPEEK_FUZZ_LOG")
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
