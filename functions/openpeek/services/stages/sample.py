"""sample: keep a random (uniform, reservoir) or stratified subset, optionally always keeping the top documents."""

from __future__ import annotations

import random
from typing import Literal, Optional

from pydantic import Field

from openpeek.domain.stages import sampling
from openpeek.domain.stages.candidates import Candidate, value_at
from openpeek.domain.stages.grouping import hashable
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid


class SampleParameters(StageParameters):
    count: int = Field(default=10, ge=1, le=1000)
    strategy: Literal["random", "stratified", "reservoir"] = "random"
    stratify_by: Optional[str] = None
    min_per_stratum: int = Field(default=1, ge=0)
    seed: Optional[int] = None
    preserve_top_k: int = Field(default=0, ge=0)


class Sample(Stage):
    stage_id = "sample"
    category = "reduce"
    icon = "dices"
    description = ("Keeps `count` documents drawn at random (uniform or reservoir) or stratified by a field's values, "
                   "in their incoming order; `seed` makes the draw repeatable, `preserve_top_k` always keeps the best.")
    Parameters = SampleParameters
    example = {"stage_name": "spot_check", "config": {"stage_id": "sample", "parameters": {
        "count": 20, "strategy": "stratified", "stratify_by": "metadata.category", "seed": 7}}}

    def check_rules(self, stage_name: str, parameters: SampleParameters) -> None:
        if parameters.strategy == "stratified" and not parameters.stratify_by:
            raise invalid(stage_name, self.stage_id, "stratify_by", "is required when strategy is 'stratified'")

    def run(self, context: RunContext, parameters: SampleParameters, candidates: list[Candidate]) -> list[Candidate]:
        kept_top = candidates[: parameters.preserve_top_k]
        rest = candidates[parameters.preserve_top_k:]
        wanted = max(0, parameters.count - len(kept_top))
        rng = random.Random(parameters.seed)
        if parameters.strategy == "stratified":
            strata = [hashable(value_at(c, parameters.stratify_by)) for c in rest]
            chosen = sampling.stratified(wanted, strata, parameters.min_per_stratum, rng)
            context.metadata["strata"] = len(set(strata))
        else:
            chosen = sampling.STRATEGIES[parameters.strategy](wanted, len(rest), rng)
        return (kept_top + [rest[i] for i in chosen])[: parameters.count]


STAGE = Sample
