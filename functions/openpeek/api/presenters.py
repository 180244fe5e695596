"""Domain objects → the JSON the Mixpeek v1 schema describes (NamespaceModel, ClusterModel)."""

from __future__ import annotations

from typing import Any

from openpeek.domain.clusters import Cluster
from openpeek.domain.infrastructure import without_token
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever
from openpeek.domain.webhooks import REDACTED, Webhook
from openpeek.domain.vectors import CollectionInfo
from openpeek.services.namespaces import NamespaceView

_SUMMARY_OMITS = ("payload_indexes", "feature_extractors", "vector_inference_map", "vector_configs")


def qdrant_status(info: CollectionInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "status": info.status,
        "points_count": info.points_count,
        "indexed_vectors_count": info.indexed_vectors_count,
        "segments_count": info.segments_count,
        **({"index": info.index} if info.index is not None else {}),
    }


def infrastructure(namespace: Namespace) -> dict[str, Any] | None:
    if namespace.infrastructure is None:
        return None
    shown = dict(without_token(namespace.infrastructure) or {})
    shown["qdrant_api_key_provided"] = bool(namespace.vector_store_api_key)
    return shown


def namespace_model(view: NamespaceView, *, summary: bool = False) -> dict[str, Any]:
    namespace, info = view.namespace, view.info
    user_indexes = namespace.user_payload_indexes()
    body: dict[str, Any] = {
        "object": "namespace",
        "namespace_id": namespace.public_id,
        "namespace_name": namespace.namespace_name,
        "namespace_type": namespace.namespace_type,
        "scope": namespace.scope,
        "infrastructure": infrastructure(namespace),
        "trusted_issuers": None,
        "cost_cap_override": None,
        "tiering": namespace.extra.get("tiering"),
        "pinned": None,
        "spend_budget": None,
        "budget": None,
        "cluster_id": None,
        "description": namespace.description,
        "feature_extractors": [
            {
                "feature_extractor_name": ref.name,
                "version": ref.version,
                "params": ref.params,
                "feature_extractor_id": ref.feature_extractor_id,
            }
            for ref in namespace.feature_extractors
        ],
        "payload_indexes": [
            {
                "field_name": index.field_name,
                "type": index.type,
                "field_schema": index.field_schema,
                "is_protected": index.is_protected,
                **({"automatic": True} if index.automatic else {}),
            }
            for index in namespace.payload_indexes
        ],
        "payload_index_count": len(user_indexes),
        "document_count": view.document_count,
        "document_count_complete": info is not None,
        "bucket_count": view.counts.get("bucket_count", 0),
        "collection_count": view.counts.get("collection_count", 0),
        "object_count": view.counts.get("object_count", 0),
        "auto_create_indexes": namespace.auto_create_indexes,
        "adaptive_indexing": False,
        "vector_inference_map": namespace.vector_inference_map(),
        "dynamic_vector_indexes": namespace.extra.get("dynamic_vector_indexes", False),
        "mode": namespace.mode,
        "vector_configs": [config.public() for config in namespace.vector_configs]
        or None,
        "qdrant_status": qdrant_status(info),
        "clone_status": None,
        "clone_error": None,
        "clone_phase": None,
        "clone_task_id": None,
        "clone_dispatched_at": None,
        "source_namespace_id": namespace.source_namespace_id,
        "namespace_ready": info is not None,
        "created_at": namespace.created_at,
        "updated_at": namespace.updated_at,
        "expires_at": namespace.expires_at,
    }
    if view.repaired_vector_indexes is not None:
        body["repaired_vector_indexes"] = view.repaired_vector_indexes
    if summary:
        for key in _SUMMARY_OMITS:
            body[key] = None
    return body


def cluster_model(cluster: Cluster) -> dict[str, Any]:
    """ClusterModel (create / get) — also a valid ClusterMetadata for listings."""
    config = cluster.vector_config
    return {
        "cluster_id": cluster.cluster_id, "cluster_name": cluster.cluster_name, "description": cluster.description,
        "metadata": cluster.metadata, "namespace_id": cluster.namespace_id, "cluster_type": "vector",
        "collection_ids": list(cluster.collection_ids) or None, "input_collections": list(cluster.collection_ids),
        "source_cluster_ids": list(cluster.source_cluster_ids) or None, "filters": cluster.filters,
        "vector_config": {key: value for key, value in config.items() if key != "method_params"},
        "feature_uris": config["feature_uris"], "multi_feature_strategy": config.get("multi_feature_strategy"),
        "algorithm": config["clustering_method"], "algorithm_params": config.get("method_params") or None,
        "sample_size": config.get("sample_size"), "vis_n_components": config.get("vis_n_components"),
        "layout_stability": config.get("layout_stability"),
        "llm_labeling": cluster.llm_labeling, "enrich_source_collection": cluster.enrich_source_collection,
        "enrich_source": cluster.enrich_source_collection, "source_enrichment_config": cluster.source_enrichment_config,
        "status": cluster.status, "task_id": cluster.task_id, "last_execution_task_id": cluster.task_id,
        "last_run_id": cluster.last_run_id, "num_clusters": cluster.num_clusters,
        "created_at": cluster.created_at, "updated_at": cluster.updated_at,
    }


