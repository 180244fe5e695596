"""Promotion of a standalone namespace to managed mode (seed 002), one way.

Everything is validated before anything changes: the namespace is standalone, every existing_index exists, every
added name is new, every inference service is registered, usable here and of the index's dimension. Then the new
indexes are added to the vector collection and the namespace record is saved conditionally; if either step fails the
record is unchanged (an added, still empty index on a standalone namespace holds no data and is reused by a retry
that adds it with the same shape; see _leftover_problems).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, DependencyFailed
from openpeek.domain.namespace import METRICS, PROMOTED_AT, Namespace, VectorConfig, check_vector_configs
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import CollectionNotFound, ConditionFailed
from openpeek.domain.inference import InferenceService
from openpeek.domain.vectors import CollectionInfo, VectorIndexSpec
from openpeek.ports import EventBus, VectorStore
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.inference import InferenceGateway
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal


class PromotionService:
    def __init__(self, namespaces: NamespaceService, repository: NamespaceRepository, vectors: VectorStore,
                 inference: InferenceGateway, events: EventBus) -> None:
        self._namespaces = namespaces
        self._repository = repository
        self._vectors = vectors
        self._inference = inference
        self._events = events

    def validate(self, principal: Principal, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        """What promote would do or why it would fail, changing nothing (PromoteValidateResponseModel)."""
        namespace = self._namespaces.resolve(principal, identifier)
        errors = self._problems(namespace, request)
        if not errors:
            # An unreachable store does not stop a dry run; promote itself will then answer 503.
            errors = _leftover_problems(self._added_specs(namespace, request), self._namespaces.live_info(namespace))
        indexes = [config.public() for config in namespace.vector_configs]
        suggestions = [
            {"existing_index": config.name,
             "inference_services": [s.name for s in self._inference.list_services()
                                    if s.usable and s.dimension == config.dimension and s.modality != "image"]}
            for config in namespace.vector_configs if not config.sparse and not config.inference_service
        ]
        valid = not errors
        return {
            "namespace_id": namespace.public_id,
            "current_mode": namespace.mode,
            "valid": valid,
            "vector_configs": indexes,
            "suggestions": suggestions,
            "errors": errors,
            "required_user_action": "none: POST .../promote with this body" if valid
            else "fix the errors listed, then validate again",
        }

    def promote(self, principal: Principal, identifier: str, request: dict[str, Any]) -> dict[str, Any]:
        namespace = self._namespaces.resolve(principal, identifier)
        problems = self._problems(namespace, request)
        if problems:
            first = problems[0]
            raise BadRequest(first["message"], code=first["code"],
                             details={**first.get("details", {}), "errors": problems})
        added = self._added_specs(namespace, request)
        if added:
            try:
                leftovers = _leftover_problems(added, self._vectors.info(namespace.collection))
                if leftovers:
                    first = leftovers[0]
                    raise Conflict(first["message"], code=first["code"], details=first["details"])
                self._vectors.add_vector_indexes(namespace.collection, added)
            except CollectionNotFound:
                raise DependencyFailed(
                    f"The vector collection of namespace '{namespace.namespace_name}' is missing; nothing was promoted",
                    code="vector_collection_missing", details={"namespace_id": namespace.public_id},
                ) from None
        promoted = self._promoted(namespace, request)
        try:
            saved = self._repository.save(promoted, namespace)
        except ConditionFailed:
            raise Conflict("The namespace changed while it was being promoted; nothing was promoted, try again",
                           code="concurrent_modification") from None
        self._events.publish(DomainEvent(
            type="namespace.promoted", org_id=saved.org_id, namespace_id=saved.namespace_id,
            data={"vector_inference_map": saved.vector_inference_map(), "added_indexes": [s.name for s in added]},
            occurred_at=saved.updated_at,
        ))
        return {
            "namespace_id": saved.public_id,
            "previous_mode": namespace.mode,
            "mode": saved.mode,
            "status": "active",
            "vector_configs": [config.public() for config in saved.vector_configs],
            "vector_inference_map": saved.vector_inference_map(),
        }

    # -- rules ----------------------------------------------------------------------------------------------------

    def _problems(self, namespace: Namespace, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every reason the promotion cannot happen, each {code, message, details}; empty when it can."""
        problems: list[dict[str, Any]] = []
        if namespace.mode != "standalone":
            problems.append(_problem(
                "not_standalone",
                f"Namespace '{namespace.namespace_name}' is already {namespace.mode}; only standalone namespaces can "
                "be promoted, and promotion is one way",
                mode=namespace.mode,
            ))
            return problems
        existing = {config.name: config for config in namespace.vector_configs}
        mapped: set[str] = set()
        for mapping in request.get("vector_mappings") or []:
            name = mapping["existing_index"]
            config = existing.get(name)
            if config is None:
                problems.append(_problem(
                    "vector_index_not_found",
                    f"existing_index '{name}' is not a vector index of this namespace; available: "
                    f"{', '.join(sorted(existing)) or 'none'}",
                    existing_index=name, available_indexes=sorted(existing),
                ))
                continue
            if name in mapped:
                problems.append(_problem("duplicate_mapping", f"existing_index '{name}' is mapped twice",
                                         existing_index=name))
            mapped.add(name)
            if config.sparse:
                problems.append(_problem("sparse_index_not_mappable",
                                         f"'{name}' is a sparse index; only dense indexes take an inference service",
                                         existing_index=name))
                continue
            problems += self._service_problems(mapping["inference_service"], name, config.dimension)
        added: set[str] = set()
        for vector in request.get("add_vectors") or []:
            name = vector["name"]
            if name in existing or name in added:
                problems.append(_problem(
                    "vector_index_exists",
                    f"add_vectors name '{name}' conflicts with an existing index; existing: "
                    f"{', '.join(sorted(existing | dict.fromkeys(added))) or 'none'}",
                    name=name,
                ))
                continue
            added.add(name)
            try:
                check_vector_configs([{"name": name, "dimension": vector["dimension"],
                                       "metric": vector.get("metric") or "cosine"}])
            except BadRequest as invalid:
                problems.append(_problem(invalid.code or "invalid_vector_config", invalid.message, name=name))
                continue
            if vector.get("inference_service"):
                problems += self._service_problems(vector["inference_service"], name, vector["dimension"])
        return problems

    def _service_problems(self, service_name: str, index: str, dimension: int) -> list[dict[str, Any]]:
        try:
            service: InferenceService = self._inference.require_service(service_name)
        except BadRequest as unavailable:
            return [_problem(unavailable.code or "inference_service_unavailable", unavailable.message,
                             index=index, **(unavailable.details or {}))]
        if service.dimension != dimension:
            return [_problem(
                "dimension_mismatch",
                f"inference service '{service_name}' produces {service.dimension}-d vectors but index '{index}' "
                f"holds {dimension}-d",
                index=index, inference_service=service_name, expected_dimension=dimension,
                service_dimension=service.dimension,
            )]
        return []

    def _added_specs(self, namespace: Namespace, request: dict[str, Any]) -> list[VectorIndexSpec]:
        existing = {config.name for config in namespace.vector_configs}
        return [config.spec() for config in self._promoted(namespace, request).vector_configs
                if config.name not in existing]

    def _promoted(self, namespace: Namespace, request: dict[str, Any]) -> Namespace:
        services = {m["existing_index"]: m["inference_service"] for m in request.get("vector_mappings") or []}
        configs = [replace(config, inference_service=services.get(config.name, config.inference_service))
                   for config in namespace.vector_configs]
        for vector in request.get("add_vectors") or []:
            configs.append(VectorConfig(vector["name"], vector["dimension"],
                                        METRICS[str(vector.get("metric") or "cosine").lower()],
                                        vector.get("inference_service")))
        now = isoformat(utcnow())
        return replace(namespace, mode="managed", vector_configs=tuple(configs), updated_at=now,
                       extra={**namespace.extra, "dynamic_vector_indexes": False, PROMOTED_AT: now})


def _leftover_problems(added: list[VectorIndexSpec], live: CollectionInfo | None) -> list[dict[str, Any]]:
    """A promotion whose record save failed after its indexes were added leaves them in the store (empty, and a
    vector store cannot drop a named vector). A retry reuses one of the same shape; one of another shape would make
    the record contradict the store, so it is refused with what the store holds."""
    if live is None:
        return []
    problems = []
    for spec in added:
        present = live.vectors.get(spec.name)
        if present is not None and present != spec:
            problems.append(_problem(
                "vector_index_shape_conflict",
                f"the vector store already holds an empty index '{spec.name}' ({present.dimension}-d, "
                f"{present.metric}) from an earlier, unfinished promotion; add it with that shape or pick another name",
                name=spec.name, dimension=present.dimension, metric=present.metric,
            ))
    return problems


def _problem(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}

