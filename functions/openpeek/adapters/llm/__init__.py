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
import threading
from typing import Any, Protocol

import httpx

from openpeek.ports import DependencyUnavailable

_MAX_ERROR_CHARS = 200
# Key shapes the providers (or their error messages) may echo: OpenAI/Anthropic "sk-...", Google "AIza...".
_KEY_LIKE = re.compile(r"\b(?:sk-[A-Za-z0-9_*\-]+|AIza[A-Za-z0-9_\-]{10,})")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class LlmClient(Protocol):
    provider: str
    usable: bool

    def complete_json(
        self, prompt: str, *, model: str, parameters: dict[str, Any] | None = None, schema: dict[str, Any] | None = None
    ) -> Any: ...


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
    """What the three providers share: the lazily built httpx client, error mapping, key scrubbing."""

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
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

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
        if self._client is not None:
            self._client.close()

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
        try:
            response = self._http().post(url, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise DependencyUnavailable(f"{self.display_name} timed out after {self._timeout:g}s") from error
        except httpx.HTTPError as error:
            raise DependencyUnavailable(self._scrub(f"{self.display_name} could not be reached: {error}")) from error
        if response.status_code >= 400:
            raise DependencyUnavailable(self._describe_failure(response))
        try:
            return response.json()
        except ValueError as error:
            raise DependencyUnavailable(f"{self.display_name} answered with an unreadable body") from error

    def _describe_failure(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            return f"{self.display_name} rejected the API key (HTTP {status}); check {self.how_to_enable.split()[-1]}"
        if status == 429:
            return f"{self.display_name} is rate limited or out of quota (HTTP 429)"
        detail = ""
        try:
            error = response.json().get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = ": " + error["message"]
        except (ValueError, AttributeError):
            pass
        return self._scrub(f"{self.display_name} failed (HTTP {status}){detail}")[:_MAX_ERROR_CHARS]

    def _scrub(self, message: str) -> str:
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return _KEY_LIKE.sub("***", message)

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    options: dict[str, Any] = {"timeout": self._timeout}
                    if self._transport is not None:
                        options["transport"] = self._transport
                    self._client = httpx.Client(**options)
        return self._client


def pick(parameters: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `parameters` (aliases such as max_tokens / max_output_tokens)."""
    for name in names:
        if parameters.get(name) is not None:
            return parameters[name]
    return None


def build_clients(
    *, openai_api_key: str | None = None, google_api_key: str | None = None, anthropic_api_key: str | None = None
) -> dict[str, HttpLlmClient]:
    """The `clients` mapping ClusterLabeler expects, keyed by Mixpeek's provider names."""
    from openpeek.adapters.llm.anthropic import AnthropicClient
    from openpeek.adapters.llm.google import GoogleClient
    from openpeek.adapters.llm.openai import OpenAiClient

    return {
        "openai": OpenAiClient(openai_api_key),
        "google": GoogleClient(google_api_key),
        "anthropic": AnthropicClient(anthropic_api_key),
    }


__all__ = ["HttpLlmClient", "LlmClient", "build_clients", "parse_json_text", "pick"]
