"""Builds the services from settings: the only place that picks adapters.

The adapters of one runtime only (DynamoDB, S3, EventBridge, Step Functions, Qdrant server or Edge, SQLite, the
folder, the embedded entry points) are imported inside the builders, so a runtime pays only for the SDKs it uses: the
API Lambda never imports Qdrant Edge, the embedded runtime never imports boto3's service clients. The adapters both
runtimes use (EMF metrics, the LLM and OpenFGA clients, the parquet job files) are imported at the top."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from openpeek.domain.cluster_jobs import ClusterJob
from openpeek.domain.failures import DependencyUnavailable, SecretNotFound
from openpeek.ports import BlobStore, EventBus, InferenceRegistry, Metrics, Orchestrator, Table, VectorStore
from openpeek.repositories.clusters import ClusterRepository
from openpeek.repositories.filter_usage import FilterUsageRepository
from openpeek.repositories.idempotency import IdempotencyRepository
from openpeek.repositories.label_cache import LabelCacheRepository
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.organizations import OrganizationRepository
from openpeek.repositories.retrievers import RetrieverRepository
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository
from openpeek.repositories.llm_answers import LlmAnswerCache
from openpeek.repositories.tasks import TaskRepository
from openpeek.adapters.dns_resolver import system_resolver
from openpeek.adapters.emf_metrics import EmfMetrics, file_writer
from openpeek.adapters.llm import build_clients
from openpeek.adapters.openfga import OpenFgaClients
from openpeek.adapters.outbound_http import PinnedHttpClient
from openpeek.adapters.sqlite_lookup import ReadOnlySqlite
from openpeek.adapters.parquet_frames import ParquetJobFiles
from openpeek.adapters.webhook_sender import HttpxWebhookSender
from openpeek.services.clustering.labeling import ClusterLabeler
from openpeek.domain.cluster_labels import validate_config as validate_labeling_config
from openpeek.services.clustering.ledger import ClusterLedger
from openpeek.services.clustering.results import ClusterResults
from openpeek.services.clustering.runs import ClusterRunService
from openpeek.services.map_points import MapPoints
from openpeek.services.clone import NamespaceCloner, inline, thread_runner
from openpeek.services.snapshots import NamespaceSnapshots
from openpeek.services.clustering.steps import ClusterSteps
from openpeek.services.clustering.clusters import ClusterService
from openpeek.services.collections.collections import CollectionService
from openpeek.services.collections.documents import CollectionDocumentService
from openpeek.services.collections.manifest import CollectionKind
from openpeek.services.access_control import AccessControl, env_secret
from openpeek.services.auto_index import AutoIndexer
from openpeek.services.documents import DocumentService
from openpeek.services.expiry import ExpiryReaper
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.inference import InferenceGateway
from openpeek.repositories.secrets import SecretVault
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
from openpeek.ports import BlobFetcher, UploadUrls
from openpeek.repositories.buckets import BucketRepository
from openpeek.repositories.objects import ObjectRepository
from openpeek.repositories.uploads import UploadRepository
from openpeek.services.content.buckets import BucketService
from openpeek.services.content.objects import ObjectService
from openpeek.services.content.uploads import UploadService
from openpeek.services.content.copying import ContentCopier
from openpeek.services.content.manifest_kind import BucketKind
from openpeek.repositories.organization_secrets import OrganizationSecretRepository
from openpeek.services.organization_secrets import OrganizationSecrets, TenantSecrets


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
    metrics: Metrics
    map_points: MapPoints
    collections: CollectionService
    collection_documents: CollectionDocumentService
    webhook_dispatcher: Any = None  # embedded: delivers the in-process bus's events (embedded/webhook_dispatcher.py)
    buckets: BucketService | None = None
    objects: ObjectService | None = None
    uploads: UploadService | None = None
    batches: Any = None  # BatchService: bucket batches run through the collections' extractors
    batch_worker: Any = None  # embedded: the thread that runs submitted batches (embedded/batch_worker.py)
    batch_steps: Any = None  # BatchSteps: a batch's Step Functions steps (the deployed runtime's batch Lambdas)
    health: Any = None  # HealthService: the scheduler's heartbeat and the dependencies' checks (/v1/health/...)
    manifest_generator: Any = None  # ManifestGenerator: manifests written by an LLM from a description
    auto_processing: Any = None  # AutoProcessing: a promoted namespace's new objects processed without a submit
    batch_reports: Any = None  # BatchReports: a batch's diagnosis, audit and pre-flight estimate
    lifecycle: Any = None  # LifecycleService: collection storage tiers (services/tiering)
    tiering_sweeper: Any = None  # TieringSweeper: demotes idle collections, promotes busy cold ones
    document_lineage: Any = None  # DocumentLineageService: a document's ancestors, descendants, source, diagnostics
    publications: Any = None  # PublicationService: published retrievers and their public execution
    interactions: Any = None  # InteractionService: users' feedback on retriever results
    collection_exchange: Any = None  # CollectionExchange: a collection's export and import
    collection_sourcing: Any = None  # CollectionSourcing: a collection's reconciliation and trigger
    # The account-level routes: organisation secrets, the features menu, the one-off feature search, the
    # namespace's extractors and a collection's schema sync.
    organization_secrets: Any = None  # OrganizationSecrets
    features: Any = None  # FeatureMenu
    feature_search: Any = None  # OneOffFeatureSearch
    namespace_extractors: Any = None  # NamespaceExtractors
    schema_sync: Any = None  # SchemaSync
    snapshots: Any = None  # NamespaceSnapshots: point-in-time copies of a namespace in the blob store
    cluster_triggers: Any = None  # ClusterTriggerService: clusters executed on a schedule or on new documents

    def close(self) -> None:
        if self.batch_worker is not None:
            self.batch_worker.stop()
        if self.webhook_dispatcher is not None:
            self.webhook_dispatcher.stop()
        self.webhook_delivery.close()
        for adapter in (self.vectors, self.table, self.metrics):
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
    metrics: Metrics | None = None,
    upload_urls: UploadUrls | None = None,
    blob_fetcher: BlobFetcher | None = None,
    dedicated_vector_stores: Callable[[str, str | None], VectorStore] | None = None,
) -> Services:
    """Services over the given adapters (tests call this with adapters of their choosing). `orchestrator` builds the
    cluster jobs' runner from the steps; by default they run here, in a worker thread (the embedded runtime's).
    `dedicated_vector_stores` (url, api key → VectorStore) connects to a dedicated-tier namespace's own Qdrant; by
    default a Qdrant server client."""
    inference = inference or _inference_registry(settings)
    metrics = metrics or EmfMetrics()
    gateway = InferenceGateway(inference)
    vault = _secret_vault(settings)
    namespace_repository = NamespaceRepository(table, vault)
    organizations = OrganizationService(OrganizationRepository(table))
    vectors = _routed_vectors(vectors, namespace_repository, dedicated_vector_stores or _dedicated_qdrant(settings))
    namespaces = NamespaceService(
        namespace_repository, vectors, blobs, events, is_enterprise=organizations.is_enterprise,
        usable_models=lambda: {service.name for service in inference.services() if service.usable},
        placements=vectors,
    )
    usage = FilterUsage(FilterUsageRepository(table))
    cluster_repository = ClusterRepository(table)
    task_repository = TaskRepository(table)
    ledger = ClusterLedger(table, cluster_repository, task_repository, events, metrics=metrics)
    clusters = ClusterService(cluster_repository, blobs, events, check_labeling=validate_labeling_config)
    steps = ClusterSteps(namespace_repository, cluster_repository, ledger, vectors, blobs, ParquetJobFiles(),
                         job_prefix=settings.processing_job_prefix, labeler=_labeler(settings, table))
    runner = (orchestrator or _local_orchestrator(blobs, settings))(steps)
    cluster_runs = ClusterRunService(table, clusters, cluster_repository, task_repository, ledger, runner,
                                     max_runtime_s=settings.cluster_max_runtime_s)
    organization_secrets = OrganizationSecrets(OrganizationSecretRepository(table, vault))
    tenant_secrets = TenantSecrets(organization_secrets, _operator_secrets(settings, vault))
    stage_registry = StageRegistry(StageDependencies(
        vectors, gateway, usage=usage, llm_clients=build_clients(
            openai_api_key=settings.openai_api_key, google_api_key=settings.google_api_key,
            anthropic_api_key=settings.anthropic_api_key,
            base_urls={"openai": settings.openai_base_url, "google": settings.google_base_url,
                       "anthropic": settings.anthropic_base_url}),
        llm_cache=LlmAnswerCache(table, ttl_seconds=settings.retriever_execution_ttl_s),
        outbound=PinnedHttpClient(), deployed=settings.runtime == "aws",
        web_search_url=settings.web_search_url, web_search_api_key=settings.web_search_api_key,
        sql=ReadOnlySqlite(settings.sql_lookup_connections) if settings.sql_lookup_connections else None,
        resolver=system_resolver, org_secrets=tenant_secrets))
    retrievers = RetrieverService(RetrieverRepository(table), events, stage_registry)
    retriever_executions = RetrieverExecutionRepository(table, ttl_seconds=settings.retriever_execution_ttl_s)
    tasks = TaskService(task_repository, ledger, live_driver_process_id=runner.driver_process_id)
    webhooks, webhook_delivery = build_webhooks(table, events, runtime=settings.runtime,
                                                sender=HttpxWebhookSender(), resolver=system_resolver, vault=vault,
                                                namespaces=namespace_repository)
    cluster_results = ClusterResults(clusters, cluster_repository, blobs, cluster_runs, tasks)
    collections = CollectionService(CollectionRepository(table), BucketRepository(table), namespaces, vectors,
                                    inference, events)
    namespaces.count_content_with(collections.counts)
    buckets, objects, uploads = _content(settings, table, blobs, events, namespaces, upload_urls, blob_fetcher)
    buckets.use_readers(_collections_reading(collections))
    retrieval = RetrievalService(vectors, gateway, usage, access=AccessControl(secrets=tenant_secrets, client_factory=OpenFgaClients()),
                                 stages=stage_registry, executions=retriever_executions)
    # Published retrievers: executed by the public through the same retrieval; a deleted retriever is unpublished.
    from openpeek.repositories.publications import PublicationRepository
    from openpeek.services.publications import PublicationService

    publications = PublicationService(PublicationRepository(table), RetrieverRepository(table), namespace_repository,
                                      retrieval, tenant_secrets)  # a publication's password is its org's secret
    retrievers.on_delete(publications.forget_retriever)
    retrievers.use_publications(publications.published_ids)  # a retriever shows is_published
    cluster_results.use_download_urls(objects.urls)  # a run's parquet export is handed out as a download URL
    built = Services(
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
        documents=DocumentService(namespaces, IdempotencyRepository(table), vectors, events, metrics=metrics),
        retrievers=retrievers,
        retrieval=retrieval,
        retrieval_history=ExecutionHistory(retriever_executions),
        retrieval_typeahead=Typeahead(vectors, retriever_executions),
        promotion=PromotionService(namespaces, namespace_repository, vectors, gateway, events),
        expiry=ExpiryReaper(namespaces, namespace_repository, events),
        clusters=clusters,
        cluster_runs=cluster_runs,
        cluster_results=cluster_results,
        cluster_steps=steps,
        tasks=tasks,
        orchestrator=runner,
        cloner=NamespaceCloner(namespaces, table, vectors, RetrieverRepository(table), cluster_repository,
                               task_repository,
                               # a Lambda ends with its response: there the copy runs before answering
                               background=thread_runner if settings.runtime == "embedded" else inline,
                               content=ContentCopier(BucketRepository(table), ObjectRepository(table), blobs),
                               collections=collections),
        filter_usage=usage,
        auto_index=AutoIndexer(usage, namespace_repository, namespaces, vectors),
        # Buckets before the collections that read from them, collections before the retrievers that search them.
        manifests=ManifestService(namespaces, [BucketKind(buckets),
                                               CollectionKind(collections, BucketRepository(table)),
                                               RetrieverKind(retrievers), ClusterKind(clusters),
                                               WebhookKind(webhooks)]),
        webhooks=webhooks,
        webhook_delivery=webhook_delivery,
        metrics=metrics,
        map_points=MapPoints(clusters, cluster_results, cluster_repository, blobs),
        collections=collections,
        collection_documents=CollectionDocumentService(collections, vectors, events),
        buckets=buckets,
        objects=objects,
        uploads=uploads,
        publications=publications,
        organization_secrets=organization_secrets,
        snapshots=NamespaceSnapshots(namespaces, table, vectors, blobs, download_urls=objects.download_signer,
                                     # a Lambda ends with its response: there the export runs before answering
                                     background=thread_runner if settings.runtime == "embedded" else inline),
    )
    _attach_account_routes(built)
    _attach_interactions(built, retriever_executions)
    return built


def _attach_interactions(services: Services, executions: RetrieverExecutionRepository) -> None:
    """Users' feedback on retriever results, kept as long as the execution history; documents are looked up through
    the collection document service in force (tiering replaces it), so cold collections' documents count too. The
    public records its feedback on a published retriever through the same service."""
    from openpeek.repositories.interactions import InteractionRepository
    from openpeek.services.interactions import InteractionService

    services.interactions = InteractionService(
        InteractionRepository(services.table, ttl_seconds=services.settings.retriever_execution_ttl_s), executions,
        RetrieverRepository(services.table), lambda: services.collection_documents)
    services.publications.use_interactions(services.interactions)
    # A published retriever's template shows its collections' feature extractors.
    services.publications.use_collections(CollectionRepository(services.table).find_in)


def _attach_account_routes(services: Services) -> None:
    """The features menu, the one-off feature search, the namespace's extractors and a collection's schema sync:
    each over the collection and retrieval services already built."""
    from openpeek.services.collections.features import FeatureMenu
    from openpeek.services.collections.namespace_extractors import NamespaceExtractors
    from openpeek.services.collections.schema_sync import SchemaSync
    from openpeek.services.feature_search import OneOffFeatureSearch

    services.features = FeatureMenu(services.collections)
    services.feature_search = OneOffFeatureSearch(services.collections, services.retrieval)
    services.namespace_extractors = NamespaceExtractors(services.namespaces, services.collections)
    services.schema_sync = SchemaSync(services.collections, CollectionRepository(services.table), services.vectors,
                                      services.table)


def _content(
    settings: Settings, table: Table, blobs: BlobStore, events: EventBus, namespaces: NamespaceService,
    upload_urls: UploadUrls | None, blob_fetcher: BlobFetcher | None,
) -> tuple[BucketService, ObjectService, UploadService]:
    """Buckets, objects and uploads. Upload URLs: S3 presigned PUTs when deployed; embedded, URLs on this server
    signed with its key. Blobs by URL are fetched under the webhook SSRF rules (public hosts only when deployed)."""
    from openpeek.adapters.https_blob_fetcher import HttpsBlobFetcher

    deployed = settings.runtime == "aws"
    signing_key = None if deployed else _upload_signing_key(settings)
    if upload_urls is None:
        if deployed:
            from openpeek.adapters.aws.s3_upload_urls import S3UploadUrls

            upload_urls = S3UploadUrls(settings.bucket_name or "", settings.bucket_prefix)
        else:
            from openpeek.adapters.local.signed_upload_urls import SignedUploadUrls

            upload_urls = SignedUploadUrls(signing_key or b"", blobs)
    object_repository, upload_repository = ObjectRepository(table), UploadRepository(table)
    buckets = BucketService(BucketRepository(table), object_repository, blobs, events)
    namespaces.count_content_with(buckets.counts)
    objects = ObjectService(buckets, object_repository, upload_repository, blobs,
                            blob_fetcher or HttpsBlobFetcher(deployed=deployed), events, upload_urls)
    uploads = UploadService(buckets, objects, object_repository, upload_repository, blobs, upload_urls, table,
                            TaskRepository(table), signing_key=signing_key)
    return buckets, objects, uploads


def _collections_reading(collections: CollectionService) -> Callable[[Any, Any], list[str]]:
    """The names of the collections whose source is a bucket: such a bucket cannot be deleted."""
    def reading(namespace: Any, bucket: Any) -> list[str]:
        return [collection.collection_name for collection in collections.list(namespace)
                if bucket.bucket_id in collection.source.bucket_ids]

    return reading


def _upload_signing_key(settings: Settings) -> bytes:
    if settings.upload_signing_key:
        return settings.upload_signing_key.encode()
    import os
    import secrets

    path = settings.data_dir / "upload-signing.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_hex(32).encode())
    return path.read_bytes()


def _local_orchestrator(blobs: BlobStore, settings: Settings) -> Callable[[ClusterSteps], Orchestrator]:
    def build(steps: ClusterSteps) -> Orchestrator:
        from openpeek.embedded.orchestrator import EmbeddedOrchestrator

        return _with_sagemaker(settings, steps, blobs, EmbeddedOrchestrator(steps, blobs))

    return build


def _with_sagemaker(settings: Settings, steps: ClusterSteps, blobs: BlobStore, local: Orchestrator) -> Orchestrator:
    """Embedded: the engine step runs here, or, per server (OPENPEEK_CLUSTER_COMPUTE) or per execution (`compute`),
    as a SageMaker Processing job; the SDK is imported only when such a job starts."""
    from openpeek.adapters.aws.sagemaker_processing import ProcessingJobSettings, SageMakerProcessingOrchestrator
    from openpeek.adapters.compute_router import ComputeRouter

    sagemaker = SageMakerProcessingOrchestrator(steps, blobs, ProcessingJobSettings(
        image_uri=settings.sagemaker_image_uri, role_arn=settings.sagemaker_role_arn, bucket=settings.sagemaker_bucket,
        prefix=settings.sagemaker_prefix, instance_type=settings.sagemaker_instance_type,
        volume_gb=settings.sagemaker_volume_gb, max_runtime_s=settings.cluster_max_runtime_s,
        region=settings.sagemaker_region, poll_interval_s=settings.sagemaker_poll_interval_s),
        driver_process_id=local.driver_process_id)
    return ComputeRouter({"local": local, "sagemaker": sagemaker}, default=settings.cluster_compute)


class UnconfiguredOrchestrator:
    """The aws runtime without OPENPEEK_CLUSTER_STATE_MACHINE_ARN: cluster jobs cannot start, and say why (503)."""

    driver_process_id = None

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
        from openpeek.adapters.compute_router import ComputeRouter

        # Deployed, every job is the state machine's SageMaker job on the stack's instance type: a request for
        # another compute is refused rather than ignored.
        return ComputeRouter({"sagemaker": StepFunctionsOrchestrator(settings.cluster_state_machine_arn or "")},
                             default="sagemaker")

    return build


def _operator_secrets(settings: Settings, vault: SecretVault) -> Callable[[str, str], str | None]:
    """(organisation id, name) → a secret the operator provides for that organisation (services/organization_secrets.py,
    TenantSecrets): deployed, the Secrets Manager secret openpeek/<env>/<org>/secrets/<name>; embedded, the
    environment variable OPENPEEK_SECRET_<NAME>."""
    if settings.runtime == "aws":
        from openpeek.adapters.aws.secrets import read_secret

        def deployed(org_id: str, name: str) -> str | None:
            try:
                return read_secret(vault.name(org_id, "secrets", name))
            except SecretNotFound:
                return None

        return deployed
    return lambda org_id, name: env_secret(name)


def _secret_vault(settings: Settings) -> SecretVault:
    """Where namespaces and webhooks keep their secrets: Secrets Manager in AWS, an encrypted folder embedded."""
    if settings.runtime == "aws":
        from openpeek.adapters.aws.secrets import SecretsManagerStore

        return SecretVault(SecretsManagerStore(), environment=settings.environment_name)
    from openpeek.adapters.local.encrypted_secrets import EncryptedFolderSecretStore

    return SecretVault(EncryptedFolderSecretStore(settings.data_dir), environment=settings.environment_name)


def _labeler(settings: Settings, table: Table) -> ClusterLabeler:
    """LLM labeling for cluster runs whose llm_labeling is enabled; a provider without a key says so in the run's
    llm_labeling_errors, and its clusters keep their c-TF-IDF labels."""
    clients = build_clients(openai_api_key=settings.openai_api_key, google_api_key=settings.google_api_key,
                            anthropic_api_key=settings.anthropic_api_key)
    return ClusterLabeler(LabelCacheRepository(table), clients)


def build_services(settings: Settings | None = None, *,
                   dedicated_vector_stores: Callable[[str, str | None], VectorStore] | None = None) -> Services:
    """`dedicated_vector_stores`: how to reach a dedicated-tier namespace's own Qdrant (url, key → VectorStore);
    tests pass qdrant-client's local engine. By default a Qdrant server client."""
    settings = settings or Settings()
    _use_linear_time_regex()
    if settings.runtime == "embedded":
        return _embedded(settings, dedicated_vector_stores)
    return _aws(settings, dedicated_vector_stores)


