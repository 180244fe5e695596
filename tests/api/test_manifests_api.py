"""Manifests (seed 003): export, validate, diff, apply — JSON and YAML bodies and the SDK's multipart form; the whole
manifest validated before any change; apply idempotent; export from one namespace, apply into another, reproduces it."""

from __future__ import annotations

import yaml

from tests.api.test_namespaces_api import assert_error


def standalone(client, tenant, name):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 3}]})
    return {**tenant.headers, "X-Namespace": name}


RETRIEVER = {
    "retriever_name": "nearest", "description": "three nearest",
    "input_schema": {"v": {"type": "array", "required": True}},
    "stages": [{"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search", "parameters": {
        "searches": [{"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"},
                      "top_k": 3}]}}}],
}
CLUSTER = {"cluster_name": "themes", "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                                                       "kmeans_parameters": {"n_clusters": 2}}}


def manifest(**namespace):
    return {"version": 1, "namespace": {"description": "catalogue", "payload_indexes": [
        {"field_name": "brand", "type": "keyword"}], **namespace}, "retrievers": [RETRIEVER], "clusters": [CLUSTER]}


def test_apply_creates_everything_and_a_second_apply_changes_nothing(client, tenant):
    headers = standalone(client, tenant, "shop")

    diff = client.post("/v1/manifest/diff", headers=headers, json=manifest()).json()
    assert {(d["resource_type"], d["name"]) for d in diff["to_create"]} == {("retriever", "nearest"),
                                                                           ("cluster", "themes")}
    assert [d["resource_type"] for d in diff["differences"]] == ["namespace"]

    applied = client.post("/v1/manifest/apply", headers=headers, json=manifest())
    assert applied.status_code == 200, applied.text
    assert applied.json()["created_count"] == 2 and applied.json()["success"] is True
    namespace = client.get("/v1/namespaces/shop", headers=tenant.headers).json()
    assert namespace["description"] == "catalogue"
    assert "brand" in {i["field_name"] for i in namespace["payload_indexes"]}

    again = client.post("/v1/manifest/apply", headers=headers, json=manifest()).json()
    assert again["created_count"] == 0 and again["updated_count"] == 0
    assert {r["status"] for r in again["resources"]} == {"exists"}
    assert client.post("/v1/manifest/diff", headers=headers, json=manifest()).json() == {
        "to_create": [], "in_system_only": [], "differences": []}


def test_export_then_apply_into_another_namespace_reproduces_it(client, tenant):
    source = standalone(client, tenant, "prod")
    assert client.post("/v1/manifest/apply", headers=source, json=manifest()).status_code == 200
    exported = client.get("/v1/manifest/export?format=yaml", headers=source)
    assert exported.headers["content-type"].startswith("application/yaml")
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={"namespace_id": "copy"})  # no indexes yet
    target = {**tenant.headers, "X-Namespace": "copy", "Content-Type": "application/yaml"}

    applied = client.post("/v1/manifest/apply", headers=target, content=exported.text)

    assert applied.status_code == 200, applied.text
    copy_export = yaml.safe_load(client.get("/v1/manifest/export?format=yaml", headers=target).text)
    original = yaml.safe_load(exported.text)
    for section in (copy_export, original):
        section["namespace"].pop("namespace_name")
    assert copy_export == original
    assert client.post("/v1/manifest/diff", headers=target, content=exported.text).json()["to_create"] == []


