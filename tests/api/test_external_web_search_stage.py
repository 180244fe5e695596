"""external_web_search against a loopback server speaking Exa's search protocol (POST /search, x-api-key): results on
each document, one search per distinct query, the key never shown; refused at creation where no provider is set."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant

KEY = "exa-loopback-key-0123456789"


class Exa(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Exa.seen.append({"path": self.path, "key": self.headers.get("x-api-key"), "body": body})
        if self.headers.get("x-api-key") != KEY:
            self.send_response(401)
            self.end_headers()
            return
        if "broken" in body["query"]:
            self.send_response(500)
            self.end_headers()
            return
        results = [{"id": f"r{i}", "url": f"https://example.org/{body['query'].replace(' ', '-')}/{i}",
                    "title": f"{body['query']} #{i}", "score": 0.9 - i / 10, "publishedDate": "2024-05-01",
                    "author": "A. Writer", "text": f"About {body['query']}"} for i in range(body["numResults"])]
        data = json.dumps({"requestId": "q1", "autopromptString": body["query"], "results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def exa():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Exa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/search"
    server.shutdown()
    server.server_close()


def serve(data_dir, **settings):
    built = build_services(Settings(runtime="embedded", data_dir=data_dir, **settings))
    http = TestClient(create_app(built))
    tenant = make_tenant(built, "acme")
    http.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "news", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
    http.post("/v1/namespaces/news/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": f"c{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"company": name}}
        for i, name in enumerate(["acme", "globex", "acme", "broken co"])]}).raise_for_status()
    return built, http, {**tenant.headers, "X-Namespace": "news"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, exa):
    built, http, headers = serve(tmp_path_factory.mktemp("exa") / "data", web_search_url=exa,
                                 web_search_api_key=KEY)
    yield http, headers
    built.close()


@pytest.fixture(autouse=True)
def fresh_log():
    Exa.seen = []


SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "top_k": 4}]}}}
_names = itertools.count()


def web(**more) -> dict:
    return {"stage_name": "web", "config": {"stage_id": "external_web_search", "parameters": {
        "query": "{{DOC.company}} news", "num_results": 2, **more}}}


def run(http, headers, stages, inputs=None):
    created = http.post("/v1/retrievers", headers=headers, json={"retriever_name": f"w{next(_names)}",
                                                                  "stages": stages, "input_schema": {
                                                                      "query": {"type": "string"}}})
    assert created.status_code == 200, created.text
    return http.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers,
                     json={"inputs": inputs or {}})


def test_each_document_gets_results_for_its_query_one_search_per_distinct_query(client):
    http, headers = client
    response = run(http, headers, [SEARCH, web(category="news", start_published_date="2024-01-01")])
    assert response.status_code == 200, response.text
    by_id = {d["document_id"]: d for d in response.json()["documents"]}
    found = by_id["c0"]["web_search"]
    assert found["query"] == "acme news" and found["num_results"] == 2
    assert found["results"][0] == {"url": "https://example.org/acme-news/0", "title": "acme news #0",
                                   "text": "About acme news", "published_date": "2024-05-01",
                                   "author": "A. Writer", "score": 0.9, "position": 0}
    assert by_id["c2"]["web_search"] == found and "web_search" not in by_id["c3"]  # its search failed: skipped
    assert "1 of 3 searches failed" in response.json()["warnings"][0]
    assert sorted(s["body"]["query"] for s in Exa.seen) == ["acme news", "broken co news", "globex news"]
    assert Exa.seen[0]["path"] == "/search" and {s["key"] for s in Exa.seen} == {KEY}
    assert Exa.seen[0]["body"]["category"] == "news" and Exa.seen[0]["body"]["contents"] == {
        "text": {"maxCharacters": 2000}}
    assert KEY not in response.text


def test_failures_remove_or_raise_without_showing_the_key(client):
    http, headers = client
    removed = run(http, headers, [SEARCH, web(on_error="remove")])
    assert sorted(d["document_id"] for d in removed.json()["documents"]) == ["c0", "c1", "c2"]
    raised = run(http, headers, [SEARCH, web(on_error="raise")])
    assert raised.status_code == 503 and KEY not in raised.text


def test_without_documents_the_results_become_documents(client):
    http, headers = client
    response = run(http, headers, [web(query="{{INPUT.query}}", num_results=3, include_text=False)],
                   {"query": "quantum"})
    assert response.status_code == 200, response.text
    documents = response.json()["documents"]
    assert [d["url"] for d in documents] == [f"https://example.org/quantum/{i}" for i in range(3)]
    assert "contents" not in Exa.seen[0]["body"]


def test_no_provider_configured_is_refused_at_creation_naming_the_settings(tmp_path):
    built, http, headers = serve(tmp_path / "data")
    try:
        response = http.post("/v1/retrievers", headers=headers, json={"retriever_name": "w", "stages": [
            SEARCH, web()]})
        assert response.status_code == 400, response.text
        assert "OPENPEEK_WEB_SEARCH_URL" in response.json()["error"]["message"]
        assert response.json()["error"]["details"]["stage"] == "web"
        assert http.get("/v1/retrievers/w", headers=headers).status_code == 404
    finally:
        built.close()