def _use_linear_time_regex() -> None:
    """The `regex` filter operator matches with RE2, in time linear in the text, in every runtime."""
    from openpeek.adapters.re2_regex import compile_pattern
    from openpeek.domain import filters

    filters.use_regex_engine(compile_pattern)


def _embedded(settings: Settings,
              dedicated_vector_stores: Callable[[str, str | None], VectorStore] | None = None) -> Services:
    from openpeek.adapters.local.event_bus import InProcessEventBus
    from openpeek.adapters.local.folder_blobs import FolderBlobStore

    root = settings.data_dir
    table = build_table(settings)
    vectors = _vector_store(settings, default_edge_root=str(root / "vectors"))
    events = InProcessEventBus()
    # the same EMF lines a Lambda prints, kept in the data folder
    metrics = EmfMetrics(write=file_writer(root / "metrics.jsonl"))
    services = wire(settings, table, vectors, FolderBlobStore(root / "blobs"), events, metrics=metrics,
                    dedicated_vector_stores=dedicated_vector_stores)
    from openpeek.embedded.webhook_dispatcher import LocalWebhookDispatcher

    # In AWS, EventBridge → SQS → the delivery Lambda retries and dead-letters; here a thread does, with the same policy.
    services.webhook_dispatcher = LocalWebhookDispatcher(services.webhook_delivery, events,
                                                         metrics=services.metrics)
    attach_batches(services)
    attach_tiering(services)
    attach_document_lineage(services)
    attach_health(services)
    attach_manifest_generator(services)
    attach_collection_io(services)
    attach_cluster_triggers(services)
    return services


