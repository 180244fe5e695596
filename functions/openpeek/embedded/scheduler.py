"""The embedded runtime's stand-in for EventBridge schedules: named jobs run every so often on one daemon thread.

A job's failure is logged and the job runs again at its next time; jobs never overlap (one thread), which is what the
reaper and the auto-indexer assume of their schedules in AWS too (each run is idempotent and bounded).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    name: str
    every_s: float
    run: Callable[[], object]
    next_at: float = field(default=0.0)


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._jobs: list[_Job] = []
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object], *, first_after_s: float = 0.0) -> None:
        if seconds <= 0:
            raise ValueError("a schedule's period must be positive")
        self._jobs.append(_Job(name, seconds, run, self._clock() + first_after_s))

    def run_due(self) -> list[str]:
        """Runs every job whose time has come; returns their names (the thread's loop, and tests)."""
        ran = []
        for job in self._jobs:
            if self._clock() >= job.next_at:
                try:
                    job.run()
                except Exception:  # noqa: BLE001 - one failed run must not stop the schedule
                    logger.exception("scheduled job %s failed; it runs again in %.0f s", job.name, job.every_s)
                job.next_at = self._clock() + job.every_s
                ran.append(job.name)
        return ran

    def start(self, tick_s: float = 5.0) -> None:
        def loop() -> None:
            while not self._stop.wait(tick_s):
                self.run_due()

        self._thread = threading.Thread(target=loop, name="openpeek-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
