"""Builds the services from settings: the only place that picks adapters.

Adapter modules are imported inside the builders so that a runtime pays only for the SDKs it uses (the API Lambda
never imports Qdrant Edge; the embedded runtime never imports boto3)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from openpeek.ports import BlobStore, EventBus, InferenceRegistry, Table, VectorStore
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.organizations import OrganizationRepository
from openpeek.repositories.retrievers import RetrieverRepository
from openpeek.services.documents import DocumentService
from openpeek.services.expiry import ExpiryReaper
from openpeek.services.inference import InferenceGateway
from openpeek.services.namespace_listing import NamespaceListing
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import OrganizationService
from openpeek.services.promotion import PromotionService
from openpeek.services.retrieval import RetrievalService
from openpeek.services.retrievers import RetrieverService
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
    promotion: PromotionService
    expiry: ExpiryReaper

    def close(self) -> None:
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
) -> Services:
    """Services over the given adapters (tests call this with adapters of their choosing)."""
    inference = inference or _inference_registry(settings)
    gateway = InferenceGateway(inference)
    namespace_repository = NamespaceRepository(table)
    organizations = OrganizationService(OrganizationRepository(table))
    namespaces = NamespaceService(
        namespace_repository, vectors, blobs, events, is_enterprise=organizations.is_enterprise
    )
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
        retrievers=RetrieverService(RetrieverRepository(table), events),
        retrieval=RetrievalService(vectors, gateway),
        promotion=PromotionService(namespaces, namespace_repository, vectors, gateway, events),
        expiry=ExpiryReaper(namespaces, namespace_repository, events),
    )


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
    return wire(settings, table, vectors, FolderBlobStore(root / "blobs"), InProcessEventBus())


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
    return wire(settings, table, _vector_store(settings, default_edge_root=None), blobs, events)


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

    return QdrantEdgeStore(default_edge_root)


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
