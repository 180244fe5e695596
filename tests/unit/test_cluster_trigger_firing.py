"""Cluster triggers fired by the scheduled check, with the clock moved by hand (never waited for): the embedded
scheduler's job starts due triggers through the cluster execution service, records each firing (the run it started,
or why none was), leaves paused triggers alone, and counts new documents for event triggers.

The orchestrator only records the jobs it was asked to start, so a started run stays active and the next firing finds
it so."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import (
    SharedClustersTriggersModelsTriggerHistoryResponse,
    SharedClustersTriggersModelsTriggerModel,
)

from openpeek.adapters.local.event_bus import InProcessEventBus
from openpeek.adapters.local.folder_blobs import FolderBlobStore
from openpeek.adapters.local.sqlite_table import SqliteTable
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.api.app import create_app
from openpeek.cli import CLUSTER_TRIGGERS_EVERY_S, schedule_cluster_triggers
from openpeek.embedded.scheduler import Scheduler
from openpeek.runtime import attach_cluster_triggers, wire
from openpeek.settings import Settings
from tests.conftest import make_tenant
from tests.unit.test_cluster_jobs import RecordingOrchestrator

START = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


class Clocks:
    """The wall clock the trigger service reads and the monotonic one the scheduler reads, moved together."""

    def __init__(self) -> None:
        self.now = START

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - START).total_seconds()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def world(tmp_path):
    clocks = Clocks()
    services = wire(Settings(runtime="embedded", data_dir=tmp_path, local_inference=False),
                    SqliteTable(tmp_path / "t.db"), QdrantEdgeStore(str(tmp_path / "v")),
                    FolderBlobStore(tmp_path / "b"), InProcessEventBus(), orchestrator=RecordingOrchestrator)
    attach_cluster_triggers(services, clock=clocks.wall)
    scheduler = Scheduler(clock=clocks.monotonic)
    schedule_cluster_triggers(scheduler, services)
    tenant = make_tenant(services, "acme")
    client = TestClient(create_app(services), raise_server_exceptions=False)
    client.post("/v1/namespaces/standalone", headers=tenant.headers,
                json={"namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 2}]})
    headers = {**tenant.headers, "X-Namespace": "maps"}
    upsert(client, headers, range(5))
    cluster = client.post("/v1/clusters", headers=headers, json={
        "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                          "kmeans_parameters": {"n_clusters": 2}}}).json()
    return services, client, headers, cluster["cluster_id"], clocks, scheduler


def upsert(client, headers, numbers) -> None:
    response = client.post("/v1/namespaces/maps/documents/upsert", headers=headers, json={"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}} for i in numbers]})
    assert response.status_code == 200, response.text


def create(client, headers, **body) -> dict:
    response = client.post("/v1/clusters/triggers", headers=headers, json=body)
    assert response.status_code == 200, response.text
    SharedClustersTriggersModelsTriggerModel.from_dict(response.json())  # the SDK reads it
    return response.json()


def history(client, headers, trigger_id, **body) -> list[dict]:
    response = client.post(f"/v1/clusters/triggers/{trigger_id}/history", headers=headers, json=body)
    assert response.status_code == 200, response.text
    parsed = SharedClustersTriggersModelsTriggerHistoryResponse.from_dict(response.json())
    assert len(parsed.executions) == len(response.json()["executions"])
    return response.json()["executions"]


def tick(clocks: Clocks, scheduler: Scheduler, seconds: float) -> list[str]:
    """Move both clocks on and run what the scheduler thread would run then."""
    clocks.advance(seconds=seconds)
    return scheduler.run_due()


def test_an_interval_trigger_starts_a_run_when_due_and_skips_while_that_run_is_active(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="interval",
                     schedule_config={"interval_seconds": 3600})
    assert trigger["next_scheduled_at"].startswith("2026-11-30T10:00:00")

    # The scheduler's job runs every 30 s, but nothing is due before the hour has passed.
    assert tick(clocks, scheduler, CLUSTER_TRIGGERS_EVERY_S) == ["cluster-triggers"]
    assert services.orchestrator.started == []
    tick(clocks, scheduler, 3600)

    (job,) = services.orchestrator.started
    assert job.cluster_id == cluster_id
    (fired,) = history(client, headers, trigger["trigger_id"])
    assert fired["job_id"] == job.run_id and fired["status"] == "pending" and fired["error"] is None
    run = client.get(f"/v1/clusters/{cluster_id}/executions/{job.run_id}", headers=headers).json()
    assert run["status"] == "pending"  # the same run POST /v1/clusters/{id}/execute would have made
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["execution_count"] == 1 and current["last_execution_job_id"] == job.run_id
    assert current["next_scheduled_at"].startswith("2026-11-30T11:00:30")  # an interval on from the firing

    # An hour later the run has not ended: the firing is recorded as skipped, naming why, and nothing starts.
    tick(clocks, scheduler, 3600)
    assert len(services.orchestrator.started) == 1
    skipped, first = history(client, headers, trigger["trigger_id"])
    assert first["job_id"] == job.run_id
    assert skipped["status"] == "skipped" and skipped["job_id"] == ""
    assert "executing already" in skipped["error"] and job.run_id in skipped["error"]
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["execution_count"] == 1 and current["last_execution_status"] == "skipped"
    assert [item["status"] for item in history(client, headers, trigger["trigger_id"], status_filter="skipped")] \
        == ["skipped"]


def test_a_paused_trigger_does_not_fire_and_resumes_from_the_time_it_resumed(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="interval",
                     schedule_config={"interval_seconds": 600, "start_immediately": True})
    paused = client.post(f"/v1/clusters/triggers/{trigger['trigger_id']}/pause", headers=headers)
    assert paused.json()["status"] == "paused" and paused.json()["next_scheduled_at"] is None

    tick(clocks, scheduler, 7200)
    assert services.orchestrator.started == []
    assert history(client, headers, trigger["trigger_id"]) == []

    resumed = client.post(f"/v1/clusters/triggers/{trigger['trigger_id']}/resume", headers=headers).json()
    assert resumed["status"] == "active" and resumed["next_scheduled_at"].startswith("2026-11-30T11:10:00")
    tick(clocks, scheduler, 300)
    assert services.orchestrator.started == []
    tick(clocks, scheduler, 300)
    assert len(services.orchestrator.started) == 1


def test_a_cron_trigger_fires_at_its_minute_in_its_time_zone(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    # 11:15 in Paris is 10:15 UTC on 30 November (UTC+1).
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="cron",
                     schedule_config={"cron_expression": "15 11 * * *", "timezone": "Europe/Paris"})
    assert trigger["next_scheduled_at"].startswith("2026-11-30T10:15:00")

    tick(clocks, scheduler, 74 * 60)  # 10:14
    assert services.orchestrator.started == []
    tick(clocks, scheduler, 60)  # 10:15
    assert len(services.orchestrator.started) == 1
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["next_scheduled_at"].startswith("2026-12-01T10:15:00")


def test_an_event_trigger_fires_once_enough_documents_were_added_then_counts_again(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="event",
                     schedule_config={"event_type": "documents_added", "event_threshold": 3,
                                      "cooldown_seconds": 600})
    tick(clocks, scheduler, 60)
    upsert(client, headers, range(5, 7))  # two new documents: below the threshold
    tick(clocks, scheduler, 60)
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["event_counter"] == 2 and services.orchestrator.started == []

    upsert(client, headers, range(7, 8))
    tick(clocks, scheduler, 60)
    (job,) = services.orchestrator.started
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["event_counter"] == 0 and current["last_execution_job_id"] == job.run_id
    assert current["last_cooldown_at"] is not None

    # Three more at once, inside the cooldown: nothing fires until it has passed (then the run is still active).
    upsert(client, headers, range(8, 11))
    tick(clocks, scheduler, 120)
    assert len(services.orchestrator.started) == 1
    assert len(history(client, headers, trigger["trigger_id"])) == 1
    tick(clocks, scheduler, 600)
    assert [item["status"] for item in history(client, headers, trigger["trigger_id"])] == ["skipped", "pending"]


def test_a_failed_start_is_recorded_and_a_deleted_cluster_stops_the_trigger(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="interval",
                     schedule_config={"interval_seconds": 60, "start_immediately": True})
    services.orchestrator.refuse = True
    tick(clocks, scheduler, 30)
    (failed,) = history(client, headers, trigger["trigger_id"])
    assert failed["status"] == "failed" and "could not be started" in failed["error"]
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["consecutive_failures"] == 1 and current["status"] == "active"

    assert client.delete(f"/v1/clusters/{cluster_id}", headers=headers).status_code == 200
    tick(clocks, scheduler, 60)
    latest = history(client, headers, trigger["trigger_id"])[0]
    assert latest["status"] == "failed" and "no longer exists" in latest["error"]
    current = client.get(f"/v1/clusters/triggers/{trigger['trigger_id']}", headers=headers).json()
    assert current["status"] == "failed" and current["next_scheduled_at"] is None
    tick(clocks, scheduler, 600)
    assert len(history(client, headers, trigger["trigger_id"])) == 2


def test_two_checkers_reading_the_same_due_trigger_fire_it_once(world):
    services, client, headers, cluster_id, clocks, scheduler = world
    create(client, headers, cluster_id=cluster_id, trigger_type="interval",
           schedule_config={"interval_seconds": 600, "start_immediately": True})
    other_checker = attach_cluster_triggers(services, clock=clocks.wall)

    first, second = services.cluster_triggers.fire_due(), other_checker.fire_due()

    assert (first.started, second.started) == (1, 0)
    assert len(services.orchestrator.started) == 1


def test_history_entries_expire_after_their_retention(world):
    from openpeek.repositories.cluster_triggers import HISTORY_RETENTION_S

    services, client, headers, cluster_id, clocks, scheduler = world
    trigger = create(client, headers, cluster_id=cluster_id, trigger_type="interval",
                     schedule_config={"interval_seconds": 600, "start_immediately": True})
    tick(clocks, scheduler, 30)
    assert len(history(client, headers, trigger["trigger_id"])) == 1
    client.post(f"/v1/clusters/triggers/{trigger['trigger_id']}/pause", headers=headers)

    clocks.advance(seconds=HISTORY_RETENTION_S)
    assert history(client, headers, trigger["trigger_id"]) == []
