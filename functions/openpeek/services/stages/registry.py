"""The stage catalogue: every module of this package that defines `STAGE` (a Stage subclass) is a stage, so adding a
stage is adding one module. Stages are built once with the services they may call (StageDependencies)."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Mapping

from openpeek.ports import VectorStore
from openpeek.services.stages.base import Stage

_NOT_STAGES = frozenset({"base", "registry", "llm_support"})


@dataclass
class StageDependencies:
    vectors: VectorStore
    inference: Any  # services.inference.InferenceGateway: query embeddings for feature_search's text mode
    llm_clients: Mapping[str, Any] = field(default_factory=dict)  # provider name → adapters.llm client
    usage: Any = None  # services.filter_usage.FilterUsage, for namespaces that auto-create payload indexes
    reranker: Any = None  # a cross-encoder: score(query, texts) -> scores; none ships, so rerank says it is unavailable
    sandbox: Any = None  # an isolated code runner for code_execution; none ships, so the stage is refused
    llm_cache: Any = None  # repositories.llm_answers.LlmAnswerCache: LLM answers by content hash
    outbound: Any = None  # adapters.outbound_http.PinnedHttpClient: api_call's HTTP calls to checked addresses
    deployed: bool = False  # deployed: outbound targets must be public https hosts (the webhook SSRF rules)
    web_search_url: str | None = None  # external_web_search: an Exa-compatible search endpoint, set by the operator
    web_search_api_key: str | None = None  # its key (never shown)
    sql: Any = None  # sql_lookup's configured databases (adapters.sqlite_lookup.ReadOnlySqlite), or None
    resolver: Any = None  # host, port → addresses (adapters.dns_resolver): the SSRF rules check what api_call reaches
    # (org id, name) → that organisation's secret, or None (services/organization_secrets.py: TenantSecrets)
    org_secrets: Any = None


def stage_classes() -> list[type[Stage]]:
    import openpeek.services.stages as package

    found = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name in _NOT_STAGES:
            continue
        stage = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "STAGE", None)
        if stage is not None:
            found.append(stage)
    return found


class StageRegistry:
    def __init__(self, dependencies: StageDependencies) -> None:
        self._stages: dict[str, Stage] = {}
        for stage_class in stage_classes():
            stage = stage_class(dependencies)
            self._stages[stage.stage_id] = stage

    def get(self, stage_id: str) -> Stage | None:
        return self._stages.get(stage_id)

    def known(self) -> list[str]:
        return sorted(self._stages)

    def catalogue(self) -> list[dict[str, Any]]:
        return [self._stages[stage_id].discovery() for stage_id in self.known()]
