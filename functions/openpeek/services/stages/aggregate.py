"""aggregate: count, sum, avg, percentiles, frequencies... over the working set, globally or per group."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from openpeek.domain.stages import grouping
from openpeek.domain.stages.candidates import Candidate, synthetic, value_at
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid


class AggregationOperation(StageParameters):
    function: Literal[tuple(sorted(grouping.FUNCTIONS))]  # type: ignore[valid-type]
    source_field: Optional[str] = Field(default=None, alias="field")
    field_b: Optional[str] = None
    percentile_value: Optional[float] = Field(default=None, ge=0, le=100)
    top_k: Optional[int] = Field(default=None, ge=1, le=100)
    alias: str = Field(min_length=1)


class GroupByField(StageParameters):
    group_field: str = Field(alias="field", min_length=1)
    alias: Optional[str] = None


class AggregateParameters(StageParameters):
    aggregations: list[AggregationOperation] = Field(min_length=1)
    group_by: Optional[list[GroupByField]] = None
    sort_by: Optional[str] = None
    sort_order: Literal["asc", "desc"] = "desc"
    limit: Optional[int] = Field(default=None, ge=1, le=1000)
    include_documents: bool = False


class Aggregate(Stage):
    stage_id = "aggregate"
    category = "reduce"
    icon = "sigma"
    description = ("Computes aggregations (count, count_distinct, sum, avg, min, max, first, last, collect, "
                   "collect_distinct, percentile, stddev, variance, frequency, co_occurrence, correlation) over the "
                   "documents, globally or per group; the results replace the documents (one per group) or, with "
                   "include_documents, ride along in the stage's statistics.")
    Parameters = AggregateParameters
    example = {"stage_name": "by_category", "config": {"stage_id": "aggregate", "parameters": {
        "group_by": [{"field": "metadata.category"}],
        "aggregations": [{"function": "count", "alias": "n"}, {"function": "avg", "field": "price", "alias": "p"}],
        "sort_by": "n", "limit": 10}}}

    def check_rules(self, stage_name: str, parameters: AggregateParameters) -> None:
        aliases = [operation.alias for operation in parameters.aggregations]
        for position, operation in enumerate(parameters.aggregations):
            where = f"aggregations[{position}]"
            if aliases.count(operation.alias) > 1:
                raise invalid(stage_name, self.stage_id, f"{where}.alias", f"'{operation.alias}' is used twice")
            if operation.function in grouping.FIELD_FUNCTIONS | grouping.PAIR_FUNCTIONS and not operation.source_field:
                raise invalid(stage_name, self.stage_id, f"{where}.field", f"{operation.function} needs a field")
            if operation.function in grouping.PAIR_FUNCTIONS and not operation.field_b:
                raise invalid(stage_name, self.stage_id, f"{where}.field_b", f"{operation.function} needs field_b")
        if parameters.sort_by is not None and parameters.sort_by not in aliases:
            raise invalid(stage_name, self.stage_id, "sort_by", f"names no aggregation alias ({', '.join(aliases)})")

    def run(self, context: RunContext, parameters: AggregateParameters, candidates: list[Candidate]) -> list[Candidate]:
        fields = [(g.group_field, g.alias or g.group_field.split(".")[-1]) for g in parameters.group_by or []]
        if fields:
            keys = [tuple(grouping.hashable(value_at(c, path)) for path, _ in fields) for c in candidates]
            groups = grouping.group_indexes(keys)
        else:
            groups = {(): list(range(len(candidates)))}
        rows = []
        for key, members in groups.items():
            chosen = [candidates[i] for i in members]
            row = {alias: value for (_, alias), value in zip(fields, key)}
            for operation in parameters.aggregations:
                values = [value_at(c, operation.source_field) for c in chosen] if operation.source_field else chosen
                second = [value_at(c, operation.field_b) for c in chosen] if operation.field_b else ()
                row[operation.alias] = grouping.aggregate(
                    operation.function, values, second, percentile=operation.percentile_value or 50,
                    top_k=operation.top_k or 10)
            rows.append(row)
        if fields and parameters.sort_by:
            present = [r for r in rows if isinstance(r.get(parameters.sort_by), (int, float))]
            absent = [r for r in rows if not isinstance(r.get(parameters.sort_by), (int, float))]
            present.sort(key=lambda r: r[parameters.sort_by], reverse=parameters.sort_order == "desc")
            rows = present + absent
        if fields and parameters.limit:
            rows = rows[: parameters.limit]
        context.metadata["aggregation_count"] = len(rows)
        if parameters.include_documents:
            context.metadata["aggregations"] = rows
            return candidates
        return [synthetic(f"aggregate_{position}", 0.0, {"aggregation": row, **row})
                for position, row in enumerate(rows)]


STAGE = Aggregate
