"""sort: order the working set by one field (`score` included), missing values last either way."""

from __future__ import annotations

from typing import Any, Optional, Union

from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate, value_at
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class SortParameters(StageParameters):
    field: Optional[str] = None
    sort_by: Optional[Union[str, list[dict[str, Any]]]] = None
    direction: Optional[str] = None
    order: Optional[str] = None


def sorted_by(candidates: list[Candidate], field: str, descending: bool, nulls_last: bool = True) -> list[Candidate]:
    keyed = [(value_at(c, field), c) for c in candidates]
    present = [(value, c) for value, c in keyed if value is not None]
    missing = [c for value, c in keyed if value is None]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in present)
    present.sort(key=(lambda pair: pair[0]) if numbers else (lambda pair: str(pair[0])), reverse=descending)
    ordered = [c for _, c in present]
    if nulls_last or descending:
        return ordered + missing
    return missing + ordered


class Sort(Stage):
    stage_id = "sort"
    category = "sort"
    icon = "arrow-up-down"
    description = "Orders the documents by one field (or by score), ascending or descending; missing values last."
    Parameters = SortParameters
    example = {"stage_name": "cheapest", "config": {"stage_id": "sort", "parameters": {
        "field": "price", "direction": "asc"}}}

    def check(self, namespace: Namespace, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        rules.check_sort(namespace, stage_name, parameters)
        return parameters

    def parse(self, stage_name: str, parameters: dict[str, Any]) -> tuple[str, bool]:
        field = parameters.get("field") or parameters.get("sort_by")
        direction = parameters.get("direction") or parameters.get("order")
        if isinstance(field, list):  # the SDK's sort_by: [{field, direction}]
            if len(field) != 1 or not isinstance(field[0], dict):
                raise BadRequest(f"stage '{stage_name}': sort_by takes one {{field, direction}}", code="invalid_query")
            direction = direction or field[0].get("direction")
            field = field[0].get("field")
        direction = direction or "desc"
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise BadRequest(f"stage '{stage_name}': direction must be asc or desc", code="invalid_query")
        if not isinstance(field, str) or not field:
            raise BadRequest(f"stage '{stage_name}': sort needs a field", code="invalid_query")
        return field, direction.lower() == "desc"

    def run(self, context: RunContext, parameters: tuple[str, bool], candidates: list[Candidate]) -> list[Candidate]:
        field, descending = parameters
        return sorted_by(candidates, field, descending)


STAGE = Sort
