"""summarize: an LLM condenses the documents (or each group of them) into one summary document."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain.namespace import Namespace
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, synthetic, value_at
from openpeek.domain.stages.grouping import group_indexes
from openpeek.services.stages import llm_support
from openpeek.services.stages.base import RunContext, Stage
from openpeek.services.stages.rag_prepare import path_in, view_of

SUMMARY_ANSWER = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}


class SummarizeParameters(llm_support.LlmChoice):
    prompt: str = "Summarize the following {{DOC_COUNT}} documents concisely:\n\n{{DOCUMENTS}}"
    document_template: str = "[{{INDEX}}] {{DOC.content}}\n"
    content_field: str = "content"
    group_by: Optional[str] = None
    output_field: str = Field(default="summary", min_length=1)
    include_sources: bool = True
    include_metadata: bool = True
    max_input_tokens: Optional[int] = Field(default=None, ge=100, le=128_000)
    truncation_strategy: Literal["drop_last", "truncate_each", "smart"] = "drop_last"
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_output_tokens: int = Field(default=1024, ge=10, le=16_000)
    output_schema: Optional[dict[str, Any]] = None


class Summarize(Stage):
    stage_id = "summarize"
    category = "reduce"
    icon = "scroll-text"
    description = ("An LLM writes one summary of the documents (one per group_by value), formatted with "
                   "document_template ({{INDEX}}, {{DOC.x}}) into prompt ({{DOC_COUNT}}, {{DOCUMENTS}}), within "
                   "max_input_tokens (estimated) when set; the summary document lists its sources.")
    Parameters = SummarizeParameters
    cost_tier = "expensive"
    needs = "an LLM provider (OpenAI, Google or Anthropic key)"

    def unavailable(self) -> str | None:
        return llm_support.unavailable(self)

    def check_references(self, namespace: Namespace, stage_name: str, parameters: SummarizeParameters) -> None:
        llm_support.check_provider(self, stage_name, parameters)

    def run(self, context: RunContext, parameters: SummarizeParameters, candidates: list[Candidate]) -> list[Candidate]:
        if not candidates:
            return []
        groups = group_indexes([value_at(c, parameters.group_by) if parameters.group_by else None
                                for c in candidates])
        caller = llm_support.LlmCaller(self, context, parameters, {"temperature": parameters.temperature,
                                                                   "max_tokens": parameters.max_output_tokens})
        prompts, members_of = [], []
        for members in groups.values():
            views = [view_of(candidates[i]) for i in members]
            if parameters.truncation_strategy == "smart":
                views.sort(key=lambda view: -view["score"])
            parts = []
            for position, view in enumerate(views, start=1):
                def lookup(scope: str, path: str | None, view=view, position=position) -> Any:
                    if scope == "INDEX":
                        return position
                    if scope in ("DOC", "doc"):
                        return path_in(view, parameters.content_field if path == "content" else path)
                    return path_in(context.inputs, path) if scope in ("INPUT", "inputs") else None
                parts.append(text.render(parameters.document_template, lookup))
            if parameters.max_input_tokens:
                strategy = "truncate_each" if parameters.truncation_strategy == "truncate_each" else "drop_last"
                parts, dropped = text.fit_budget(parts, parameters.max_input_tokens, strategy)
                if dropped:
                    context.warnings.append(f"summarize '{context.stage_name}': {dropped} document(s) did not fit "
                                            f"max_input_tokens")
            documents = "".join(parts)
            prompt = text.render(parameters.prompt, lambda scope, path: {
                "DOC_COUNT": len(parts), "DOCUMENTS": documents}.get(scope, path_in(context.inputs, path)
                                                                   if scope in ("INPUT", "inputs") else None))
            if "{{DOCUMENTS}}" not in parameters.prompt:
                prompt += "\n\n" + documents
            prompt += ("\nAnswer with JSON following this schema." if parameters.output_schema
                       else '\nAnswer with JSON: {"summary": "the summary"}')
            prompts.append(prompt)
            members_of.append(members)
        read = (lambda answer: answer) if parameters.output_schema else (lambda answer: str(answer["summary"]))
        outcomes = caller.each(prompts, parameters.output_schema or SUMMARY_ANSWER, read)
        summaries = []
        for position, ((ok, value), members, key) in enumerate(zip(outcomes, members_of, groups)):
            if not ok:
                continue
            fields: dict[str, Any] = {parameters.output_field: value}
            if parameters.group_by:
                fields["group_key"] = value_at(candidates[members[0]], parameters.group_by)
            if parameters.include_sources:
                fields["source_document_ids"] = [candidates[i].document_id for i in members]
            if parameters.include_metadata:
                fields["document_count"] = len(members)
            summaries.append(synthetic(f"summary_{position}", max(candidates[i].score for i in members), fields))
        return summaries


STAGE = Summarize
