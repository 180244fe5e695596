"""Secrets at rest, embedded: a namespace's vector-store key and OpenFGA token, a webhook's signing secret and header
values never reach the database file (they are Fernet tokens under <data_dir>/secrets, keyed by the 0600
<data_dir>/secret.key); they are still what the namespace and the webhook delivery use; deleting the owner deletes
them; a failing secret store is a 503 that writes nothing; a record an older version wrote in plaintext still loads
and is sealed by its next write."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.clock import isoformat, utcnow
from openpeek.services.organizations import Principal
from openpeek.services.webhook_delivery import verify_signature
from tests.api.test_webhook_delivery import Receiver
from tests.local_qdrant_servers import LocalQdrantServers

QDRANT_KEY = "qdrant-key-kept-out-of-the-table"
FGA_TOKEN = "fga-token-kept-out-of-the-table"
SIGNING_SECRET = "whsec_signing-secret-kept-out-of-the-table"
HEADER_VALUE = "Bearer receiver-token-kept-out-of-the-table"
PLAINTEXTS = (QDRANT_KEY, FGA_TOKEN, SIGNING_SECRET, HEADER_VALUE)
DEDICATED = {"compute_tier": "dedicated_cpu", "qdrant_url": "https://qdrant.internal.example.com:6333",
             "ray_head_node_url": "ray://ray-head:10001", "qdrant_api_key": QDRANT_KEY,
             "authorization": {"enabled": True, "mode": "pull_list_objects", "api_url": "http://localhost:8080",
                               "store_id": "store1", "api_token": FGA_TOKEN}}


@pytest.fixture
def services(tmp_path: Path):
    """The embedded services with a reachable dedicated Qdrant behind every qdrant_url (qdrant-client's local engine):
    dedicated namespaces run on their own store, so their URL must answer."""
    from openpeek.runtime import build_services
    from openpeek.settings import Settings

    built = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data"),
                           dedicated_vector_stores=LocalQdrantServers())
    yield built
    built.close()


def database_bytes(services) -> bytes:
    """The SQLite database with its write-ahead log: every byte the table has written."""
    return b"".join(path.read_bytes() for path in sorted(services.settings.data_dir.glob("openpeek.db*")))


def secret_files(services) -> list[Path]:
    root = services.settings.data_dir / "secrets"
    return sorted(root.rglob("*.fernet")) if root.exists() else []


def namespace_of(services, tenant, name):
    return services.namespaces.get(Principal(tenant.org_id, "test"), name).namespace


def create_hook(client, headers, receiver_url, name="notify"):
    return client.post("/v1/organizations/webhooks", headers=headers, json={
        "webhook_name": name, "event_types": ["document.created"],
        "channels": [{"channel": "webhook", "configs": {"url": receiver_url, "signing_secret": SIGNING_SECRET,
                                                        "headers": {"Authorization": HEADER_VALUE}}}]})


def test_namespace_secrets_stay_out_of_the_database_and_are_still_used(client, services, enterprise_tenant):
    headers = enterprise_tenant.headers
    created = client.post("/v1/namespaces", headers=headers,
                          json={"namespace_name": "dedicated", "infrastructure": DEDICATED})
    assert created.status_code == 200, created.text
    patched = client.patch("/v1/namespaces/dedicated", headers=headers, json={"description": "patched",
                           "infrastructure": {**DEDICATED, "qdrant_api_key": QDRANT_KEY + "-rotated"}})
    assert patched.status_code == 200, patched.text
    stored = database_bytes(services)
    for plaintext in PLAINTEXTS[:2]:
        assert plaintext.encode() not in stored
    # What the namespace's clients are given: the rotated key and the token, read back through the secret store.
    namespace = namespace_of(services, enterprise_tenant, "dedicated")
    assert namespace.vector_store_api_key == QDRANT_KEY + "-rotated"
    assert namespace.infrastructure["authorization"]["api_token"] == FGA_TOKEN
    assert created.json()["infrastructure"]["qdrant_api_key_provided"] is True
    # One revision is kept, encrypted; the key file is its owner's alone.
    [sealed] = secret_files(services)
    assert not any(plaintext.encode() in sealed.read_bytes() for plaintext in PLAINTEXTS)
    assert stat.S_IMODE((services.settings.data_dir / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    # The clone seals its own copy of the key, not the OpenFGA token, and deleting the source keeps the copy whole.
    cloned = client.post("/v1/namespaces/dedicated/clone", headers=headers, json={"namespace_name": "copy"})
    assert cloned.status_code == 200, cloned.text
    assert client.delete("/v1/namespaces/dedicated", headers=headers).status_code == 200
    copy = namespace_of(services, enterprise_tenant, "copy")
    assert copy.vector_store_api_key == QDRANT_KEY + "-rotated"
    assert copy.infrastructure["authorization"].get("api_token") is None
    assert client.delete("/v1/namespaces/copy", headers=headers).status_code == 200
    assert secret_files(services) == []


def test_webhook_secrets_stay_out_of_the_database_and_still_sign_and_authorize(client, services, tenant):
    receiver = Receiver()
    try:
        created = create_hook(client, tenant.headers, receiver.url)
        assert created.status_code == 200, created.text
        webhook_id = created.json()["webhook_id"]
        stored = database_bytes(services)
        assert SIGNING_SECRET.encode() not in stored and HEADER_VALUE.encode() not in stored
        [result] = services.webhook_delivery.deliver(DomainEvent(
            type="document.created", org_id=tenant.org_id, namespace_id="ns_1", data={"document_id": "doc_1"},
            occurred_at=isoformat(utcnow())))
        assert result.ok, result
        [request] = receiver.requests
        assert request["headers"]["Authorization"] == HEADER_VALUE
        assert verify_signature(SIGNING_SECRET, request["headers"]["X-Openpeek-Signature"], request["body"])
    finally:
        receiver.server.shutdown()
    assert len(secret_files(services)) == 1
    assert client.delete(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers).status_code == 204
    assert secret_files(services) == []


def test_a_failing_secret_store_is_a_503_and_writes_nothing(client, services, tenant, enterprise_tenant,
                                                            monkeypatch):
    from openpeek.adapters.local.encrypted_secrets import EncryptedFolderSecretStore

    def unavailable(*_args, **_kwargs):
        raise DependencyUnavailable("the secret store is down")

    monkeypatch.setattr(EncryptedFolderSecretStore, "put", unavailable)
    answer = client.post("/v1/namespaces", headers=enterprise_tenant.headers,
                         json={"namespace_name": "dedicated", "infrastructure": DEDICATED})
    assert answer.status_code == 503, answer.text
    assert client.get("/v1/namespaces/dedicated", headers=enterprise_tenant.headers).status_code == 404
    hook = create_hook(client, tenant.headers, "http://127.0.0.1:9/hook")
    assert hook.status_code == 503, hook.text
    assert client.get("/v1/organizations/webhooks/notify", headers=tenant.headers).status_code == 404
    # The names are free again: nothing half-written holds them.
    monkeypatch.undo()
    assert client.post("/v1/namespaces", headers=enterprise_tenant.headers,
                       json={"namespace_name": "dedicated", "infrastructure": DEDICATED}).status_code == 200
    assert create_hook(client, tenant.headers, "http://127.0.0.1:9/hook").status_code == 200


def test_plaintext_written_by_an_older_version_loads_and_is_sealed_on_the_next_write(client, services, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "legacy"})
    assert created.status_code == 200, created.text
    namespace_id = created.json()["namespace_id"]
    hook = create_hook(client, tenant.headers, "http://127.0.0.1:9/hook")
    webhook_id = hook.json()["webhook_id"]
    # What an older version wrote: the token and the signing secret in the records themselves.
    table = services.table
    namespace_item = table.get(f"ORG#{tenant.org_id}", f"NS#{namespace_id}")
    authorization = {**DEDICATED["authorization"]}
    table.put({**namespace_item, "secrets": None, "infrastructure": {"authorization": authorization}})
    webhook_item = table.get(f"WEBHOOKS#{tenant.org_id}", f"WH#{webhook_id}")
    table.put({**webhook_item, "secrets": None, "secret": SIGNING_SECRET, "headers": {"Authorization": HEADER_VALUE}})
    assert FGA_TOKEN.encode() in database_bytes(services)

    assert namespace_of(services, tenant, "legacy").infrastructure["authorization"]["api_token"] == FGA_TOKEN
    principal = Principal(tenant.org_id, "test")
    assert services.webhooks.get(principal, webhook_id).secret == SIGNING_SECRET

    assert client.patch("/v1/namespaces/legacy", headers=tenant.headers,
                        json={"description": "migrated"}).status_code == 200
    assert client.patch(f"/v1/organizations/webhooks/{webhook_id}", headers=tenant.headers,
                        json={"is_active": False}).status_code == 200
    migrated_namespace = table.get(f"ORG#{tenant.org_id}", f"NS#{namespace_id}")
    migrated_webhook = table.get(f"WEBHOOKS#{tenant.org_id}", f"WH#{webhook_id}")
    assert FGA_TOKEN not in repr(migrated_namespace) and migrated_namespace["secrets"]
    assert SIGNING_SECRET not in repr(migrated_webhook) and HEADER_VALUE not in repr(migrated_webhook)
    assert namespace_of(services, tenant, "legacy").infrastructure["authorization"]["api_token"] == FGA_TOKEN
    assert services.webhooks.get(principal, webhook_id).headers == {"Authorization": HEADER_VALUE}
