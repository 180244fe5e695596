"""rag_prepare: assemble the documents into context for an LLM — formatted by a template, cut to a token budget,
with citations. Token counts are estimates (domain/stages/context.py says how)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain.documents import present
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate, synthetic, with_value
from openpeek.domain.vectors import VectorPoint
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class CitationConfig(StageParameters):
    style: Literal["numbered", "bracketed", "footnote", "none"] = "numbered"
    include_title: bool = True
    include_url: bool = False


class RagPrepareParameters(StageParameters):
    max_tokens: int = Field(default=8000, ge=100, le=128_000)
    tokenizer: str = "cl100k_base"
    truncation_strategy: Literal["priority_truncate", "proportional", "drop_last", "summarize"] = "priority_truncate"
    output_mode: Literal["single_context", "formatted_list"] = "single_context"
    document_template: str = "[{{CONTEXT.INDEX}}] {{DOC.content}}\n"
    content_field: str = "content"
    separator: str = "\n"
    citation: Optional[CitationConfig] = None
    context_field: str = "rag_context"
    citations_field: str = "citations"
    formatted_content_field: str = "formatted_content"


def view_of(candidate: Candidate) -> dict[str, Any]:
    view = present(VectorPoint(candidate.document_id, {}, candidate.payload), with_vectors=False)
    view["score"] = candidate.score
    return view


def path_in(view: dict[str, Any], path: str | None) -> Any:
    found: Any = view
    for part in (path or "").split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


def marker(style: str, index: int, document_id: str) -> str:
    return {"numbered": f"[{index}]", "bracketed": f"[{document_id}]", "footnote": f"^{index}",
            "none": ""}[style]


class RagPrepare(Stage):
    stage_id = "rag_prepare"
    category = "apply"
    icon = "file-text"
    description = ("Formats the documents for an LLM with document_template ({{DOC.field}}, {{CONTEXT.INDEX}}, "
                   "{{CONTEXT.CITATION}}), fits them into max_tokens (estimated at four characters per token; no "
                   "tokenizer tables are loaded) and lists citations. single_context: one document holding the "
                   "context and citations; formatted_list: each document with its formatted text.")
    Parameters = RagPrepareParameters
    example = {"stage_name": "context", "config": {"stage_id": "rag_prepare", "parameters": {
        "max_tokens": 4000, "document_template": "[{{CONTEXT.INDEX}}] {{DOC.title}}: {{DOC.content}}\n"}}}

    def run(self, context: RunContext, parameters: RagPrepareParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        citation = parameters.citation or CitationConfig()
        views = [view_of(c) for c in candidates]
        formatted = []
        for position, view in enumerate(views, start=1):
            cite = marker(citation.style, position, view["document_id"])

            def lookup(scope: str, path: str | None, view=view, position=position, cite=cite) -> Any:
                if scope in ("DOC", "doc"):
                    return path_in(view, path if path != "content" else parameters.content_field)
                if scope in ("CONTEXT", "context"):
                    return {"INDEX": position, "CITATION": cite}.get((path or "").upper())
                if scope in ("INPUT", "input", "inputs"):
                    return path_in(context.inputs, path)
                return None

            formatted.append(text.render(parameters.document_template, lookup))
        strategy = "priority_truncate" if parameters.truncation_strategy == "summarize" else \
            parameters.truncation_strategy
        fitted, dropped = text.fit_budget(formatted, parameters.max_tokens, strategy)
        citations = []
        for position, view in enumerate(views[: len(fitted)], start=1):
            entry: dict[str, Any] = {"index": position, "document_id": view["document_id"], "score": view["score"],
                                     "marker": marker(citation.style, position, view["document_id"])}
            if citation.include_title:
                entry["title"] = view.get("title") or path_in(view, "metadata.title")
            if citation.include_url:
                entry["url"] = view.get("url") or path_in(view, "metadata.url")
            citations.append(entry)
        tokens = sum(text.estimate_tokens(part) for part in fitted)
        context.metadata.update({"estimated_tokens": tokens, "documents_included": len(fitted),
                                 "documents_dropped": dropped, "tokenizer": "estimate (4 characters per token)"})
        if parameters.output_mode == "formatted_list":
            return [with_value(with_value(candidates[i], parameters.formatted_content_field, fitted[i]),
                               parameters.citations_field, citations[i]) for i in range(len(fitted))]
        return [synthetic("rag_context", 1.0, {
            parameters.context_field: parameters.separator.join(part.rstrip("\n") for part in fitted),
            parameters.citations_field: citations, "estimated_tokens": tokens, "document_count": len(fitted)})]


STAGE = RagPrepare