def _aws(settings: Settings,
         dedicated_vector_stores: Callable[[str, str | None], VectorStore] | None = None) -> Services:
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
    services = wire(settings, table, _vector_store(settings, default_edge_root=None), blobs, events,
                    orchestrator=_step_functions(settings), dedicated_vector_stores=dedicated_vector_stores)
    attach_batches(services)
    attach_tiering(services)
    attach_document_lineage(services)
    attach_health(services)
    attach_manifest_generator(services)
    attach_collection_io(services)
    attach_cluster_triggers(services)
    return services


def build_table(settings: Settings) -> Table:
    if settings.runtime == "embedded":
        from openpeek.adapters.local.sqlite_table import SqliteTable

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The data dir holds keys' hashes, namespace secrets and every document: its owner's alone.
        settings.data_dir.chmod(0o700)
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
    from openpeek.adapters.qdrant.edge_index import BuildPlan

    return QdrantEdgeStore(default_edge_root, flush_interval_s=settings.edge_flush_interval_s,
                           index_threshold=settings.edge_index_threshold,
                           build_plan=BuildPlan(quantize_from_points=settings.edge_quantization_threshold),
                           vector_sidecar=settings.edge_vector_sidecar)


def _routed_vectors(shared: VectorStore, namespaces: NamespaceRepository,
                    connect: Callable[[str, str | None], VectorStore] | None) -> Any:
    """The VectorStore every service uses: the shared store, except for the collections of dedicated-tier namespaces,
    which go to their own Qdrant servers (adapters/vector_routing.py)."""
    from openpeek.adapters.vector_routing import VectorStoreRouter
    from openpeek.services.namespace_stores import NamespaceStoreLocator

    return VectorStoreRouter(shared, NamespaceStoreLocator(namespaces), connect)


