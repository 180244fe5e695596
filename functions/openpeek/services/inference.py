"""Embedding on behalf of the API: which service embeds a namespace's text queries, and the raw inference route.

The registry port knows providers; this service knows namespaces and turns "unknown", "not usable here" and
"this index has no service" into 400s a caller can act on.
"""

from __future__ import annotations

from typing import Any, Sequence

from openpeek.domain import extractors
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.inference import InferenceService, InferenceUnavailable
from openpeek.ports import Embedder, InferenceRegistry

MAX_TEXTS = 256
MAX_TEXT_CHARACTERS = 32_768
# provider + model, as RawInferenceRequest names them, → the registered service.
PROVIDER_MODELS = {
    ("openai", "text-embedding-3-small"): "openai_text_3_small",
    ("bedrock", "amazon.titan-embed-text-v2:0"): "bedrock_titan_text_v2",
    ("bedrock", "amazon.titan-embed-image-v1"): "bedrock_titan_multimodal_g1",
    ("local", "all-MiniLM-L6-v2"): "all_minilm_l6_v2",
    ("sentence-transformers", "all-MiniLM-L6-v2"): "all_minilm_l6_v2",
}


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

    # -- the raw inference route ----------------------------------------------------------------------------------

    def raw_embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/inference: the service named by inference_name, feature_uri or provider+model embeds
        inputs.text (one vector) or inputs.texts (one per text)."""
        name = self._service_name(request)
        inputs = request.get("inputs") or {}
        unknown = set(inputs) - {"text", "texts"}
        if unknown or len(inputs) != 1:
            raise BadRequest("inputs takes exactly one of {text: str} or {texts: [str]} (embedding services only)",
                             code="invalid_inference_inputs", details={"keys": sorted(inputs)})
        single = "text" in inputs
        texts = [inputs["text"]] if single else inputs["texts"]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise BadRequest("inputs.text must be a non-blank string, inputs.texts a non-empty list of them",
                             code="invalid_inference_inputs")
        if len(texts) > MAX_TEXTS:
            raise BadRequest(f"at most {MAX_TEXTS} texts per request; got {len(texts)}",
                             code="too_many_inputs", details={"max": MAX_TEXTS, "got": len(texts)})
        longest = max(len(t) for t in texts)
        if longest > MAX_TEXT_CHARACTERS:
            raise BadRequest(f"a text may hold at most {MAX_TEXT_CHARACTERS} characters; got {longest}",
                             code="input_too_long", details={"max": MAX_TEXT_CHARACTERS})
        embedder = self.embedder(name)
        vectors = embedder.embed_texts(texts)
        return {"data": {"embedding": vectors[0]} if single else {"embeddings": vectors},
                "provider": embedder.service.provider, "model": name}

    def _service_name(self, request: dict[str, Any]) -> str:
        if request.get("inference_name"):
            return request["inference_name"]
        if request.get("feature_uri"):
            extractor = extractors.from_feature_uri(request["feature_uri"])
            if extractor is None:
                raise BadRequest(f"feature_uri '{request['feature_uri']}' names no feature extractor; the format is "
                                 "mixpeek://{extractor}@{version}/{output}", code="feature_extractor_not_found",
                                 details={"feature_uri": request["feature_uri"]})
            return extractor.inference_service
        provider, model = request.get("provider"), request.get("model")
        if provider and model:
            name = PROVIDER_MODELS.get((provider.lower(), model))
            if name is None:
                raise BadRequest(
                    f"model '{model}' of provider '{provider}' is not an embedding service of this deployment; "
                    "GET /v1/inference/services lists those that are",
                    code="inference_service_not_found", details={"provider": provider, "model": model},
                )
            return name
        raise BadRequest("name the service: inference_name, feature_uri, or provider and model",
                         code="missing_inference_service")
