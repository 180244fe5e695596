"""Cluster triggers over HTTP on the embedded runtime: create (cron, interval, event), list with filters and paging,
get, patch, pause, resume, history and delete, each answer read by the SDK's own models; bad input is a 4xx in the
error envelope and changes nothing; another organisation's triggers are 404. Firing is in
tests/unit/test_cluster_trigger_firing.py (the scheduler driven by a moved clock)."""

from __future__ import annotations

import pytest
from mixpeek.models import (
    SharedClustersTriggersModelsListTriggersResponse,
    SharedClustersTriggersModelsTriggerHistoryResponse,
    SharedClustersTriggersModelsTriggerModel,
)

from tests.api.test_namespaces_api import assert_error

TRIGGERS = "/v1/clusters/triggers"
INTERVAL = {"trigger_type": "interval", "schedule_config": {"interval_seconds": 3600}}


@pytest.fixture
def ns(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 4}]})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "maps"}


@pytest.fixture
def cluster_id(client, ns):
    response = client.post("/v1/clusters", headers=ns, json={"cluster_name": "topics", "vector_config": {
        "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": 3}}})
    assert response.status_code == 200, response.text
    return response.json()["cluster_id"]


def trigger_model(response) -> dict:
    assert response.status_code == 200, response.text
    SharedClustersTriggersModelsTriggerModel.from_dict(response.json())
    return response.json()


def create(client, headers, cluster_id, **body) -> dict:
    return trigger_model(client.post(TRIGGERS, headers=headers, json={"cluster_id": cluster_id, **INTERVAL, **body}))


def listed(client, headers, **body) -> dict:
    response = client.post(f"{TRIGGERS}/list", headers=headers, json=body)
    assert response.status_code == 200, response.text
    SharedClustersTriggersModelsListTriggersResponse.from_dict(response.json())
    return response.json()


def test_create_each_supported_type_and_read_it_back(client, ns, cluster_id):
    interval = create(client, ns, cluster_id, description="hourly")
    assert interval["trigger_id"].startswith("trg_") and interval["cluster_id"] == cluster_id
    assert interval["namespace_id"] == "maps" and interval["status"] == "active"
    assert interval["schedule_config"] == {"interval_seconds": 3600, "start_immediately": False}
    # The execution configuration is the cluster's own: its algorithm and parameters.
    assert interval["execution_config"] == {"collection_ids": ["maps"],
                                            "config": {"algorithm": "kmeans", "n_clusters": 3}}
    assert interval["next_scheduled_at"] > interval["created_at"]
    cron = create(client, ns, cluster_id, trigger_type="cron",
                  schedule_config={"cron_expression": "0  2 * * mon-fri", "timezone": "America/New_York"})
    assert cron["schedule_config"] == {"cron_expression": "0 2 * * mon-fri", "timezone": "America/New_York"}
    assert cron["next_scheduled_at"][11:16] in ("07:00", "06:00")  # 02:00 in New York, in UTC
    event = create(client, ns, cluster_id, trigger_type="event", status="paused",
                   schedule_config={"event_type": "documents_added", "event_threshold": 100})
    assert event["status"] == "paused" and event["next_scheduled_at"] is None
    assert event["schedule_config"]["cooldown_seconds"] == 0 and event["event_counter"] == 0

    assert trigger_model(client.get(f"{TRIGGERS}/{cron['trigger_id']}", headers=ns)) == cron
    # A firing executes the cluster as it is then, and the trigger shows that configuration.
    patched = client.patch(f"/v1/clusters/{cluster_id}", headers=ns, json={"algorithm_params": {"n_clusters": 5}})
    assert patched.status_code == 200, patched.text
    current = trigger_model(client.get(f"{TRIGGERS}/{cron['trigger_id']}", headers=ns))
    assert current["execution_config"]["config"]["n_clusters"] == 5


def test_an_event_trigger_counting_a_collection_needs_one_of_this_namespace(client, ns, cluster_id):
    body = {"trigger_type": "event", "schedule_config": {"event_threshold": 5, "collection_id": "col_missing"}}
    assert_error(client.post(TRIGGERS, headers=ns, json={"cluster_id": cluster_id, **body}), 400,
                 "unknown_collection")
    assert listed(client, ns)["total"] == 0


def test_list_filters_sorts_and_pages(client, ns, cluster_id):
    first = create(client, ns, cluster_id)
    second = create(client, ns, cluster_id, trigger_type="cron", schedule_config={"cron_expression": "*/5 * * * *"})
    third = create(client, ns, cluster_id, status="paused")

    everything = listed(client, ns)
    assert everything["total"] == 3 and everything["offset"] == 0 and everything["limit"] == 50
    assert [t["trigger_id"] for t in everything["results"]] == [third["trigger_id"], second["trigger_id"],
                                                                first["trigger_id"]]
    assert [t["trigger_id"] for t in listed(client, ns, direction="asc")["results"]][0] == first["trigger_id"]
    assert [t["trigger_id"] for t in listed(client, ns, trigger_type="cron")["results"]] == [second["trigger_id"]]
    assert [t["trigger_id"] for t in listed(client, ns, status="paused")["results"]] == [third["trigger_id"]]
    assert listed(client, ns, cluster_id="clust_other")["total"] == 0
    by_next = listed(client, ns, sort_by="next_scheduled_at", direction="asc")["results"]
    assert by_next[0]["trigger_id"] == third["trigger_id"]  # paused: no next time, so first ascending
    assert by_next[1]["trigger_id"] == second["trigger_id"]  # every 5 minutes comes before the hourly one
    page = listed(client, ns, offset=1, limit=1)
    assert page["total"] == 3 and [t["trigger_id"] for t in page["results"]] == [second["trigger_id"]]
    assert client.post(f"{TRIGGERS}/list", headers=ns).json()["total"] == 3  # no body: the defaults


