"""The official SDK's ClusterTriggersApi against a live `openpeek serve`: every method, each answer parsed into the
SDK's own models, and the errors it raises for what this deployment refuses or cannot find."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek.exceptions import ApiException, NotFoundException
from mixpeek.models import (
    CreateClusterRequest,
    SharedClustersTriggersModelsCreateTriggerRequest as CreateTrigger,
    SharedClustersTriggersModelsListTriggersRequest as ListTriggers,
    SharedClustersTriggersModelsUpdateTriggerRequest as UpdateTrigger,
    TriggerHistoryRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-triggers"


@pytest.fixture(scope="module")
def sdk(server):
    client = sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 4}]).api_client
    cluster = mixpeek.ClustersApi(client).create_cluster(CreateClusterRequest.from_dict({
        "cluster_name": "topics", "cluster_type": "vector", "vector_config": {
            "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": 2}}}))
    return mixpeek.ClusterTriggersApi(client), cluster.cluster_id


def test_every_trigger_method_through_the_sdk(sdk):
    triggers, cluster_id = sdk
    created = triggers.create_trigger_clusters(CreateTrigger.from_dict({
        "cluster_id": cluster_id, "trigger_type": "cron", "description": "nightly",
        "schedule_config": {"cron_expression": "0 2 * * *", "timezone": "UTC"}}))
    assert created.trigger_id.startswith("trg_") and created.status.value == "active"
    assert created.next_scheduled_at.hour == 2 and created.execution_config.config["algorithm"] == "kmeans"

    listed = triggers.list_triggers_clusters(ListTriggers(trigger_type="cron", limit=10))
    assert [t.trigger_id for t in listed.results] == [created.trigger_id] and listed.total == 1
    assert triggers.get_trigger_clusters(created.trigger_id).description == "nightly"

    updated = triggers.update_trigger_clusters(created.trigger_id, UpdateTrigger(
        schedule_config={"cron_expression": "30 3 * * *", "timezone": "UTC"}, description="later"))
    assert updated.next_scheduled_at.hour == 3 and updated.next_scheduled_at.minute == 30
    assert triggers.pause_trigger_clusters(created.trigger_id).status.value == "paused"
    assert triggers.resume_trigger_clusters(created.trigger_id).status.value == "active"
    history = triggers.get_trigger_history_clusters(created.trigger_id, TriggerHistoryRequest(limit=5))
    assert history.trigger_id == created.trigger_id and history.executions == [] and history.limit == 5

    assert triggers.delete_trigger_clusters(created.trigger_id) is None
    with pytest.raises(NotFoundException):
        triggers.get_trigger_clusters(created.trigger_id)


def test_unsupported_types_are_a_400_the_sdk_raises(sdk):
    triggers, cluster_id = sdk
    with pytest.raises(ApiException) as refused:
        triggers.create_trigger_clusters(CreateTrigger.from_dict({
            "cluster_id": cluster_id, "trigger_type": "conditional",
            "schedule_config": {"condition_type": "drift", "threshold": 0.3, "metric": "cosine_drift"}}))
    assert refused.value.status == 400 and "unsupported_trigger_type" in refused.value.body
