"""api_call over HTTP against a loopback API: only allowed hosts, credentials from the secret store and never shown,
per-document answers stored, failures skipped, removed or raised."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from tests.conftest import make_tenant

SECRET = "tok-loopback-0123456789abcdef"


class Prices(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        Prices.seen.append({"path": parts.path, "auth": self.headers.get("Authorization")})
        if self.headers.get("Authorization") != f"Bearer {SECRET}":
            self.send_response(401)
            self.end_headers()
            return
        item = parts.path.rsplit("/", 1)[-1]
        if item == "d2":
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps({"data": {"item": item, "price": len(item) * 10,
                                    "currency": parse_qs(parts.query).get("cur", ["EUR"])[0]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def prices():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def secret_stored(monkeypatch):
    Prices.seen = []
    monkeypatch.setenv("OPENPEEK_SECRET_PRICE_API", SECRET)


# One runtime and namespace for the module (retrievers are named per test).
@pytest.fixture(scope="module")
def client(module_services) -> TestClient:
    return TestClient(create_app(module_services))


@pytest.fixture(scope="module")
def ns(client, module_services):
    tenant = make_tenant(module_services, "acme")
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
    client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"sku": f"d{i}"}}
        for i in range(3)]}).raise_for_status()
    return {**tenant.headers, "X-Namespace": "shop"}


SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "top_k": 3}]}}}


def call_stage(url: str, **more) -> dict:
    return {"stage_name": "price", "config": {"stage_id": "api_call", "parameters": {
        "url": url, "allowed_domains": ["127.0.0.1"], "response_path": "$.data",
        "auth": {"type": "bearer", "secret_ref": "price-api"}, **more}}}


_names = itertools.count()


def run(client, headers, stages):
    name = f"r{next(_names)}"
    created = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": name, "stages": stages, "input_schema": {"cur": {"type": "string", "default": "USD"}}})
    assert created.status_code == 200, created.text
    return client.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers, json={}), name


def test_each_document_gets_the_apis_answer_and_the_secret_stays_hidden(client, ns, prices):
    response, name = run(client, ns, [SEARCH, call_stage(prices + "/prices/{{DOC.sku}}?cur={{INPUT.cur}}")])
    assert response.status_code == 200, response.text
    by_id = {d["document_id"]: d for d in response.json()["documents"]}
    assert by_id["d0"]["api_response"] == {"item": "d0", "price": 20, "currency": "USD"}
    assert "api_response" not in by_id["d2"]  # its call failed: skipped, reported
    assert "1 of 3 calls failed" in response.json()["warnings"][0]
    assert {seen["auth"] for seen in Prices.seen} == {f"Bearer {SECRET}"}
    stored = client.get(f"/v1/retrievers/{name}", headers=ns).text
    assert SECRET not in response.text and SECRET not in stored


def test_failures_can_remove_the_document_or_fail_the_execution(client, ns, prices):
    removed, _ = run(client, ns, [SEARCH, call_stage(prices + "/prices/{{DOC.sku}}", on_error="remove")])
    assert sorted(d["document_id"] for d in removed.json()["documents"]) == ["d0", "d1"]
    raised, _ = run(client, ns, [SEARCH, call_stage(prices + "/prices/{{DOC.sku}}", on_error="raise")])
    assert raised.status_code == 503 and SECRET not in raised.text


@pytest.mark.parametrize("change, field", [
    ({"url": "http://example.org/x"}, "url"),
    ({"allowed_domains": ["*"]}, "allowed_domains"),
    ({"auth": {"type": "bearer"}}, "auth.secret_ref"),
])
def test_targets_outside_the_allowed_hosts_are_refused_at_creation(client, ns, prices, change, field):
    stage = call_stage(prices + "/prices/x")
    stage["config"]["parameters"].update(change)
    response = client.post("/v1/retrievers", headers=ns, json={"retriever_name": "bad", "stages": [SEARCH, stage]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["field"] == field


def test_a_missing_secret_is_a_400_naming_it_not_its_value(client, ns, prices, monkeypatch):
    monkeypatch.delenv("OPENPEEK_SECRET_PRICE_API")
    response, _ = run(client, ns, [SEARCH, call_stage(prices + "/prices/{{DOC.sku}}")])
    assert response.status_code == 400 and response.json()["error"]["code"] == "secret_not_found"
    assert Prices.seen == []
