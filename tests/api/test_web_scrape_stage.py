"""web_scrape over HTTP against a loopback site: readable text of each document's page, only allowed hosts, size
limits and redirects refused, failures skipped, removed or raised."""

from __future__ import annotations

import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant

ARTICLE = (b"<!doctype html><html lang='en'><head><title>Oak &amp; Ash</title>"
           b"<meta name='description' content='On trees'><style>p{color:red}</style>"
           b"<script>document.write('tracking')</script></head><body><nav>Home | About</nav>"
           b"<article><h1>Oak</h1><p>Oaks live <b>long</b>.</p><p>Ash grows fast.</p></article>"
           b"<footer>(c) site</footer></body></html>")


class Site(BaseHTTPRequestHandler):
    seen: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        Site.seen.append(self.path)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_response(404)
            self.end_headers()
            return
        body = ARTICLE if self.path != "/huge" else b"<p>" + b"x" * 50_000 + b"</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("scrape") / "data"))
    yield TestClient(create_app(built)), built
    built.close()


@pytest.fixture(scope="module")
def ns(client, site):
    http, services = client
    tenant = make_tenant(services, "acme")
    http.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "web", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
    pages = {"a": "/article", "b": "/missing", "c": "/moved"}
    http.post("/v1/namespaces/web/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": doc_id, "vectors": {"emb": [1.0, i / 10]}, "payload": {"link": site + path}}
        for i, (doc_id, path) in enumerate(pages.items())]}).raise_for_status()
    return {**tenant.headers, "X-Namespace": "web"}


SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "top_k": 3}]}}}
_names = itertools.count()


def scrape(**more) -> dict:
    return {"stage_name": "scrape", "config": {"stage_id": "web_scrape", "parameters": {
        "url_field": "link", "output_field": "page", "allowed_domains": ["127.0.0.1"], **more}}}


def run(http, headers, stages):
    created = http.post("/v1/retrievers", headers=headers, json={"retriever_name": f"s{next(_names)}",
                                                                   "stages": stages})
    assert created.status_code == 200, created.text
    return http.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers, json={})


def test_each_document_gets_its_pages_readable_text(client, ns):
    response = run(client[0], ns, [SEARCH, scrape()])
    assert response.status_code == 200, response.text
    by_id = {d["document_id"]: d for d in response.json()["documents"]}
    page = by_id["a"]["page"]
    assert page["title"] == "Oak & Ash" and page["description"] == "On trees"
    assert page["text"] == "Oak\nOaks live long.\nAsh grows fast."  # no script, style, nav or footer
    assert page["strategy_used"] == "static" and "html" not in page
    assert "page" not in by_id["b"] and "page" not in by_id["c"]  # 404, and a redirect that is not followed
    assert "2 of 3 pages failed" in response.json()["warnings"][0]


def test_failures_remove_the_document_or_fail_the_execution(client, ns):
    removed = run(client[0], ns, [SEARCH, scrape(on_error="remove", include_html=True)])
    assert [d["document_id"] for d in removed.json()["documents"]] == ["a"]
    assert removed.json()["documents"][0]["page"]["html"].startswith("<!doctype html>")
    raised = run(client[0], ns, [SEARCH, scrape(on_error="raise")])
    assert raised.status_code == 503, raised.text


def test_a_page_over_the_size_limit_is_not_read(client, ns, site):
    response = run(client[0], ns, [scrape(url=site + "/huge", max_response_size=4096)])
    assert response.status_code == 200 and response.json()["documents"] == []
    assert "more than 4096 bytes" in response.json()["warnings"][0]
    whole = run(client[0], ns, [scrape(url=site + "/article")])
    assert whole.json()["documents"][0]["page"]["title"] == "Oak & Ash"  # a direct url adds a document


def test_a_host_outside_the_allow_list_is_never_fetched(client, ns, site):
    Site.seen = []
    upserted = client[0].post("/v1/namespaces/web/documents/upsert", headers=ns, json={"documents": [
        {"document_id": "z", "vectors": {"emb": [1.0, 0.05]}, "payload": {"link": "http://localhost:1/x"}}]})
    upserted.raise_for_status()
    response = run(client[0], ns, [SEARCH, scrape(allowed_domains=["localhost"])])
    assert "not in allowed_domains" in response.text and Site.seen == []


@pytest.mark.parametrize("change, field", [
    ({"url": "http://example.org/x"}, "url"),
    ({"allowed_domains": ["*"]}, "allowed_domains"),
    ({"strategy": "javascript"}, "strategy"),
    ({"allowed_domains": ["{{DOC.link}}"]}, "allowed_domains"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_parameters_are_refused_at_creation(client, ns, change, field):
    response = client[0].post("/v1/retrievers", headers=ns, json={"retriever_name": "bad",
                                                                   "stages": [SEARCH, scrape(**change)]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["field"] == field
