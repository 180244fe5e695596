"""sort_attribute: order by any document field (numbers, strings, ISO dates, booleans)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from openpeek.domain.stages import projection
from openpeek.domain.stages.candidates import Candidate
from openpeek.services.stages.base import RunContext, Stage, StageParameters
from openpeek.services.stages.sort import sorted_by


class SortAttributeParameters(StageParameters):
    sort_field: str = Field(default="metadata.created_at", alias="field", min_length=1)
    direction: Optional[Literal["asc", "desc"]] = None
    nulls_last: bool = True


class SortAttribute(Stage):
    stage_id = "sort_attribute"
    category = "sort"
    icon = "arrow-up-a-z"
    description = ("Orders documents by any field (dot paths such as metadata.release_date), ascending or "
                   "descending; documents without the field last unless nulls_last is false.")
    Parameters = SortAttributeParameters
    example = {"stage_name": "newest", "config": {"stage_id": "sort_attribute", "parameters": {
        "field": "metadata.published_at", "direction": "desc"}}}

    def payload_fields(self, parameters: dict) -> frozenset[str] | None:
        parsed = self.stored_parameters(parameters)
        return None if parsed is None else projection.top_level_keys([parsed.sort_field])

    def run(self, context: RunContext, parameters: SortAttributeParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        return sorted_by(candidates, parameters.sort_field, (parameters.direction or "desc") == "desc",
                         nulls_last=parameters.nulls_last)


STAGE = SortAttribute