def test_an_invalid_manifest_changes_nothing_and_names_every_problem(client, tenant):
    headers = standalone(client, tenant, "shop")
    bad = manifest()
    bad["retrievers"].append({**RETRIEVER, "retriever_name": "broken", "stages": [
        {"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "missing", "query": {"input_mode": "vector", "value": [1, 0, 0]}}]}}}]})
    bad["clusters"].append({"cluster_name": "odd", "vector_config": {"feature_uris": ["emb"],
                                                                     "clustering_method": "nope"}})

    validated = client.post("/v1/manifest/validate", headers=headers, json=bad).json()
    assert validated["valid"] is False and len(validated["errors"]) == 2
    assert any("broken" in e for e in validated["errors"]) and any("odd" in e for e in validated["errors"])
    body = assert_error(client.post("/v1/manifest/apply", headers=headers, json=bad), 400, "invalid_manifest")
    assert len(body["error"]["details"]["errors"]) == 2
    assert client.get("/v1/retrievers", headers=headers).json()["results"] == []
    assert client.get("/v1/clusters", headers=headers).json()["results"] == []
    assert_error(client.post("/v1/manifest/validate", headers=headers, content=b"- just\n- a list"), 400,
                 "invalid_manifest")


def test_changes_are_updated_and_extra_resources_are_kept_unless_pruned(client, tenant):
    headers = standalone(client, tenant, "shop")
    client.post("/v1/manifest/apply", headers=headers, json=manifest())
    client.post("/v1/retrievers", headers=headers, json={**RETRIEVER, "retriever_name": "handmade"})
    changed = manifest()
    changed["retrievers"][0] = {**RETRIEVER, "description": "changed"}

    diff = client.post("/v1/manifest/diff?prune=true", headers=headers, json=changed).json()
    assert [(d["name"], d["action"]) for d in diff["differences"]] == [("nearest", "update")]
    assert "description" in diff["differences"][0]["details"]
    assert [(d["name"], d["action"]) for d in diff["in_system_only"]] == [("handmade", "delete")]

    applied = client.post("/v1/manifest/apply", headers=headers, json=changed).json()
    assert applied["updated_count"] == 1
    names = sorted(r["retriever_name"] for r in client.get("/v1/retrievers", headers=headers).json()["results"])
    assert names == ["handmade", "nearest"]  # nothing a user made is lost without prune
    client.post("/v1/manifest/apply?prune=true", headers=headers, json=changed)
    assert [r["retriever_name"] for r in client.get("/v1/retrievers", headers=headers).json()["results"]] == [
        "nearest"]


def test_create_only_refuses_what_exists_and_dry_run_changes_nothing(client, tenant):
    headers = standalone(client, tenant, "shop")
    dry = client.post("/v1/manifest/apply?dry_run=true", headers=headers, json=manifest()).json()
    assert dry["dry_run"] is True and dry["would_create_count"] == 2
    assert client.get("/v1/retrievers", headers=headers).json()["results"] == []
    client.post("/v1/manifest/apply", headers=headers, json=manifest())
    assert_error(client.post("/v1/manifest/apply?mode=create_only", headers=headers, json=manifest()), 400,
                 "resources_exist")


def test_the_sdk_multipart_form_is_accepted(client, tenant):
    headers = standalone(client, tenant, "shop")
    response = client.post("/v1/manifest/validate", headers=headers,
                           files={"manifest_file": (None, yaml.safe_dump(manifest()))})
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is True and response.json()["resources"]["retrievers"] == 1


def test_webhooks_are_part_of_the_manifest_without_their_secrets(client, tenant):
    headers = standalone(client, tenant, "shop")
    with_hook = {**manifest(), "webhooks": [{"webhook_name": "notify", "url": "http://localhost:9000/hook",
                                             "events": ["document.created"]}]}

    applied = client.post("/v1/manifest/apply", headers=headers, json=with_hook)

    assert applied.status_code == 200, applied.text
    exported = client.get("/v1/manifest/export", headers=headers).json()
    assert exported["webhooks"] == [{"webhook_name": "notify", "url": "http://localhost:9000/hook",
                                     "events": ["document.created"], "is_active": True}]
    assert "whsec_" not in str(exported)
    assert client.post("/v1/manifest/diff", headers=headers, json=with_hook).json()["differences"] == []
    # A sibling namespace takes the same manifest, webhooks included: their names are per namespace (dev → prod).
    other = standalone(client, tenant, "other")
    assert client.post("/v1/manifest/apply", headers=other, json=with_hook).status_code == 200
    assert [w["webhook_name"] for w in client.get("/v1/webhooks", headers=other).json()["results"]] == ["notify"]
    assert client.post("/v1/manifest/diff", headers=other, json=with_hook).json()["differences"] == []


def test_feature_extractors_of_a_managed_namespace_round_trip(client, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "managed", "feature_extractors": [
        {"feature_extractor_name": "text_extractor", "version": "v1"}]})
    headers = {**tenant.headers, "X-Namespace": "managed"}
    exported = client.get("/v1/manifest/export", headers=headers).json()
    assert exported["namespace"]["feature_extractors"] == [{"feature_extractor_name": "text_extractor",
                                                             "version": "v1"}]
    exported["namespace"]["namespace_name"] = "managed-copy"
    created = client.post("/v1/manifest/apply", headers=tenant.headers, json=exported)
    assert created.status_code == 200, created.text
    copy = client.get("/v1/namespaces/managed-copy", headers=tenant.headers).json()
    assert [e["feature_extractor_name"] for e in copy["feature_extractors"]] == ["text_extractor"]
    bad = {"namespace": {"feature_extractors": [{"feature_extractor_name": "nope", "version": "v9"}]}}
    assert client.post("/v1/manifest/validate", headers=headers, json=bad).json()["valid"] is False
