"""Data the studio's browser tests and benchmark look at, written through the public API as a user would: three
well-separated topics of 16-d vectors with a text each, a retriever whose input is a vector, and a clustered run."""

from __future__ import annotations

import time

import httpx
import numpy as np

TOPICS = ["guitar", "volcano", "invoice"]
WORDS = {"guitar": "amplifier chord riff fretboard", "volcano": "lava eruption magma crater",
         "invoice": "payment ledger receipt account"}
DIMENSION = 16
TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}


def topic_vector(topic: int, rng: np.random.Generator) -> list[float]:
    centre = np.eye(DIMENSION)[topic] * 3
    return (centre + rng.normal(0, 0.08, DIMENSION)).tolist()


def upsert_topics(client: httpx.Client, namespace: str, per_topic: int = 40, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    documents = []
    for topic, name in enumerate(TOPICS):
        for number in range(per_topic):
            documents.append({"document_id": f"{name}-{number}", "vectors": {"emb": topic_vector(topic, rng)},
                              "payload": {"topic": name, "rank": number,
                                          "text": f"{name} note {number}: {WORDS[name]}"}})
    response = client.post(f"/v1/namespaces/{namespace}/documents/upsert", json={"documents": documents})
    response.raise_for_status()


def create_retriever(client: httpx.Client, namespace: str) -> dict:
    response = client.post("/v1/retrievers", headers={"X-Namespace": namespace}, json={
        "retriever_name": "nearest", "description": "nearest documents to a vector, optionally of one topic",
        "input_schema": {"vector": {"type": "array", "required": True, "description": "a 16-d query vector"}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {
            "searches": [{"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.vector}}"},
                          "top_k": 10}]}}}]})
    response.raise_for_status()
    return response.json()


def cluster_and_wait(client: httpx.Client, namespace: str, *, n_clusters: int = 3, vis_n_components: int = 2,
                     name: str = "topics", timeout: float = 240) -> tuple[str, str]:
    headers = {"X-Namespace": namespace}
    response = client.post("/v1/clusters", headers=headers, json={
        "cluster_name": name, "vector_config": {
            "feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": n_clusters},
            "vis_n_components": vis_n_components}})
    response.raise_for_status()
    cluster_id = response.json()["cluster_id"]
    return cluster_id, execute_and_wait(client, namespace, cluster_id, timeout=timeout)


def execute_and_wait(client: httpx.Client, namespace: str, cluster_id: str, timeout: float = 240) -> str:
    """Run the cluster once more; the new run's id once its task has completed."""
    headers = {"X-Namespace": namespace}
    task = client.post(f"/v1/clusters/{cluster_id}/execute", headers=headers, json={}).raise_for_status().json()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/v1/tasks/{task['task_id']}").raise_for_status().json()
        if task["status"] in TERMINAL:
            break
        time.sleep(0.25)
    assert task["status"] == "COMPLETED", task
    return client.get(f"/v1/clusters/{cluster_id}/executions", headers=headers).raise_for_status().json()["run_id"]
