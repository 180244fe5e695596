"""Clusters over HTTP on the embedded runtime: definitions, execute in every mode, tasks, the map, groups, labels.

The documents are three well-separated groups of 16-d vectors with a topic word each, so a correct run is known: every
group lands in one cluster, and that cluster's label names its topic.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.api.test_namespaces_api import assert_error

TOPICS = ["guitar", "volcano", "invoice"]
PER_TOPIC = 30
DIMENSION = 16
TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}


def topic_vectors(seed: int, per_topic: int = PER_TOPIC, spread: float = 0.05) -> list[tuple[int, list[float]]]:
    rng = np.random.default_rng(seed)
    centres = np.eye(DIMENSION)[:len(TOPICS)] * 3
    rows = []
    for topic, centre in enumerate(centres):
        for _ in range(per_topic):
            rows.append((topic, (centre + rng.normal(0, spread, DIMENSION)).tolist()))
    return rows


def upsert_topics(client, headers, prefix: str = "d", seed: int = 1, per_topic: int = PER_TOPIC,
                  collection_id: str | None = None) -> dict[str, int]:
    truth = {}
    documents = []
    for position, (topic, vector) in enumerate(topic_vectors(seed, per_topic)):
        document_id = f"{prefix}{position}"
        truth[document_id] = topic
        documents.append({"document_id": document_id, "vectors": {"emb": vector},
                          "payload": {"text": f"{TOPICS[topic]} note number {position}", "topic": TOPICS[topic]}})
    body = {"documents": documents, **({"collection_id": collection_id} if collection_id else {})}
    response = client.post("/v1/namespaces/maps/documents/upsert", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return truth


@pytest.fixture
def ns(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": DIMENSION}]})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "maps"}


@pytest.fixture
def truth(client, ns):
    return upsert_topics(client, ns)


def create_cluster(client, headers, method="kmeans", **extra):
    config = {"feature_uris": ["emb"], "clustering_method": method, **extra.pop("vector_config", {})}
    if method == "kmeans" and "kmeans_parameters" not in config:
        config["kmeans_parameters"] = {"n_clusters": 3}
    response = client.post("/v1/clusters", headers=headers, json={
        "cluster_name": extra.pop("cluster_name", "topics"), "vector_config": config, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def run(client, headers, cluster_id, **body) -> dict:
    """Execute and wait for the task to end; returns the final task."""
    response = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json=body or None)
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["task_type"] == "engine_cluster_build"
    assert task["status"] == "PENDING"
    return wait(client, headers, task["task_id"])


def wait(client, headers, task_id, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/v1/tasks/{task_id}", headers=headers).json()
        if task["status"] in TERMINAL:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not end: {task}")


def membership(client, headers, cluster_id) -> dict[str, str]:
    body = client.get(f"/v1/clusters/{cluster_id}/visualization", headers=headers).json()
    return {point["document_id"]: point["cluster_id"] for point in body["points"]}


def test_a_full_kmeans_run_finds_the_three_topics_and_labels_them(client, ns, truth):
    cluster = create_cluster(client, ns)
    assert cluster["cluster_id"].startswith("clust_")

    task = run(client, ns, cluster["cluster_id"])

    assert task["status"] == "COMPLETED", task
    groups = client.get(f"/v1/clusters/{cluster['cluster_id']}/groups", headers=ns).json()
    assert groups["total_groups"] == 3 and groups["total_documents"] == len(truth)
    assert sorted(g["member_count"] for g in groups["groups"]) == [PER_TOPIC] * 3
    assert sorted(next(t for t in TOPICS if t in g["label"].lower()) for g in groups["groups"]) == sorted(TOPICS)
    members = membership(client, ns, cluster["cluster_id"])
    for topic in range(3):
        assigned = {members[d] for d, t in truth.items() if t == topic}
        assert len(assigned) == 1, f"topic {TOPICS[topic]} split over {assigned}"
    latest = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()
    assert latest["status"] == "completed" and latest["num_clusters"] == 3 and latest["mode"] == "full"
    assert latest["metrics"]["silhouette_score"] > 0.8
    assert latest["input_reconciliation_ok"] is True and latest["vectors_clustered"] == len(truth)
    stored = client.get(f"/v1/clusters/{cluster['cluster_id']}", headers=ns).json()
    assert stored["status"] == "COMPLETED" and stored["last_run_id"] == latest["run_id"]


def test_the_map_has_two_or_three_coordinates_and_centroids(client, ns, truth):
    cluster = create_cluster(client, ns)
    run(client, ns, cluster["cluster_id"], vis_n_components=3)

    body = client.get(f"/v1/clusters/{cluster['cluster_id']}/visualization", headers=ns).json()

    assert body["n_components"] == 3 and len(body["points"]) == len(truth)
    assert all(isinstance(p[axis], float) for p in body["points"] for axis in ("x", "y", "z"))
    assert len(body["centroids"]) == 3 and all("z" in c for c in body["centroids"])
    capped = client.get(f"/v1/clusters/{cluster['cluster_id']}/visualization?max_points=10&compact=true",
                        headers=ns).json()
    assert len(capped["members"]["document_ids"]) == 10 and len(capped["members"]["z"]) == 10


def test_a_deferred_map_is_computed_on_the_first_visualization_request(client, ns, truth):
    cluster = create_cluster(client, ns)
    run(client, ns, cluster["cluster_id"], defer_visualization=True)
    groups = client.get(f"/v1/clusters/{cluster['cluster_id']}/groups", headers=ns)
    assert groups.status_code == 200  # groups never wait for the map

    response = client.get(f"/v1/clusters/{cluster['cluster_id']}/visualization", headers=ns)

    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert len(points) == len(truth) and all(p["x"] is not None and p["y"] is not None for p in points)


def test_assign_puts_new_documents_into_the_existing_clusters_and_far_ones_into_noise(client, ns, truth):
    cluster = create_cluster(client, ns)
    run(client, ns, cluster["cluster_id"])
    before = membership(client, ns, cluster["cluster_id"])
    fresh = upsert_topics(client, ns, prefix="new", seed=7, per_topic=5)
    far = [0.0] * DIMENSION
    far[10] = 1.0  # orthogonal to every topic: cosine 0 to each centroid
    client.post("/v1/namespaces/maps/documents/upsert", headers=ns, json={"documents": [
        {"document_id": "stranger", "vectors": {"emb": far}, "payload": {"text": "unrelated"}}]})

    task = run(client, ns, cluster["cluster_id"], mode="assign", assignment_threshold=0.5)

    assert task["status"] == "COMPLETED", task
    after = membership(client, ns, cluster["cluster_id"])
    topic_cluster = {truth_topic: before[d] for d, truth_topic in truth.items()}
    assert all(after[d] == topic_cluster[t] for d, t in fresh.items())
    assert after["stranger"] is None
    latest = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()
    assert latest["mode"] == "assign" and latest["pipeline_drop"] == 1
    assert latest["pipeline_drop_expected_as_noise"] is True


def test_assign_without_a_completed_run_is_refused(client, ns, truth):
    cluster = create_cluster(client, ns)
    response = client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns, json={"mode": "assign"})
    assert_error(response, 400, "no_completed_execution")
    assert client.post("/v1/tasks/list", headers=ns, json={}).json()["results"] == []


def test_composite_groups_the_centroids_of_two_runs(client, ns, truth):
    first = create_cluster(client, ns, cluster_name="a")
    second = create_cluster(client, ns, cluster_name="b")
    run(client, ns, first["cluster_id"])
    run(client, ns, second["cluster_id"])
    runs = [client.get(f"/v1/clusters/{c['cluster_id']}/executions", headers=ns).json()["run_id"]
            for c in (first, second)]
    composite = create_cluster(client, ns, cluster_name="both", source_cluster_ids=[first["cluster_id"],
                                                                                      second["cluster_id"]])

    task = run(client, ns, composite["cluster_id"])

    assert task["status"] == "COMPLETED", task
    result = client.get(f"/v1/clusters/{composite['cluster_id']}/executions", headers=ns).json()
    assert result["mode"] == "composite" and sorted(result["source_execution_ids"]) == sorted(runs)
    mapping = result["composite_mapping"]
    assert len(mapping) == 3
    # Each meta-cluster holds the same topic's centroid from each run: one from each source execution.
    for sources in mapping.values():
        assert sorted(s["source_run_id"] for s in sources) == sorted(runs)
        assert all(s["num_members"] == PER_TOPIC for s in sources)


def test_composite_needs_two_completed_sources(client, ns, truth):
    cluster = create_cluster(client, ns)
    response = client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns, json={"mode": "composite"})
    assert_error(response, 400, "composite_sources_required")
    run(client, ns, cluster["cluster_id"])
    only = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()["run_id"]
    response = client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns,
                           json={"mode": "composite", "source_execution_ids": [only]})
    assert_error(response, 400, "too_few_source_executions")
    response = client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns,
                           json={"mode": "composite", "source_execution_ids": [only, "run_missing"]})
    assert_error(response, 400, "unknown_source_execution")


def test_a_run_over_too_few_documents_ends_failed_with_its_reason(client, ns):
    client.post("/v1/namespaces/maps/documents/upsert", headers=ns, json={"documents": [
        {"document_id": "lonely", "vectors": {"emb": [1.0] + [0.0] * (DIMENSION - 1)}}]})
    cluster = create_cluster(client, ns)

    task = run(client, ns, cluster["cluster_id"])

    assert task["status"] == "FAILED"
    assert "Insufficient documents" in task["error"]
    latest = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()
    assert latest["status"] == "failed" and "Insufficient documents" in latest["error_message"]
    assert client.get(f"/v1/clusters/{cluster['cluster_id']}", headers=ns).json()["status"] == "FAILED"


def test_filters_and_collection_ids_choose_the_documents(client, ns):
    upsert_topics(client, ns, prefix="a", collection_id="col_a")
    upsert_topics(client, ns, prefix="b", collection_id="col_b")
    cluster = create_cluster(client, ns, collection_ids=["col_a"])

    run(client, ns, cluster["cluster_id"],
        filters={"AND": [{"field": "topic", "operator": "in", "value": ["guitar", "volcano"]}]})

    members = membership(client, ns, cluster["cluster_id"])
    assert members and all(d.startswith("a") for d in members)
    assert len(members) == 2 * PER_TOPIC
    # The override was for this run only: the cluster keeps no filters.
    assert client.get(f"/v1/clusters/{cluster['cluster_id']}", headers=ns).json()["filters"] is None


def test_enrich_source_collection_writes_the_cluster_into_each_document(client, ns, truth):
    cluster = create_cluster(client, ns, enrich_source_collection=True)
    run(client, ns, cluster["cluster_id"])
    members = membership(client, ns, cluster["cluster_id"])

    document = client.get("/v1/namespaces/maps/documents/d0", headers=ns).json()

    assert document["cluster_id"] == members["d0"]
    assert "guitar" in document["cluster_label"].lower()


def test_label_overrides_rename_groups_and_unknown_clusters_are_refused(client, ns, truth):
    cluster = create_cluster(client, ns)
    run(client, ns, cluster["cluster_id"])
    run_id = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()["run_id"]

    response = client.patch(f"/v1/clusters/{cluster['cluster_id']}/executions/{run_id}/labels", headers=ns,
                            json={"labels": {"cl_0": "  Renamed  "}})
    assert response.status_code == 200, response.text
    assert response.json()["label_overrides"] == {"cl_0": "Renamed"}
    groups = client.get(f"/v1/clusters/{cluster['cluster_id']}/groups", headers=ns).json()["groups"]
    assert [g["label"] for g in groups if g["cluster_id"] == "cl_0"] == ["Renamed"]
    assert_error(client.patch(f"/v1/clusters/{cluster['cluster_id']}/executions/{run_id}/labels", headers=ns,
                              json={"labels": {"cl_99": "x"}}), 400, "unknown_cluster_label")
    cleared = client.patch(f"/v1/clusters/{cluster['cluster_id']}/executions/{run_id}/labels", headers=ns,
                           json={"labels": {"cl_0": ""}}).json()
    assert cleared["label_overrides"] == {}


def test_create_checks_everything_before_storing(client, ns):
    bad = [
        ({"cluster_name": "x"}, 400, "missing_vector_config"),
        ({"vector_config": {"feature_uris": ["nope"], "clustering_method": "kmeans"}}, 400, "unknown_feature_uri"),
        ({"vector_config": {"feature_uris": ["emb"], "clustering_method": "leiden"}}, 400,
         "invalid_clustering_method"),
        ({"vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans", "sample_size": 1}}, 400,
         "invalid_sample_size"),
        ({"vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans", "vis_n_components": 4}}, 400,
         "invalid_vis_n_components"),
        ({"vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans"},
          "filters": {"AND": [{"field": "x", "operator": "bogus", "value": 1}]}}, 400, "invalid_filter"),
        ({"cluster_type": "attribute", "attribute_config": {}}, 400, "unsupported_cluster_type"),
    ]
    for body, status, code in bad:
        assert_error(client.post("/v1/clusters", headers=ns, json=body), status, code)
    assert client.get("/v1/clusters", headers=ns).json()["results"] == []
    assert client.post("/v1/clusters", headers=ns, json={"vector_config": {}, "unknown": 1}).status_code == 422


def test_definitions_are_listed_patched_deleted_and_private_to_their_organisation(client, ns, other_tenant):
    cluster = create_cluster(client, ns, description="first")
    other = {**other_tenant.headers, "X-Namespace": "maps"}
    assert_error(client.get(f"/v1/clusters/{cluster['cluster_id']}", headers=other), 404)

    patched = client.patch(f"/v1/clusters/{cluster['cluster_id']}", headers=ns,
                           json={"description": "second", "sample_size": 500})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "second" and patched.json()["sample_size"] == 500
    listed = client.post("/v1/clusters/list", headers=ns, json={"search": "topics"}).json()
    assert [c["cluster_id"] for c in listed["results"]] == [cluster["cluster_id"]]
    assert listed["total_count"] == 1

    assert client.delete(f"/v1/clusters/{cluster['cluster_id']}", headers=ns).status_code == 200
    assert_error(client.get(f"/v1/clusters/{cluster['cluster_id']}", headers=ns), 404, "cluster_not_found")
    assert_error(client.post(f"/v1/clusters/{cluster['cluster_id']}/execute", headers=ns), 404)


def test_another_organisations_task_is_not_found(client, ns, other_tenant, truth):
    cluster = create_cluster(client, ns)
    task = run(client, ns, cluster["cluster_id"])
    assert_error(client.get(f"/v1/tasks/{task['task_id']}", headers=other_tenant.headers), 404, "task_not_found")
    assert_error(client.delete(f"/v1/tasks/{task['task_id']}", headers=other_tenant.headers), 404)
    assert client.get(f"/v1/tasks/{task['task_id']}", headers=ns).json()["status"] == "COMPLETED"


def test_llm_labels_replace_the_offline_ones_and_a_failing_provider_keeps_them(client, services, ns, truth):
    import json as _json

    import httpx

    from openpeek.adapters.llm.openai import OpenAiClient
    from openpeek.repositories.label_cache import LabelCacheRepository
    from openpeek.services.clustering.labeling import ClusterLabeler

    prompts = []

    def answer(request: httpx.Request) -> httpx.Response:
        prompt = _json.loads(request.content)["messages"][0]["content"]
        prompts.append(prompt)
        clusters = [{"cluster_id": f"cl_{i}", "label": f"Theme {i}", "summary": "s", "keywords": ["k"]}
                    for i in range(3)]
        return httpx.Response(200, json={"choices": [{"message": {"content": _json.dumps({"clusters": clusters})}}]})

    services.cluster_steps.labeler = ClusterLabeler(LabelCacheRepository(services.table), {
        "openai": OpenAiClient("sk-test", transport=httpx.MockTransport(answer))})
    labeling = {"enabled": True, "provider": "openai", "model_name": "gpt-4o-mini-2024-07-18",
                "labeling_inputs": {"input_mappings": [{"input_key": "text", "path": "text",
                                                        "source_type": "payload"}]}}
    cluster = create_cluster(client, ns, llm_labeling=labeling)
    run(client, ns, cluster["cluster_id"])

    groups = client.get(f"/v1/clusters/{cluster['cluster_id']}/groups", headers=ns).json()["groups"]
    assert sorted(g["label"] for g in groups) == ["Theme 0", "Theme 1", "Theme 2"]
    assert any(topic in prompts[0] for topic in TOPICS)  # the representative documents' text was sent

    services.cluster_steps.labeler = ClusterLabeler(LabelCacheRepository(services.table), {"openai": OpenAiClient(
        "sk-test", transport=httpx.MockTransport(lambda request: httpx.Response(500, json={})))})
    second = create_cluster(client, ns, cluster_name="again", llm_labeling={**labeling, "cache_ttl_seconds": 0})
    assert run(client, ns, second["cluster_id"])["status"] == "COMPLETED"
    result = client.get(f"/v1/clusters/{second['cluster_id']}/executions", headers=ns).json()
    assert result["llm_labeling_errors"]
    assert all(any(t in c["label"].lower() for t in TOPICS) for c in result["centroids"])


def test_llm_labeling_config_is_checked_at_create_time(client, ns):
    response = client.post("/v1/clusters", headers=ns, json={
        "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans"},
        "llm_labeling": {"enabled": True, "provider": "typesafe"}})
    assert_error(response, 400, "invalid_llm_labeling")


def test_a_rerun_map_is_aligned_onto_the_previous_one_unless_the_run_says_none(client, ns, truth):
    cluster_id = create_cluster(client, ns)["cluster_id"]

    def latest() -> dict:
        return client.get(f"/v1/clusters/{cluster_id}/executions", headers=ns).json()

    def coordinates() -> dict[str, tuple[float, float]]:
        body = client.get(f"/v1/clusters/{cluster_id}/visualization", headers=ns).json()
        return {p["document_id"]: (p["x"], p["y"]) for p in body["points"]}, body["centroids"]

    run(client, ns, cluster_id)
    first = latest()
    assert first["layout_stability_applied"] == "none"
    assert first["layout_stability_reason"] == "no earlier completed run with a map to align to"
    before, _ = coordinates()

    upsert_topics(client, ns, prefix="late", seed=7)  # new documents: the re-run's layout is a different one
    run(client, ns, cluster_id)

    second = latest()
    assert second["layout_stability_applied"] == "aligned"
    assert second["layout_stability_reason"] == f"aligned to previous run on {len(truth)} shared documents"
    after, centroids = coordinates()
    # A least-squares registration puts the shared documents' centre of mass exactly where it was.
    shared = sorted(truth)
    np.testing.assert_allclose(np.mean([after[d] for d in shared], axis=0), np.mean([before[d] for d in shared], axis=0),
                               atol=1e-4)
    members = membership(client, ns, cluster_id)
    for centre in centroids:  # the map's cluster centres moved with their members
        mine = [after[d] for d, c in members.items() if c == centre["cluster_id"]]
        np.testing.assert_allclose([centre["x"], centre["y"]], np.mean(mine, axis=0), atol=1e-4)

    run(client, ns, cluster_id, layout_stability="none")
    third = latest()
    assert third["layout_stability_applied"] == "none"
    assert third["layout_stability_reason"] == "layout_stability is none for this run"
    refused = client.post(f"/v1/clusters/{cluster_id}/execute", headers=ns, json={"layout_stability": "sideways"})
    assert refused.status_code in (400, 422)

    run(client, ns, cluster_id, defer_visualization=True)  # a deferred map is aligned when it is computed
    assert latest()["layout_stability_applied"] == "none"
    coordinates()
    assert latest()["layout_stability_applied"] == "aligned"


def test_a_rerun_whose_previous_map_is_gone_keeps_its_own_map_and_says_why(client, services, ns, truth):
    from openpeek.services.clustering.steps import points_key

    cluster_id = create_cluster(client, ns)["cluster_id"]
    run(client, ns, cluster_id)
    first = client.get(f"/v1/clusters/{cluster_id}/executions", headers=ns).json()
    namespace_id = client.get("/v1/namespaces/maps", headers=ns).json()["namespace_id"]
    services.blobs.delete(points_key(namespace_id, cluster_id, first["run_id"]))

    task = run(client, ns, cluster_id)

    assert task["status"] == "COMPLETED", task
    second = client.get(f"/v1/clusters/{cluster_id}/executions", headers=ns).json()
    assert second["layout_stability_applied"] == "none"
    assert second["layout_stability_reason"] == f"the map of run {first['run_id']} is no longer stored"
