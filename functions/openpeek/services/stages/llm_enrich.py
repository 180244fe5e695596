"""llm_enrich: an LLM writes a new field onto each document from a prompt template (text, or JSON to a schema)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from openpeek.domain import filters as filter_rules
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, with_value
from openpeek.services.stages import llm_support
from openpeek.services.stages.base import RunContext, Stage, invalid
from openpeek.services.stages.llm_filter import renderer
from openpeek.services.stages.rag_prepare import view_of

TEXT_ANSWER = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


class LlmEnrichParameters(llm_support.LlmChoice):
    prompt: str = "Summarize the following content in 2-3 sentences: {{DOC.content}}"
    output_field: str = Field(default="summary", min_length=1)
    batch_size: int = Field(default=5, ge=1, le=25)
    output_schema: Optional[dict[str, Any]] = Field(default=None, alias="schema")
    max_tokens: Optional[int] = Field(default=None, ge=100, le=16_000)
    temperature: float = Field(default=0.2, ge=0, le=1)
    thinking_level: Optional[str] = None
    multimodal_inputs: Optional[dict[str, str]] = None
    use_vcache: bool = False
    when: Optional[dict[str, Any]] = None


class LlmEnrich(Stage):
    stage_id = "llm_enrich"
    category = "apply"
    icon = "wand-sparkles"
    description = ("An LLM answers a prompt per document ({{DOC.x}}, {{INPUT.x}}) and the answer is written to "
                   "output_field: text, or JSON following `schema`. `when` limits which documents are sent. Answers "
                   "are cached by content hash; a failed call leaves its document unchanged (counted in warnings); "
                   "every call failing is a 503.")
    Parameters = LlmEnrichParameters
    cost_tier = "expensive"
    needs = "an LLM provider (OpenAI, Google or Anthropic key)"

    def unavailable(self) -> str | None:
        return llm_support.unavailable(self)

    def check_references(self, namespace: Namespace, stage_name: str, parameters: LlmEnrichParameters) -> None:
        llm_support.check_provider(self, stage_name, parameters)
        if parameters.multimodal_inputs:
            raise invalid(stage_name, self.stage_id, "multimodal_inputs", "media inputs are not sent to the model "
                          "by this deployment; only text")
        filter_rules.parse_filter(parameters.when)

    def run(self, context: RunContext, parameters: LlmEnrichParameters, candidates: list[Candidate]) -> list[Candidate]:
        condition = filter_rules.parse_filter(parameters.when)
        chosen = [i for i, c in enumerate(candidates)
                  if condition is None or filter_rules.matches(condition, c.payload, c.document_id)]
        caller = llm_support.LlmCaller(self, context, parameters, {"temperature": parameters.temperature,
                                                                   "max_tokens": parameters.max_tokens})
        schema = parameters.output_schema or TEXT_ANSWER
        suffix = ("Answer with JSON following this schema." if parameters.output_schema
                  else 'Answer with JSON: {"text": "your answer"}')
        prompts = [text.render(parameters.prompt, renderer(context, view_of(candidates[i]))) + "\n" + suffix
                   for i in chosen]
        read = (lambda answer: answer) if parameters.output_schema else (lambda answer: str(answer["text"]))
        outcomes = caller.each(prompts, schema, read)
        enriched = list(candidates)
        for index, (ok, value) in zip(chosen, outcomes):
            if ok:
                enriched[index] = with_value(candidates[index], parameters.output_field, value)
        context.metadata["enriched"] = sum(1 for ok, _ in outcomes if ok)
        return enriched


STAGE = LlmEnrich
