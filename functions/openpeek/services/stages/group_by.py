"""group_by: group documents by a field's value and keep the best `max_per_group` of each (by score)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openpeek.domain.documents import present
from openpeek.domain.stages.candidates import Candidate, synthetic, value_at
from openpeek.domain.stages.grouping import group_indexes
from openpeek.domain.vectors import VectorPoint
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class GroupByParameters(StageParameters):
    group_by_field: str = Field(default="source_object_id", min_length=1)
    max_per_group: int = Field(default=10, ge=1, le=1000)
    output_mode: Literal["first", "all", "flatten"] = "all"


class GroupBy(Stage):
    stage_id = "group_by"
    category = "reduce"
    icon = "group"
    description = ("Groups documents by a field's value (chunks back to their parent object, one result per brand) "
                   "and keeps each group's best max_per_group by score. output_mode first: the best document of each "
                   "group; all: one document per group with its members; flatten: the kept members as a flat list.")
    Parameters = GroupByParameters
    example = {"stage_name": "per_video", "config": {"stage_id": "group_by", "parameters": {
        "group_by_field": "source_object_id", "max_per_group": 3, "output_mode": "all"}}}

    def run(self, context: RunContext, parameters: GroupByParameters, candidates: list[Candidate]) -> list[Candidate]:
        keys = [value_at(c, parameters.group_by_field) for c in candidates]
        groups = group_indexes(keys)
        context.metadata["groups"] = len(groups)
        kept: list[list[Candidate]] = []
        for members in groups.values():
            ranked = sorted((candidates[i] for i in members), key=lambda c: -c.score)
            kept.append(ranked[: parameters.max_per_group])
        if parameters.output_mode == "first":
            return [members[0] for members in kept]
        if parameters.output_mode == "flatten":
            return [member for members in kept for member in members]
        grouped = []
        for position, members in enumerate(kept):
            key = value_at(members[0], parameters.group_by_field)
            grouped.append(synthetic(f"group_{position}", members[0].score, {
                "group_key": key, "group_field": parameters.group_by_field, "count": len(members),
                "documents": [present(VectorPoint(m.document_id, {}, m.payload), with_vectors=False)
                              | {"score": m.score} for m in members]}))
        return grouped


STAGE = GroupBy
