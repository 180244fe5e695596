"""Health: `/v1/health`, `/liveness` and `/beat` need no key (load balancers and uptime checks call them); `/deep`,
which says where the stores are and what failed, needs one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from openpeek.api.auth import principal, services
from openpeek.api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from openpeek.domain.errors import DependencyFailed
from openpeek.services.health import HealthReport
from openpeek.services.organizations import Principal

router = APIRouter(prefix="/v1/health", tags=["Health"])


@router.get("")
def health(request: Request) -> dict:
    return {
        "status": "healthy",
        "data": {"api": True},
        "meta": {"service": "openpeek", "runtime": request.app.state.runtime_name},
    }


@router.get("/liveness")
def liveness() -> dict:
    return {"status": "alive"}


@router.get("/beat")
def scheduler_beat(request: Request) -> dict:
    """Is the maintenance scheduler running (the embedded server's scheduler thread, or deployed, the hourly
    EventBridge schedule of the expiry reaper)? Its last heartbeat and how old it is; 503 when it has stopped or
    never beat."""
    state = services(request).health.beat()
    body = {"beat_running": state.running, "last_heartbeat": state.last_heartbeat, "age_seconds": state.age_seconds,
            "expected_every_seconds": state.every_s, "scheduler": state.runtime}
    if not state.running:
        reason = "has never beaten" if state.last_heartbeat is None else f"last beat {state.age_seconds:.0f} s ago"
        raise DependencyFailed(f"the maintenance scheduler is not running: it {reason}", code="scheduler_stopped",
                               details=body)
    return body


@router.get("/deep")
def deep_health(request: Request, deep: bool = Query(False), metrics: bool = Query(False),
                _: Principal = Depends(principal)) -> dict:
    """HealthCheckResponse: each dependency asked one real question (HealthService.check). Every check passing: OK.
    Inference or the task queue failing: DEGRADED (searches and reads still work). The table, the vector store or
    the object store failing: 503, the same report in the error's details. `metrics`: the limits every request
    meets before a route sees it (api/limits.py), this deployment's request protection."""
    report = services(request).health.check(deep=deep)
    body = _report(report)
    if metrics:
        body["meta"]["protection"] = {"max_body_bytes": MAX_BODY_BYTES, "max_json_depth": MAX_JSON_DEPTH}
    if report.core_failed:
        failed = ", ".join(name for name, passed in report.checks.items() if not passed)
        raise DependencyFailed(f"this deployment cannot serve: {failed} failed", code="dependency_unavailable",
                               details=body)
    return body


def _report(report: HealthReport) -> dict[str, Any]:
    data = dict(report.checks)
    # openpeek's caches (LLM answers, cluster labels, idempotency keys) are items of the table: they answer as it does.
    data["cache"] = report.checks["metadata"]
    errors = dict(report.errors)
    if "metadata" in errors:
        errors["cache"] = errors["metadata"]
    return {"status": "OK" if report.ok else "DEGRADED", "data": data, "errors": errors or None,
            "meta": dict(report.meta)}
