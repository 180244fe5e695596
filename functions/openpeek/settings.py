"""Settings from the environment (OPENPEEK_*). They choose the runtime shape; nothing else does."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENPEEK_", extra="ignore")

    runtime: Literal["embedded", "aws"] = "embedded"
    """embedded: SQLite + Qdrant Edge + a folder, in one process. aws: DynamoDB + Qdrant server + S3."""

    data_dir: Path = Path(".openpeek")
    """Embedded runtime: where the SQLite file, the Qdrant Edge shards and the blobs live."""

    table_name: str = "openpeek"
    bucket_name: str | None = None
    bucket_prefix: str = ""
    qdrant_url: str | None = None
    """Qdrant server URL (aws runtime); ':memory:' runs qdrant-client's in-process mode (tests)."""
    qdrant_api_key: str | None = None
    qdrant_api_key_secret_arn: str | None = None
    environment_name: str = "local"
    """The <environment> of the namespaces' and webhooks' secret names, openpeek/<environment>/<org>/<kind>/<id>
    (Secrets Manager deployed, where the stack sets it and scopes the functions' IAM to it; <data_dir>/secrets
    embedded)."""
    dedicated_qdrant_hosts: str | None = None
    """aws runtime: comma-separated hosts (or `.suffix` domains) an operator allows a dedicated-tier namespace's
    qdrant_url to name on a private network (its own VPC); other dedicated URLs must resolve to public addresses, so a
    tenant cannot make the API reach into the VPC. The embedded runtime allows private and loopback hosts."""
    event_bus_name: str | None = None
    openai_api_key: str | None = None
    """Enables the openai_text_3_small inference service."""
    bedrock_enabled: bool | None = None
    """Titan embeddings through bedrock-runtime; on by default in the aws runtime only."""
    bedrock_region: str | None = None
    local_inference: bool | None = None
    """The bundled all-MiniLM-L6-v2 model (needs the `embed` extra); on by default in the embedded runtime only, so the
    API Lambda never loads torch."""
    cluster_state_machine_arn: str | None = None
    batch_state_machine_arn: str | None = None
    """aws runtime: the Step Functions state machine that runs bucket batches (stacks/ingestion.py)."""
    """aws runtime: the Step Functions state machine that runs cluster jobs (stacks/clustering.py)."""
    processing_job_prefix: str = "openpeek-"
    """Names of the SageMaker Processing jobs start with this (the stack scopes the steps' IAM to it)."""
    cluster_max_runtime_s: int = 3 * 3600
    """A cluster task still active this long after it started is ended FAILED (its worker is gone)."""
    google_api_key: str | None = None
    anthropic_api_key: str | None = None
    """LLM cluster labeling: the providers' keys (openai's is openai_api_key)."""
    edge_index_threshold: int = 20_000
    """Embedded: unindexed points past which a collection's HNSW index is built in a child process and swapped in
    (approximate search); `openpeek optimize` builds it at once. 0: only `openpeek optimize` does."""
    edge_quantization_threshold: int = 50_000
    """Embedded: a collection of at least this many points is also quantized (scalar int8, originals memory-mapped,
    answers rescored with them) when its index is built: a faster build and search and a quarter of the resident
    vector memory (adapters/qdrant/edge_index.py, BuildPlan). 0: never."""
    edge_flush_interval_s: float = 5.0
    """Embedded: every write fsyncs the shard's write-ahead log before it returns (nothing acknowledged is lost, even
    to a power loss); the shard's segments are flushed at most this many seconds later, in the background. 0 flushes
    the segments on every write too (slower upserts, shorter WAL replay after a crash)."""
    edge_vector_sidecar: bool = True
    """Embedded: searches whose hits a later stage computes on (mmr, cluster) read the hits' vectors from a float32
    copy beside each collection (adapters/qdrant/edge_vectors.py) instead of Edge's lists. False: from Edge."""

    retriever_execution_ttl_s: int = 7 * 24 * 3600
    """How long a retriever execution stays in the execution history (the table's TTL on its item)."""
    openai_base_url: str | None = None
    google_base_url: str | None = None
    anthropic_base_url: str | None = None
    """LLM retriever stages: a compatible endpoint (proxy, gateway) instead of the provider's public API."""
    web_search_url: str | None = None
    web_search_api_key: str | None = None
    """external_web_search stage: an Exa-compatible search endpoint (https://api.exa.ai/search) and its key."""
    sql_lookup_connections: dict[str, str] = {}
    """sql_lookup stage: connection name → SQLite file, opened read-only (JSON in OPENPEEK_SQL_LOOKUP_CONNECTIONS)."""
    log_level: str = "INFO"

    # A cluster job's engine step on SageMaker Processing from the embedded runtime (adapters/aws/sagemaker_processing)
    cluster_compute: Literal["local", "sagemaker"] = "local"
    """embedded: where a cluster job's engine step runs unless its execution asks otherwise (`compute` in the body)."""
    sagemaker_image_uri: str | None = None
    """The clustering image in your ECR (`openpeek image build-push` prints it)."""
    sagemaker_role_arn: str | None = None
    """The role the processing job runs as: it reads and writes sagemaker_bucket and pulls the image."""
    sagemaker_bucket: str | None = None
    """Your S3 bucket for the jobs' inputs and outputs (under sagemaker_prefix; removed once a job is recorded)."""
    sagemaker_prefix: str = "openpeek-jobs/"
    sagemaker_instance_type: str = "ml.g4dn.xlarge"
    sagemaker_volume_gb: int = 30
    sagemaker_region: str | None = None
    """Default: the AWS SDK's own (AWS_REGION, the profile's)."""
    sagemaker_poll_interval_s: float = 15.0
    upload_signing_key: str | None = None
    """Embedded: the HMAC key that signs upload URLs pointing at this server; unset, a random key is made once and
    kept in <data_dir>/upload-signing.key (URLs stay valid across restarts). Deployed uploads are S3 presigned PUTs."""
    # -- storage tiering (cold collections) --
    vector_bucket_name: str | None = None
    """aws runtime: the S3 Vectors bucket that holds cold collections (stacks/tiering.py); unset, cold collections
    are parquet files in the blob store, as embedded."""
    tier_sweep_every_s: float = 3600.0
    """Embedded: how often the scheduler thread runs the tiering sweeper (deployed: an hourly EventBridge rule)."""
    tier_day_s: float = 86400.0
    """How long a day of a tiering policy's idle_days lasts for the sweeper; end-to-end tests shorten it."""
    # -- automatic processing of a promoted namespace's new objects --
    auto_process_window_s: float = 2.0
    """Embedded: new objects wait this long for others before their automatic batch is submitted (each arrival
    restarts the wait); deployed, each registration request submits its own batch at once."""
    auto_process_longest_s: float = 30.0
    """Embedded: the longest an automatic batch keeps collecting new objects before it is submitted."""
