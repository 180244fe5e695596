"""An Orchestrator for the embedded runtime that runs a cluster job's engine step as a SageMaker Processing job, through
the SageMaker Python SDK (v3: the `sagemaker-core` package's `sagemaker.core.processing.Processor`, its `ProcessingJob`
resource and its S3 uploader/downloader), while prepare and finalize run here as they always do:

    prepare (here: parquet parts into the blob store)
      → the parts uploaded to s3://<bucket>/<prefix><job name>/input/
      → a processing job on the configured instance type running the clustering image (the same container and the same
        request as the deployed stack's state machine: stacks/clustering.py), polled until it ends
      → s3://.../output/ (result.json, assignments.parquet) downloaded into the blob store, the job's S3 files removed
    finalize (here)

A job that fails or is stopped ends the task FAILED with SageMaker's reason; cancel stops the processing job. What the
job needs from this machine (the SDK installed, credentials, a region, a role, a bucket, an image) is checked when the
job is started, so a missing piece is refused at once (ComputeUnavailable) instead of leaving a task that can only fail.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from openpeek.domain.cluster_jobs import ClusterJob, JobEnded
from openpeek.domain.failures import ComputeUnavailable, DependencyUnavailable
from openpeek.ports import BlobStore

log = logging.getLogger("openpeek.sagemaker_processing")

# The container's contract, as stacks/clustering.py writes it for the state machine.
PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"
ENTRYPOINT = ["python", "/opt/openpeek/entrypoint.py"]
ENDED = ("Completed", "Failed", "Stopped")
DESCRIBE_ATTEMPTS = 5  # consecutive failed status reads (throttling, a network blip) before the job is given up
INSTALL_HINT = "install the SageMaker SDK with the sagemaker extra: pip install 'openpeek[sagemaker]'"


@dataclass(frozen=True)
class ProcessingJobSettings:
    image_uri: str | None
    role_arn: str | None
    bucket: str | None
    prefix: str = "openpeek-jobs/"
    instance_type: str = "ml.g4dn.xlarge"
    volume_gb: int = 30
    max_runtime_s: int = 3 * 3600
    region: str | None = None
    poll_interval_s: float = 15.0


class ProcessingJobEnded(Exception):
    """The processing job ended without results (Failed or Stopped); the message carries SageMaker's reason."""


class _Running:
    """What cancel needs of a job that is running: a flag its thread checks, and the processing job once created."""

    def __init__(self) -> None:
        self.canceled = threading.Event()
        self.processing_job: Any = None
        self.lock = threading.Lock()


