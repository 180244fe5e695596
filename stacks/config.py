"""One typed configuration per environment: everything that differs between dev, staging and prod, in one place.

`cdk synth -c env=<name>` (or OPENPEEK_ENV for `python app.py`) picks one; the stacks read nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Architecture = Literal["x86_64", "arm64"]

# The SageMaker Processing instance of the clustering job. GPU by default; a CPU type (ml.m5.2xlarge, ...) works too,
# the image runs on both.
DEFAULT_CLUSTERING_INSTANCE = "ml.g4dn.xlarge"
# Pinned on purpose: a Qdrant upgrade migrates its on-disk format, so it is a deliberate change, never a side effect of
# a redeploy. Keep the minor version within one of the qdrant-client in pyproject.toml (its compatibility check).
QDRANT_IMAGE = "qdrant/qdrant:v1.19.0"
# The clustering image's base: an official SageMaker image per region, CPU or CUDA by instance type, pinned in
# containers/clustering/base_images.json (generated with the SageMaker SDK's image-URI lookup by
# `openpeek image pin-bases`; read here, so synthesis stays offline). Templates synthesised without a region (no
# credentials: tests, `make synth`) take the base from CLUSTERING_BASE_REGION's registry; the image is the same.
CLUSTERING_BASE_IMAGES = Path(__file__).resolve().parents[1] / "containers" / "clustering" / "base_images.json"
CLUSTERING_BASE_REGION = "us-east-1"


def clustering_base_image(region: str | None, instance_type: str) -> str:
    """The pinned official base for the clustering image: the GPU (CUDA) one for the ml.g* and ml.p* families, the
    SageMaker SDK's own rule, else the CPU one."""
    table = json.loads(CLUSTERING_BASE_IMAGES.read_text())
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else ""
    images = table["regions"].get(region or CLUSTERING_BASE_REGION)
    if images is None:
        raise ValueError(f"no official clustering base image is pinned for region {region!r}; set "
                         "-c clustering_base_image=<image> or run `openpeek image pin-bases` with a newer SDK")
    return images["gpu" if family[:1] in ("g", "p") else "cpu"]


def clustering_image_variant(instance_type: str) -> dict[str, str]:
    """The clustering image's extra build arguments: GPU instance types get the CUDA variant (RAPIDS cuML installed, so
    the engine runs on the GPU); CPU types keep the slim scikit-learn image (no extra arguments)."""
    family = instance_type.split(".")[1] if instance_type.count(".") == 2 else ""
    return {"ENGINE_EXTRAS": "cluster,cluster-gpu"} if family[:1] in ("g", "p") else {}


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    retain_data: bool
    """True: the table, bucket, Qdrant's file system, its secret and the log groups survive `cdk destroy` (prod)."""

    # Lambda
    lambda_architecture: Architecture
    api_memory_mb: int
    api_timeout_s: int
    worker_memory_mb: int
    """Reaper, auto-index, webhook delivery and the cluster steps."""
    log_retention_days: int
    log_level: str

    # API Gateway
    api_throttle_rate: int
    """Steady-state requests per second across the API."""
    api_throttle_burst: int

    # Network and Qdrant
    max_azs: int
    nat_gateways: int
    qdrant_cpu: int
    """Fargate CPU units (1024 = one vCPU)."""
    qdrant_memory_mib: int

    # Clustering
    clustering_instance_type: str
    clustering_volume_gb: int
    clustering_max_runtime_s: int
    """The processing job is stopped after this long; the state machine's own timeout leaves room for the steps."""

    # Automation
    webhook_max_receive_count: int
    """Delivery attempts through the queue before a webhook event moves to the dead-letter queue."""
    alarm_function_errors: int
    """A function alarms when it fails this many times in five minutes."""
    alarm_dlq_messages: int
    alarm_email: str | None = None

    artifacts_noncurrent_days: int = 30
    upload_allowed_origins: tuple[str, ...] = ("*",)
    """Browser origins allowed to PUT files to upload URLs (S3 CORS). A presigned URL is the permission either way;
    narrowing the origins keeps other sites' pages from using one a user leaked."""
    """Overwritten or deleted artifact versions are kept this long, then expire."""

    clustering_base_image: str | None = None
    """The clustering image's base; None: the pinned official SageMaker image for the region and instance type
    (clustering_base_image above). E.g. `-c clustering_base_image=python:3.12-slim` builds without AWS's registries."""
    clustering_image_uri: str | None = None
    """An image already in ECR (`openpeek image build-push` prints its URI): the stack then builds none."""
    qdrant_nodes: int = 1
    """Qdrant nodes. 1: one Fargate task on EFS; more: a distributed cluster, one EC2 instance and EBS volume per node
    (stacks/qdrant_cluster.py). Scale out with `-c qdrant_nodes=N` (README, Qdrant cluster runbook)."""
    qdrant_instance_type: str = "r6i.xlarge"
    """A cluster node's EC2 instance (memory-optimised: Qdrant keeps its HNSW graphs and hot vectors in RAM)."""
    qdrant_volume_gb: int = 200
    """A cluster node's EBS gp3 data volume."""

    @property
    def prefix(self) -> str:
        """Resource name prefix, lowercase (SageMaker job ARNs are lowercase, so IAM patterns must be too)."""
        return f"openpeek-{self.name}"

    @property
    def lambda_platform(self) -> str:
        """The manylinux platform tag pip installs wheels for."""
        return "manylinux2014_aarch64" if self.lambda_architecture == "arm64" else "manylinux2014_x86_64"


