"""The embedded runtime's Orchestrator: a cluster job's steps in a worker thread, with the engine in a child process
(`python -m openpeek.engine`), so a run never holds the server's GIL, its memory is returned when it ends, and cancel
can stop it at once. The same steps as the AWS state machine: prepare → engine → finalize, mark-failed on any error."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from openpeek.ports import BlobStore, ClusterJob

log = logging.getLogger("openpeek.cluster_worker")
_STDERR_TAIL = 2000


class EngineFailed(Exception):
    pass


class LocalOrchestrator:
    """`steps` is services.cluster_steps.ClusterSteps (prepare / finalize / mark_failed on the job's state)."""

    def __init__(self, steps: Any, blobs: BlobStore, *, python: str = sys.executable,
                 timeout_s: float | None = None) -> None:
        self._steps = steps
        self._blobs = blobs
        self._python = python
        self._timeout_s = timeout_s
        self._running: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.worker_id = f"local-{uuid.uuid4().hex[:12]}"

    def start(self, job: ClusterJob) -> None:
        thread = threading.Thread(target=self.run_now, args=(job,), name=f"cluster-{job.task_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def run_now(self, job: ClusterJob) -> bool:
        from openpeek.services.cluster_steps import JobEnded

        state = job.state()
        try:
            prepared = self._steps.prepare(state)
            self._process(job, prepared)
            self._steps.finalize(state)
        except JobEnded:
            pass
        except Exception as error:  # every failure ends the task FAILED with its reason, like the state machine's catch
            log.warning("cluster job %s failed: %s", job.task_id, error)
            cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
            try:
                self._steps.mark_failed({**state, "error": {"Error": type(error).__name__, "Cause": cause}})
            except Exception:  # noqa: BLE001 - the deadline still ends the task
                log.exception("could not mark cluster job %s failed", job.task_id)
        return True

    def cancel(self, job: ClusterJob) -> None:
        with self._lock:
            process = self._running.get(job.task_id)
        if process is not None and process.poll() is None:
            process.terminate()

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Until every started job has ended (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _process(self, job: ClusterJob, prepared: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory(prefix="openpeek-cluster-") as work:
            inputs, outputs = Path(work, "input"), Path(work, "output")
            inputs.mkdir()
            for key in self._blobs.list(prepared["input_prefix"]):
                (inputs / key.rsplit("/", 1)[1]).write_bytes(self._blobs.get(key))
            command = [self._python, "-m", "openpeek.engine", "--input", str(inputs), "--output", str(outputs)]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            with self._lock:
                self._running[job.task_id] = process
            try:
                _, stderr = process.communicate(timeout=self._timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise EngineFailed(f"the clustering engine ran past {self._timeout_s:.0f} s and was stopped") from None
            finally:
                with self._lock:
                    self._running.pop(job.task_id, None)
            if process.returncode != 0:
                reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {process.returncode}"
                if process.returncode < 0:
                    reason = "the clustering engine was stopped"
                raise EngineFailed(reason[-_STDERR_TAIL:])
            for path in sorted(outputs.rglob("*")):
                if path.is_file():
                    self._blobs.put(prepared["output_prefix"] + path.relative_to(outputs).as_posix(), path.read_bytes())
