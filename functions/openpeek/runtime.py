"""Builds the services from settings: the only place that picks adapters.

Adapter modules are imported inside the builders so that a runtime pays only for the SDKs it uses (the API Lambda
never imports Qdrant Edge; the embedded runtime never imports boto3)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from openpeek.ports import (
    BlobStore,
    ClusterJob,
    DependencyUnavailable,
    EventBus,
    InferenceRegistry,
    Orchestrator,
    Table,
    VectorStore,
)
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.organizations import OrganizationRepository
from openpeek.repositories.retrievers import RetrieverRepository
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository
from openpeek.repositories.llm_answers import LlmAnswerCache
from openpeek.repositories.tasks import TaskRepository
from openpeek.adapters.llm import build_clients
from openpeek.adapters.openfga import OpenFgaClients
from openpeek.adapters.outbound_http import PinnedHttpClient
from openpeek.adapters.sqlite_lookup import ReadOnlySqlite
from openpeek.adapters.parquet_frames import ParquetJobFiles
from openpeek.services.cluster_labeling import ClusterLabeler
from openpeek.services.cluster_labeling import validate_config as validate_labeling_config
from openpeek.services.cluster_ledger import ClusterLedger
from openpeek.services.cluster_results import ClusterResults
from openpeek.services.cluster_runs import ClusterRunService
from openpeek.services.clone import NamespaceCloner, inline, thread_runner
from openpeek.services.cluster_steps import ClusterSteps
from openpeek.services.clusters import ClusterService
from openpeek.services.access_control import AccessControl, env_secret
from openpeek.services.auto_index import AutoIndexer
from openpeek.services.documents import DocumentService
from openpeek.services.expiry import ExpiryReaper
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.inference import InferenceGateway
from openpeek.services.manifests import ClusterKind, ManifestService, RetrieverKind, WebhookKind
from openpeek.services.namespace_listing import NamespaceListing
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import OrganizationService
from openpeek.services.promotion import PromotionService
from openpeek.services.retrieval import RetrievalService
from openpeek.services.retrieval_history import ExecutionHistory
from openpeek.services.retrieval_typeahead import Typeahead
from openpeek.services.retrievers import RetrieverService
from openpeek.services.stages.registry import StageDependencies, StageRegistry
from openpeek.services.tasks import TaskService
from openpeek.services.webhook_delivery import WebhookDelivery
from openpeek.services.webhooks import WebhookService, build_webhooks
from openpeek.settings import Settings


@dataclass
class Services:
    settings: Settings
    table: Table
    vectors: VectorStore
    blobs: BlobStore
    events: EventBus
    inference: InferenceRegistry
    inference_gateway: InferenceGateway
    organizations: OrganizationService
    namespaces: NamespaceService
    namespace_listing: NamespaceListing
    documents: DocumentService
    retrievers: RetrieverService
    retrieval: RetrievalService
    retrieval_history: ExecutionHistory
    retrieval_typeahead: Typeahead
    promotion: PromotionService
    expiry: ExpiryReaper
    clusters: ClusterService
    cluster_runs: ClusterRunService
    cluster_results: ClusterResults
    cluster_steps: ClusterSteps
    tasks: TaskService
    orchestrator: Orchestrator
    cloner: NamespaceCloner
    filter_usage: FilterUsage
    auto_index: AutoIndexer
    manifests: ManifestService
    webhooks: WebhookService
    webhook_delivery: WebhookDelivery
    webhook_dispatcher: Any = None  # embedded: delivers the in-process bus's events (adapters/local)

    def close(self) -> None:
        if self.webhook_dispatcher is not None:
            self.webhook_dispatcher.stop()
        self.webhook_delivery.close()
        for adapter in (self.vectors, self.table):
            close = getattr(adapter, "close", None)
            if close is not None:
                close()


def wire(
    settings: Settings,
    table: Table,
    vectors: VectorStore,
    blobs: BlobStore,
    events: EventBus,
    inference: InferenceRegistry | None = None,
    orchestrator: Callable[[ClusterSteps], Orchestrator] | None = None,
) -> Services:
    """Services over the given adapters (tests call this with adapters of their choosing). `orchestrator` builds the
    cluster jobs' runner from the steps; by default they run here, in a worker thread (the embedded runtime's)."""
    inference = inference or _inference_registry(settings)
    gateway = InferenceGateway(inference)
    namespace_repository = NamespaceRepository(table)
    organizations = OrganizationService(OrganizationRepository(table))
    namespaces = NamespaceService(
        namespace_repository, vectors, blobs, events, is_enterprise=organizations.is_enterprise
    )
    usage = FilterUsage(table)
    cluster_repository = ClusterRepository(table)
    task_repository = TaskRepository(table)
    ledger = ClusterLedger(table, cluster_repository, task_repository, events)
    clusters = ClusterService(cluster_repository, blobs, events, check_labeling=validate_labeling_config)
    steps = ClusterSteps(namespace_repository, cluster_repository, ledger, vectors, blobs, ParquetJobFiles(),
                         job_prefix=settings.processing_job_prefix, labeler=_labeler(settings, table))
    runner = (orchestrator or _local_orchestrator(blobs))(steps)
    cluster_runs = ClusterRunService(table, clusters, cluster_repository, task_repository, ledger, runner,
                                     max_runtime_s=settings.cluster_max_runtime_s)
    stage_registry = StageRegistry(StageDependencies(
        vectors, gateway, usage=usage, llm_clients=build_clients(
            openai_api_key=settings.openai_api_key, google_api_key=settings.google_api_key,
            anthropic_api_key=settings.anthropic_api_key,
            base_urls={"openai": settings.openai_base_url, "google": settings.google_base_url,
                       "anthropic": settings.anthropic_base_url}),
        llm_cache=LlmAnswerCache(table, ttl_seconds=settings.retriever_execution_ttl_s),
        outbound=PinnedHttpClient(), secrets=_secret_reader(settings), deployed=settings.runtime == "aws",
        web_search_url=settings.web_search_url, web_search_api_key=settings.web_search_api_key,
        sql=ReadOnlySqlite(settings.sql_lookup_connections) if settings.sql_lookup_connections else None))
    retrievers = RetrieverService(RetrieverRepository(table), events, stage_registry)
    retriever_executions = RetrieverExecutionRepository(table, ttl_seconds=settings.retriever_execution_ttl_s)
    webhooks, webhook_delivery = build_webhooks(table, events, runtime=settings.runtime)
    return Services(
        settings=settings,
        table=table,
        vectors=vectors,
        blobs=blobs,
        events=events,
        inference=inference,
        inference_gateway=gateway,
        organizations=organizations,
        namespaces=namespaces,
        namespace_listing=NamespaceListing(namespaces),
        documents=DocumentService(namespaces, table, vectors, events),
        retrievers=retrievers,
        retrieval=RetrievalService(vectors, gateway, usage, access=AccessControl(secrets=_secret_reader(settings), client_factory=OpenFgaClients()),
                                   stages=stage_registry, executions=retriever_executions),
        retrieval_history=ExecutionHistory(retriever_executions),
        retrieval_typeahead=Typeahead(vectors, retriever_executions),
        promotion=PromotionService(namespaces, namespace_repository, vectors, gateway, events),
        expiry=ExpiryReaper(namespaces, namespace_repository, events),
        clusters=clusters,
        cluster_runs=cluster_runs,
        cluster_results=ClusterResults(table, clusters, cluster_repository, blobs, cluster_runs),
        cluster_steps=steps,
        tasks=TaskService(task_repository, ledger, live_worker=runner.worker_id),
        orchestrator=runner,
        cloner=NamespaceCloner(namespaces, table, vectors, RetrieverRepository(table), cluster_repository,
                               task_repository,
                               # a Lambda ends with its response: there the copy runs before answering
                               background=thread_runner if settings.runtime == "embedded" else inline),
        filter_usage=usage,
        auto_index=AutoIndexer(usage, namespace_repository, namespaces, vectors),
        manifests=ManifestService(namespaces, [RetrieverKind(retrievers), ClusterKind(clusters),
                                               WebhookKind(webhooks, deployed=settings.runtime == "aws")]),
        webhooks=webhooks,
        webhook_delivery=webhook_delivery,
    )


def _local_orchestrator(blobs: BlobStore) -> Callable[[ClusterSteps], Orchestrator]:
    def build(steps: ClusterSteps) -> Orchestrator:
        from openpeek.adapters.local.cluster_worker import LocalOrchestrator

        return LocalOrchestrator(steps, blobs)

    return build


class UnconfiguredOrchestrator:
    """The aws runtime without OPENPEEK_CLUSTER_STATE_MACHINE_ARN: cluster jobs cannot start, and say why (503)."""

    worker_id = None

    def __init__(self, _steps: Any = None) -> None:
        pass

    def start(self, job: ClusterJob) -> None:
        raise DependencyUnavailable("clustering is not configured here (OPENPEEK_CLUSTER_STATE_MACHINE_ARN is unset)")

    def cancel(self, job: ClusterJob) -> None:
        pass

    def run_now(self, job: ClusterJob) -> bool:
        self.start(job)
        return False


def _step_functions(settings: Settings) -> Callable[[ClusterSteps], Orchestrator]:
    if not settings.cluster_state_machine_arn:
        return UnconfiguredOrchestrator

    def build(_steps: ClusterSteps) -> Orchestrator:
        from openpeek.adapters.aws.step_functions import StepFunctionsOrchestrator

        return StepFunctionsOrchestrator(settings.cluster_state_machine_arn or "")

    return build


def _secret_reader(settings: Settings) -> Callable[[str], str]:
    """How an OpenFGA token named by api_token_secret_ref is read: Secrets Manager in AWS, OPENPEEK_SECRET_<REF>
    embedded."""
    if settings.runtime == "aws":
        from openpeek.adapters.aws.secrets import read_secret

        return read_secret
    return env_secret


def _labeler(settings: Settings, table: Table) -> ClusterLabeler:
    """LLM labeling for cluster runs whose llm_labeling is enabled; a provider without a key says so in the run's
    llm_labeling_errors, and its clusters keep their c-TF-IDF labels."""
    clients = build_clients(openai_api_key=settings.openai_api_key, google_api_key=settings.google_api_key,
                            anthropic_api_key=settings.anthropic_api_key)
    return ClusterLabeler(table, clients)


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    if settings.runtime == "embedded":
        return _embedded(settings)
    return _aws(settings)


def _embedded(settings: Settings) -> Services:
    from openpeek.adapters.local.event_bus import InProcessEventBus
    from openpeek.adapters.local.folder_blobs import FolderBlobStore

    root = settings.data_dir
    table = build_table(settings)
    vectors = _vector_store(settings, default_edge_root=str(root / "vectors"))
    events = InProcessEventBus()
    services = wire(settings, table, vectors, FolderBlobStore(root / "blobs"), events)
    from openpeek.adapters.local.webhook_dispatcher import LocalWebhookDispatcher

    # In AWS, EventBridge → SQS → the delivery Lambda retries and dead-letters; here a thread does, with the same policy.
    services.webhook_dispatcher = LocalWebhookDispatcher(services.webhook_delivery, events)
    return services


def _aws(settings: Settings) -> Services:
    from openpeek.adapters.aws.s3_blobs import S3BlobStore

    table = build_table(settings)
    if not settings.bucket_name:
        raise RuntimeError("OPENPEEK_BUCKET_NAME is required for the aws runtime")
    blobs = S3BlobStore(settings.bucket_name, settings.bucket_prefix)
    if settings.event_bus_name:
        from openpeek.adapters.aws.eventbridge_bus import EventBridgeBus

        events: EventBus = EventBridgeBus(settings.event_bus_name)
    else:
        from openpeek.adapters.local.event_bus import InProcessEventBus

        events = InProcessEventBus()
    return wire(settings, table, _vector_store(settings, default_edge_root=None), blobs, events,
                orchestrator=_step_functions(settings))


def build_table(settings: Settings) -> Table:
    if settings.runtime == "embedded":
        from openpeek.adapters.local.sqlite_table import SqliteTable

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteTable(settings.data_dir / "openpeek.db")
    from openpeek.adapters.aws.dynamodb_table import DynamoDbTable

    return DynamoDbTable(settings.table_name)


def build_organizations(settings: Settings) -> OrganizationService:
    """Key administration (`openpeek keys`) needs the table alone, so it runs from a laptop against a deployed table
    (OPENPEEK_RUNTIME=aws, OPENPEEK_TABLE_NAME) with no route to Qdrant and no bucket name."""
    return OrganizationService(OrganizationRepository(build_table(settings)))


def _vector_store(settings: Settings, default_edge_root: str | None) -> VectorStore:
    if settings.qdrant_url:
        from openpeek.adapters.qdrant.server import QdrantServerStore

        if settings.qdrant_url == ":memory:":
            return QdrantServerStore.in_memory()
        return QdrantServerStore.connect(settings.qdrant_url, _qdrant_api_key(settings))
    if default_edge_root is None:
        raise RuntimeError("OPENPEEK_QDRANT_URL is required for the aws runtime")
    from openpeek.adapters.qdrant.edge import QdrantEdgeStore

    return QdrantEdgeStore(default_edge_root, flush_interval_s=settings.edge_flush_interval_s)


def _inference_registry(settings: Settings) -> InferenceRegistry:
    from openpeek.adapters.inference.registry import default_registry

    embedded = settings.runtime == "embedded"
    return default_registry(
        openai_api_key=settings.openai_api_key,
        bedrock_enabled=(not embedded) if settings.bedrock_enabled is None else settings.bedrock_enabled,
        bedrock_region=settings.bedrock_region,
        local_enabled=embedded if settings.local_inference is None else settings.local_inference,
    )


def _qdrant_api_key(settings: Settings) -> str | None:
    if settings.qdrant_api_key or not settings.qdrant_api_key_secret_arn:
        return settings.qdrant_api_key
    from openpeek.adapters.aws.secrets import read_secret

    return read_secret(settings.qdrant_api_key_secret_arn)


class LazyServices:
    """Builds the services on first use: a Lambda's import stays cheap and its first request pays once."""

    def __init__(self, factory: Callable[[], Services]) -> None:
        self._factory = factory
        self._services: Services | None = None
        self._lock = threading.Lock()

    def get(self) -> Services:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = self._factory()
        return self._services

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)
