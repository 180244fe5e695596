"""rerank: re-score the first max_candidates documents against the query with a cross-encoder.

It runs only where a reranking model is configured (StageDependencies.reranker: `score(query, texts) -> scores`);
this deployment ships none, so the catalogue says so and creating a retriever with it is a 400 — never a made-up
score."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field

from openpeek.domain.stages.candidates import Candidate, with_value
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid
from openpeek.services.stages.rag_prepare import path_in, view_of


class RerankParameters(StageParameters):
    cache_behavior: Optional[str] = None
    cache_ttl_seconds: Optional[int] = Field(default=None, ge=0)
    feature_uri: Optional[str] = None
    inference_name: str = "BAAI__bge_reranker_v2_m3"
    decision_model: Optional[str] = None
    relevance_criteria: Optional[str] = None
    learning_config: Optional[dict[str, Any]] = None
    query: str = "{{INPUT.query}}"
    document_field: str = "content"
    top_k: Optional[int] = Field(default=None, ge=1)
    max_candidates: int = Field(default=10, ge=1, le=1000)
    score_field: str = "scores.rerank"
    batch_size: int = Field(default=32, ge=1, le=100)
    max_document_chars: int = Field(default=2000, ge=100, le=50_000)
    max_concurrent_batches: int = Field(default=3, ge=1, le=10)
    hard_timeout_ms: Optional[int] = Field(default=None, ge=1)


class Rerank(Stage):
    stage_id = "rerank"
    category = "sort"
    icon = "list-ordered"
    description = ("Re-scores the first max_candidates documents against the query with a cross-encoder reranking "
                   "model, writes the score to score_field and re-orders them (documents past the cap follow "
                   "unscored).")
    Parameters = RerankParameters
    cost_tier = "expensive"
    needs = "a reranking model (cross-encoder)"

    def unavailable(self) -> str | None:
        if getattr(self.dependencies, "reranker", None) is None:
            return "no reranking model is configured in this deployment"
        return None

    def run(self, context: RunContext, parameters: RerankParameters, candidates: list[Candidate]) -> list[Candidate]:
        reranker = getattr(self.dependencies, "reranker", None)
        if reranker is None:
            raise invalid(context.stage_name, self.stage_id, None, self.unavailable() or "", code="stage_unavailable")
        head, tail = candidates[: parameters.max_candidates], candidates[parameters.max_candidates:]
        texts = [str(path_in(view_of(c), parameters.document_field) or "")[: parameters.max_document_chars]
                 for c in head]
        scores = [float(score) for score in reranker.score(parameters.query, texts)]
        order = sorted(range(len(head)), key=lambda i: -scores[i])
        ranked = [with_value(head[i], parameters.score_field, scores[i]) for i in order] + tail
        context.metadata.update({"model": parameters.inference_name, "scored": len(head)})
        return ranked[: parameters.top_k] if parameters.top_k else ranked


STAGE = Rerank
