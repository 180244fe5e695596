"""Who am I (`GET /v1/me`) and the organisation's secrets (`/v1/organizations/secrets`) over HTTP: answers parse as
the SDK's models, secret values go into the secret store and never come back out (nor reach the table), another
organisation sees none of them, bad input is a 4xx that changes nothing, and an api_call stage authenticates with
the organisation's secret by name."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mixpeek.models.me_response import MeResponse
from mixpeek.models.secret_response import SecretResponse
from mixpeek.models.secrets_list_response import SecretsListResponse

from openpeek.domain.failures import DependencyUnavailable

VALUE = "sk-live-never-shown-0123456789"


def test_me_names_the_organisation_and_the_calling_key(client, services, tenant, enterprise_tenant):
    response = client.get("/v1/me", headers=tenant.headers)
    assert response.status_code == 200, response.text
    me = MeResponse.from_dict(response.json())
    assert me.organization_id == tenant.org_id and me.organization_name == "acme"
    assert me.account_type == "STANDARD" and me.principal_scoped is False
    assert me.key.key_type == "SECRET" and me.key.permissions == ["READ", "WRITE", "DELETE", "ADMIN"]
    assert me.key.name == "default" and me.key.expires_at is None
    assert tenant.key not in response.text and "key_hash" not in response.text

    second = services.organizations.issue_key(tenant.org_id, name="ci")
    by_second = client.get("/v1/account", headers={"Authorization": f"Bearer {second.plain_key}"}).json()
    assert by_second["key"]["name"] == "ci" and by_second["key"]["key_id"] == second.key_id

    enterprise = MeResponse.from_dict(client.get("/v1/me", headers=enterprise_tenant.headers).json())
    assert enterprise.account_type == "ENTERPRISE" and enterprise.organization_id == enterprise_tenant.org_id


@pytest.mark.parametrize("authorization", [None, "Bearer sk_" + "x" * 40, "Basic abc"])
def test_me_without_a_valid_key_is_401(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/v1/me", headers=headers)
    assert response.status_code == 401 and response.json()["success"] is False


def test_me_with_a_revoked_key_is_401(client, services, tenant):
    services.organizations.revoke_key(tenant.org_id, services.organizations.list_keys(tenant.org_id)[0]["key_id"])
    assert client.get("/v1/me", headers=tenant.headers).status_code == 401


def stored_rows(services) -> str:
    """Everything the table holds, as text: a secret's value must never be in it."""
    return json.dumps(services.table.query("ORG#" + services.organizations.find_org("acme")["org_id"]))


