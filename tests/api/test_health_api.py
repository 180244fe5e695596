"""GET /v1/health/beat (the maintenance scheduler's heartbeat) and GET /v1/health/deep (each store this deployment
uses asked one real question): what each answers when all is well, when a store fails, and when the schedule stopped;
the answers parse as the SDK's models."""

from __future__ import annotations

import threading
from datetime import timedelta

from mixpeek.models import ErrorResponse, HealthCheckResponse

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.failures import DependencyUnavailable
from openpeek.repositories.heartbeats import Heartbeat, HeartbeatRepository
from openpeek.services.health import HealthService
from tests.api.test_namespaces_api import assert_error


def test_beat_is_503_until_the_scheduler_beats_then_running(client, services):
    response = client.get("/v1/health/beat")
    assert_error(response, 503, "scheduler_stopped")
    assert response.json()["error"]["details"]["beat_running"] is False

    services.health.record_beat(60)
    beat = client.get("/v1/health/beat")  # no key: uptime checks call it
    assert beat.status_code == 200, beat.text
    body = beat.json()
    assert body["beat_running"] is True and body["expected_every_seconds"] == 60 and body["scheduler"] == "embedded"
    assert 0 <= body["age_seconds"] < 60 and body["last_heartbeat"].endswith("Z")


def test_a_beat_five_periods_old_means_the_schedule_stopped(client, services):
    repository = HeartbeatRepository(services.table)
    repository.record(Heartbeat(isoformat(utcnow() - timedelta(seconds=301)), 60, "embedded"))
    response = client.get("/v1/health/beat")
    assert_error(response, 503, "scheduler_stopped")
    assert response.json()["error"]["details"]["age_seconds"] > 300
    repository.record(Heartbeat(isoformat(utcnow() - timedelta(seconds=2 * 3600)), 3600, "aws"))  # the hourly reaper
    assert client.get("/v1/health/beat").json()["beat_running"] is True


def test_deep_checks_every_store_and_parses_as_the_sdk_model(client, services, tenant):
    for deep in ("false", "true"):
        response = client.get(f"/v1/health/deep?deep={deep}&metrics=true", headers=tenant.headers)
        assert response.status_code == 200, response.text
        parsed = HealthCheckResponse.from_dict(response.json())
        assert parsed.data.metadata and parsed.data.vector_store and parsed.data.object_storage and parsed.data.cache
        assert parsed.data.task_queue  # the embedded batch worker
        all_passed = all(v for v in response.json()["data"].values())
        assert parsed.status.value == ("OK" if all_passed else "DEGRADED")
        assert parsed.meta["runtime"] == "embedded" and parsed.meta["deep"] == (deep == "true")
        assert parsed.meta["protection"]["max_json_depth"] > 0
    # the deep probes leave nothing behind
    assert services.blobs.list("health/") == []


def test_deep_needs_a_key_and_refuses_bad_query_values(client, tenant):
    assert client.get("/v1/health/deep").status_code == 401
    assert client.get("/v1/health/deep?deep=sometimes", headers=tenant.headers).status_code == 422


def test_a_failed_store_is_a_503_naming_it_with_the_whole_report(client, services, tenant, monkeypatch):
    def unreachable(*args, **kwargs):
        raise DependencyUnavailable("connection refused")

    monkeypatch.setattr(services.vectors, "collection_exists", unreachable)
    response = client.get("/v1/health/deep", headers=tenant.headers)
    assert_error(response, 503, "dependency_unavailable")
    ErrorResponse.from_dict(response.json())
    report = response.json()["error"]["details"]
    assert report["status"] == "DEGRADED" and report["data"]["vector_store"] is False
    assert report["data"]["metadata"] is True and "connection refused" in report["errors"]["vector_store"]


def test_inference_or_task_queue_failing_only_degrades(services):
    health = HealthService(HeartbeatRepository(services.table), services.vectors, services.blobs,
                           services.inference, lambda: "batch processing is not configured here", runtime="aws")
    report = health.check()
    assert report.checks["task_queue"] is False and "not configured" in report.errors["task_queue"]
    assert not report.core_failed and not report.ok


def test_a_store_that_does_not_answer_in_time_is_reported_without_waiting_for_it(services):
    release = threading.Event()

    class StalledBlobs:
        def exists(self, key):
            release.wait(30)
            return False

    health = HealthService(HeartbeatRepository(services.table), services.vectors, StalledBlobs(),
                           services.inference, lambda: None, runtime="embedded", timeout_s=0.2)
    try:
        report = health.check()
    finally:
        release.set()
    assert report.checks["object_storage"] is False and "no answer within" in report.errors["object_storage"]
    assert report.checks["metadata"] is True and report.core_failed
