"""The official SDK's ClustersApi, ClusterExecutionsApi and TasksApi against a live `openpeek serve`: create → execute
→ poll the task → executions → visualization → groups, in the modes full, assign and composite. The SDK parses every
answer into its own models, so a field we get wrong fails here."""

from __future__ import annotations

import time

import mixpeek
import numpy as np
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    ClusterExecutionResult,
    ClusterGroupsResponse,
    CreateClusterRequest,
    ExecuteClusterByIdRequest,
    ListTasksRequest,
    PatchExecutionLabelsRequest,
    TaskResponse,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-clusters"
TOPICS = ["harbour", "orchard", "satellite"]


@pytest.fixture(scope="module")
def sdk(server):
    rng = np.random.default_rng(11)
    rows = [{"document_id": f"{TOPICS[t]}-{i}", "vectors": {"emb": (np.eye(12)[t] * 2 + rng.normal(0, .05, 12)).tolist()},
             "payload": {"text": f"{TOPICS[t]} report {i}"}} for t in range(3) for i in range(25)]
    client = sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 12}], documents=rows).api_client
    return (mixpeek.ClustersApi(client), mixpeek.ClusterExecutionsApi(client), mixpeek.TasksApi(client), client)


def wait(tasks: mixpeek.TasksApi, task: TaskResponse, timeout: float = 180) -> TaskResponse:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = tasks.get_task(task.task_id)
        if task.status.value in ("COMPLETED", "FAILED", "CANCELED"):
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {task.task_id} still {task.status}")


def create(clusters: mixpeek.ClustersApi, name: str, **extra):
    return clusters.create_cluster(CreateClusterRequest.from_dict({
        "cluster_name": name, "cluster_type": "vector",
        "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                          "kmeans_parameters": {"n_clusters": 3}, "vis_n_components": 2}, **extra}))


def test_full_assign_and_composite_through_the_sdk(sdk):
    clusters, executions, tasks, _ = sdk
    first = create(clusters, "first")
    assert first.cluster_id.startswith("clust_")

    task = clusters.execute_clustering_clusters(first.cluster_id, ExecuteClusterByIdRequest(mode="full"))
    assert task.status.value == "PENDING" and task.task_type.value == "engine_cluster_build"
    assert wait(tasks, task).status.value == "COMPLETED"

    latest = executions.get_cluster_execution(first.cluster_id)
    assert isinstance(latest, ClusterExecutionResult)
    assert latest.status == "completed" and latest.num_clusters == 3 and latest.num_points == 75
    assert latest.metrics.silhouette_score > 0.8
    assert sorted(c.num_members for c in latest.centroids) == [25, 25, 25]
    assert sorted(next(t for t in TOPICS if t in c.label.lower()) for c in latest.centroids) == sorted(TOPICS)

    groups = clusters.get_cluster_groups(first.cluster_id)
    assert isinstance(groups, ClusterGroupsResponse) and groups.total_groups == 3 and groups.total_documents == 75
    visualization = clusters.get_cluster_visualization(first.cluster_id, max_points=30)
    assert visualization["returned_points"] == 30 and len(visualization["centroids"]) == 3

    assign = clusters.execute_clustering_clusters(first.cluster_id, ExecuteClusterByIdRequest(
        mode="assign", assignment_threshold=0.5))
    assert wait(tasks, assign).status.value == "COMPLETED"
    assert executions.get_cluster_execution(first.cluster_id).mode == "assign"

    second = create(clusters, "second")
    assert wait(tasks, clusters.execute_clustering_clusters(second.cluster_id)).status.value == "COMPLETED"
    runs = [executions.get_cluster_execution(c.cluster_id).run_id for c in (first, second)]
    composite = create(clusters, "both")
    done = wait(tasks, clusters.execute_clustering_clusters(composite.cluster_id, ExecuteClusterByIdRequest(
        mode="composite", source_execution_ids=runs)))
    assert done.status.value == "COMPLETED", done.error
    result = executions.get_cluster_execution_by_run(composite.cluster_id,
                                                     executions.get_cluster_execution(composite.cluster_id).run_id)
    assert result.mode == "composite" and len(result.composite_mapping) == 3
    assert all(len(sources) == 2 for sources in result.composite_mapping.values())

    listed = executions.list_cluster_executions(first.cluster_id)
    assert listed.total_count == 2 and [r.mode for r in listed.results] == ["assign", "full"]
    renamed = executions.patch_execution_labels_clusters_id_run(
        first.cluster_id, listed.results[0].run_id, PatchExecutionLabelsRequest(labels={"cl_1": "Middle"}))
    assert renamed.label_overrides == {"cl_1": "Middle"}
    page = tasks.list_tasks(list_tasks_request=ListTasksRequest(status="COMPLETED", task_type="engine_cluster_build"))
    assert len(page.results) == 4 and all(t.status.value == "COMPLETED" for t in page.results)


def test_sdk_errors_come_back_in_the_envelope(sdk):
    clusters, _, tasks, _ = sdk
    cluster = create(clusters, "lonely-assign")
    with pytest.raises(ApiException) as refused:
        clusters.execute_clustering_clusters(cluster.cluster_id, ExecuteClusterByIdRequest(mode="assign"))
    assert refused.value.status == 400 and "no_completed_execution" in refused.value.body
    with pytest.raises(ApiException) as missing:
        tasks.get_task("task_doesnotexist")
    assert missing.value.status == 404
