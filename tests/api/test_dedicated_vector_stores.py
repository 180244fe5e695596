"""Dedicated tiers (seed 000) over HTTP: a namespace with its own `qdrant_url` keeps its vectors on that Qdrant, with
its own key, and nowhere else; a dedicated store that cannot be reached is a 503 that leaves nothing behind.

The dedicated servers are qdrant-client's local engine (a real Qdrant implementation of the client API) behind the
`dedicated_vector_stores` factory; the shared store is the embedded runtime's Qdrant Edge."""

from __future__ import annotations

import math
import socket

import pytest
from fastapi.testclient import TestClient

from openpeek.adapters.qdrant.server import QdrantServerStore
from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant
from tests.local_qdrant_servers import LocalQdrantServers

URL = "http://qdrant-ns-prod:6333"
KEY = "qdrant_key_ns_123"
DEDICATED = {"compute_tier": "dedicated_cpu", "qdrant_url": URL, "qdrant_api_key": KEY,
             "ray_head_node_url": "ray://ray-ns-prod:10001"}


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


def build(tmp_path, connect):
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data"),
                              dedicated_vector_stores=connect)
    client = TestClient(create_app(services), raise_server_exceptions=False)
    return services, client, make_tenant(services, "initech", enterprise=True)


@pytest.fixture
def servers():
    return LocalQdrantServers()


@pytest.fixture
def app(tmp_path, servers):
    services, client, tenant = build(tmp_path, servers)
    yield services, client, tenant
    services.close()


def create(client, tenant, name="prod", infrastructure=DEDICATED):
    body = {"namespace_name": name, "vector_configs": [{"name": "emb", "dimension": 3}]}
    if infrastructure is not None:
        body["infrastructure"] = infrastructure
    return client.post("/v1/namespaces", headers=tenant.headers, json=body)


def upsert(client, tenant, namespace, angles):
    response = client.post(f"/v1/namespaces/{namespace}/documents/upsert", headers=tenant.headers, json={
        "documents": [{"document_id": f"d{angle}", "vectors": {"emb": vec(angle)}, "payload": {"angle": angle}}
                      for angle in angles]})
    assert response.status_code == 200, response.text