def _dedicated_qdrant(settings: Settings) -> Callable[[str, str | None], VectorStore]:
    """Qdrant server clients for dedicated-tier namespaces. Deployed, a private or loopback address is reachable only
    for the hosts the operator lists (OPENPEEK_DEDICATED_QDRANT_HOSTS); embedded, the laptop's owner chose it."""
    listed = [h.strip().lower().rstrip(".") for h in (settings.dedicated_qdrant_hosts or "").split(",") if h.strip()]

    def private_allowed(host: str) -> bool:
        if settings.runtime == "embedded":
            return True
        host = host.lower().rstrip(".")
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in listed)

    def connect(url: str, api_key: str | None) -> VectorStore:
        from openpeek.adapters.qdrant.server import QdrantServerStore

        return QdrantServerStore.connect_dedicated(url, api_key, resolver=system_resolver,
                                                   private_allowed=private_allowed)

    return connect


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


# -- batches ---------------------------------------------------------------------------------------------------------


class UnconfiguredBatchStarter:
    """The aws runtime without OPENPEEK_BATCH_STATE_MACHINE_ARN: batches cannot start, and say why (503)."""

    worker_id = None
    max_concurrent_batches = 0
    runner_name = "none (OPENPEEK_BATCH_STATE_MACHINE_ARN is unset)"

    def start(self, namespace_id: str, batch_id: str, attempt: int) -> None:
        raise DependencyUnavailable("batch processing is not configured here "
                                    "(OPENPEEK_BATCH_STATE_MACHINE_ARN is unset)")

    rerun = start


