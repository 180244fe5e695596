"""OpenAI text-embedding-3-small over plain HTTP.

httpx rather than the `openai` SDK: the API Lambda already carries httpx (qdrant-client depends on it), while the SDK
would add pydantic models, jiter and its own retry layer for one POST. Errors are reported without the response body
of authentication failures, because OpenAI echoes part of the offending key there.
"""

from __future__ import annotations

from typing import Sequence

import httpx

from openpeek.adapters.keyed_https import KeyedHttpsClient
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceService

SERVICE_NAME = "openai_text_3_small"
MODEL = "text-embedding-3-small"
DIMENSION = 1536
DEFAULT_BASE_URL = "https://api.openai.com/v1"
HOW_TO_ENABLE = "set OPENPEEK_OPENAI_API_KEY"
MAX_INPUTS_PER_REQUEST = 2048  # OpenAI's limit on the `input` array of one embeddings request


class OpenAiEmbedder:
    """Embedder for `openai_text_3_small` (1536-d text).

    Without `api_key` the service is listed as not usable. `transport` replaces the network (tests); `timeout` bounds
    each request so a slow provider turns into a 503 before the API Gateway's own 30-second limit.
    """

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api_key = api_key or None
        self._url = base_url.rstrip("/") + "/embeddings"
        self._https = KeyedHttpsClient("OpenAI embeddings", self._api_key, key_setting="OPENPEEK_OPENAI_API_KEY",
                                       timeout=timeout, transport=transport)
        usable = self._api_key is not None
        self.service = InferenceService(
            name=SERVICE_NAME,
            dimension=DIMENSION,
            modality="text",
            provider="openai",
            description="OpenAI text-embedding-3-small (1536-d).",
            usable=usable,
            how_to_enable=None if usable else HOW_TO_ENABLE,
        )

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._api_key is None:
            raise DependencyUnavailable(f"OpenAI embeddings are not configured: {HOW_TO_ENABLE}")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), MAX_INPUTS_PER_REQUEST):
            vectors.extend(self._request(list(texts[start : start + MAX_INPUTS_PER_REQUEST])))
        return vectors

    def close(self) -> None:
        self._https.close()

    def _request(self, texts: list[str]) -> list[list[float]]:
        response = self._https.post(self._url, json={"model": MODEL, "input": texts},
                                    headers={"Authorization": f"Bearer {self._api_key}"})
        return self._parse(response, len(texts))

    def _parse(self, response: httpx.Response, expected: int) -> list[list[float]]:
        try:
            items = response.json()["data"]
            # The API documents `index` as the position in `input`; ordering by it, not by list position, is what
            # keeps each vector with its text.
            ordered = sorted(items, key=lambda item: item["index"])
            vectors = [[float(value) for value in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as error:
            raise DependencyUnavailable("OpenAI embeddings answered with an unreadable body") from error
        if len(vectors) != expected or [item["index"] for item in ordered] != list(range(expected)):
            raise DependencyUnavailable(f"OpenAI embeddings returned {len(vectors)} vectors for {expected} inputs")
        if any(len(vector) != DIMENSION for vector in vectors):
            raise DependencyUnavailable(f"OpenAI embeddings returned vectors that are not {DIMENSION}-d")
        return vectors