def test_patch_pause_resume_and_history(client, ns, cluster_id):
    trigger = create(client, ns, cluster_id)
    path = f"{TRIGGERS}/{trigger['trigger_id']}"

    patched = trigger_model(client.patch(path, headers=ns, json={
        "description": "every two hours", "schedule_config": {"interval_seconds": 7200}}))
    assert patched["description"] == "every two hours"
    assert patched["schedule_config"]["interval_seconds"] == 7200
    assert patched["next_scheduled_at"] > trigger["next_scheduled_at"]

    paused = trigger_model(client.post(f"{path}/pause", headers=ns))
    assert paused["status"] == "paused" and paused["next_scheduled_at"] is None
    resumed = trigger_model(client.post(f"{path}/resume", headers=ns))
    assert resumed["status"] == "active" and resumed["next_scheduled_at"] is not None
    disabled = trigger_model(client.patch(path, headers=ns, json={"status": "disabled"}))
    assert disabled["status"] == "disabled" and disabled["next_scheduled_at"] is None

    history = client.post(f"{path}/history", headers=ns, json={"offset": 0, "limit": 10})
    assert history.status_code == 200
    SharedClustersTriggersModelsTriggerHistoryResponse.from_dict(history.json())
    assert history.json() == {"trigger_id": trigger["trigger_id"], "executions": [], "total": 0, "offset": 0,
                              "limit": 10}


def test_delete_removes_the_trigger(client, ns, cluster_id):
    trigger = create(client, ns, cluster_id)
    path = f"{TRIGGERS}/{trigger['trigger_id']}"

    deleted = client.delete(path, headers=ns)

    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(client.get(path, headers=ns), 404, "trigger_not_found")
    assert_error(client.delete(path, headers=ns), 404, "trigger_not_found")
    assert listed(client, ns)["total"] == 0


@pytest.mark.parametrize("body, status, code", [
    ({"trigger_type": "conditional", "schedule_config": {"condition_type": "drift", "threshold": 0.3}}, 400,
     "unsupported_trigger_type"),
    ({"trigger_type": "event", "schedule_config": {"event_type": "documents_deleted", "event_threshold": 5}}, 400,
     "unsupported_event_type"),
    ({"trigger_type": "interval", "schedule_config": {"interval_seconds": 5}}, 400, "invalid_schedule_config"),
    ({"trigger_type": "interval", "schedule_config": {"interval_seconds": "3600"}}, 400, "invalid_schedule_config"),
    ({"trigger_type": "interval", "schedule_config": {"interval_seconds": 3600, "every": 2}}, 400,
     "invalid_schedule_config"),
    ({"trigger_type": "cron", "schedule_config": {"cron_expression": "61 * * * *"}}, 400, "invalid_cron_expression"),
    ({"trigger_type": "cron", "schedule_config": {"cron_expression": "0 2 * *"}}, 400, "invalid_cron_expression"),
    ({"trigger_type": "cron", "schedule_config": {"cron_expression": "0 2 * * *", "timezone": "Mars/Olympus"}},
     400, "invalid_schedule_config"),
    ({"trigger_type": "event", "schedule_config": {"event_threshold": 0}}, 400, "invalid_schedule_config"),
    ({**INTERVAL, "status": "failed"}, 400, "invalid_trigger_status"),
    ({**INTERVAL, "cluster_id": "clust_missing"}, 404, "cluster_not_found"),
    ({**INTERVAL, "cluster_id": None, "execution_config": {"collection_ids": ["col_a"], "config": {
        "algorithm": "kmeans"}}}, 400, "execution_config_unsupported"),
    ({**INTERVAL, "cluster_id": None}, 400, "cluster_id_required"),
])
def test_bad_creations_are_refused_and_create_nothing(client, ns, cluster_id, body, status, code):
    assert_error(client.post(TRIGGERS, headers=ns, json={"cluster_id": cluster_id, **body}), status, code)
    assert listed(client, ns)["total"] == 0


@pytest.mark.parametrize("body", [
    {**INTERVAL, "cluster_id": "c", "surprise": 1},  # unknown keys are refused
    {"cluster_id": "c", "trigger_type": "hourly", "schedule_config": {}},
    {"cluster_id": "c", "trigger_type": "interval"},
    {"cluster_id": "c", "trigger_type": "interval", "schedule_config": []},
])
def test_malformed_bodies_are_422(client, ns, body):
    assert client.post(TRIGGERS, headers=ns, json=body).status_code == 422


