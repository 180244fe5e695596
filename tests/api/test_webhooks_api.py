"""Webhooks API: CRUD on both route families, the secret shown once, organisation and namespace isolation, event types
validated against the SDK's enum, the URL rules per runtime, and the official SDK's WebhooksApi against a live app."""

from __future__ import annotations

import socket
import threading
import time

import mixpeek
import pytest
import uvicorn
from fastapi.testclient import TestClient
from mixpeek.exceptions import ApiException
from mixpeek.models import ListWebhooksRequest, ListWebhooksResponse, WebhookInput, WebhookOutput

from openpeek.api.app import create_app
from openpeek.adapters.dns_resolver import system_resolver
from openpeek.adapters.webhook_sender import HttpxWebhookSender
from openpeek.services.webhooks import build_webhooks
from tests.api.conftest import sdk_client
from tests.conftest import make_tenant

HOOK = "http://127.0.0.1:9/hook"


def wire(services, runtime: str = "embedded", resolver=None):
    """The app over the runtime's webhooks, or over ones built for another runtime / DNS (the deployed rules)."""
    if runtime != "embedded" or resolver is not None:
        services.webhooks, services.webhook_delivery = build_webhooks(services.table, services.events,
                                                                      runtime=runtime,
                                                                      resolver=resolver or system_resolver,
                                                                      sender=HttpxWebhookSender())
    return create_app(services), services.webhook_delivery


@pytest.fixture
def api(services):
    app, delivery = wire(services)
    yield TestClient(app, raise_server_exceptions=False)
    delivery.close()


@pytest.fixture
def ns_headers(api, tenant):
    response = api.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "prod"})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "prod"}


def create(api, headers, **fields):
    body = {"webhook_name": "batch-notify", "url": HOOK, "events": ["document.created"], **fields}
    return api.post("/v1/webhooks", headers=headers, json=body)


def error_code(response) -> str:
    return response.json()["error"]["code"]


# -- seed family (X-Namespace) -----------------------------------------------------------------------------------------


