"""The InferenceRegistry of a deployment: which embedding services it can call, and why the others are missing.

Namespaces name their query-embedding service (vector_inference_map); a name this deployment cannot serve must fail
with a message an operator can act on, not with a KeyError, so every name the Mixpeek catalogue uses is listed here
even when no provider for it is bundled.
"""

from __future__ import annotations

import dataclasses
import threading
from array import array
from collections import OrderedDict
from typing import Iterable, Sequence

from openpeek.adapters.inference import local_minilm
from openpeek.adapters.inference.bedrock import BedrockTitanMultimodalEmbedder, BedrockTitanTextEmbedder
from openpeek.adapters.inference.openai import OpenAiEmbedder
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceService, InferenceUnavailable
from openpeek.ports import Embedder

NOT_BUNDLED = (
    "not bundled with openpeek; register a provider for it or use all_minilm_l6_v2 / bedrock_titan_multimodal_g1"
)
BEDROCK_DISABLED = "Bedrock is not enabled in this deployment; deploy the aws runtime with Bedrock model access"
LOCAL_DISABLED = "local inference is disabled in this deployment's settings"

# Names the Mixpeek catalogue (and so existing namespaces and SDK examples) use, with their real sizes, so listings
# show what a namespace built on them would need.
_CATALOGUE_NOT_BUNDLED = (
    InferenceService("clip_vit_b32", 512, "multimodal", "local", "OpenAI CLIP ViT-B/32 (512-d, text and images)."),
    InferenceService("google_siglip_base_v1", 768, "multimodal", "local", "Google SigLIP base (768-d)."),
    InferenceService(
        "multilingual_e5_large_instruct_v1", 1024, "text", "local", "multilingual-e5-large-instruct (1024-d)."
    ),
    InferenceService("vertex_multimodal_embedding", 1408, "multimodal", "vertex", "Vertex AI multimodal (1408-d)."),
    InferenceService("laion_clip_vit_l_14_v1", 768, "multimodal", "local", "LAION CLIP ViT-L/14 (768-d)."),
)


def _unusable(service: InferenceService, how_to_enable: str) -> InferenceService:
    return dataclasses.replace(service, usable=False, how_to_enable=how_to_enable)


class CachingEmbedder:
    """An Embedder that remembers query vectors: an LRU of `max_entries` keyed by (service name, text).

    Searches repeat the same queries (pagination, dashboards, retries), and each provider call costs tens of
    milliseconds and, for Bedrock and OpenAI, money. Vectors are kept as packed float64 arrays (8 bytes a value rather
    than about 32 for a list of floats) and handed out as fresh lists, so a caller that mutates its result cannot
    change what the next caller gets. The lock guards only the dictionary; provider calls run outside it, so one slow
    call does not hold up cache hits.
    """

    def __init__(self, inner: Embedder, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.inner = inner
        self.service = inner.service
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], array] = OrderedDict()
        self._lock = threading.Lock()

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        name = self.service.name
        found: dict[str, list[float]] = {}
        with self._lock:
            for text in texts:
                cached = self._entries.get((name, text))
                if cached is not None:
                    self._entries.move_to_end((name, text))
                    found[text] = cached.tolist()
        # dict.fromkeys keeps order and drops repeats, so a text asked twice in one call is embedded once.
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            fresh = self.inner.embed_texts(missing)
            if len(fresh) != len(missing):
                # zip would silently pair vectors with the wrong texts and poison the cache for good.
                raise DependencyUnavailable(f"{name} returned {len(fresh)} vectors for {len(missing)} texts")
            with self._lock:
                for text, vector in zip(missing, fresh):
                    self._entries[(name, text)] = array("d", vector)
                    self._entries.move_to_end((name, text))
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
            found.update(zip(missing, fresh))
        # Each position gets its own list, even for repeated texts, for the same reason hits are copied.
        return [list(found[text]) for text in texts]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class StaticInferenceRegistry:
    """An InferenceRegistry fixed at start-up: the embedders this deployment can call, and services it knows of but
    cannot serve (each with its `how_to_enable`). An embedder whose own service says it is not usable (no API key,
    weights not installed) is listed and refused the same way."""

    def __init__(
        self,
        embedders: Iterable[Embedder],
        known_but_unavailable: Iterable[InferenceService] = (),
    ) -> None:
        self._embedders: dict[str, Embedder] = {}
        self._services: dict[str, InferenceService] = {}
        for embedder in embedders:
            self._add(embedder.service)
            if embedder.service.usable:
                self._embedders[embedder.service.name] = embedder
        for service in known_but_unavailable:
            self._add(_unusable(service, service.how_to_enable or NOT_BUNDLED) if service.usable else service)

    def services(self) -> list[InferenceService]:
        return sorted(self._services.values(), key=lambda service: service.name)

    def embedder(self, name: str) -> Embedder:
        embedder = self._embedders.get(name)
        if embedder is not None:
            return embedder
        service = self._services.get(name)
        if service is not None:
            raise InferenceUnavailable(name, service.how_to_enable or NOT_BUNDLED)
        usable = sorted(self._embedders)
        raise InferenceUnavailable(
            name,
            "unknown inference service; registered: "
            + ", ".join(sorted(self._services))
            + (f" (usable here: {', '.join(usable)})" if usable else " (none usable here)"),
        )

    def _add(self, service: InferenceService) -> None:
        if service.name in self._services:
            raise ValueError(f"inference service {service.name!r} is registered twice")
        self._services[service.name] = service


def default_registry(
    *,
    openai_api_key: str | None,
    bedrock_enabled: bool,
    local_enabled: bool,
    bedrock_region: str | None = None,
    cache_entries: int = 10_000,
) -> StaticInferenceRegistry:
    """The registry runtime.py builds from settings: the local model, Titan on Bedrock and OpenAI where enabled,
    each behind a query cache, and every other catalogue name listed as not usable with the reason."""
    embedders: list[Embedder] = []
    unavailable: list[InferenceService] = list(_CATALOGUE_NOT_BUNDLED)

    local = local_minilm.LocalMiniLmEmbedder()
    if local_enabled:
        embedders.append(local)
    else:
        unavailable.append(_unusable(local.service, LOCAL_DISABLED))

    bedrock: list[Embedder] = [
        BedrockTitanTextEmbedder(region=bedrock_region),
        BedrockTitanMultimodalEmbedder(region=bedrock_region),
    ]
    if bedrock_enabled:
        embedders.extend(bedrock)
    else:
        unavailable.extend(_unusable(embedder.service, BEDROCK_DISABLED) for embedder in bedrock)

    embedders.append(OpenAiEmbedder(openai_api_key))

    return StaticInferenceRegistry(
        [CachingEmbedder(embedder, cache_entries) if embedder.service.usable else embedder for embedder in embedders],
        unavailable,
    )
