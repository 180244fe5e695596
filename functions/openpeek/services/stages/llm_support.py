"""What the LLM-backed stages share (not a stage itself): choosing the provider and model, refusing at creation when
that provider has no key, calling it with answers cached by content hash, and per-document calls run a few at a time
where one document's failure does not fail the others."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from openpeek.domain.errors import DependencyFailed
from openpeek.domain.stages import context as text
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages.base import RunContext, StageParameters, invalid

DEFAULT_PROVIDER = "google"
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "google": "gemini-2.5-flash-lite", "anthropic": "claude-haiku-4-5"}
MODEL_PREFIXES = (("gpt", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("gemini", "google"),
                  ("claude", "anthropic"))
LEGACY_PROVIDER_NAMES = {"gemini": "google", "openai": "openai", "anthropic": "anthropic", "google": "google"}
CONCURRENT_CALLS = 5
CACHE_FORMAT = 1  # part of every cache key: bump when prompts change meaningfully


class LlmChoice(StageParameters):
    """The provider fields the SDK's LLM stage parameters share."""

    provider: Optional[str] = None
    model_name: Optional[str] = None
    inference_name: Optional[str] = None
    feature_uri: Optional[str] = None
    api_key: Optional[str] = None


def choose(parameters: Any) -> tuple[str, str]:
    """(provider, model): legacy inference_name 'provider:model' first, then provider / model_name, the provider
    inferred from the model's name when absent."""
    provider, model = parameters.provider, parameters.model_name
    if parameters.inference_name and ":" in parameters.inference_name:
        legacy_provider, legacy_model = parameters.inference_name.split(":", 1)
        provider = provider or LEGACY_PROVIDER_NAMES.get(legacy_provider, legacy_provider)
        model = model or legacy_model
    if not provider and model:
        provider = next((name for prefix, name in MODEL_PREFIXES if model.startswith(prefix)), None)
    provider = provider or DEFAULT_PROVIDER
    return provider, model or DEFAULT_MODELS.get(provider, "")


def check_provider(stage: Any, stage_name: str, parameters: Any) -> None:
    """400 at creation when the stage could never run here: a plugin, a per-retriever key, an unknown provider or one
    whose key this deployment lacks."""
    if parameters.feature_uri:
        raise invalid(stage_name, stage.stage_id, "feature_uri", "custom LLM plugins are not supported here; use "
                      "provider and model_name")
    if parameters.api_key:
        raise invalid(stage_name, stage.stage_id, "api_key", "per-retriever keys are not supported; the deployment's "
                      "provider keys are used")
    provider, _ = choose(parameters)
    clients = stage.dependencies.llm_clients
    client = clients.get(provider)
    if client is None:
        raise invalid(stage_name, stage.stage_id, "provider", f"unknown provider '{provider}'; this deployment "
                      f"knows {', '.join(sorted(clients))}")
    if not client.usable:
        raise invalid(stage_name, stage.stage_id, "provider", f"{client.display_name} is not configured in this "
                      f"deployment ({client.how_to_enable})", code="stage_unavailable")


def unavailable(stage: Any) -> str | None:
    if not any(client.usable for client in stage.dependencies.llm_clients.values()):
        return ("no LLM provider key is configured (set OPENPEEK_OPENAI_API_KEY, OPENPEEK_GOOGLE_API_KEY or "
                "OPENPEEK_ANTHROPIC_API_KEY)")
    return None


class LlmCaller:
    """One stage execution's calls to one provider/model: cached answers, counted calls and estimated tokens."""

    def __init__(self, stage: Any, context: RunContext, parameters: Any, options: dict[str, Any]) -> None:
        self._provider, self._model = choose(parameters)
        self._client = stage.dependencies.llm_clients[self._provider]
        self._cache = stage.dependencies.llm_cache
        self._context = context
        self._options = {key: value for key, value in options.items() if value is not None}
        context.metadata.update({"provider": self._provider, "model": self._model})

    def ask(self, prompt: str, schema: dict[str, Any] | None) -> Any:
        digest = hashlib.sha256(json.dumps([CACHE_FORMAT, self._provider, self._model, prompt, schema, self._options],
                                           sort_keys=True, default=str).encode()).hexdigest()
        namespace_id = self._context.namespace.namespace_id
        if self._cache is not None:
            cached = self._cache.get(namespace_id, digest)
            if cached is not None:
                self._context.metadata["cache_hits"] = self._context.metadata.get("cache_hits", 0) + 1
                return cached
        answer = self._client.complete_json(prompt, model=self._model, parameters=self._options, schema=schema)
        self._context.llm_calls += 1
        self._context.tokens_used += text.estimate_tokens(prompt) + text.estimate_tokens(json.dumps(answer))
        if self._cache is not None:
            self._cache.put(namespace_id, digest, answer)
        return answer

    def each(self, prompts: list[str], schema: dict[str, Any] | None, read: Callable[[Any], Any]
             ) -> list[tuple[bool, Any]]:
        """Per prompt (ok, read(answer)) — or (False, reason) when the provider failed or the answer did not read.
        All failing is the provider failing: 503, nothing returned as if it had answered."""
        def one(prompt: str) -> tuple[bool, Any]:
            try:
                return True, read(self.ask(prompt, schema))
            except DependencyUnavailable as error:
                return False, str(error)
            except (KeyError, TypeError, ValueError) as error:
                return False, f"unreadable answer: {error}"

        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(CONCURRENT_CALLS, len(prompts))) as pool:
            outcomes = list(pool.map(one, prompts))
        failures = [reason for ok, reason in outcomes if not ok]
        if failures and len(failures) == len(outcomes):
            raise DependencyFailed(f"stage '{self._context.stage_name}': the {self._provider} model failed on every "
                                   f"document ({failures[0]})", code="llm_failed",
                                   details={"stage": self._context.stage_name, "provider": self._provider})
        if failures:
            self._context.metadata["failed_documents"] = len(failures)
            self._context.warnings.append(f"stage '{self._context.stage_name}': {len(failures)} of {len(outcomes)} "
                                          f"LLM calls failed ({failures[0]}); those documents were left as they were")
        return outcomes