def search(client, tenant, namespace, degrees):
    headers = {**tenant.headers, "X-Namespace": namespace}
    stage = {"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search", "parameters": {
        "searches": [{"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.q}}"},
                      "top_k": 2}]}}}
    retriever = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "near", "input_schema": {"q": {"type": "array", "required": True}}, "stages": [stage]})
    assert retriever.status_code == 200, retriever.text
    response = client.post(f"/v1/retrievers/{retriever.json()['retriever_id']}/execute", headers=headers,
                           json={"inputs": {"q": vec(degrees)}})
    assert response.status_code == 200, response.text
    return [d["document_id"] for d in response.json()["documents"]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_dedicated_namespace_writes_and_searches_its_own_qdrant_with_its_own_key(app, servers):
    services, client, tenant = app
    created = create(client, tenant)
    assert created.status_code == 200, created.text
    namespace_id = created.json()["namespace_id"]
    assert created.json()["infrastructure"]["qdrant_url"] == URL
    assert created.json()["infrastructure"]["qdrant_collection"] == namespace_id
    assert servers.connections == [(URL, KEY)]

    upsert(client, tenant, "prod", [0, 10, 50])
    dedicated = servers.store(URL)
    assert dedicated.count(namespace_id) == 3
    assert not services.vectors.store_for(None).collection_exists(namespace_id)  # the shared store never saw it
    assert search(client, tenant, "prod", 12) == ["d10", "d0"]
    got = client.get("/v1/namespaces/prod", headers=tenant.headers).json()
    assert got["document_count"] == 3
    assert client.get("/v1/namespaces/prod/documents/d50", headers=tenant.headers).json()["angle"] == 50

    # a shared namespace of the same organisation stays in the shared store
    shared = create(client, tenant, "dev", infrastructure=None)
    assert shared.status_code == 200, shared.text
    upsert(client, tenant, "dev", [90])
    assert services.vectors.store_for(None).count(shared.json()["namespace_id"]) == 1
    assert dedicated.count(namespace_id) == 3 and servers.connections == [(URL, KEY)]


def test_deleting_a_dedicated_namespace_drops_its_collection_there_and_closes_the_client(app, servers):
    _, client, tenant = app
    namespace_id = create(client, tenant).json()["namespace_id"]
    upsert(client, tenant, "prod", [0])
    assert client.delete("/v1/namespaces/prod", headers=tenant.headers).status_code == 200
    assert not servers.store(URL).collection_exists(namespace_id)
    assert servers.closed == [URL]


def test_an_unreachable_dedicated_qdrant_is_503_and_leaves_no_namespace(tmp_path):
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    services, client, tenant = build(tmp_path, None)  # the runtime's own Qdrant server client
    try:
        response = create(client, tenant, infrastructure={**DEDICATED, "qdrant_url": url})
        assert response.status_code == 503, response.text
        message = response.json()["error"]["message"]
        assert url in message and "dedicated vector store" in message and KEY not in response.text
        assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 0
        assert create(client, tenant, infrastructure=None).status_code == 200  # the name was not taken
        namespace_id = client.get("/v1/namespaces/prod", headers=tenant.headers).json()["namespace_id"]
        # a shared namespace cannot move to an unreachable store either, and stays where it was
        moved = client.patch("/v1/namespaces/prod", headers=tenant.headers,
                             json={"infrastructure": {**DEDICATED, "qdrant_url": url}})
        assert moved.status_code == 503, moved.text
        assert client.get("/v1/namespaces/prod", headers=tenant.headers).json()["infrastructure"] is None
        upsert(client, tenant, "prod", [0])
        assert services.vectors.store_for(None).count(namespace_id) == 1
    finally:
        services.close()


def test_a_dedicated_store_that_fails_mid_flight_is_503_and_the_record_stays(app, servers):
    _, client, tenant = app
    create(client, tenant)
    upsert(client, tenant, "prod", [0])
    servers.down.add(URL)
    response = client.post("/v1/namespaces/prod/documents/upsert", headers=tenant.headers, json={
        "documents": [{"document_id": "late", "vectors": {"emb": vec(5)}}]})
    assert response.status_code == 503, response.text
    assert URL in response.json()["error"]["message"]
    deleted = client.delete("/v1/namespaces/prod", headers=tenant.headers)
    assert deleted.status_code == 503, deleted.text
    assert client.get("/v1/namespaces/prod", headers=tenant.headers).status_code == 200  # still there, retryable
    servers.down.clear()
    assert client.get("/v1/namespaces/prod", headers=tenant.headers).json()["document_count"] == 1
    assert client.delete("/v1/namespaces/prod", headers=tenant.headers).status_code == 200


@pytest.mark.parametrize("infrastructure, field", [
    ({"compute_tier": "dedicated_cpu", "qdrant_api_key": KEY, "ray_head_node_url": "ray://r:10001"}, "qdrant_url"),
    ({**DEDICATED, "qdrant_url": "http://user:pw@qdrant-ns-prod:6333"}, "qdrant_url"),
    ({**DEDICATED, "qdrant_url": "http://169.254.169.254:6333"}, "qdrant_url"),
    ({**DEDICATED, "qdrant_url": "http://metadata.google.internal"}, "qdrant_url"),
    ({**DEDICATED, "qdrant_url": "http://qdrant-ns-prod:6333/?api-key=x"}, "qdrant_url"),
    ({**DEDICATED, "qdrant_collection": "ns_someone_else"}, "qdrant_collection"),
    ({"compute_tier": "shared", "qdrant_url": URL}, "qdrant_url"),
])
def test_what_cannot_be_honoured_is_a_400_naming_the_field(app, servers, infrastructure, field):
    _, client, tenant = app
    response = create(client, tenant, infrastructure=infrastructure)
    assert response.status_code == 400, response.text
    details = response.json()["error"]["details"]
    assert details.get("field") == field or field in details.get("missing", [])
    assert field in response.json()["error"]["message"]
    assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 0
    assert servers.connections == []


def test_dedicated_without_a_url_says_this_deployment_does_not_provision_one(app):
    _, client, tenant = app
    response = create(client, tenant, infrastructure={"compute_tier": "dedicated_gpu", "gpu_type": "A100"})
    assert response.status_code == 400
    assert "does not provision" in response.json()["error"]["message"]


def test_a_host_resolving_to_a_link_local_address_is_refused_when_connecting(tmp_path):
    def connect(url, key):
        return QdrantServerStore.connect_dedicated(url, key, resolver=lambda host, port: ["169.254.169.254"])

    services, client, tenant = build(tmp_path, connect)
    try:
        response = create(client, tenant)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["details"]["reason"] == "link-local"
        assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 0
    finally:
        services.close()


def test_an_empty_shared_namespace_moves_to_its_dedicated_store_and_a_full_one_is_refused(app, servers):
    services, client, tenant = app
    namespace_id = create(client, tenant, infrastructure=None).json()["namespace_id"]
    moved = client.patch("/v1/namespaces/prod", headers=tenant.headers, json={"infrastructure": DEDICATED})
    assert moved.status_code == 200, moved.text
    assert not services.vectors.store_for(None).collection_exists(namespace_id)
    upsert(client, tenant, "prod", [0, 10])
    assert servers.store(URL).count(namespace_id) == 2

    create(client, tenant, "full", infrastructure=None)
    upsert(client, tenant, "full", [0])
    refused = client.patch("/v1/namespaces/full", headers=tenant.headers, json={"infrastructure": DEDICATED})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "namespace_not_empty"
    assert client.get("/v1/namespaces/full", headers=tenant.headers).json()["infrastructure"] is None
    assert client.get("/v1/namespaces/full", headers=tenant.headers).json()["document_count"] == 1


def test_a_new_key_or_url_connects_with_it_and_closes_the_old_client(app, servers):
    _, client, tenant = app
    namespace_id = create(client, tenant).json()["namespace_id"]
    upsert(client, tenant, "prod", [0])
    rotated = client.patch("/v1/namespaces/prod", headers=tenant.headers,
                           json={"infrastructure": {**DEDICATED, "qdrant_api_key": "rotated"}})
    assert rotated.status_code == 200, rotated.text
    assert servers.connections[-1] == (URL, "rotated") and servers.closed == [URL]
    assert client.get("/v1/namespaces/prod", headers=tenant.headers).json()["document_count"] == 1

    other = "https://qdrant-new.example.com:6333"
    repointed = client.patch("/v1/namespaces/prod", headers=tenant.headers,
                             json={"infrastructure": {**DEDICATED, "qdrant_url": other, "qdrant_api_key": None}})
    assert repointed.status_code == 200, repointed.text
    assert servers.connections[-1] == (other, "rotated")
    assert servers.store(other).collection_exists(namespace_id)  # made there; points are the operator's to move
    upsert(client, tenant, "prod", [30])
    assert servers.store(other).count(namespace_id) == 1 and servers.store(URL).count(namespace_id) == 1


def test_a_clone_of_a_dedicated_namespace_lives_on_the_same_server_in_its_own_collection(app, servers):
    _, client, tenant = app
    source = create(client, tenant).json()["namespace_id"]
    upsert(client, tenant, "prod", [0, 10])
    cloned = client.post("/v1/namespaces/prod/clone", headers=tenant.headers, json={"namespace_name": "prod-copy"})
    assert cloned.status_code == 200, cloned.text
    assert cloned.json()["cloned_resources"]["points"] == 2
    copy = client.get("/v1/namespaces/prod-copy", headers=tenant.headers).json()
    assert copy["infrastructure"]["qdrant_collection"] == copy["namespace_id"] != source
    assert copy["infrastructure"]["qdrant_api_key_provided"] is True
    assert servers.store(URL).count(copy["namespace_id"]) == 2 and servers.store(URL).count(source) == 2