def attach_batches(services: Services) -> None:
    """The batch service and where its batches run: embedded, a worker thread in this process that shares the
    query embedder (the model loads once) and resumes batches a previous process left running."""
    from openpeek.repositories.batches import BatchRepository
    from openpeek.repositories.buckets import BucketRepository
    from openpeek.repositories.collections import CollectionRepository
    from openpeek.repositories.objects import ObjectRepository
    from openpeek.services.ingestion.batches import BatchService
    from openpeek.services.ingestion.runner import BatchRunner

    table = services.table
    batches = BatchRepository(table)
    runner = BatchRunner(table, batches, NamespaceRepository(table), CollectionRepository(table),
                         ObjectRepository(table), TaskRepository(table), services.vectors, services.blobs,
                         services.events, services.inference.embedder,
                         notify=services.webhook_delivery.post_once)
    if services.settings.runtime == "embedded":
        from openpeek.embedded.batch_worker import LocalBatchWorker

        worker = LocalBatchWorker(runner, batches)
        services.batch_worker = worker
        starter: Callable[[], Any] = lambda: worker  # noqa: E731
    elif services.settings.batch_state_machine_arn:
        from openpeek.adapters.aws.batch_state_machine import StepFunctionsBatchStarter

        machine = StepFunctionsBatchStarter(services.settings.batch_state_machine_arn)
        starter = lambda: machine  # noqa: E731
    else:
        unconfigured = UnconfiguredBatchStarter()
        starter = lambda: unconfigured  # noqa: E731
    from openpeek.services.ingestion.steps import BatchSteps

    services.batch_steps = BatchSteps(runner, batches, services.blobs,
                                      job_prefix=services.settings.processing_job_prefix)
    services.batches = BatchService(table, services.namespaces, batches, BucketRepository(table),
                                    ObjectRepository(table), CollectionRepository(table), TaskRepository(table),
                                    services.vectors, starter, deployed=services.settings.runtime == "aws",
                                    resolver=system_resolver)
    from openpeek.services.ingestion.batch_reports import BatchReports

    services.batch_reports = BatchReports(services.batches, ObjectRepository(table), CollectionRepository(table),
                                          TaskRepository(table), services.vectors,
                                          live_worker=lambda: starter().worker_id)
    attach_auto_processing(services, batches)
    if services.batch_worker is not None:
        services.batch_worker.resume()