def test_secrets_are_created_listed_updated_and_deleted_and_never_shown(client, services, tenant):
    created = client.post("/v1/organizations/secrets", headers=tenant.headers,
                          json={"secret_name": "stripe_api_key", "secret_value": VALUE})
    assert created.status_code == 200, created.text
    assert SecretResponse.from_dict(created.json()).to_dict() == {"secret_name": "stripe_api_key", "created": True}
    client.post("/v1/organizations/secrets", headers=tenant.headers,
                json={"secret_name": "github_token", "secret_value": "ghp_other"}).raise_for_status()

    listed = SecretsListResponse.from_dict(client.get("/v1/organizations/secrets", headers=tenant.headers).json())
    assert listed.secrets == ["github_token", "stripe_api_key"] and listed.count == 2
    assert services.organization_secrets.value_of(tenant.org_id, "stripe_api_key") == VALUE
    assert VALUE not in stored_rows(services)

    updated = client.put("/v1/organizations/secrets/stripe_api_key", headers=tenant.headers,
                         json={"secret_value": "sk-rotated"})
    assert updated.status_code == 200 and updated.json() == {"secret_name": "stripe_api_key", "updated": True}
    assert services.organization_secrets.value_of(tenant.org_id, "stripe_api_key") == "sk-rotated"

    deleted = client.delete("/v1/organizations/secrets/stripe_api_key", headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json() == {"secret_name": "stripe_api_key", "deleted": True}
    assert client.get("/v1/organizations/secrets", headers=tenant.headers).json() == {
        "secrets": ["github_token"], "count": 1}
    assert services.organization_secrets.value_of(tenant.org_id, "stripe_api_key") is None
    for answer in (created, updated, deleted):
        assert VALUE not in answer.text and "sk-rotated" not in answer.text


def test_a_taken_name_is_409_and_keeps_the_stored_value(client, services, tenant):
    body = {"secret_name": "token", "secret_value": "first"}
    client.post("/v1/organizations/secrets", headers=tenant.headers, json=body).raise_for_status()
    again = client.post("/v1/organizations/secrets", headers=tenant.headers, json={**body, "secret_value": "second"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "secret_exists"
    assert services.organization_secrets.value_of(tenant.org_id, "token") == "first"


@pytest.mark.parametrize("body", [
    {"secret_name": "", "secret_value": "v"},
    {"secret_name": "has space", "secret_value": "v"},
    {"secret_name": "x" * 101, "secret_value": "v"},
    {"secret_name": "ok", "secret_value": ""},
    {"secret_name": "ok", "secret_value": 12},
    {"secret_name": "ok"},
    {"secret_name": "ok", "secret_value": "v", "unknown": 1},
])
def test_bad_create_bodies_are_422_and_store_nothing(client, tenant, body):
    response = client.post("/v1/organizations/secrets", headers=tenant.headers, json=body)
    assert response.status_code == 422, response.text
    assert client.get("/v1/organizations/secrets", headers=tenant.headers).json()["count"] == 0


def test_another_organisations_secrets_are_invisible_and_404(client, services, tenant, other_tenant):
    client.post("/v1/organizations/secrets", headers=tenant.headers,
                json={"secret_name": "shared_name", "secret_value": VALUE}).raise_for_status()
    assert client.get("/v1/organizations/secrets", headers=other_tenant.headers).json() == {"secrets": [], "count": 0}
    for method in ("put", "delete"):
        kwargs = {"json": {"secret_value": "stolen"}} if method == "put" else {}
        response = getattr(client, method)("/v1/organizations/secrets/shared_name", headers=other_tenant.headers,
                                           **kwargs)
        assert response.status_code == 404 and response.json()["error"]["code"] == "secret_not_found"
    assert services.organization_secrets.value_of(tenant.org_id, "shared_name") == VALUE
    # the other organisation may hold its own secret of the same name
    client.post("/v1/organizations/secrets", headers=other_tenant.headers,
                json={"secret_name": "shared_name", "secret_value": "theirs"}).raise_for_status()
    assert services.organization_secrets.value_of(other_tenant.org_id, "shared_name") == "theirs"
    assert services.organization_secrets.value_of(tenant.org_id, "shared_name") == VALUE


def test_unknown_or_malformed_names_and_bad_update_bodies_are_refused(client, tenant):
    assert client.put("/v1/organizations/secrets/missing", headers=tenant.headers,
                      json={"secret_value": "v"}).status_code == 404
    assert client.delete("/v1/organizations/secrets/missing", headers=tenant.headers).status_code == 404
    assert client.delete("/v1/organizations/secrets/bad%20name", headers=tenant.headers).status_code == 400
    client.post("/v1/organizations/secrets", headers=tenant.headers,
                json={"secret_name": "kept", "secret_value": "v1"}).raise_for_status()
    for body in ({}, {"secret_value": ""}, {"secret_value": ["v"]}, {"secret_value": "v", "secret_name": "x"}):
        assert client.put("/v1/organizations/secrets/kept", headers=tenant.headers, json=body).status_code == 422
    assert client.get("/v1/organizations/secrets", headers=tenant.headers).status_code == 200
    assert client.get("/v1/organizations/secrets").status_code == 401


def test_a_secret_store_failure_is_503_and_leaves_nothing_behind(client, services, tenant, monkeypatch):
    store = services.organization_secrets._repository._vault._store

    def refuse(*args, **kwargs):
        raise DependencyUnavailable("secret store down")

    monkeypatch.setattr(store, "put", refuse)
    response = client.post("/v1/organizations/secrets", headers=tenant.headers,
                           json={"secret_name": "doomed", "secret_value": VALUE})
    assert response.status_code == 503, response.text
    assert client.get("/v1/organizations/secrets", headers=tenant.headers).json()["count"] == 0


class Echo(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        Echo.seen.append(self.headers.get("Authorization"))
        data = json.dumps({"ok": self.headers.get("Authorization") == f"Bearer {VALUE}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Echo.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def retriever_calling(url: str) -> dict:
    return {"stages": [
        {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "top_k": 1}]}}},
        {"stage_name": "call", "config": {"stage_id": "api_call", "parameters": {
            "url": url, "allowed_domains": ["127.0.0.1"], "auth": {"type": "bearer", "secret_ref": "echo_token"}}}}]}


def test_an_api_call_stage_authenticates_with_its_organisations_secret(client, tenant, other_tenant, echo):
    for caller in (tenant, other_tenant):
        client.post("/v1/namespaces/standalone", headers=caller.headers, json={
            "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
        client.post("/v1/namespaces/shop/documents/upsert", headers=caller.headers, json={"documents": [
            {"document_id": "d0", "vectors": {"emb": [1.0, 0.0]}, "payload": {"sku": "d0"}}]}).raise_for_status()
    client.post("/v1/organizations/secrets", headers=tenant.headers,
                json={"secret_name": "echo_token", "secret_value": VALUE}).raise_for_status()

    ran = client.post("/v1/retrievers/execute", headers={**tenant.headers, "X-Namespace": "shop"},
                      json=retriever_calling(echo + "/check"))
    assert ran.status_code == 200, ran.text
    assert ran.json()["documents"][0]["api_response"] == {"ok": True} and Echo.seen == [f"Bearer {VALUE}"]
    assert VALUE not in ran.text

    # Another organisation naming the same secret has none of that name: refused, nothing sent.
    theirs = client.post("/v1/retrievers/execute", headers={**other_tenant.headers, "X-Namespace": "shop"},
                         json=retriever_calling(echo + "/check"))
    assert theirs.status_code == 400 and theirs.json()["error"]["code"] == "secret_not_found"
    assert Echo.seen == [f"Bearer {VALUE}"]


PUBLIC_DISPLAY = {"title": "Shop search", "inputs": [{"field_name": "v", "label": "Vector",
                                                      "field_schema": {"type": "array"}}], "exposed_fields": ["sku"]}


def test_a_published_retrievers_password_is_the_organisations_secret(client, tenant, other_tenant):
    for caller in (tenant, other_tenant):
        client.post("/v1/namespaces/standalone", headers=caller.headers, json={
            "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
    headers = {**tenant.headers, "X-Namespace": "shop"}
    client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "d0", "vectors": {"emb": [1.0, 0.0]}, "payload": {"sku": "d0"}}]}).raise_for_status()
    client.post("/v1/organizations/secrets", headers=tenant.headers,
                json={"secret_name": "shop_password", "secret_value": "open sesame"}).raise_for_status()
    stages = retriever_calling("https://unused.example")["stages"][:1]
    stages[0]["config"]["parameters"]["searches"][0]["query"]["value"] = "{{INPUT.v}}"
    created = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "shop", "input_schema": {"v": {"type": "array", "required": True}}, "stages": stages})
    assert created.status_code == 200, created.text
    published = client.post(f"/v1/retrievers/{created.json()['retriever_id']}/publish", headers=headers, json={
        "display_config": PUBLIC_DISPLAY, "public_name": "locked-shop", "password_secret_name": "shop_password"})
    assert published.status_code == 200, published.text
    assert "open sesame" not in published.text

    def execute(password=None):
        return client.post("/v1/public/retrievers/locked-shop/execute", json={"inputs": {"v": [1.0, 0.0]}},
                           headers={"X-Retriever-Password": password} if password else {})

    assert execute().status_code == 401 and execute("guess").status_code == 401
    assert execute("open sesame").status_code == 200

    # The other organisation has no secret of that name: it cannot protect a publication with this one's.
    theirs = client.post("/v1/retrievers", headers={**other_tenant.headers, "X-Namespace": "shop"}, json={
        "retriever_name": "shop", "input_schema": {"v": {"type": "array", "required": True}}, "stages": stages})
    refused = client.post(f"/v1/retrievers/{theirs.json()['retriever_id']}/publish",
                          headers={**other_tenant.headers, "X-Namespace": "shop"}, json={
                              "display_config": PUBLIC_DISPLAY, "public_name": "their-shop",
                              "password_secret_name": "shop_password"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "secret_not_found"
