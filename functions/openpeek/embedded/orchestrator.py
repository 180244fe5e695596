"""The embedded runtime's Orchestrator: a cluster job's steps in a worker thread, with the engine in a long-lived child
process (engine_process.py), so a run never holds the server's GIL and cancel can stop it at once. The same steps as the
AWS state machine: prepare → engine → finalize, mark-failed on any error."""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from openpeek.embedded.engine_process import EngineProcess, shared_engine_process
from openpeek.domain.cluster_jobs import ClusterJob, JobEnded
from openpeek.ports import BlobStore

log = logging.getLogger(__name__)


class EmbeddedOrchestrator:
    """`steps` is services.clustering.steps.ClusterSteps (prepare / finalize / mark_failed of a ClusterJob); the engine
    runs in the process-wide EngineProcess."""

    def __init__(self, steps: Any, blobs: BlobStore, *, engine: EngineProcess | None = None,
                 timeout_s: float | None = None) -> None:
        self._steps = steps
        self._blobs = blobs
        self._engine = engine or shared_engine_process()
        self._timeout_s = timeout_s
        self._threads: list[threading.Thread] = []
        self.driver_process_id = f"local-{uuid.uuid4().hex[:12]}"

    def start(self, job: ClusterJob) -> None:
        thread = threading.Thread(target=self.run_now, args=(job,), name=f"cluster-{job.task_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def run_now(self, job: ClusterJob) -> bool:
        try:
            prepared = self._steps.prepare(job)
            self._process(job, prepared)
            self._steps.finalize(job)
        except JobEnded:
            pass
        except Exception as error:  # every failure ends the task FAILED with its reason, like the state machine's catch
            log.warning("cluster job %s failed: %s", job.task_id, error)
            try:
                self._steps.mark_failed(job, str(error))
            except Exception:  # noqa: BLE001 - the deadline still ends the task
                log.exception("could not mark cluster job %s failed", job.task_id)
        return True

    def cancel(self, job: ClusterJob) -> None:
        self._engine.cancel(job.task_id)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Until every started job has ended (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _process(self, job: ClusterJob, prepared: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="openpeek-cluster-") as work:
            inputs, outputs = Path(work, "input"), Path(work, "output")
            inputs.mkdir()
            for key in self._blobs.list(prepared.input_prefix):
                (inputs / key.rsplit("/", 1)[1]).write_bytes(self._blobs.get(key))
            self._engine.run(job.task_id, inputs, outputs, self._timeout_s)
            for path in sorted(outputs.rglob("*")):
                if path.is_file():
                    self._blobs.put(prepared.output_prefix + path.relative_to(outputs).as_posix(), path.read_bytes())
