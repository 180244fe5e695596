"""What every provider reached over HTTPS with an API key shares (OpenAI embeddings, the OpenAI / Gemini / Claude
labelers): the httpx client, made once on first use, and failures turned into DependencyUnavailable (a 503 to the
caller) whose message names the provider and what went wrong, and never carries the key."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx

from openpeek.domain.failures import DependencyUnavailable

MAX_ERROR_CHARS = 200
# Keys that could come back inside a provider's error text or an exception: OpenAI's sk-..., Google's AIza...
KEY_LIKE = re.compile(r"\b(?:sk-[A-Za-z0-9_*\-]+|AIza[A-Za-z0-9_\-]{10,})")


class KeyedHttpsClient:
    """`name` is how messages call the provider; `key_setting` the setting that holds its key. `transport` replaces
    the network (tests); `timeout` bounds each request."""

    def __init__(self, name: str, api_key: str | None, *, key_setting: str, timeout: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.name = name
        self.timeout = timeout
        self._api_key = api_key or None
        self._key_setting = key_setting
        self._transport = transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def post(self, url: str, *, json: Any, headers: dict[str, str]) -> httpx.Response:
        """The provider's answer with a status below 400; anything else raises DependencyUnavailable."""
        try:
            response = self._http().post(url, json=json, headers=headers)
        except httpx.TimeoutException as error:
            raise DependencyUnavailable(f"{self.name} timed out after {self.timeout:g}s") from error
        except httpx.HTTPError as error:
            # The exception text names the URL and the failure, never the headers, but it is scrubbed all the same.
            raise DependencyUnavailable(self.scrub(f"{self.name} could not be reached: {error}")) from error
        if response.status_code >= 400:
            raise DependencyUnavailable(self._describe_failure(response))
        return response

    def scrub(self, message: str) -> str:
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return KEY_LIKE.sub("***", message)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _describe_failure(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            return f"{self.name} rejected the API key (HTTP {status}); check {self._key_setting}"
        if status == 429:
            return f"{self.name} is rate limited or out of quota (HTTP 429)"
        detail = ""
        try:
            error = response.json().get("error")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                detail = ": " + error["message"]
        except (ValueError, AttributeError):
            pass
        return self.scrub(f"{self.name} failed (HTTP {status}){detail}")[:MAX_ERROR_CHARS]

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    options: dict[str, Any] = {"timeout": self.timeout}
                    if self._transport is not None:
                        options["transport"] = self._transport
                    self._client = httpx.Client(**options)
        return self._client