def attach_health(services: Services) -> None:
    """The scheduler's heartbeat and the deep check of the stores this deployment uses (their places, no secret)."""
    from openpeek.repositories.heartbeats import HeartbeatRepository
    from openpeek.services.health import HealthService

    settings = services.settings
    if settings.runtime == "aws":
        meta: dict[str, Any] = {"table": settings.table_name, "bucket": settings.bucket_name,
                                "bucket_prefix": settings.bucket_prefix, "vector_store": settings.qdrant_url}
    else:
        meta = {"table": str(settings.data_dir / "openpeek.db"), "bucket": str(settings.data_dir / "blobs"),
                "vector_store": settings.qdrant_url or str(settings.data_dir / "vectors")}

    def task_queue_problem() -> str | None:
        if services.batch_worker is not None or settings.batch_state_machine_arn:
            return None
        return "batch processing is not configured here (OPENPEEK_BATCH_STATE_MACHINE_ARN is unset)"

    services.health = HealthService(HeartbeatRepository(services.table), services.vectors, services.blobs,
                                    services.inference, task_queue_problem, runtime=settings.runtime,
                                    meta={"environment": settings.environment_name, **meta})


def attach_manifest_generator(services: Services) -> None:
    """POST /v1/manifest/generate: the deployment's LLM providers, its extractor and stage catalogues."""
    from openpeek.services.manifest_generation import ManifestGenerator

    settings = services.settings
    clients = build_clients(openai_api_key=settings.openai_api_key, google_api_key=settings.google_api_key,
                            anthropic_api_key=settings.anthropic_api_key,
                            base_urls={"openai": settings.openai_base_url, "google": settings.google_base_url,
                                       "anthropic": settings.anthropic_base_url})
    services.manifest_generator = ManifestGenerator(services.manifests, clients, services.collections,
                                                    services.retrieval.stages.catalogue)


