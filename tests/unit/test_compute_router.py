"""Which orchestrator a cluster job goes to: the execution's `compute`, else the server's default; a choice the server
cannot honour is refused before anything runs; cancel reaches the backend that runs the job."""

from __future__ import annotations

import pytest

from openpeek.adapters.compute_router import ComputeRouter
from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.failures import ComputeUnavailable


class Recording:
    def __init__(self, driver_process_id: str | None = None, accepts_instance_type: bool = False) -> None:
        self.driver_process_id = driver_process_id
        self.accepts_instance_type = accepts_instance_type
        self.started: list[ClusterJob] = []
        self.canceled: list[ClusterJob] = []

    def start(self, job: ClusterJob) -> None:
        self.started.append(job)

    def run_now(self, job: ClusterJob) -> bool:
        self.started.append(job)
        return True

    def cancel(self, job: ClusterJob) -> None:
        self.canceled.append(job)


def job(**fields) -> ClusterJob:
    return ClusterJob("org_1", "ns_1", "clust_1", "run_1", "task_1", **fields)


@pytest.fixture
def backends():
    return {"local": Recording("local-1"), "sagemaker": Recording(accepts_instance_type=True)}


def test_a_job_without_a_choice_goes_to_the_default(backends):
    router = ComputeRouter(backends, default="local")

    router.start(job())

    assert backends["local"].started == [job()] and backends["sagemaker"].started == []
    assert router.driver_process_id == "local-1"


def test_a_job_that_asks_for_sagemaker_goes_there_with_its_instance_type(backends):
    router = ComputeRouter(backends, default="local")
    asked = job(compute="sagemaker", instance_type="ml.g5.xlarge")

    router.start(asked)

    assert backends["sagemaker"].started == [asked]
    assert ClusterJob.from_state(asked.state()) == asked  # the choice survives the state machine's round trip


def test_choices_the_server_cannot_honour_are_refused(backends):
    router = ComputeRouter({"sagemaker": backends["sagemaker"]}, default="sagemaker")

    with pytest.raises(ComputeUnavailable, match="'local'"):
        router.start(job(compute="local"))
    with pytest.raises(ComputeUnavailable, match="no instance type"):
        ComputeRouter(backends, default="local").start(job(compute="local", instance_type="ml.g5.xlarge"))
    assert backends["local"].started == [] and backends["sagemaker"].started == []


def test_cancel_asks_every_backend_since_a_task_does_not_record_its_own(backends):
    ComputeRouter(backends, default="local").cancel(job())

    assert backends["local"].canceled == [job()] and backends["sagemaker"].canceled == [job()]


def test_a_state_without_a_choice_is_unchanged():
    assert "compute" not in job().state() and ClusterJob.from_state(job().state()).compute is None


def test_deployed_every_job_is_the_state_machines_and_other_choices_are_refused():
    from openpeek.runtime import _step_functions
    from openpeek.settings import Settings

    router = _step_functions(Settings(runtime="aws", cluster_state_machine_arn=(
        "arn:aws:states:us-east-1:123456789012:stateMachine:openpeek-dev-clustering")))(None)

    with pytest.raises(ComputeUnavailable):
        router.start(job(compute="local"))
    with pytest.raises(ComputeUnavailable, match="no instance type"):
        router.start(job(compute="sagemaker", instance_type="ml.g5.xlarge"))