class SageMakerProcessingOrchestrator:
    """`steps` is services.clustering.steps.ClusterSteps; `boto_session` builds the boto3 session the SDK uses (the
    default credential chain and region unless given; tests give one bound to moto)."""

    accepts_instance_type = True

    def __init__(self, steps: Any, blobs: BlobStore, settings: ProcessingJobSettings, *,
                 boto_session: Callable[[str | None], Any] | None = None, driver_process_id: str | None = None) -> None:
        self._steps = steps
        self._blobs = blobs
        self._settings = settings
        self._boto_session = boto_session or _default_boto_session
        self.driver_process_id = driver_process_id
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- the port ----------------------------------------------------------------------------------------------------

    def start(self, job: ClusterJob) -> None:
        session = self.usable_session()
        running = _Running()
        with self._lock:
            self._running[job.task_id] = running
            thread = threading.Thread(target=self._run, args=(job, session, running), daemon=True,
                                      name=f"sagemaker-{job.task_id}")
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def run_now(self, job: ClusterJob) -> bool:
        self.start(job)  # minutes on SageMaker: never inside a request
        return False

    def cancel(self, job: ClusterJob) -> None:
        with self._lock:
            running = self._running.get(job.task_id)
        if running is None:
            return
        running.canceled.set()
        with running.lock:
            if running.processing_job is not None:
                self._stop(running.processing_job)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Until every started job has ended (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)

    # -- what a job needs from this machine --------------------------------------------------------------------------

    def usable_session(self) -> Any:
        """The boto3 session the job will use; ComputeUnavailable naming what is missing when there is none."""
        missing = [name for name, value in (("OPENPEEK_SAGEMAKER_IMAGE_URI", self._settings.image_uri),
                                            ("OPENPEEK_SAGEMAKER_ROLE_ARN", self._settings.role_arn),
                                            ("OPENPEEK_SAGEMAKER_BUCKET", self._settings.bucket)) if not value]
        if missing:
            raise ComputeUnavailable(f"SageMaker jobs are not configured on this server ({', '.join(missing)} unset)",
                                     "set " + ", ".join(missing) + " (README: 'A cluster run on a GPU instance')")
        if not sdk_installed():
            raise ComputeUnavailable("the SageMaker Python SDK is not installed here", INSTALL_HINT)
        session = self._boto_session(self._settings.region)
        if not session.region_name:
            raise ComputeUnavailable("no AWS region is configured for SageMaker jobs",
                                     "set OPENPEEK_SAGEMAKER_REGION or AWS_REGION")
        if session.get_credentials() is None:
            raise ComputeUnavailable("no AWS credentials were found for SageMaker jobs",
                                     "run `aws configure`, set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                     "AWS_SECRET_ACCESS_KEY, then execute again")
        return session

    # -- one job -----------------------------------------------------------------------------------------------------

    def _run(self, job: ClusterJob, session: Any, running: _Running) -> None:
        try:
            prepared = self._steps.prepare(job)
            self._process(job, prepared, session, running)
            self._steps.finalize(job)
        except JobEnded:
            pass
        except Exception as error:  # every failure ends the task FAILED with its reason, like the state machine's
            log.warning("cluster job %s failed: %s", job.task_id, error)
            try:
                self._steps.mark_failed(job, str(error))
            except Exception:  # noqa: BLE001 - the deadline still ends the task
                log.exception("could not mark cluster job %s failed", job.task_id)
        finally:
            with self._lock:
                self._running.pop(job.task_id, None)

    def _process(self, job: ClusterJob, prepared: dict[str, Any], boto_session: Any, running: _Running) -> None:
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.core.processing import Processor
        from sagemaker.core.resources import ProcessingJob
        from sagemaker.core.s3 import S3Downloader, S3Uploader
        from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output

        settings = self._settings
        name = prepared.job_name
        base = f"s3://{settings.bucket}/{settings.prefix}{name}/"
        sagemaker_session = Session(boto_session=boto_session)
        with tempfile.TemporaryDirectory(prefix="openpeek-sagemaker-") as work:
            inputs, outputs = Path(work, "input"), Path(work, "output")
            inputs.mkdir()
            for key in self._blobs.list(prepared.input_prefix):
                (inputs / key.rsplit("/", 1)[1]).write_bytes(self._blobs.get(key))
            S3Uploader.upload(str(inputs), base + "input", sagemaker_session=sagemaker_session)
            if running.canceled.is_set():
                raise JobEnded(f"task {job.task_id} was canceled before its processing job started")
            processor = Processor(
                role=settings.role_arn, image_uri=settings.image_uri, instance_count=1,
                instance_type=job.instance_type or settings.instance_type, entrypoint=ENTRYPOINT,
                volume_size_in_gb=settings.volume_gb, max_runtime_in_seconds=settings.max_runtime_s,
                sagemaker_session=sagemaker_session,
                tags=[{"Key": "openpeek:task_id", "Value": job.task_id},
                      {"Key": "openpeek:cluster_id", "Value": job.cluster_id}])
            processor.run(
                inputs=[ProcessingInput(input_name="vectors", s3_input=ProcessingS3Input(
                    s3_uri=base + "input", local_path=PROCESSING_INPUT, s3_data_type="S3Prefix",
                    s3_input_mode="File"))],
                outputs=[ProcessingOutput(output_name="results", s3_output=ProcessingS3Output(
                    s3_uri=base + "output", local_path=PROCESSING_OUTPUT, s3_upload_mode="EndOfJob"))],
                arguments=["--input", PROCESSING_INPUT, "--output", PROCESSING_OUTPUT],
                wait=False, logs=False, job_name=name)
            processing_job = ProcessingJob.get(processing_job_name=name, session=boto_session,
                                               region=boto_session.region_name)
            with running.lock:
                running.processing_job = processing_job
                if running.canceled.is_set():  # canceled while the job was being created
                    self._stop(processing_job)
            status = self._wait(processing_job, running)
            if running.canceled.is_set():
                raise JobEnded(f"task {job.task_id} was canceled; processing job {name} was stopped")
            if status != "Completed":
                reason = _value(processing_job.failure_reason) or _value(processing_job.exit_message)
                raise ProcessingJobEnded(f"SageMaker processing job {name} {status.lower()}"
                                         + (f": {reason}" if reason else " (SageMaker gave no reason)"))
            S3Downloader.download(base + "output", str(outputs), sagemaker_session=sagemaker_session)
            for path in sorted(outputs.rglob("*")):
                if path.is_file():
                    self._blobs.put(prepared.output_prefix + path.relative_to(outputs).as_posix(), path.read_bytes())
        # The blob store holds the job's files now; what stays in the user's bucket would only cost storage.
        bucket = sagemaker_session.s3_resource.Bucket(settings.bucket)
        bucket.objects.filter(Prefix=f"{settings.prefix}{name}/").delete()

    def _wait(self, processing_job: Any, running: _Running) -> str:
        failures = 0
        while True:
            try:
                processing_job.refresh()
                failures = 0
            except Exception as error:  # noqa: BLE001 - throttled or unreachable: read again, give up after a few
                failures += 1
                if failures >= DESCRIBE_ATTEMPTS:
                    raise DependencyUnavailable(f"could not read the processing job's status: {error}") from error
            status = _value(processing_job.processing_job_status)
            if status in ENDED:
                return status
            if running.canceled.wait(self._settings.poll_interval_s):
                return "Stopped"  # cancel has sent the stop; the task is CANCELED, nothing is left to wait for

    @staticmethod
    def _stop(processing_job: Any) -> None:
        try:
            processing_job.stop()
        except Exception as error:  # noqa: BLE001 - the SDK raises botocore's errors
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "ValidationException":
                return  # it had ended already: nothing to stop
            raise DependencyUnavailable(f"SageMaker refused to stop the processing job: {error}") from error


def sdk_installed() -> bool:
    """Whether the SDK is installed, without importing it: its import takes seconds, which the job's thread pays,
    not the execute request."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("sagemaker-core")
    except PackageNotFoundError:
        return False
    return True


def _value(field: Any) -> str | None:
    """A resource field's value; the SDK marks fields the service did not send with an `Unassigned` object."""
    return field if isinstance(field, str) else None


def _default_boto_session(region: str | None) -> Any:
    import boto3

    return boto3.Session(region_name=region) if region else boto3.Session()
