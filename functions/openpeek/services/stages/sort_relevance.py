"""sort_relevance: re-order by a score field (the search score by default, or one a later stage wrote)."""

from __future__ import annotations

from typing import Literal, Optional

from openpeek.domain.stages import projection
from openpeek.domain.stages.candidates import Candidate, value_at
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class SortRelevanceParameters(StageParameters):
    score_field: str = "score"
    direction: Optional[Literal["asc", "desc"]] = None
    feature_address: Optional[str] = None  # deprecated in the SDK; accepted and without effect, as there
    missing_score: Literal["bottom", "top", "preserve"] = "bottom"


class SortRelevance(Stage):
    stage_id = "sort_relevance"
    category = "sort"
    icon = "arrow-down-wide-narrow"
    description = ("Re-orders documents by a relevance score field (the search score by default, or one a previous "
                   "stage wrote such as scores.rerank); documents without it go to the bottom, top, or keep their "
                   "place.")
    Parameters = SortRelevanceParameters
    example = {"stage_name": "by_score", "config": {"stage_id": "sort_relevance", "parameters": {
        "score_field": "scores.mmr", "direction": "desc"}}}

    def payload_fields(self, parameters: dict) -> frozenset[str] | None:
        parsed = self.stored_parameters(parameters)
        return None if parsed is None else projection.top_level_keys([parsed.score_field])

    def run(self, context: RunContext, parameters: SortRelevanceParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        descending = (parameters.direction or "desc") == "desc"
        scored = [(value_at(c, parameters.score_field), position, c) for position, c in enumerate(candidates)]
        numeric = [(v, p, c) for v, p, c in scored if isinstance(v, (int, float)) and not isinstance(v, bool)]
        missing = [(v, p, c) for v, p, c in scored if not (isinstance(v, (int, float)) and not isinstance(v, bool))]
        numeric.sort(key=lambda item: (-item[0] if descending else item[0], item[1]))
        context.metadata["missing_score"] = len(missing)
        if parameters.missing_score == "top":
            return [c for _, _, c in missing] + [c for _, _, c in numeric]
        if parameters.missing_score == "preserve":  # missing ones keep their positions, scored ones fill the rest
            ordered = iter(c for _, _, c in numeric)
            keep = {p for _, p, _ in missing}
            return [candidates[p] if p in keep else next(ordered) for p in range(len(candidates))]
        return [c for _, _, c in numeric] + [c for _, _, c in missing]


STAGE = SortRelevance
