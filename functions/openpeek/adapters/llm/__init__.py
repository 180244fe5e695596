"""Small JSON-answering LLM clients, one per provider (OpenAI, Google Gemini, Anthropic), all with one interface.

`complete_json(prompt, model=..., parameters=..., schema=...)` sends one user prompt, asks the provider for JSON (its
own JSON mode, plus `schema` as the structured-output schema where the API has one) and returns the parsed JSON the
model answered. Every failure (no key, HTTP >= 400, timeout, network, a body or an answer that is not JSON) is a
`DependencyUnavailable` whose message is short and never carries the API key.

httpx rather than the vendors' SDKs, as for the OpenAI embedder: one POST each, a transport tests can replace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import json
import re
from typing import Any

import httpx

from openpeek.adapters.keyed_https import KeyedHttpsClient
from openpeek.domain.failures import DependencyUnavailable

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def parse_json_text(text: str) -> Any:
    """The JSON in a model's text answer, tolerating a ```json fence or prose around one object/array."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    # Prose around the JSON ("Here are the labels: [...]"): take the outermost bracketed span.
    for opener, closer in (("[", "]"), ("{", "}")):
        start, end = candidate.find(opener), candidate.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(candidate[start : end + 1])
            except ValueError:
                continue
    raise ValueError("not JSON")


class HttpLlmClient(ABC):
    """What the three providers share: the request and its failures (adapters/keyed_https.py), the JSON answer."""

    provider = ""
    display_name = ""
    how_to_enable = ""
    default_base_url = ""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api_key = api_key or None
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._https = KeyedHttpsClient(self.display_name, self._api_key, key_setting=self.how_to_enable.split()[-1],
                                       timeout=timeout, transport=transport)

    @property
    def usable(self) -> bool:
        return self._api_key is not None

    def complete_json(
        self, prompt: str, *, model: str, parameters: dict[str, Any] | None = None, schema: dict[str, Any] | None = None
    ) -> Any:
        if self._api_key is None:
            raise DependencyUnavailable(f"{self.display_name} is not configured: {self.how_to_enable}")
        url, headers, body = self._build_request(prompt, model, dict(parameters or {}), schema)
        payload = self._post(url, headers, body)
        try:
            text_or_json = self._extract(payload)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise DependencyUnavailable(f"{self.display_name} answered with an unreadable body") from error
        if not isinstance(text_or_json, str):
            return text_or_json  # already structured (Anthropic tool input)
        try:
            return parse_json_text(text_or_json)
        except ValueError as error:
            raise DependencyUnavailable(f"{self.display_name} answered with text that is not JSON") from error

    def close(self) -> None:
        self._https.close()

    # Provider specifics ---------------------------------------------------------------------------------------------

    @abstractmethod
    def _build_request(
        self, prompt: str, model: str, parameters: dict[str, Any], schema: dict[str, Any] | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(URL, headers, JSON body) of the provider's request."""

    @abstractmethod
    def _extract(self, payload: Any) -> Any:
        """The model's answer: its text (JSON to parse) or an already parsed JSON value."""

    # Shared plumbing ------------------------------------------------------------------------------------------------

    def _post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        response = self._https.post(url, json=body, headers=headers)
        try:
            return response.json()
        except ValueError as error:
            raise DependencyUnavailable(f"{self.display_name} answered with an unreadable body") from error


def pick(parameters: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `parameters` (aliases such as max_tokens / max_output_tokens)."""
    for name in names:
        if parameters.get(name) is not None:
            return parameters[name]
    return None


def build_clients(
    *, openai_api_key: str | None = None, google_api_key: str | None = None, anthropic_api_key: str | None = None,
    base_urls: dict[str, str | None] | None = None,
) -> dict[str, HttpLlmClient]:
    """The `clients` mapping ClusterLabeler expects, keyed by Mixpeek's provider names. `base_urls` (provider →
    URL) points a provider at a compatible endpoint (a proxy, a gateway) instead of its public API."""
    from openpeek.adapters.llm.anthropic import AnthropicClient
    from openpeek.adapters.llm.google import GoogleClient
    from openpeek.adapters.llm.openai import OpenAiClient

    urls = base_urls or {}
    return {
        "openai": OpenAiClient(openai_api_key, base_url=urls.get("openai")),
        "google": GoogleClient(google_api_key, base_url=urls.get("google")),
        "anthropic": AnthropicClient(anthropic_api_key, base_url=urls.get("anthropic")),
    }


__all__ = ["HttpLlmClient", "LlmClient", "build_clients", "parse_json_text", "pick"]
