"""Webhooks made through a namespace (X-Namespace) are named per namespace: the same name in two sibling namespaces,
and a manifest exported from one namespace, webhooks included, applied to its sibling (seed 003's dev → staging →
prod flow)."""

from __future__ import annotations

HOOK = "http://127.0.0.1:9/hook"


def namespace(client, tenant, name):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 3}]})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": name}


def test_the_same_webhook_name_in_two_namespaces_of_one_organisation(client, tenant):
    dev, staging = namespace(client, tenant, "dev"), namespace(client, tenant, "staging")
    body = {"webhook_name": "doc-notify", "url": HOOK, "events": ["document.created"]}
    first = client.post("/v1/webhooks", headers=dev, json=body)
    second = client.post("/v1/webhooks", headers=staging, json=body)
    assert first.status_code == 200 and second.status_code == 200, second.text
    assert first.json()["webhook_id"] != second.json()["webhook_id"]
    assert client.post("/v1/webhooks", headers=dev, json=body).status_code == 409  # unique within a namespace
    assert client.get("/v1/webhooks/doc-notify", headers=dev).json()["webhook_id"] == first.json()["webhook_id"]
    assert client.get("/v1/webhooks/doc-notify", headers=staging).json()["webhook_id"] == second.json()["webhook_id"]
    patched = client.patch("/v1/webhooks/doc-notify", headers=staging, json={"events": ["document.deleted"]})
    assert patched.json()["events"] == ["document.deleted"]
    assert client.get("/v1/webhooks/doc-notify", headers=dev).json()["events"] == ["document.created"]
    assert client.delete("/v1/webhooks/doc-notify", headers=dev).status_code in (200, 204)
    assert client.get("/v1/webhooks/doc-notify", headers=staging).status_code == 200
    assert client.post("/v1/webhooks", headers=dev, json=body).status_code == 200  # the name is free again


def test_a_manifest_with_webhooks_applies_to_a_sibling_namespace(client, tenant):
    dev, staging = namespace(client, tenant, "dev"), namespace(client, tenant, "staging")
    assert client.post("/v1/webhooks", headers=dev, json={
        "webhook_name": "doc-notify", "url": HOOK, "events": ["document.created"]}).status_code == 200
    exported = client.get("/v1/manifest/export", headers=dev, params={"format": "yaml"})
    assert exported.status_code == 200 and "doc-notify" in exported.text
    applied = client.post("/v1/manifest/apply", headers={**staging, "Content-Type": "application/x-yaml"},
                          content=exported.text.encode())
    assert applied.status_code == 200, applied.text
    assert [w["webhook_name"] for w in client.get("/v1/webhooks", headers=staging).json()["results"]] \
        == ["doc-notify"]
    again = client.post("/v1/manifest/diff", headers={**staging, "Content-Type": "application/x-yaml"},
                        content=exported.text.encode()).json()
    assert again["to_create"] == [] and again["differences"] == []
