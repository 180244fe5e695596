"""One long-lived child process that runs the clustering engine for the embedded runtime.

Why a process: the engine holds the GIL for seconds at a time, and its memory (a million vectors) should go back to the
system. Why long-lived: scikit-learn and UMAP take seconds to import and UMAP's numba code ~20 s to compile, which a
fresh process per job would pay every time. Jobs run one at a time (the machine's cores are the engine's). Cancel
kills the process; the next job starts a new one.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


class EngineFailed(Exception):
    pass


def _serve(connection: Connection) -> None:
    from openpeek.engine.processing import run_job

    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        input_dir, output_dir = Path(request[0]), Path(request[1])
        try:
            files = sorted(input_dir.glob("*.parquet"))
            import json

            job_file = input_dir / "job.json"
            parameters = json.loads(job_file.read_text()) if job_file.exists() else {}
            if not files:
                raise ValueError(f"no *.parquet input in {input_dir}")
            connection.send(("ok", run_job(files, parameters, output_dir)))
        except ValueError as error:  # the engine's input errors: the user's to fix
            connection.send(("refused", str(error)))
        except Exception as error:  # noqa: BLE001 - reported as the job's failure, the worker lives on
            connection.send(("crashed", f"{type(error).__name__}: {error}\n{traceback.format_exc()[-1500:]}"))


class EngineWorker:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # one job at a time
        self._state = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._running_job: str | None = None

    def _ensure(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            parent, child = multiprocessing.get_context("spawn").Pipe()
            process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True,
                                                                   name="openpeek-engine")
            process.start()
            child.close()
            self._process, self._connection = process, parent
        assert self._connection is not None
        return self._connection

    def run(self, job_id: str, input_dir: Path, output_dir: Path, timeout_s: float | None = None) -> dict[str, Any]:
        with self._lock:
            with self._state:
                connection = self._ensure()
                self._running_job = job_id
            try:
                connection.send((str(input_dir), str(output_dir)))
                if not connection.poll(timeout_s):
                    self.stop()
                    raise EngineFailed(f"the clustering engine ran past {timeout_s:.0f} s and was stopped")
                status, payload = connection.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._discard()
                raise EngineFailed("the clustering engine was stopped before it finished") from None
            finally:
                with self._state:
                    self._running_job = None
        if status == "ok":
            return payload
        if status == "refused":
            raise EngineFailed(payload)
        raise EngineFailed(payload.splitlines()[0] if payload else "the clustering engine failed")

    def cancel(self, job_id: str) -> None:
        """Stop the process if it runs this job (the job then fails with 'stopped'; its task is CANCELED already)."""
        with self._state:
            if self._running_job == job_id:
                self._kill()

    def stop(self) -> None:
        with self._state:
            self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._discard()

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._process, self._connection = None, None


_shared: EngineWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> EngineWorker:
    """The process-wide worker: every embedded orchestrator in this process (one per data dir, many in tests) shares
    it, so the engine is loaded and compiled once."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EngineWorker()
        return _shared
