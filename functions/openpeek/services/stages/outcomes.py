"""What the outbound stages (api_call, web_scrape, sql_lookup) do with their per-document outcomes: store each answer
at output_field, and for the failures follow on_error — skip (keep the document), remove it, or raise (a 503 naming
the first failure); failures that did not raise become one warning of the execution."""

from __future__ import annotations

from typing import Any, Sequence

from openpeek.domain.errors import DependencyFailed
from openpeek.domain.stages.candidates import Candidate, with_value
from openpeek.services.stages.base import RunContext


def settle(context: RunContext, stage_id: str, noun: str, *, on_error: str, output_field: str,
           candidates: list[Candidate], chosen: Sequence[int],
           outcomes: Sequence[tuple[bool, Any]]) -> tuple[list[Candidate], int]:
    """(the working set after the outcomes of candidates[chosen], how many failed)."""
    results = list(candidates)
    removed, failures = set(), []
    for index, (ok, value) in zip(chosen, outcomes):
        if ok:
            results[index] = with_value(candidates[index], output_field, value)
        else:
            failures.append(value)
            if on_error == "remove":
                removed.add(index)
    report_failures(context, stage_id, noun, on_error=on_error, failures=failures, attempted=len(chosen))
    return [c for i, c in enumerate(results) if i not in removed], len(failures)


def report_failures(context: RunContext, stage_id: str, noun: str, *, on_error: str, failures: list[Any],
                    attempted: int) -> None:
    if failures and on_error == "raise":
        raise DependencyFailed(f"stage '{context.stage_name}' ({stage_id}): {failures[0]}", code=f"{stage_id}_failed",
                               details={"stage": context.stage_name})
    if failures:
        context.warnings.append(f"{stage_id} '{context.stage_name}': {len(failures)} of {attempted} {noun} failed "
                                f"({failures[0]})")