def test_seed_create_returns_the_secret_once(api, ns_headers):
    response = create(api, ns_headers, events=["document.created", "cluster.execution.completed"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["channels"][0]["configs"]["signing_secret"] == body["signing_secret"]
    assert body["webhook_name"] == "batch-notify" and body["url"] == HOOK and body["is_active"] is True
    assert body["events"] == body["event_types"] == ["document.created", "cluster.execution.completed"]
    assert body["namespace_id"]
    parsed = WebhookOutput.from_dict(body)
    assert parsed.webhook_id == body["webhook_id"] and parsed.channels[0].configs.actual_instance.url == HOOK

    secret = body["signing_secret"]
    for read in (api.get(f"/v1/webhooks/{body['webhook_id']}", headers=ns_headers),
                 api.get("/v1/webhooks/batch-notify", headers=ns_headers)):
        assert read.status_code == 200
        assert secret not in read.text and "signing_secret" not in {k for k in read.json()}
        assert read.json()["channels"][0]["configs"]["signing_secret"] == "redacted"
        WebhookOutput.from_dict(read.json())
    listed = api.get("/v1/webhooks", headers=ns_headers)
    assert listed.status_code == 200 and secret not in listed.text
    assert [w["webhook_id"] for w in listed.json()["results"]] == [body["webhook_id"]]
    ListWebhooksResponse.from_dict(listed.json())


def test_seed_update_patch_delete(api, ns_headers):
    webhook_id = create(api, ns_headers).json()["webhook_id"]
    patched = api.patch(f"/v1/webhooks/{webhook_id}", headers=ns_headers,
                        json={"events": ["document.deleted"], "is_active": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["event_types"] == ["document.deleted"] and patched.json()["is_active"] is False
    assert patched.json()["url"] == HOOK and patched.json()["webhook_name"] == "batch-notify"
    put = api.put("/v1/webhooks/batch-notify", headers=ns_headers,
                  json={"webhook_name": "renamed", "url": "http://localhost:8080/in", "events": ["alert.triggered"]})
    assert put.status_code == 200, put.text
    assert put.json()["webhook_name"] == "renamed" and put.json()["url"] == "http://localhost:8080/in"
    assert api.get("/v1/webhooks/batch-notify", headers=ns_headers).status_code == 404
    assert api.get("/v1/webhooks/renamed", headers=ns_headers).json()["webhook_id"] == webhook_id
    # the name is free again after a rename, taken while used
    assert create(api, ns_headers).status_code == 200
    clash = create(api, ns_headers, webhook_name="renamed")
    assert clash.status_code == 409 and error_code(clash) == "webhook_name_taken"
    deleted = api.delete(f"/v1/webhooks/{webhook_id}", headers=ns_headers)
    assert deleted.status_code == 200 and deleted.json()["webhook_id"] == webhook_id
    assert api.get(f"/v1/webhooks/{webhook_id}", headers=ns_headers).status_code == 404
    assert api.delete(f"/v1/webhooks/{webhook_id}", headers=ns_headers).status_code == 404


def test_list_filters_and_pagination(api, ns_headers):
    for index in range(3):
        create(api, ns_headers, webhook_name=f"hook-{index}",
               events=["document.created"] if index else ["alert.triggered"], is_active=index != 2)
    page = api.get("/v1/webhooks?page_size=2&page=2", headers=ns_headers).json()
    assert page["total"] == 3 and [w["webhook_name"] for w in page["results"]] == ["hook-2"]
    filtered = api.post("/v1/webhooks/list", headers=ns_headers, json={"event_type": "document.created",
                                                                       "is_active": True}).json()
    assert [w["webhook_name"] for w in filtered["results"]] == ["hook-1"]


def test_events_are_validated_against_the_sdk_enum_and_the_seeds_events(api, ns_headers):
    unknown = create(api, ns_headers, events=["batch.started", "document.created"])
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_event_type"
    assert unknown.json()["error"]["details"]["unknown"] == ["batch.started"]
    seed = create(api, ns_headers, webhook_name="seed-notify", events=["batch.completed", "batch.failed"])  # seed 003
    assert seed.status_code in (200, 201), seed.text
    empty = create(api, ns_headers, events=[])
    assert empty.status_code == 400 and error_code(empty) == "invalid_event_types"
    webhook_id = create(api, ns_headers).json()["webhook_id"]
    bad_update = api.patch(f"/v1/webhooks/{webhook_id}", headers=ns_headers, json={"events": ["nope"]})
    assert bad_update.status_code == 400 and error_code(bad_update) == "unknown_event_type"


def test_required_fields_and_unsupported_channels(api, ns_headers):
    assert error_code(create(api, ns_headers, webhook_name="")) == "invalid_webhook_name"
    no_url = api.post("/v1/webhooks", headers=ns_headers, json={"webhook_name": "x", "events": ["document.created"]})
    assert no_url.status_code == 400 and error_code(no_url) == "invalid_webhook_url"
    slack = api.post("/v1/webhooks", headers=ns_headers, json={
        "webhook_name": "x", "event_types": ["document.created"],
        "channels": [{"channel": "slack", "configs": {"webhook_url": "https://hooks.slack.com/x"}}]})
    assert slack.status_code == 400 and error_code(slack) == "unsupported_channel"
    assert api.post("/v1/webhooks", headers=ns_headers, json={"webhook_name": "x", "bogus": 1}).status_code == 422
    missing_ns = api.post("/v1/webhooks", headers={"Authorization": ns_headers["Authorization"]},
                          json={"webhook_name": "x", "url": HOOK, "events": ["document.created"]})
    assert missing_ns.status_code == 400 and error_code(missing_ns) == "missing_namespace"


def test_embedded_url_rules(api, ns_headers):
    assert create(api, ns_headers, url="http://localhost:3000/in").status_code == 200
    for url, code in (("http://169.254.169.254/latest/meta-data", "webhook_url_forbidden_host"),
                      ("http://10.0.0.8/in", "webhook_url_forbidden_host"),
                      ("ftp://127.0.0.1/in", "invalid_webhook_url")):
        response = create(api, ns_headers, webhook_name="other", url=url)
        assert response.status_code == 400 and error_code(response) == code, url


def test_deployed_url_rules(services, tenant):
    resolve = {"hooks.example.com": ["93.184.216.34"], "evil.example.com": ["93.184.216.34", "127.0.0.1"]}
    app, delivery = wire(services, runtime="aws", resolver=lambda host, port: resolve[host])
    api = TestClient(app, raise_server_exceptions=False)
    try:
        body = {"webhook_name": "w", "event_types": ["document.created"]}
        for url, code in (("http://hooks.example.com/in", "webhook_url_not_https"),
                          ("https://127.0.0.1/in", "webhook_url_forbidden_host"),
                          ("https://localhost/in", "webhook_url_forbidden_host"),
                          ("https://evil.example.com/in", "webhook_url_forbidden_host"),
                          ("https://[::1]/in", "webhook_url_forbidden_host"),
                          ("https://169.254.169.254/", "webhook_url_forbidden_host")):
            response = api.post("/v1/organizations/webhooks", headers=tenant.headers, json={**body, "url": url})
            assert response.status_code == 400 and error_code(response) == code, (url, response.text)
        ok = api.post("/v1/organizations/webhooks", headers=tenant.headers,
                      json={**body, "url": "https://hooks.example.com/in"})
        assert ok.status_code == 200, ok.text
        to_private = api.put(f"/v1/organizations/webhooks/{ok.json()['webhook_id']}", headers=tenant.headers,
                             json={"url": "https://10.0.0.1/in"})
        assert to_private.status_code == 400 and error_code(to_private) == "webhook_url_forbidden_host"
    finally:
        delivery.close()


# -- isolation --------------------------------------------------------------------------------------------------------


def test_another_organisations_webhook_is_not_found(api, ns_headers, tenant, services):
    other = make_tenant(services, "globex")
    api.post("/v1/namespaces", headers=other.headers, json={"namespace_name": "prod"})
    other_ns = {**other.headers, "X-Namespace": "prod"}
    created = create(api, ns_headers).json()
    webhook_id = created["webhook_id"]
    for identifier in (webhook_id, "batch-notify"):
        assert api.get(f"/v1/webhooks/{identifier}", headers=other_ns).status_code == 404
        assert api.get(f"/v1/organizations/webhooks/{identifier}", headers=other.headers).status_code == 404
        assert api.put(f"/v1/organizations/webhooks/{identifier}", headers=other.headers,
                       json={"is_active": False}).status_code == 404
        assert api.delete(f"/v1/organizations/webhooks/{identifier}", headers=other.headers).status_code == 404
        assert api.get(f"/v1/webhooks/{identifier}/deliveries", headers=other_ns).status_code == 404
    assert api.get("/v1/webhooks", headers=other_ns).json()["results"] == []
    assert api.post("/v1/organizations/webhooks/list", headers=other.headers).json()["results"] == []
    # the same name is free in another organisation
    assert create(api, other_ns).status_code == 200
    assert api.get(f"/v1/webhooks/{webhook_id}", headers=ns_headers).status_code == 200
    assert api.get(f"/v1/webhooks/{webhook_id}").status_code == 401


def test_namespace_scoping(api, ns_headers, tenant):
    api.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "staging"})
    staging = {**tenant.headers, "X-Namespace": "staging"}
    webhook_id = create(api, ns_headers).json()["webhook_id"]
    assert api.get(f"/v1/webhooks/{webhook_id}", headers=staging).status_code == 404
    assert api.get("/v1/webhooks", headers=staging).json()["results"] == []
    org_wide = api.post("/v1/organizations/webhooks", headers=tenant.headers, json={
        "webhook_name": "org-wide", "event_types": ["document.created"],
        "channels": [{"channel": "webhook", "configs": {"url": HOOK}}]}).json()
    assert org_wide["namespace_id"] is None
    scoped = api.post("/v1/organizations/webhooks", headers=tenant.headers, json={
        "webhook_name": "staging-only", "namespace": "staging", "event_types": ["document.created"],
        "url": HOOK}).json()
    assert scoped["namespace_id"] and scoped["namespace_id"] != org_wide.get("namespace_id")
    assert [w["webhook_name"] for w in api.get("/v1/webhooks", headers=staging).json()["results"]] == ["staging-only"]
    everything = api.post("/v1/organizations/webhooks/list", headers=tenant.headers).json()
    assert {w["webhook_name"] for w in everything["results"]} == {"batch-notify", "org-wide", "staging-only"}
    missing = api.post("/v1/organizations/webhooks", headers=tenant.headers, json={
        "webhook_name": "x", "namespace": "nope", "event_types": ["document.created"], "url": HOOK})
    assert missing.status_code == 404


# -- org family over TestClient ----------------------------------------------------------------------------------------


def test_org_family_crud_and_caller_chosen_secret(api, tenant):
    body = {"webhook_name": "sdk-hook", "event_types": ["cluster.execution.completed"], "channels": [
        {"channel": "webhook", "configs": {"url": HOOK, "headers": {"X-Team": "data"}, "timeout": 5,
                                           "signing_secret": "my-own-shared-secret"}}]}
    created = api.post("/v1/organizations/webhooks", headers=tenant.headers, json=body)
    assert created.status_code == 200, created.text
    assert created.json()["signing_secret"] == "my-own-shared-secret"
    webhook_id = created.json()["webhook_id"]
    fetched = api.get(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers).json()
    # Header values are write-only like the secret (a receiver's Authorization must not come back out).
    assert fetched["channels"][0]["configs"] == {"url": HOOK, "headers": {"X-Team": "redacted"},
                                                 "payload_template": None, "timeout": 5.0,
                                                 "signing_secret": "redacted"}
    # echoing a GET back (secret 'redacted') keeps the secret
    echoed = api.put(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers,
                     json={k: v for k, v in fetched.items() if k not in ("url", "events", "namespace_id")})
    assert echoed.status_code == 200, echoed.text
    assert services_secret(api, tenant, webhook_id) == "my-own-shared-secret"
    assert api.delete(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers).status_code == 204
    assert api.get(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers).status_code == 404


def services_secret(api, tenant, webhook_id) -> str:
    from openpeek.services.organizations import Principal
    service = api.app.state.services.webhooks
    return service.get(Principal(tenant.org_id, "k"), webhook_id).secret


# -- the official SDK against a live app -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live(services, tenant):
    app, delivery = wire(services)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield mixpeek.WebhooksApi(sdk_client((f"http://127.0.0.1:{port}", tenant.key)).api_client)
    server.should_exit = True
    thread.join(10)
    delivery.close()


def test_sdk_webhooks_api(live):
    created = live.create_webhook_organizations(WebhookInput.from_dict({
        "webhook_name": "sdk", "event_types": ["document.created", "object.created"],
        "channels": [{"channel": "webhook", "configs": {"url": HOOK}}]}))
    assert isinstance(created, WebhookOutput) and created.webhook_id.startswith("wh_")
    assert created.channels[0].configs.actual_instance.signing_secret.startswith("whsec_")
    fetched = live.get_webhook_organizations("sdk")
    assert fetched.webhook_id == created.webhook_id
    assert fetched.channels[0].configs.actual_instance.signing_secret == "redacted"
    updated = live.update_webhook_organizations(created.webhook_id, WebhookInput.from_dict({
        "webhook_name": "sdk", "event_types": ["document.deleted"], "is_active": False,
        "channels": [{"channel": "webhook", "configs": {"url": "http://localhost:9/other"}}]}))
    assert [e.value for e in updated.event_types] == ["document.deleted"] and updated.is_active is False
    listed = live.list_webhooks_organizations(list_webhooks_request=ListWebhooksRequest(is_active=False))
    assert isinstance(listed, ListWebhooksResponse) and listed.total == 1
    assert listed.results[0].channels[0].configs.actual_instance.url == "http://localhost:9/other"
    assert live.list_webhooks_organizations(list_webhooks_request=ListWebhooksRequest(is_active=True)).total == 0
    live.delete_webhook_organizations(created.webhook_id)
    with pytest.raises(ApiException) as missing:
        live.get_webhook_organizations(created.webhook_id)
    assert missing.value.status == 404
