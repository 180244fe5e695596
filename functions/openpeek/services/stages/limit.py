"""limit: keep `limit` documents from `offset`."""

from __future__ import annotations

from typing import Any

from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class LimitParameters(StageParameters):
    limit: int
    offset: int = 0


class Limit(Stage):
    stage_id = "limit"
    category = "reduce"
    icon = "list-end"
    description = "Keeps the first `limit` documents after skipping `offset`."
    Parameters = LimitParameters
    example = {"stage_name": "top10", "config": {"stage_id": "limit", "parameters": {"limit": 10}}}

    def check(self, namespace: Namespace, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        rules.check_limit(namespace, stage_name, parameters)
        return parameters

    def parse(self, stage_name: str, parameters: dict[str, Any]) -> tuple[int, int]:
        limit, offset = parameters.get("limit"), parameters.get("offset") or 0
        for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise BadRequest(f"stage '{stage_name}': {name} must be an integer of at least {low}",
                                 code="invalid_query")
        return limit, offset

    def payload_fields(self, parameters: dict[str, Any]) -> frozenset[str]:
        return frozenset()

    def run(self, context: RunContext, parameters: tuple[int, int], candidates: list[Candidate]) -> list[Candidate]:
        limit, offset = parameters
        return candidates[offset: offset + limit]


STAGE = Limit