def attach_auto_processing(services: Services, batches: Any) -> None:
    """A promoted namespace's new objects join an automatic batch: embedded, a worker timer submits it once they
    stop arriving (and picks up drafts a stopped process left); deployed, each request submits its own at once."""
    from datetime import timedelta

    from openpeek.repositories.collections import CollectionRepository
    from openpeek.services.ingestion.auto_processing import AutoProcessing

    worker = services.batch_worker
    schedule = None
    if worker is not None:
        def schedule(namespace_id: str, batch_id: str, delay_s: float) -> None:
            worker.call_later(delay_s, ("automatic", namespace_id, batch_id),
                              lambda: auto.submit_due(namespace_id, batch_id))

    auto = AutoProcessing(services.table, batches, CollectionRepository(services.table),
                          NamespaceRepository(services.table), services.batches,
                          window=timedelta(seconds=services.settings.auto_process_window_s),
                          longest=timedelta(seconds=services.settings.auto_process_longest_s), schedule=schedule)
    services.auto_processing = auto
    if services.objects is not None:
        services.objects.after_registration(auto.objects_registered)
    if schedule is not None:
        for namespace_id, batch_id, delay_s in auto.pending():
            schedule(namespace_id, batch_id, delay_s)


# -- storage tiering -------------------------------------------------------------------------------------------------


def build_cold_store(settings: Settings, blobs: BlobStore) -> Any:
    """S3 Vectors where a vector bucket is configured (aws runtime); parquet parts in the blob store otherwise."""
    if settings.runtime == "aws" and settings.vector_bucket_name:
        from openpeek.adapters.aws.s3_vectors_cold_store import S3VectorsColdStore

        return S3VectorsColdStore(settings.vector_bucket_name)
    from openpeek.adapters.local.parquet_cold_store import ParquetColdStore

    return ParquetColdStore(blobs)