def test_bad_updates_and_listings_change_nothing(client, ns, cluster_id):
    trigger = create(client, ns, cluster_id)
    path = f"{TRIGGERS}/{trigger['trigger_id']}"

    assert_error(client.patch(path, headers=ns, json={"schedule_config": {"cron_expression": "0 2 * * *"}}), 400,
                 "invalid_schedule_config")
    assert_error(client.patch(path, headers=ns, json={"status": "failed"}), 400, "invalid_trigger_status")
    assert client.patch(path, headers=ns, json={"trigger_type": "cron"}).status_code == 422
    assert client.post(f"{TRIGGERS}/list", headers=ns, json={"limit": 0}).status_code == 422
    assert client.post(f"{TRIGGERS}/list", headers=ns, json={"sort_by": "pk"}).status_code == 422
    assert client.post(f"{path}/history", headers=ns, json={"limit": "ten"}).status_code == 422
    assert_error(client.post(f"{TRIGGERS}/trg_missing/history", headers=ns, json={}), 404, "trigger_not_found")
    assert_error(client.post(f"{TRIGGERS}/trg_missing/pause", headers=ns), 404, "trigger_not_found")
    assert_error(client.post(TRIGGERS, headers={"Authorization": ns["Authorization"]},
                             json={"cluster_id": cluster_id, **INTERVAL}), 400, "missing_namespace")
    assert trigger_model(client.get(path, headers=ns)) == trigger


def test_another_organisations_trigger_is_404_and_untouched(client, ns, cluster_id, other_tenant):
    trigger = create(client, ns, cluster_id)
    path = f"{TRIGGERS}/{trigger['trigger_id']}"
    client.post("/v1/namespaces/standalone", headers=other_tenant.headers, json={
        "namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 4}]})
    theirs = {**other_tenant.headers, "X-Namespace": "maps"}

    assert_error(client.get(path, headers=theirs), 404, "trigger_not_found")
    assert_error(client.patch(path, headers=theirs, json={"description": "mine"}), 404, "trigger_not_found")
    assert_error(client.post(f"{path}/pause", headers=theirs), 404, "trigger_not_found")
    assert_error(client.post(f"{path}/resume", headers=theirs), 404, "trigger_not_found")
    assert_error(client.post(f"{path}/history", headers=theirs, json={}), 404, "trigger_not_found")
    assert_error(client.delete(path, headers=theirs), 404, "trigger_not_found")
    assert listed(client, theirs)["total"] == 0
    # Nor can they aim a trigger of theirs at this organisation's cluster.
    assert_error(client.post(TRIGGERS, headers=theirs, json={"cluster_id": cluster_id, **INTERVAL}), 404,
                 "cluster_not_found")
    assert trigger_model(client.get(path, headers=ns)) == trigger


def test_a_fired_trigger_runs_the_cluster_to_completion_and_its_history_shows_the_run(services, client, tenant):
    """The embedded runtime end to end: the scheduler's job (clocks moved, never waited for) starts the real
    execution; only the run itself is waited for, as any execution's task is."""
    from datetime import timedelta

    from openpeek.cli import CLUSTER_TRIGGERS_EVERY_S, schedule_cluster_triggers
    from openpeek.domain.clock import utcnow
    from openpeek.embedded.scheduler import Scheduler
    from openpeek.runtime import attach_cluster_triggers
    from tests.api.test_clusters_api import DIMENSION, create_cluster, upsert_topics, wait

    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": DIMENSION}]})
    headers = {**tenant.headers, "X-Namespace": "maps"}
    upsert_topics(client, headers, per_topic=10)
    cluster_id = create_cluster(client, headers)["cluster_id"]
    moved = [utcnow()]
    attach_cluster_triggers(services, clock=lambda: moved[0])
    scheduler = Scheduler(clock=lambda: moved[0].timestamp())
    schedule_cluster_triggers(scheduler, services)
    trigger = create(client, headers, cluster_id, schedule_config={"interval_seconds": 600})

    moved[0] += timedelta(seconds=600 + CLUSTER_TRIGGERS_EVERY_S)
    assert scheduler.run_due() == ["cluster-triggers"]

    current = client.get(f"{TRIGGERS}/{trigger['trigger_id']}", headers=headers).json()
    run_id = current["last_execution_job_id"]
    assert run_id and current["execution_count"] == 1
    latest = client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).json()
    assert latest["run_id"] == run_id
    cluster = client.get(f"/v1/clusters/{cluster_id}", headers=headers).json()
    assert wait(client, headers, cluster["task_id"])["status"] == "COMPLETED"
    (fired,) = client.post(f"{TRIGGERS}/{trigger['trigger_id']}/history", headers=headers, json={}).json()[
        "executions"]
    assert fired["job_id"] == run_id and fired["status"] == "completed"
    assert fired["num_clusters"] == 3 and fired["num_documents"] == 30 and fired["execution_time_ms"] >= 0
