"""attribute_filter: keep the documents whose fields match a filter (either filter language)."""

from __future__ import annotations

from typing import Any

from openpeek.domain import filters as filter_rules
from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages import projection
from openpeek.domain.stages.candidates import Candidate
from openpeek.services.stages.base import RunContext, Stage, StageParameters


class AttributeFilterParameters(StageParameters):
    filters: dict[str, Any]


class AttributeFilter(Stage):
    stage_id = "attribute_filter"
    category = "filter"
    icon = "filter"
    description = "Keeps the documents whose fields match a filter (logical AND/OR/NOT operators or Qdrant's form)."
    Parameters = AttributeFilterParameters
    example = {"stage_name": "in_stock", "config": {"stage_id": "attribute_filter", "parameters": {
        "filters": {"AND": [{"field": "metadata.in_stock", "operator": "eq", "value": True}]}}}}
    use_cases = ("narrow search results by category, price or date",)

    def check(self, namespace: Namespace, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        rules.check_attribute_filter(namespace, stage_name, parameters)
        return parameters

    def parse(self, stage_name: str, parameters: dict[str, Any]) -> Any:
        return filter_rules.parse_filter(parameters.get("filters"))

    def payload_fields(self, parameters: dict[str, Any]) -> frozenset[str] | None:
        try:
            condition = filter_rules.parse_filter(parameters.get("filters"))
        except BadRequest:  # a template brings a value only known at execution: read everything
            return None
        return projection.top_level_keys(filter_rules.keys_read(condition))

    def run(self, context: RunContext, parameters: Any, candidates: list[Candidate]) -> list[Candidate]:
        if parameters is None:
            return candidates
        holds = filter_rules.compiled(parameters)
        return [c for c in candidates if holds(c.payload, c.document_id)]


STAGE = AttributeFilter
