"""query_expand: an LLM rewrites the query a few ways; each rewrite runs the given feature_search and the rankings
are fused (reciprocal rank fusion, or averaged scores)."""

from __future__ import annotations

import concurrent.futures
from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages import llm_support
from openpeek.services.stages.base import RunContext, Stage, invalid
from openpeek.services.stages.feature_search import FeatureSearch

EXPANSIONS = {"type": "object", "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
              "required": ["queries"]}
DEFAULT_TIMEOUT_MS = 3_000
DEFAULT_PROMPT = ("Write {{NUM_EXPANSIONS}} different search queries that mean the same as: {{QUERY}}\n"
                  'Answer with JSON: {"queries": ["...", "..."]}')


class QueryExpandParameters(llm_support.LlmChoice):
    num_expansions: int = Field(default=3, ge=1, le=10)
    expansion_prompt: Optional[str] = None
    expansion_model: str = "gpt-4o-mini"
    feature_search_config: dict[str, Any]
    include_original: bool = True
    rrf_k: int = Field(default=60, ge=1, le=1000)
    fusion_strategy: Literal["rrf", "linear"] = "rrf"
    deduplicate: bool = True
    expansion_timeout_ms: Optional[int] = Field(default=None, ge=1, le=5000)


class QueryExpand(Stage):
    stage_id = "query_expand"
    category = "filter"
    icon = "list-plus"
    description = ("An LLM writes num_expansions rewrites of the query (the text query of feature_search_config); "
                   "the search runs for each (and the original) and the rankings are fused by rrf or averaged "
                   "scores. When the LLM fails or exceeds expansion_timeout_ms the original query runs alone and the "
                   "stage says so.")
    Parameters = QueryExpandParameters
    cost_tier = "expensive"
    needs = "an LLM provider (OpenAI, Google or Anthropic key)"

    def unavailable(self) -> str | None:
        return llm_support.unavailable(self)

    def check(self, namespace: Namespace, stage_name: str, parameters: dict) -> dict:
        checked = super().check(namespace, stage_name, parameters)
        search = parameters.get("feature_search_config")
        if isinstance(search, dict):
            try:
                rules.check_feature_search(namespace, stage_name, search)
            except BadRequest as error:
                raise invalid(stage_name, self.stage_id, "feature_search_config", error.message) from None
            if len(search.get("searches") or []) != 1 or \
                    (search["searches"][0].get("query") or {}).get("input_mode") != "text":
                raise invalid(stage_name, self.stage_id, "feature_search_config",
                              "needs exactly one search whose query has input_mode 'text'")
        return checked

    def check_references(self, namespace: Namespace, stage_name: str, parameters: QueryExpandParameters) -> None:
        if not parameters.model_name and not parameters.provider and not parameters.inference_name:
            parameters.model_name = parameters.expansion_model
        llm_support.check_provider(self, stage_name, parameters)

    def run(self, context: RunContext, parameters: QueryExpandParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        if not parameters.model_name and not parameters.provider and not parameters.inference_name:
            parameters.model_name = parameters.expansion_model
        search = parameters.feature_search_config
        original = search["searches"][0]["query"]["value"]
        if not isinstance(original, str) or not original:
            raise invalid(context.stage_name, self.stage_id, "feature_search_config", "the query is empty",
                          code="invalid_query")
        queries = ([original] if parameters.include_original else []) + self._expansions(context, parameters, original)
        queries = list(dict.fromkeys(queries)) or [original]
        searcher = FeatureSearch(self.dependencies)
        runs = []
        for query in queries:
            first = {**search["searches"][0], "query": {"input_mode": "text", "value": query}}
            runs.append((RunContext(namespace=context.namespace, stage_name=context.stage_name, inputs=context.inputs,
                                    request=context.request, ad_hoc=context.ad_hoc,
                                    return_vectors=context.return_vectors, fetch_vectors=context.fetch_vectors,
                                    access=context.access), {**search, "searches": [first]}))
        rankings = searcher.run_many(runs)
        context.search_index = runs[0][0].search_index
        context.metadata["queries"] = queries
        return _fuse(rankings, parameters)

    def _expansions(self, context: RunContext, parameters: QueryExpandParameters, original: str) -> list[str]:
        caller = llm_support.LlmCaller(self, context, parameters, {"temperature": 0.4})
        prompt = (parameters.expansion_prompt or DEFAULT_PROMPT).replace("{{QUERY}}", original).replace(
            "{{NUM_EXPANSIONS}}", str(parameters.num_expansions))
        timeout = (parameters.expansion_timeout_ms or DEFAULT_TIMEOUT_MS) / 1000
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            answer = pool.submit(caller.ask, prompt, EXPANSIONS).result(timeout=timeout)
            found = [q.strip() for q in answer["queries"] if isinstance(q, str) and q.strip()]
            return found[: parameters.num_expansions]
        except concurrent.futures.TimeoutError:
            context.warnings.append(f"query_expand '{context.stage_name}': the expansion took longer than "
                                    f"{timeout * 1000:.0f} ms; the original query ran alone")
        except (DependencyUnavailable, KeyError, TypeError) as error:
            context.warnings.append(f"query_expand '{context.stage_name}': expansion failed ({error}); the original "
                                    "query ran alone")
        finally:
            pool.shutdown(wait=False)
        context.metadata["expansion_skipped"] = True
        return []


def _fuse(rankings: list[list[Candidate]], parameters: QueryExpandParameters) -> list[Candidate]:
    combined: dict[str, float] = {}
    first: dict[str, Candidate] = {}
    counts: dict[str, int] = {}
    for ranking in rankings:
        for rank, candidate in enumerate(ranking):
            first.setdefault(candidate.document_id, candidate)
            counts[candidate.document_id] = counts.get(candidate.document_id, 0) + 1
            contribution = 1 / (parameters.rrf_k + rank + 1) if parameters.fusion_strategy == "rrf" else candidate.score
            combined[candidate.document_id] = combined.get(candidate.document_id, 0.0) + contribution
    if parameters.fusion_strategy == "linear":
        combined = {doc: total / len(rankings) for doc, total in combined.items()}
    order = sorted(combined, key=lambda doc: (-combined[doc], doc))
    return [Candidate(doc, combined[doc], first[doc].payload, first[doc].vectors) for doc in order]
STAGE = QueryExpand
