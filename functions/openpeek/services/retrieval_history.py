"""Retriever execution history: list, read, status, per-stage profile, and `explain` (a plan for a retriever whose
figures come from its recent runs). Runs are recorded by RetrievalService; items expire with the table's TTL."""

from __future__ import annotations

from typing import Any

from openpeek.domain import filters as filter_rules
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository

RECENT_RUNS = 20  # explain averages the figures of this many latest runs
DEFAULT_SEARCH_TOP_K = 10
STATUSES = ("completed", "failed")


class ExecutionHistory:
    def __init__(self, repository: RetrieverExecutionRepository) -> None:
        self._repository = repository

    def list(self, namespace: Namespace, retriever: Retriever | None, *, status: str | None = None,
             filters: dict[str, Any] | None = None, sorts: list[dict[str, Any]] | None = None,
             start_time: str | None = None, end_time: str | None = None) -> list[dict[str, Any]]:
        """Newest first unless `sorts` ({field, direction}) says otherwise. `retriever` None: the namespace's ad-hoc
        runs. `filters` is the usual filter language over the summary's fields (status, duration_ms, ...)."""
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status",
                             details={"status": status})
        wanted = filter_rules.parse_filter(filters)
        found = self._repository.list(namespace.namespace_id, retriever.retriever_id if retriever else None)
        if status is not None:
            found = [item for item in found if item.get("status") == status]
        if start_time:
            found = [item for item in found if item.get("created_at", "") >= start_time]
        if end_time:
            found = [item for item in found if item.get("created_at", "") <= end_time]
        if wanted is not None:
            found = [item for item in found if filter_rules.matches(wanted, item, item["execution_id"])]
        for order in reversed(sorts or []):  # stable sorts, last key first; runs without the field last
            field, direction = (order.get("field"), order.get("direction") or "asc") if isinstance(order, dict) \
                else (None, None)
            if not isinstance(field, str) or direction not in ("asc", "desc"):
                raise BadRequest("a sort is {field, direction: asc|desc}", code="invalid_sort", details={"sort": order})
            present = [item for item in found if item.get(field) is not None]
            present.sort(key=lambda item: item[field] if isinstance(item[field], (int, float)) else str(item[field]),
                         reverse=direction == "desc")
            found = present + [item for item in found if item.get(field) is None]
        return found

    def get(self, namespace: Namespace, retriever: Retriever | None, execution_id: str) -> dict[str, Any]:
        found = self._repository.get(namespace.namespace_id, retriever.retriever_id if retriever else None,
                                     execution_id)
        if found is None:
            raise NotFound("execution", execution_id)
        return found

    def profile(self, namespace: Namespace, retriever: Retriever | None, execution_id: str) -> dict[str, Any]:
        return profile(self.get(namespace, retriever, execution_id))

    def explain(self, namespace: Namespace, retriever: Retriever, inputs: dict[str, Any] | None) -> dict[str, Any]:
        """Per stage: documents in and out and duration, averaged over the retriever's recent completed runs (the
        run's own counts where there is no history yet: searches bring their top_k, limits cut, others keep N).
        Nothing is executed."""
        recent = [run for run in self._repository.list(namespace.namespace_id, retriever.retriever_id)
                  if run.get("status") == "completed"][:RECENT_RUNS]
        plan: list[dict[str, Any]] = []
        flowing = 0
        for index, stage in enumerate(retriever.stages):
            name = stage["stage_name"]
            seen = [run["stage_statistics"]["stages"][name] for run in recent
                    if name in (run.get("stage_statistics") or {}).get("stages", {})]
            if seen:
                into = round(sum(s["input_count"] for s in seen) / len(seen))
                out = round(sum(s["output_count"] for s in seen) / len(seen))
                duration = sum(float(s["duration_ms"]) for s in seen) / len(seen)
            else:
                into, out = flowing, _expected_output(stage, flowing)
                duration = 0.0
            notes = [f"figures averaged over the {len(seen)} latest runs" if seen else "no runs recorded yet"]
            plan.append({"stage_index": index, "stage_name": name, "stage_type": stage.get("stage_type") or "filter",
                         "estimated_input": into, "estimated_output": out,
                         "estimated_efficiency": round(out / into, 4) if into else 0,
                         "estimated_cost_credits": 0, "estimated_duration_ms": round(duration, 3),
                         "cache_likely": False, "optimization_notes": notes, "warnings": []})
            flowing = out
        slowest = max((step["estimated_duration_ms"] for step in plan), default=0)
        bottlenecks = [step["stage_name"] for step in plan if slowest > 0 and step["estimated_duration_ms"] >= 0.8 * slowest]
        return {
            "retriever_id": retriever.retriever_id, "retriever_name": retriever.retriever_name,
            "estimated_cost": {"total_credits": 0,
                               "total_duration_ms": round(sum(step["estimated_duration_ms"] for step in plan), 3)},
            "execution_plan": plan, "optimization_suggestions": [], "total_estimated_stages": len(plan),
            "bottleneck_stages": bottlenecks, "optimization_level": "none", "optimization_applied": False,
            "optimization_details": None,
        }


def profile(record: dict[str, Any]) -> dict[str, Any]:
    """A run's per-stage timings and counts, in pipeline order, with its share of the total and the slowest stage."""
    stages = (record.get("stage_statistics") or {}).get("stages") or {}
    total = float(record.get("duration_ms") or 0)
    order = record.get("stage_order") or [[name, (figures.get("metadata") or {}).get("stage_id")]
                                          for name, figures in stages.items()]
    steps = []
    for index, (name, stage_id) in enumerate(order):
        figures = stages.get(name)
        if figures is None:  # not reached (the run failed before it)
            steps.append({"stage_index": index, "stage_name": name, "stage_id": stage_id, "status": "not_run"})
            continue
        steps.append({"stage_index": index, "stage_name": name, "stage_id": stage_id, "status": "completed",
                      "input_count": figures["input_count"], "output_count": figures["output_count"],
                      "duration_ms": figures["duration_ms"], "efficiency": figures["efficiency"],
                      "share_of_total": round(float(figures["duration_ms"]) / total, 4) if total else 0,
                      **{key: figures[key] for key in ("llm_calls", "tokens_used") if key in figures},
                      "metadata": figures.get("metadata")})
    ran = [step for step in steps if step["status"] == "completed"]
    slowest = max(ran, key=lambda step: float(step["duration_ms"]), default=None)
    return {"execution_id": record["execution_id"], "retriever_id": record.get("retriever_id"),
            "status": record["status"], "total_time_ms": record.get("duration_ms"), "stages": steps,
            "bottleneck_stage": slowest["stage_name"] if slowest else None,
            "created_at": record.get("created_at"), "completed_at": record.get("completed_at")}


def _expected_output(stage: dict[str, Any], flowing: int) -> int:
    parameters = stage["config"].get("parameters") or {}
    stage_id = stage["config"]["stage_id"]
    if stage_id == "feature_search":
        top_ks = [s.get("top_k") for s in parameters.get("searches") or [] if isinstance(s.get("top_k"), int)]
        final = parameters.get("final_top_k")
        return final if isinstance(final, int) else max(top_ks or [DEFAULT_SEARCH_TOP_K])
    for key in ("limit", "top_k", "count"):
        if isinstance(parameters.get(key), int) and not isinstance(parameters.get(key), bool):
            return min(flowing, parameters[key])
    return flowing