def attach_tiering(services: Services, cold_store: Any = None) -> None:
    """Collection lifecycle (active / cold / archived / frozen), cross-tier search in the retrievers, the write
    guard on collection documents, and the sweeper. Embedded, transitions run on daemon threads and the sweeper
    resumes any a previous process left half-done."""
    import threading

    from openpeek.services.tiering.cross_tier import CrossTierSearch
    from openpeek.services.tiering.lifecycle import LifecycleService
    from openpeek.services.tiering.sweeper import TieringSweeper

    cold = cold_store or build_cold_store(services.settings, services.blobs)
    index_name = getattr(cold, "index_name", None)

    from openpeek.domain.clock import isoformat, utcnow
    from openpeek.domain.events import DomainEvent
    from openpeek.services.tiering.lifecycle import TRANSITION_REQUESTED

    def in_background(org_id: str, namespace_id: str, collection_id: str) -> None:
        if services.settings.runtime == "aws":  # an EventBridge rule hands it to the tiering Lambda
            services.events.publish(DomainEvent(type=TRANSITION_REQUESTED, org_id=org_id, namespace_id=namespace_id,
                                                data={"collection_id": collection_id},
                                                occurred_at=isoformat(utcnow())))
            return
        threading.Thread(target=lambda: lifecycle.run(namespace_id, collection_id), name="openpeek-lifecycle",
                         daemon=True).start()

    # Embedded, Qdrant Edge keeps deleted points resident until its shard is optimized (off the request path, in a
    # child process); a Qdrant server vacuums by itself.
    compact = getattr(services.vectors, "optimize", None) if services.settings.runtime != "aws" else None
    # Deployed, the tiering Lambda and the hourly sweeper may run one transition at once: a lease decides who moves
    # data. Embedded, the server holding the data dir's lock is the only runner, so a restart resumes at once.
    lifecycle = LifecycleService(services.table, services.vectors, cold, services.blobs, services.events,
                                 in_background, cold_index_name=index_name, compact_vectors=compact,
                                 **({} if services.settings.runtime == "aws" else {"lease_s": 0}))
    services.lifecycle = lifecycle
    # Deleting (or reaping) a collection or a namespace removes its cold copy too: S3 Vectors indexes live outside
    # the namespace's blob prefix.
    services.collections.remove_content_with(lifecycle.forget_collection)
    services.namespaces.remove_content_with(lifecycle.forget_namespace)
    services.collections.use_tiering(lifecycle)  # PATCH /v1/collections/{c} `tiering`, and the effective policy
    services.retrieval.use_tiers(CrossTierSearch(services.table, cold, lifecycle.cold_target))
    services.collection_documents = CollectionDocumentService(services.collections, services.vectors,
                                                              services.events, check_writable=lifecycle.check_writable,
                                                              tiered_documents=lifecycle.tiered_documents)
    from datetime import timedelta

    services.tiering_sweeper = TieringSweeper(services.table, lifecycle,
                                              day=timedelta(seconds=services.settings.tier_day_s))
    subscribe = getattr(services.events, "subscribe", None)
    if subscribe is not None:  # the in-process bus: a new collection puts its namespace on the sweeper's list
        from openpeek.repositories.tiering import TierStateRepository

        registry = TierStateRepository(services.table)
        subscribe(lambda event: registry.register(event.namespace_id), ["collection.created"])


# -- document lineage ------------------------------------------------------------------------------------------------


def attach_document_lineage(services: Services) -> None:
    """A collection document's ancestors, descendants, source media and diagnostics, read through the documents
    service that attach_tiering made (so cold and archived collections' documents are found too)."""
    from openpeek.repositories.batches import BatchRepository
    from openpeek.services.collections.lineage import DocumentLineageService

    services.document_lineage = DocumentLineageService(services.collection_documents, services.collections,
                                                       services.objects, BatchRepository(services.table))
# -- a collection as a whole: export, import, reconciliation, trigger ------------------------------------------------


def attach_collection_io(services: Services) -> None:
    """Export and import over the collection document service in force (tiering replaces it), reconciliation and
    trigger over the batch service."""
    from openpeek.repositories.buckets import BucketRepository
    from openpeek.repositories.objects import ObjectRepository
    from openpeek.services.collections.exchange import CollectionExchange
    from openpeek.services.collections.sourcing import CollectionSourcing

    objects = ObjectRepository(services.table)
    services.collection_exchange = CollectionExchange(services.collections, lambda: services.collection_documents,
                                                      services.blobs, objects, services.objects)
    services.collections.remove_content_with(services.collection_exchange.forget_collection)
    services.collection_sourcing = CollectionSourcing(services.collections, lambda: services.collection_documents,
                                                      BucketRepository(services.table), objects,
                                                      lambda: services.batches)


# -- cluster triggers ------------------------------------------------------------------------------------------------


def attach_cluster_triggers(services: Services, clock: Callable[[], Any] | None = None) -> Any:
    """Cluster triggers over the cluster execution service; `clock` (tests) moves their time."""
    from openpeek.repositories.cluster_triggers import ClusterTriggerRepository
    from openpeek.services.clustering.triggers import ClusterTriggerService

    table = services.table
    services.cluster_triggers = ClusterTriggerService(
        ClusterTriggerRepository(table), services.clusters, ClusterRepository(table), services.cluster_runs,
        NamespaceRepository(table), CollectionRepository(table), services.vectors,
        **({"clock": clock} if clock else {}))
    return services.cluster_triggers
