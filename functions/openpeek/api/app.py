"""The FastAPI application: the same app behind uvicorn (embedded) and mangum (Lambda)."""

from __future__ import annotations

from fastapi import FastAPI

from openpeek.api.errors import SafeJSONResponse, install_error_handlers
from openpeek.api.route_metrics import RouteLatency
from openpeek.api.limits import RequestLimits
from openpeek.api.namespace_ids import PublicNamespaceIds
from openpeek.api.routers import collection_lifecycle
from openpeek.api.routers import (clusters, document_acl, documents, extractors, health, inference, manifests,
                                  namespaces, promotion, retrievers, standalone, tasks, webhooks)
from openpeek.api.openapi_security import install_openapi_security
from openpeek.api.routers import map_points, studio
from openpeek.api.routers import buckets, objects, uploads
from openpeek.api.routers import collection_documents, collections
from openpeek.api.routers import batches as batch_routes
from openpeek.api.routers import document_lineage
from openpeek.api.routers import public_retrievers, published_retrievers
from openpeek.api.routers import retriever_interactions
from openpeek.api.routers import account, collection_schema, features, namespace_extractors
from openpeek.api.routers import namespace_snapshots
from openpeek.api.routers import cluster_triggers


def create_app(services, runtime_name: str = "embedded") -> FastAPI:
    """`services` is a runtime.Services or a runtime.LazyServices (anything with the same attributes)."""
    app = FastAPI(
        title="openpeek",
        description="Self-hosted implementation of the Mixpeek v1 API",
        version="0.1.0",
        default_response_class=SafeJSONResponse,
        docs_url=None,  # /docs and /redoc come from the studio router, with packaged assets instead of a CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.runtime_name = runtime_name
    install_error_handlers(app)
    app.add_middleware(RequestLimits)  # body size and nesting depth, before any route parses anything
    app.add_middleware(PublicNamespaceIds)  # answers show namespaces by the ids their callers know
    app.include_router(health.router)
    app.include_router(standalone.router)  # before namespaces: /v1/namespaces/standalone is not an identifier
    app.include_router(namespaces.router)
    app.include_router(namespace_snapshots.router)
    app.include_router(promotion.router)
    # Account-level routes; features before collections: /v1/collections/features is not a collection.
    app.include_router(account.router)
    app.include_router(features.router)
    app.include_router(namespace_extractors.router)
    app.include_router(collection_schema.router)
    app.include_router(extractors.router)
    app.include_router(collections.router)
    app.include_router(collection_documents.router)
    app.include_router(collection_lifecycle.router)
    app.include_router(documents.router)
    app.include_router(published_retrievers.router)  # before retrievers: its literal paths come first
    app.include_router(retriever_interactions.router)  # before retrievers: /interactions/... is no retriever id
    app.include_router(public_retrievers.router)
    app.include_router(retrievers.router)
    app.include_router(inference.router)
    app.include_router(cluster_triggers.router)  # before clusters: /v1/clusters/triggers is not a cluster id
    app.include_router(clusters.router)
    app.include_router(tasks.router)
    app.include_router(manifests.router)
    app.include_router(webhooks.router)
    app.include_router(document_acl.router)
    app.include_router(document_lineage.router)
    app.include_router(map_points.router)
    app.include_router(studio.router)
    app.include_router(buckets.router)
    app.include_router(objects.router)
    app.include_router(uploads.router)
    app.include_router(uploads.blob_router)
    app.include_router(batch_routes.bucket_router)
    app.include_router(batch_routes.router)
    app.add_middleware(RouteLatency)
    install_openapi_security(app)
    return app
