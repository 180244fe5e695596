"""An Orchestrator in front of several: each cluster job goes to the compute its execution asked for (`compute` in the
execute body), or to the server's default. A choice this server cannot honour is refused when the job is started
(ComputeUnavailable: a 400, nothing recorded)."""

from __future__ import annotations

from typing import Mapping

from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.failures import ComputeUnavailable
from openpeek.ports import Orchestrator


class ComputeRouter:
    def __init__(self, backends: Mapping[str, Orchestrator], default: str) -> None:
        if default not in backends:
            raise ValueError(f"the default compute {default!r} is not one of {sorted(backends)}")
        self._backends = dict(backends)
        self._default = default
        # Tasks record the process that runs them; every backend here is driven from this process.
        self.driver_process_id = backends[default].driver_process_id

    def backend(self, job: ClusterJob) -> Orchestrator:
        name = job.compute or self._default
        backend = self._backends.get(name)
        if backend is None:
            raise ComputeUnavailable(f"this server does not run cluster jobs on '{name}'",
                                     "choose one of: " + ", ".join(sorted(self._backends)))
        if job.instance_type and not getattr(backend, "accepts_instance_type", False):
            raise ComputeUnavailable(f"compute '{name}' has no instance type to choose",
                                     "omit compute.instance_type, or choose backend 'sagemaker'")
        return backend

    def start(self, job: ClusterJob) -> None:
        self.backend(job).start(job)

    def run_now(self, job: ClusterJob) -> bool:
        return self.backend(job).run_now(job)

    def cancel(self, job: ClusterJob) -> None:
        # A task does not remember its backend (the job is rebuilt from the task); each backend stops only a job it
        # runs, so asking all of them is exact.
        for backend in self._backends.values():
            backend.cancel(job)

    def wait_idle(self, timeout: float = 120.0) -> None:
        for backend in self._backends.values():
            wait = getattr(backend, "wait_idle", None)
            if wait is not None:
                wait(timeout)