_DEV = EnvironmentConfig(
    name="dev",
    retain_data=False,
    lambda_architecture="x86_64",
    api_memory_mb=1024,
    api_timeout_s=29,  # API Gateway answers 503 after 30 s whatever the function does
    worker_memory_mb=1024,
    log_retention_days=7,
    log_level="DEBUG",
    api_throttle_rate=50,
    api_throttle_burst=100,
    max_azs=2,
    nat_gateways=1,
    qdrant_cpu=512,
    qdrant_memory_mib=1024,
    clustering_instance_type=DEFAULT_CLUSTERING_INSTANCE,
    clustering_volume_gb=30,
    clustering_max_runtime_s=2 * 3600,
    webhook_max_receive_count=5,
    alarm_function_errors=5,
    alarm_dlq_messages=1,
    artifacts_noncurrent_days=7,
)

_STAGING = replace(
    _DEV,
    name="staging",
    api_memory_mb=1536,
    log_retention_days=30,
    log_level="INFO",
    api_throttle_rate=200,
    api_throttle_burst=400,
    qdrant_cpu=1024,
    qdrant_memory_mib=4096,
    alarm_function_errors=3,
    artifacts_noncurrent_days=14,
)

_PROD = replace(
    _STAGING,
    name="prod",
    retain_data=True,
    api_memory_mb=2048,
    worker_memory_mb=1536,
    log_retention_days=365,
    api_throttle_rate=1000,
    api_throttle_burst=2000,
    max_azs=3,
    nat_gateways=2,  # one NAT per AZ would be 3; two keep egress up through an AZ outage at lower cost
    qdrant_cpu=4096,
    qdrant_memory_mib=16384,
    qdrant_nodes=3,  # replication_factor 2 keeps reads and writes up through the loss of any one node
    clustering_max_runtime_s=6 * 3600,
    webhook_max_receive_count=8,
    alarm_function_errors=1,
    artifacts_noncurrent_days=30,
)

ENVIRONMENTS: dict[str, EnvironmentConfig] = {config.name: config for config in (_DEV, _STAGING, _PROD)}


def load_config(name: str, **overrides: object) -> EnvironmentConfig:
    """The named environment's configuration, with overrides (e.g. from CDK context:
    `-c clustering_instance_type=ml.m5.2xlarge`)."""
    try:
        config = ENVIRONMENTS[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r}; choose one of {sorted(ENVIRONMENTS)}") from None
    unknown = set(overrides) - set(EnvironmentConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
    coerced = {key: _coerce(getattr(config, key), value) for key, value in overrides.items()}
    return replace(config, **coerced)  # type: ignore[arg-type]


def _coerce(current: object, value: object) -> object:
    """Context values from the command line arrive as strings; give them the type of the field they override."""
    if not isinstance(value, str):
        return value
    if isinstance(current, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {value!r}")
        return value.lower() == "true"
    if isinstance(current, int):
        return int(value)
    return value