def retriever_model(retriever: Retriever) -> dict[str, Any]:
    """RetrieverModel / RetrieverConfig of the SDK; stages carry `parameters` mirrored from config, as it expects."""
    return {
        "retriever_id": retriever.retriever_id,
        "retriever_name": retriever.retriever_name,
        "description": retriever.description,
        "collection_ids": list(retriever.collection_identifiers),
        "collection_identifiers": list(retriever.collection_identifiers),
        "stages": [{**stage, "parameters": stage["config"].get("parameters") or {}} for stage in retriever.stages],
        "input_schema": retriever.input_schema,
        "budget_limits": retriever.budget_limits,
        "feature_dependencies": None,
        "tags": list(retriever.tags),
        "metadata": retriever.metadata,
        "display_config": retriever.display_config,
        "version": retriever.version,
        "created_at": retriever.created_at,
        "updated_at": retriever.updated_at,
        "created_by": None,
        "updated_by": None,
        "is_published": retriever.published or (retriever.visibility or "").lower() in ("public", "marketplace"),
        "marketplace_listing_id": None,
        "fusion": retriever.fusion,
    }


def webhook_model(webhook: Webhook, *, secret: str | None = None) -> dict[str, Any]:
    """WebhookOutput of the SDK. `secret` is given only when answering the create call."""
    body: dict[str, Any] = {
        "webhook_id": webhook.webhook_id,
        "webhook_name": webhook.webhook_name,
        "event_types": list(webhook.event_types),
        "events": list(webhook.event_types),
        "resource_types": None if webhook.resource_types is None else list(webhook.resource_types),
        "channels": [{"channel": "webhook", "configs": {
            # Header values are credentials as often as not (a receiver's Authorization): write-only, like the secret.
            "url": webhook.url, "headers": {name: REDACTED for name in webhook.headers}, "payload_template": None,
            "timeout": webhook.timeout_s, "signing_secret": secret or REDACTED}}],
        "url": webhook.url,
        "namespace_id": webhook.namespace_id,
        "is_active": webhook.is_active,
        "delivery_health": None,
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
    }
    if secret is not None:
        body["signing_secret"] = secret
    return body


# -- cluster triggers ------------------------------------------------------------------------------------------------


def cluster_trigger_model(trigger: Any) -> dict[str, Any]:
    """The SDK's SharedClustersTriggersModelsTriggerModel of a domain/cluster_triggers.ClusterTrigger."""
    return {
        "trigger_id": trigger.trigger_id, "cluster_id": trigger.cluster_id, "namespace_id": trigger.namespace_id,
        "internal_id": trigger.org_id, "execution_config": trigger.execution_config,
        "trigger_type": trigger.trigger_type, "schedule_config": trigger.schedule_config, "status": trigger.status,
        "last_triggered_at": trigger.last_triggered_at, "last_execution_job_id": trigger.last_execution_job_id,
        "next_scheduled_at": trigger.next_scheduled_at, "execution_count": trigger.execution_count,
        "consecutive_failures": trigger.consecutive_failures, "last_execution_status": trigger.last_execution_status,
        "last_execution_error": trigger.last_execution_error, "event_counter": trigger.event_counter,
        "last_cooldown_at": trigger.last_cooldown_at, "created_at": trigger.created_at,
        "updated_at": trigger.updated_at, "created_by": trigger.created_by, "description": trigger.description,
    }


def trigger_history_item(entry: Any) -> dict[str, Any]:
    """TriggerExecutionHistoryItem of a services/clustering/triggers.HistoryEntry: job_id is the started run's id, or
    "" for a firing that started none (its error says why)."""
    firing = entry.firing
    return {"job_id": firing.run_id or "", "triggered_at": firing.triggered_at, "status": entry.status,
            "execution_time_ms": entry.execution_time_ms, "error": firing.error,
            "num_clusters": entry.num_clusters, "num_documents": entry.num_documents}
