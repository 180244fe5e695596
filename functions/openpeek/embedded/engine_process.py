"""The embedded runtime's engine process: one long-lived child that runs the clustering engine
(`python -m openpeek.engine.stdin_jobs`, one job per line on its stdin).

Why a process: the engine holds the GIL for seconds at a time, and its memory (a million vectors) should go back to the
system. Why long-lived: scikit-learn and UMAP take seconds to import and their numba code long to compile, which a
fresh process per job would pay every time. Why a plain subprocess rather than multiprocessing: spawn re-imports the
parent's main module, which a script that starts the server need not allow. Jobs run one at a time (the machine's
cores are the engine's). Cancel kills the process; the next job starts a new one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

MARKER = "OPENPEEK-ENGINE "
PARENT_ENV = "OPENPEEK_ENGINE_PARENT"  # openpeek.engine.stdin_jobs.PARENT_ENV (the engine is not imported here)


class EngineFailed(Exception):
    pass


class EngineProcess:
    def __init__(self, python: str = sys.executable) -> None:
        self._python = python
        self._lock = threading.Lock()  # one job at a time
        self._state = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._running_job: str | None = None

    def _ensure(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            # The engine process ends itself once this process is gone (openpeek/engine/stdin_jobs.py).
            self._process = subprocess.Popen([self._python, "-m", "openpeek.engine.stdin_jobs"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                             bufsize=1, env={**os.environ, PARENT_ENV: str(os.getpid())})
        return self._process

    def run(self, job_id: str, input_dir: Path, output_dir: Path, timeout_s: float | None = None) -> dict[str, Any]:
        with self._lock:
            with self._state:
                process = self._ensure()
                self._running_job = job_id
            timer = threading.Timer(timeout_s, self.stop) if timeout_s else None
            try:
                if timer:
                    timer.start()
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(json.dumps({"input": str(input_dir), "output": str(output_dir)}) + "\n")
                process.stdin.flush()
                reply = None
                for line in process.stdout:
                    if line.startswith(MARKER):
                        reply = json.loads(line[len(MARKER):])
                        break
            except (OSError, ValueError):
                reply = None
            finally:
                if timer:
                    timer.cancel()
                with self._state:
                    self._running_job = None
            if reply is None:
                self.stop()
                raise EngineFailed("the clustering engine was stopped before it finished"
                                   + (f" (it ran past {timeout_s:.0f} s)" if timeout_s else ""))
        if reply["status"] == "ok":
            return reply["summary"]
        raise EngineFailed(reply["error"])

    def cancel(self, job_id: str) -> None:
        """Stop the process if it runs this job (the job then fails as stopped; its task is CANCELED already)."""
        with self._state:
            if self._running_job == job_id:
                self._kill()

    def stop(self) -> None:
        with self._state:
            self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)
        self._process = None


_shared: EngineProcess | None = None
_shared_lock = threading.Lock()


def shared_engine_process() -> EngineProcess:
    """The process-wide engine process: every embedded orchestrator in this process (one per data dir, many in tests)
    shares it, so the engine is loaded and compiled once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EngineProcess()
        return _shared
