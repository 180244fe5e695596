"""The embedded runtime's batch worker: one thread in the serving process that runs submitted batches one at a time.

It runs where the query embedder already lives, so the text model is loaded once per process and shared by searches
and ingestion. Batches are queued in the table, not only in memory: on start the worker picks up every batch left
PENDING or IN_PROGRESS (a previous process was killed or restarted) and resumes it from its last checkpoint.

A second, light thread keeps timers (`call_later`): an automatic batch waits there a moment for more new objects
before it is submitted, without holding up the batch being run.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import uuid

from typing import Callable, Hashable

from openpeek.repositories.batches import BatchRepository
from openpeek.services.ingestion.runner import BatchRunner

logger = logging.getLogger(__name__)


class LocalBatchWorker:
    max_concurrent_batches = 1  # one thread runs the submitted batches in turn
    runner_name = "embedded batch worker"
    def __init__(self, runner: BatchRunner, batches: BatchRepository) -> None:
        self._runner = runner
        self._batches = batches
        self.worker_id = f"batchworker_{uuid.uuid4().hex[:12]}"
        self._queue: "queue.Queue[tuple[str, str, int] | None]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._timers: dict[Hashable, tuple[float, Callable[[], object]]] = {}  # key → (due, action): the latest wins
        self._due: list[tuple[float, int, Hashable]] = []  # heap; entries whose due is no longer the key's are stale
        self._sequence = itertools.count()
        self._timer_busy = False
        self._timer_condition = threading.Condition()
        self._timer_thread: threading.Thread | None = None

    def start(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        self._ensure_thread()
        self._queue.put((namespace_id, batch_id, attempt))

    def rerun(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        """Queue a batch again whose run stopped (a stuck part was requeued): it resumes from its checkpoint, and a
        run of it still queued finds it ended or resumes the same way."""
        self.start(namespace_id, batch_id, attempt)

    def resume(self) -> int:
        """Queue every batch a previous process left PENDING or IN_PROGRESS; returns how many."""
        resumed = 0
        for namespace_id, batch_id in self._batches.active():
            batch = self._batches.get(namespace_id, batch_id)
            if batch is None or batch.terminal:
                continue
            self.start(namespace_id, batch_id, batch.attempt)
            resumed += 1
        if resumed:
            logger.info("resuming %d batch(es) left running by a previous process", resumed)
        return resumed

    def call_later(self, delay_s: float, key: Hashable, action: Callable[[], object]) -> None:
        """Run `action` on the timer thread in `delay_s` seconds; a later call with the same key replaces it."""
        with self._timer_condition:
            if self._stopping:
                return  # a stopped worker runs nothing more; the next process picks the draft up
            due = time.monotonic() + max(0.0, delay_s)
            self._timers[key] = (due, action)
            heapq.heappush(self._due, (due, next(self._sequence), key))
            if self._timer_thread is None or not self._timer_thread.is_alive():
                self._timer_thread = threading.Thread(target=self._timer_loop, name="openpeek-batch-timers",
                                                      daemon=True)
                self._timer_thread.start()
            self._timer_condition.notify_all()

    def idle(self) -> bool:
        """No batch queued or running, and no timer waiting to submit one."""
        with self._timer_condition:
            timers = bool(self._timers) or self._timer_busy
        return not timers and self._queue.unfinished_tasks == 0

    def wait_idle(self, timeout_s: float) -> bool:
        """Tests and benchmarks: True once every queued batch has been run."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.05)
        return self.idle()

    def stop(self) -> None:
        self._stopping = True
        with self._timer_condition:
            self._timers.clear()  # an automatic draft left waiting is picked up by the next process
            self._due.clear()
            self._timer_condition.notify_all()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="openpeek-batch-worker", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None or self._stopping:
                    return
                namespace_id, batch_id, attempt = job
                self._runner.run(namespace_id, batch_id, attempt, worker=self.worker_id)
            except Exception:  # noqa: BLE001 - the runner ends its batch FAILED; the worker lives on
                logger.exception("batch worker: job %s failed", job)
            finally:
                self._queue.task_done()

    def _timer_loop(self) -> None:
        while True:
            with self._timer_condition:
                while not self._stopping:
                    if self._due:
                        due, _, key = self._due[0]
                        current = self._timers.get(key)
                        if current is None or current[0] != due:
                            heapq.heappop(self._due)  # replaced by a later call, or done
                            continue
                        wait = due - time.monotonic()
                        if wait <= 0:
                            heapq.heappop(self._due)
                            del self._timers[key]
                            action = current[1]
                            self._timer_busy = True
                            break
                        self._timer_condition.wait(wait)
                    else:
                        self._timer_condition.wait()
                if self._stopping:
                    return
            try:
                action()
            except Exception:  # noqa: BLE001 - a failed timer is logged; the draft is picked up again on restart
                logger.exception("batch worker: timer %s failed", key)
            finally:
                with self._timer_condition:
                    self._timer_busy = False
                    self._timer_condition.notify_all()
