"""Document-level authorization over HTTP: the ACL route, push mode on `_acl`, the pull modes through a loopback
OpenFGA, X-Acting-Subject, fail-closed answers, and namespaces without authorization left exactly as they were."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest



def _fake_fga_module():
    """FakeFga lives with the unit tests (tests/ is not a package): load it from there."""
    path = Path(__file__).resolve().parents[1] / "unit" / "test_access_control.py"
    spec = importlib.util.spec_from_file_location("_access_control_fakes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fakes = _fake_fga_module()
FakeFga, STORE = _fakes.FakeFga, _fakes.STORE


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


ACLS = {
    "d0": {"read": ["alice"], "public": False},
    "d1": {"public": True},
    "d2": {"read": ["bob", "alice"]},
    "d3": {"read": ["bob"], "public": False},
    "d4": None,  # no ACL: never visible under push
    "d5": {"read": ["alice"]},
}


@pytest.fixture
def fga():
    server = FakeFga({("user:alice", "viewer", f"document:{d}") for d in ("d0", "d2", "d5")}
                     | {("user:bob", "viewer", "document:d3")})
    yield server
    assert server.problems == []
    server.close()


@pytest.fixture
def ns(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "vault", "vector_configs": [{"name": "emb", "dimension": 3}]})
    assert response.status_code in (200, 201), response.text
    documents = [{"document_id": doc_id, "vectors": {"emb": vec(int(doc_id[1]) * 10)},
                  "payload": {"title": doc_id}, **({"acl": acl} if acl else {})}
                 for doc_id, acl in ACLS.items()]
    response = client.post("/v1/namespaces/vault/documents/upsert", headers=tenant.headers,
                           json={"documents": documents, "collection_id": "col_docs"})
    assert response.status_code == 200, response.text
    headers = {**tenant.headers, "X-Namespace": "vault"}
    retriever = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "r", "input_schema": {"q": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search",
            "parameters": {"searches": [{"feature_uri": "emb", "query": {"input_mode": "vector",
                                                                         "value": "{{INPUT.q}}"},
                                         "top_k": 3}]}}}]})
    assert retriever.status_code == 200, retriever.text
    return headers, retriever.json()["retriever_id"]


def authorize(client, tenant, **config):
    response = client.patch("/v1/namespaces/vault", headers=tenant.headers,
                            json={"infrastructure": {"authorization": {"enabled": True, **config}}})
    assert response.status_code == 200, response.text
    return response


def run(client, ns, subject=None, top_k=None):
    headers, retriever_id = ns
    if subject is not None:
        headers = {**headers, "X-Acting-Subject": subject}
    return client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers, json={"inputs": {"q": vec(0)}})


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["document_id"] for d in response.json()["documents"]]


# -- without authorization: as before --------------------------------------------------------------------------------


def test_a_namespace_without_authorization_ignores_acls_and_the_header(client, services, ns, fga, monkeypatch):
    sent = []
    query = services.vectors.query
    monkeypatch.setattr(services.vectors, "query", lambda collection, requests: sent.extend(requests) or
                        query(collection, requests))
    assert ids(run(client, ns)) == ["d0", "d1", "d2"]
    assert ids(run(client, ns, "nobody")) == ["d0", "d1", "d2"]
    assert fga.requests == []
    assert [(r.filter, r.limit) for r in sent] == [(None, 3), (None, 3)]  # no extra filter, no over-fetch


def test_disabled_authorization_changes_nothing(client, tenant, ns, fga):
    authorize(client, tenant, mode="pull_list_objects", api_url=fga.url, store_id=STORE)
    client.patch("/v1/namespaces/vault", headers=tenant.headers,
                 json={"infrastructure": {"authorization": {"enabled": False, "api_url": fga.url}}})
    assert ids(run(client, ns, "bob")) == ["d0", "d1", "d2"]
    assert fga.requests == []


# -- push ------------------------------------------------------------------------------------------------------------


def test_push_mode_shows_public_documents_and_the_subjects_own(client, tenant, ns):
    authorize(client, tenant, mode="push")
    assert ids(run(client, ns, "alice")) == ["d0", "d1", "d2"]
    assert ids(run(client, ns, "bob")) == ["d1", "d2", "d3"]
    assert ids(run(client, ns, "carol")) == ["d1"]
    assert ids(run(client, ns)) == ["d1"]  # no subject: public only; d4 (no ACL) never


def test_patching_the_acl_changes_what_push_mode_returns(client, tenant, ns):
    authorize(client, tenant, mode="push")
    headers, _ = ns
    response = client.patch("/v1/collections/col_docs/documents/d4/acl", headers=headers,
                            json={"read": ["carol"], "write": ["carol"]})
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["acl"] == {"read": ["carol"], "write": ["carol"]} and shown["title"] == "d4"
    assert shown["document_id"] == "d4" and "_internal" not in shown
    assert ids(run(client, ns, "carol")) == ["d1", "d4"]
    # the given list replaces the stored one; what is not given stays
    client.patch("/v1/collections/col_docs/documents/d1/acl", headers=headers, json={"public": False})
    client.patch("/v1/collections/col_docs/documents/d0/acl", headers=headers, json={"read": ["carol"]})
    assert client.get("/v1/documents/d0", headers=headers).json()["acl"] == {"read": ["carol"], "public": False}
    assert ids(run(client, ns, "carol")) == ["d0", "d4"]
    assert ids(run(client, ns, "alice")) == ["d2", "d5"]
    assert ids(run(client, ns)) == []


def test_the_acl_route_needs_the_documents_collection_and_a_change(client, ns, tenant, other_tenant):
    headers, _ = ns
    assert client.patch("/v1/collections/col_other/documents/d0/acl", headers=headers,
                        json={"public": True}).status_code == 404
    assert client.patch("/v1/collections/col_docs/documents/nope/acl", headers=headers,
                        json={"public": True}).status_code == 404
    assert client.patch("/v1/collections/col_docs/documents/d0/acl", headers=headers, json={}).status_code == 400
    assert client.patch("/v1/collections/col_docs/documents/d0/acl", headers=headers,
                        json={"read": "alice"}).status_code in (400, 422)
    assert client.patch("/v1/collections/col_docs/documents/d0/acl", headers=tenant.headers,
                        json={"public": True}).status_code == 400  # no X-Namespace
    assert client.patch("/v1/collections/col_docs/documents/d0/acl",
                        headers={**other_tenant.headers, "X-Namespace": "vault"},
                        json={"public": True}).status_code == 404


def test_the_acl_route_works_for_documents_without_a_collection(client, tenant, ns):
    headers, _ = ns
    client.post("/v1/namespaces/vault/documents/upsert", headers=tenant.headers,
                json={"documents": [{"document_id": "loose", "vectors": {"emb": vec(1)}}]})
    response = client.patch("/v1/collections/col_default/documents/loose/acl", headers=headers,
                            json={"public": True})
    assert response.status_code == 200 and response.json()["acl"] == {"public": True}
    assert response.json()["collection_id"] == "col_default"


def test_push_mode_combines_with_the_callers_filters(client, tenant, ns):
    authorize(client, tenant, mode="push")
    headers, retriever_id = ns
    response = client.post(f"/v1/retrievers/{retriever_id}/execute", headers={**headers, "X-Acting-Subject": "bob"},
                           json={"inputs": {"q": vec(0)},
                                 "filters": {"AND": [{"field": "title", "operator": "in", "value": ["d2", "d3",
                                                                                                    "d4"]}]}})
    assert ids(response) == ["d2", "d3"]


# -- pull modes ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pull_list_objects", "pull_batch_check", "auto"])
def test_pull_modes_return_what_openfga_grants(client, tenant, ns, fga, mode):
    authorize(client, tenant, mode=mode, api_url=fga.url, store_id=STORE, api_token="dev")
    assert ids(run(client, ns, "alice")) == ["d0", "d2", "d5"]
    assert ids(run(client, ns, "bob")) == ["d3"]
    assert ids(run(client, ns, "carol")) == []
    assert ids(run(client, ns)) == []  # no subject: nothing
    assert {auth for _, _, auth in fga.requests} == {"Bearer dev"}
    routes = {route for route, _, _ in fga.requests}
    assert routes == {"pull_list_objects": {"list-objects"}, "pull_batch_check": {"batch-check"},
                      "auto": {"list-objects"}}[mode]


def test_auto_falls_back_to_batch_check_past_list_objects_max(client, tenant, ns, fga):
    authorize(client, tenant, mode="auto", api_url=fga.url, store_id=STORE, list_objects_max=2)
    assert ids(run(client, ns, "alice")) == ["d0", "d2", "d5"]
    assert [route for route, _, _ in fga.requests][:2] == ["list-objects", "batch-check"]


def test_decisions_are_cached_for_the_ttl(client, tenant, ns, fga):
    authorize(client, tenant, mode="pull_list_objects", api_url=fga.url, store_id=STORE, cache_ttl_seconds=3600)
    assert ids(run(client, ns, "alice")) == ["d0", "d2", "d5"]
    fga.tuples.add(("user:alice", "viewer", "document:d1"))
    assert ids(run(client, ns, "alice")) == ["d0", "d2", "d5"]  # cached: OpenFGA not asked again
    assert len(fga.requests) == 1
    authorize(client, tenant, mode="pull_list_objects", api_url=fga.url, store_id=STORE, cache_ttl_seconds=0)
    assert ids(run(client, ns, "alice")) == ["d0", "d1", "d2"]


def test_openfga_down_is_a_503(client, tenant, ns, fga):
    authorize(client, tenant, mode="auto", api_url=fga.url, store_id=STORE)
    fga.down = True
    response = run(client, ns, "alice")
    assert response.status_code == 503, response.text
    assert "documents" not in response.json()


def test_a_malformed_subject_is_a_400(client, tenant, ns, fga):
    authorize(client, tenant, mode="auto", api_url=fga.url, store_id=STORE)
    assert run(client, ns, "user:alice").status_code == 400
    assert fga.requests == []


def test_a_plaintext_token_for_a_remote_openfga_is_refused(client, tenant, ns):
    response = client.patch("/v1/namespaces/vault", headers=tenant.headers, json={"infrastructure": {
        "authorization": {"enabled": True, "api_url": "https://fga.example.com", "store_id": STORE,
                          "api_token": "t"}}})
    assert response.status_code == 400
    response = client.patch("/v1/namespaces/vault", headers=tenant.headers, json={"infrastructure": {
        "authorization": {"enabled": True, "mode": "push", "api_url": "https://fga.example.com", "api_token": "t"}}})
    assert response.status_code == 400
    authorize(client, tenant, api_url="https://fga.example.com", store_id=STORE, api_token_secret_ref="fga")
