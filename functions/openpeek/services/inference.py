"""Embedding on behalf of the API: which service embeds a namespace's text queries, and the raw inference route.

The registry port knows providers; this service knows namespaces and turns "unknown", "not usable here" and
"this index has no service" into 400s a caller can act on.
"""

from __future__ import annotations

from typing import Sequence

from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.ports import Embedder, InferenceRegistry, InferenceService, InferenceUnavailable


class InferenceGateway:
    def __init__(self, registry: InferenceRegistry) -> None:
        self._registry = registry

    def list_services(self) -> list[InferenceService]:
        return sorted(self._registry.services(), key=lambda service: service.name)

    def require_service(self, name: str) -> InferenceService:
        """The registered, usable service of that name, or a 400 that says how to enable it."""
        return self.embedder(name).service

    def embedder(self, name: str) -> Embedder:
        try:
            return self._registry.embedder(name)
        except InferenceUnavailable as missing:
            known = {service.name for service in self._registry.services()}
            raise BadRequest(
                str(missing),
                code="inference_service_unavailable" if name in known else "inference_service_not_found",
                details={"inference_service": name, "how_to_enable": missing.how_to_enable},
            ) from missing

    def embed_texts(self, name: str, texts: Sequence[str]) -> list[list[float]]:
        return self.embedder(name).embed_texts(list(texts))

    def embed_query(self, namespace: Namespace, vector_name: str, text: str) -> list[float]:
        """Embed a text query for one of the namespace's vector indexes with the service mapped to it."""
        service = namespace.vector_inference_map().get(vector_name)
        if service is None:
            raise BadRequest(
                f"Vector index '{vector_name}' has no inference service, so it cannot take text queries; pass a "
                "vector (input_mode: vector) or map the index to a service with POST /v1/namespaces/{id}/promote",
                code="no_inference_service",
                details={"vector_index": vector_name, "mapped_indexes": sorted(namespace.vector_inference_map())},
            )
        return self.embed_texts(service, [text])[0]
