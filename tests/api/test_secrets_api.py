"""Secrets are write-only: an OpenFGA api_token and a webhook's custom header values go in and never come out of the
API (get, list, patch, put, clone), an update that sends back what GET showed keeps them, a clone does not inherit
the plaintext token; embedded, the data directory is its owner's alone and the database file 0600."""

from __future__ import annotations

import stat

from openpeek.services.organizations import Principal

TOKEN = "fga-token-never-shown"
RECEIVER_SECRET = "Bearer receiver-secret-never-shown"
AUTHORIZATION = {"enabled": True, "mode": "pull_list_objects", "api_url": "http://localhost:8080",
                 "store_id": "store1", "api_token": TOKEN}


def stored_namespace(services, tenant, name):
    return services.namespaces.get(Principal(tenant.org_id, "test"), name).namespace


def test_the_openfga_token_is_never_echoed_and_an_echoed_update_keeps_it(client, services, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={
        "namespace_name": "guarded", "infrastructure": {"authorization": AUTHORIZATION}})
    assert created.status_code == 200, created.text
    answers = [created,
               client.get("/v1/namespaces/guarded", headers=tenant.headers),
               client.get("/v1/namespaces", headers=tenant.headers),
               client.post("/v1/namespaces/list", headers=tenant.headers, json={}),
               client.put("/v1/namespaces/guarded", headers=tenant.headers, json={"namespace_name": "guarded"})]
    shown = client.get("/v1/namespaces/guarded", headers=tenant.headers).json()
    assert shown["infrastructure"]["authorization"]["api_token"] is None
    assert shown["infrastructure"]["authorization"]["store_id"] == "store1"
    # A client sends back what it was shown: the token stays.
    patched = client.patch("/v1/namespaces/guarded", headers=tenant.headers, json={
        "infrastructure": {"authorization": shown["infrastructure"]["authorization"]}})
    answers.append(patched)
    cloned = client.post("/v1/namespaces/guarded/clone", headers=tenant.headers, json={"namespace_name": "copy"})
    answers.append(cloned)
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert TOKEN not in answer.text
    assert stored_namespace(services, tenant, "guarded").infrastructure["authorization"]["api_token"] == TOKEN
    # The clone keeps the configuration but not the plaintext token (api_token_secret_ref is the form that travels).
    copy = stored_namespace(services, tenant, "copy").infrastructure["authorization"]
    assert copy["store_id"] == "store1" and copy.get("api_token") is None


def test_webhook_header_values_are_redacted_and_an_echoed_update_keeps_them(client, services, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "hooks"})
    ns = {**tenant.headers, "X-Namespace": "hooks"}
    created = client.post("/v1/webhooks", headers=ns, json={
        "webhook_name": "notify", "url": "http://127.0.0.1:9/hook", "events": ["document.created"],
        "headers": {"Authorization": RECEIVER_SECRET, "X-Team": "search"}})
    assert created.status_code == 200, created.text
    shown = client.get("/v1/webhooks/notify", headers=ns).json()
    assert shown["channels"][0]["configs"]["headers"] == {"Authorization": "redacted", "X-Team": "redacted"}
    echoed = client.patch("/v1/webhooks/notify", headers=ns, json={"channels": [
        {"channel": "webhook", "configs": {**shown["channels"][0]["configs"],
                                           "headers": {"Authorization": "redacted", "X-Team": "data"}}}]})
    answers = [created, echoed, client.get("/v1/webhooks", headers=ns),
               client.post("/v1/webhooks/list", headers=ns, json={})]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert RECEIVER_SECRET not in answer.text
    stored = services.webhooks.get(Principal(tenant.org_id, "test"), "notify",
                                   stored_namespace(services, tenant, "hooks"))
    assert stored.headers == {"Authorization": RECEIVER_SECRET, "X-Team": "data"}


def test_the_data_directory_is_private_and_the_database_is_0600(services):
    data_dir = services.settings.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "openpeek.db").stat().st_mode) == 0o600
