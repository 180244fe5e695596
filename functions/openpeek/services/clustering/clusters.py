"""Cluster definitions: create, read, list, patch, delete within the caller's namespace (X-Namespace)."""

from __future__ import annotations

from typing import Any, Callable

from openpeek.domain import clusters as rules
from openpeek.domain import filters as filter_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.clusters import Cluster
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.events import DomainEvent
from openpeek.ports import BlobStore, EventBus
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.clusters import ClusterRepository, cluster_prefix

PATCH_ATTEMPTS = 16
_PATCHABLE = ("cluster_name", "description", "metadata", "llm_labeling", "filters", "sample_size", "algorithm_params",
              "source_cluster_ids", "layout_stability")


class ClusterService:
    def __init__(self, repository: ClusterRepository, blobs: BlobStore, events: EventBus,
                 check_labeling: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self._repository = repository
        self._blobs = blobs
        self._events = events
        self._check_labeling = check_labeling

    def create(self, namespace: Namespace, request: dict[str, Any]) -> Cluster:
        cluster_type = request.get("cluster_type") or "vector"
        if cluster_type != "vector":
            raise BadRequest("only vector clustering (cluster_type 'vector') is supported here",
                             code="unsupported_cluster_type", details={"cluster_type": cluster_type})
        vector_config, indexes = rules.check_vector_config(namespace, request.get("vector_config"))
        sources = tuple(request.get("source_cluster_ids") or ())
        for source_id in sources:
            source = self._repository.get(namespace.namespace_id, source_id)
            if source is None:
                raise NotFound("cluster", source_id)
            if source.vector_config["feature_uris"] != vector_config["feature_uris"]:
                raise BadRequest(f"source cluster '{source_id}' clusters other features than this cluster",
                                 code="source_cluster_mismatch", details={"source_cluster_id": source_id})
        cluster_id = new_id("clust")
        now = isoformat(utcnow())
        cluster = Cluster(
            cluster_id=cluster_id, namespace_id=namespace.namespace_id,
            cluster_name=rules.check_name(request["cluster_name"]) if request.get("cluster_name") else cluster_id,
            vector_config=vector_config, feature_indexes=indexes, created_at=now, updated_at=now,
            description=request.get("description"), metadata=request.get("metadata"),
            collection_ids=tuple(request.get("collection_ids") or ()), source_cluster_ids=sources,
            filters=rules.check_filters(request.get("filters")),
            llm_labeling=rules.check_llm_labeling(request.get("llm_labeling"), self._check_labeling),
            enrich_source_collection=bool(request.get("enrich_source_collection")),
            source_enrichment_config=request.get("source_enrichment_config"),
        )
        self._repository.create(cluster)
        self._publish("cluster.created", namespace, cluster)
        return cluster

    def get(self, namespace: Namespace, identifier: str) -> Cluster:
        """By id, then by name when exactly one cluster has it (names need not be unique)."""
        found = self._repository.get(namespace.namespace_id, identifier)
        if found is not None:
            return found
        named = [c for c in self._repository.list(namespace.namespace_id) if c.cluster_name == identifier]
        if len(named) != 1:
            raise NotFound("cluster", identifier)
        return named[0]

    def list(self, namespace: Namespace, *, search: str | None = None, filters: dict[str, Any] | None = None,
             sorts: list[dict[str, Any]] | None = None) -> list[Cluster]:
        """Newest first unless sorted otherwise."""
        wanted = filter_rules.parse_filter(filters)
        found = sorted(self._repository.list(namespace.namespace_id), key=lambda c: (c.created_at, c.cluster_id),
                       reverse=True)
        if search:
            needle = search.lower()
            found = [c for c in found if needle in c.cluster_name.lower() or needle in c.cluster_id.lower()
                     or needle in (c.description or "").lower()]
        if wanted is not None:
            found = [c for c in found if filter_rules.matches(wanted, c.to_record(), c.cluster_id)]
        for order in reversed(sorts or []):
            field, direction = (order or {}).get("field"), (order or {}).get("direction") or "asc"
            direction = direction.lower() if isinstance(direction, str) else direction
            if not isinstance(field, str) or direction not in ("asc", "desc"):
                raise BadRequest("a sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": order})
            found.sort(key=lambda c: str(c.to_record().get(field) or ""), reverse=direction == "desc")
        return found

    def patch(self, namespace: Namespace, identifier: str, changes: dict[str, Any]) -> Cluster:
        """Absent or null fields are left alone; concurrent patches retry on a fresh read, so none is lost."""

        def attempt() -> Cluster:
            current = self.get(namespace, identifier)
            updates: dict[str, Any] = {}
            config = dict(current.vector_config)
            for key, value in changes.items():
                if value is None or key not in _PATCHABLE:
                    continue
                if key == "cluster_name":
                    updates["cluster_name"] = rules.check_name(value)
                elif key in ("description", "metadata"):
                    updates[key] = value
                elif key == "llm_labeling":
                    updates["llm_labeling"] = rules.check_llm_labeling(value, self._check_labeling)
                elif key == "filters":
                    updates["filters"] = rules.check_filters(value)
                elif key == "sample_size":
                    config["sample_size"] = rules.check_sample_size(value)
                elif key == "algorithm_params":
                    config["algorithm_params"] = value
                    config["method_params"] = rules.method_parameters(config)
                elif key == "layout_stability":
                    config["layout_stability"] = rules.check_layout_stability(value)
                elif key == "source_cluster_ids":
                    for source_id in value:
                        if self._repository.get(namespace.namespace_id, source_id) is None:
                            raise NotFound("cluster", source_id)
                    updates["source_cluster_ids"] = tuple(value)
            if config != current.vector_config:
                updates["vector_config"] = config
            updates["updated_at"] = isoformat(utcnow())
            return self._repository.save(current.with_changes(updates), current)

        saved = retry_on_conflict(attempt, attempts=PATCH_ATTEMPTS, gave_up=lambda: Conflict(
            "The cluster kept changing while this request was applied; try again", code="concurrent_modification"))
        self._publish("cluster.updated", namespace, saved)
        return saved

    def delete(self, namespace: Namespace, identifier: str) -> Cluster:
        cluster = self.get(namespace, identifier)
        self._repository.delete_all(cluster)
        # Records first: a failure here leaves files no record points at, never a record without its files.
        self._blobs.delete_prefix(cluster_prefix(namespace.namespace_id, cluster.cluster_id))
        self._publish("cluster.deleted", namespace, cluster)
        return cluster

    def _publish(self, event_type: str, namespace: Namespace, cluster: Cluster) -> None:
        self._events.publish(DomainEvent(
            type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
            data={"cluster_id": cluster.cluster_id, "cluster_name": cluster.cluster_name},
            occurred_at=isoformat(utcnow()),
        ))
