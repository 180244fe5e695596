"""llm_filter: an LLM reads each document and keeps it only if it meets natural-language criteria."""

from __future__ import annotations

import json
from typing import Any, Optional

from openpeek.domain.namespace import Namespace
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, with_value
from openpeek.services.stages import llm_support
from openpeek.services.stages.base import RunContext, Stage
from openpeek.services.stages.rag_prepare import path_in, view_of

VERDICT = {"type": "object", "properties": {"keep": {"type": "boolean"}, "reason": {"type": "string"}},
           "required": ["keep"]}
MAX_DOCUMENT_CHARS = 8_000


class LlmFilterParameters(llm_support.LlmChoice):
    criteria: Optional[str] = "Keep only documents relevant to {{INPUT.query}}"
    include_reasoning: bool = False
    include_media: bool = False


def document_text(document: dict[str, Any]) -> str:
    shown = {key: value for key, value in document.items() if key not in ("vectors",)}
    return json.dumps(shown, ensure_ascii=False, default=str)[:MAX_DOCUMENT_CHARS]


def renderer(context: RunContext, document: dict[str, Any] | None):
    def lookup(scope: str, path: str | None) -> Any:
        if scope in ("DOC", "doc") and document is not None:
            return path_in(document, path)
        if scope in ("INPUT", "input", "inputs"):
            return path_in(context.inputs, path)
        return None
    return lookup


class LlmFilter(Stage):
    stage_id = "llm_filter"
    category = "filter"
    icon = "sparkles"
    description = ("An LLM judges each document against natural-language criteria ({{INPUT.x}} and {{DOC.x}} "
                   "allowed) and keeps those it accepts. Answers are cached by content hash; a document whose call "
                   "fails is kept and counted in the stage's warnings; every call failing is a 503.")
    Parameters = LlmFilterParameters
    cost_tier = "expensive"
    needs = "an LLM provider (OpenAI, Google or Anthropic key)"
    example = {"stage_name": "relevant", "config": {"stage_id": "llm_filter", "parameters": {
        "provider": "openai", "model_name": "gpt-4o-mini", "criteria": "Keep only vegan recipes"}}}

    def unavailable(self) -> str | None:
        return llm_support.unavailable(self)

    def check_references(self, namespace: Namespace, stage_name: str, parameters: LlmFilterParameters) -> None:
        llm_support.check_provider(self, stage_name, parameters)

    def run(self, context: RunContext, parameters: LlmFilterParameters, candidates: list[Candidate]) -> list[Candidate]:
        if not parameters.criteria or not candidates:
            return candidates
        caller = llm_support.LlmCaller(self, context, parameters, {"temperature": 0})
        prompts = []
        for candidate in candidates:
            document = view_of(candidate)
            criteria = text.render(parameters.criteria, renderer(context, document))
            prompts.append(f"Decide whether this document meets the criteria.\nCriteria: {criteria}\n"
                           f"Document: {document_text(document)}\n"
                           'Answer with JSON: {"keep": true or false, "reason": "one short sentence"}')
        outcomes = caller.each(prompts, VERDICT, lambda answer: (bool(answer["keep"]), answer.get("reason")))
        kept = []
        for candidate, (ok, verdict) in zip(candidates, outcomes):
            if not ok:
                kept.append(candidate)
                continue
            keep, reason = verdict
            if keep:
                kept.append(with_value(candidate, "llm_filter_reason", reason) if parameters.include_reasoning
                            and reason else candidate)
        context.metadata["discarded"] = len(candidates) - len(kept)
        return kept


STAGE = LlmFilter
