"""Health of this deployment beyond "the process answers": is the maintenance scheduler beating
(`GET /v1/health/beat`), and do the stores this deployment depends on answer (`GET /v1/health/deep`).

The scheduler is the embedded server's maintenance thread (a heartbeat job every minute) or, deployed, the EventBridge
schedule of the hourly expiry reaper (each run records the beat); a beat older than a few periods means the schedule
stopped. The deep check asks each dependency one real question at once, each with its own time limit, so a slow
store is reported slow rather than holding the answer: the table (DynamoDB / SQLite), the vector store (Qdrant server
or Edge), the object store (S3 / the data folder); beside them the task queue (where batches run) and inference (an
embedding service this deployment can call). With `deep`, the table and the object store take a write, a read back
and a delete of a probe."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from openpeek.domain.clock import isoformat, parse, utcnow
from openpeek.ports import BlobStore, InferenceRegistry, VectorStore
from openpeek.repositories.heartbeats import Heartbeat, HeartbeatRepository

PROBE_TIMEOUT_S = 2.0  # each dependency's own limit; the checks run at the same time
STALE_AFTER_PERIODS = 5  # a beat this many periods old (the embedded beat: 5 minutes) means the schedule stopped
_PROBE_COLLECTION = "openpeek_health_probe"  # never created: asking whether it exists is a round trip to the store
_PROBE_BLOB = "health/probe"
# Stores whose failure makes the deployment unable to serve (503); the others only degrade it.
CORE = ("metadata", "vector_store", "object_storage")


@dataclass(frozen=True)
class BeatState:
    running: bool
    last_heartbeat: str | None
    age_seconds: float | None
    every_s: int | None
    runtime: str | None


@dataclass
class HealthReport:
    checks: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def core_failed(self) -> bool:
        return any(not self.checks[name] for name in CORE)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


class HealthService:
    def __init__(self, heartbeats: HeartbeatRepository, vectors: VectorStore, blobs: BlobStore,
                 inference: InferenceRegistry, task_queue_problem: Callable[[], str | None], *, runtime: str,
                 meta: dict[str, Any] | None = None, clock: Callable[[], datetime] = utcnow,
                 timeout_s: float = PROBE_TIMEOUT_S) -> None:
        """`task_queue_problem`: why batches cannot start here, or None when they can. `meta`: what the deep answer
        says about where the stores are (bucket, table, vector store URL: never a secret)."""
        self._heartbeats = heartbeats
        self._vectors = vectors
        self._blobs = blobs
        self._inference = inference
        self._task_queue_problem = task_queue_problem
        self._runtime = runtime
        self._meta = dict(meta or {})
        self._clock = clock
        self._timeout_s = timeout_s

    # -- the scheduler's beat ----------------------------------------------------------------------------------------

    def record_beat(self, every_s: int) -> None:
        """Called by the schedule itself, every `every_s` seconds."""
        self._heartbeats.record(Heartbeat(isoformat(self._clock()), int(every_s), self._runtime))

    def beat(self) -> BeatState:
        latest = self._heartbeats.latest()
        if latest is None:
            return BeatState(False, None, None, None, None)
        age = max(0.0, (self._clock() - parse(latest.last_tick)).total_seconds())
        return BeatState(age <= STALE_AFTER_PERIODS * latest.every_s, latest.last_tick, round(age, 3),
                         latest.every_s, latest.runtime)

    # -- the dependencies --------------------------------------------------------------------------------------------

    def check(self, *, deep: bool = False) -> HealthReport:
        probes: dict[str, Callable[[], None]] = {
            "metadata": self._table_write if deep else self._heartbeats.probe_read,
            "vector_store": lambda: self._vectors.collection_exists(_PROBE_COLLECTION) and None,
            "object_storage": self._blob_write if deep else lambda: self._blobs.exists(_PROBE_BLOB) and None,
            "task_queue": self._task_queue,
            "inference": self._inference_usable,
        }
        report = HealthReport(meta={"runtime": self._runtime, "deep": deep, **self._meta})
        pool = ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="openpeek-health")
        try:
            futures = {name: pool.submit(probe) for name, probe in probes.items()}
            for name, future in futures.items():
                try:
                    future.result(timeout=self._timeout_s)
                    report.checks[name] = True
                except FutureTimeout:
                    report.checks[name] = False
                    report.errors[name] = f"no answer within {self._timeout_s:g} s"
                except Exception as error:  # noqa: BLE001 - whatever a dependency raises is what the check reports
                    report.checks[name] = False
                    report.errors[name] = f"{type(error).__name__}: {error}"[:500]
        finally:
            pool.shutdown(wait=False)  # a probe past its limit is left to finish on its own; the answer goes now
        return report

    def _table_write(self) -> None:
        self._heartbeats.probe_write(uuid.uuid4().hex)

    def _blob_write(self) -> None:
        key = f"{_PROBE_BLOB}/{uuid.uuid4().hex}"
        self._blobs.put(key, b"probe", "text/plain")
        try:
            if self._blobs.get(key) != b"probe":
                raise RuntimeError("the probe blob written was not read back")
        finally:
            self._blobs.delete(key)

    def _task_queue(self) -> None:
        problem = self._task_queue_problem()
        if problem:
            raise RuntimeError(problem)

    def _inference_usable(self) -> None:
        services = self._inference.services()
        if not any(service.usable for service in services):
            raise RuntimeError("no embedding service can be called here (text queries and text extraction need one): "
                               + "; ".join(f"{s.name}: {s.how_to_enable}" for s in services if s.how_to_enable))
