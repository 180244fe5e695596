"""The LLM-backed stages (llm_filter, llm_enrich, summarize, query_expand) over HTTP, each provider played by a
loopback HTTP server speaking its protocol (OpenAI chat completions, Gemini generateContent, Anthropic messages with
a forced tool). The "model" answers by simple rules on the prompt it receives, so what reached it is checked too."""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant

KEY = "sk-loopbackTESTkey0123456789"
TEXTS = {"d0": "apple pie with cinnamon", "d1": "apple crumble", "d2": "guitar strings", "d3": "bass guitar"}


def answer_for(prompt: str) -> dict:
    """The model's rules: keep documents about apples; upper-case a title; count documents; expand queries."""
    if "Decide whether this document meets the criteria" in prompt:
        if "FAIL-ME-music" in prompt:
            raise RuntimeError("provider error")
        document = prompt.split("Document:", 1)[1]
        return {"keep": "apple" in document, "reason": "mentions apples" if "apple" in document else "off topic"}
    if "Shout:" in prompt:
        return {"text": prompt.split("Shout:", 1)[1].split("\n", 1)[0].strip().upper()}
    if "Summarize" in prompt:
        numbered = re.findall(r"^\[\d+\]", prompt, re.M)
        return {"summary": f"{len(numbered)} documents"}
    if "different search queries" in prompt:
        return {"queries": ["baking desserts", "a sweet recipe"]}
    return {}


class Provider(BaseHTTPRequestHandler):
    calls: list[tuple[str, str]] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith("/chat/completions"):
            assert self.headers["Authorization"] == f"Bearer {KEY}"
            prompt = body["messages"][0]["content"]
        elif ":generateContent" in self.path:
            assert self.headers["x-goog-api-key"] == KEY
            prompt = body["contents"][0]["parts"][0]["text"]
        else:
            assert self.headers["x-api-key"] == KEY
            prompt = body["messages"][0]["content"]
        Provider.calls.append((self.path, prompt))
        try:
            answer = answer_for(prompt)
        except RuntimeError:
            self.send_response(500)
            self.end_headers()
            return
        if self.path.endswith("/chat/completions"):
            reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer),
                                                          "refusal": None}, "finish_reason": "stop"}]}
        elif ":generateContent" in self.path:
            reply = {"candidates": [{"content": {"parts": [{"text": json.dumps(answer)}], "role": "model"},
                                     "finishReason": "STOP", "index": 0}]}
        else:
            block = ({"type": "tool_use", "id": "t1", "name": body["tools"][0]["name"], "input": answer}
                     if body.get("tools") else {"type": "text", "text": json.dumps(answer)})
            reply = {"type": "message", "role": "assistant", "content": [block], "stop_reason": "end_turn"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fresh_calls():
    Provider.calls = []


# One runtime for the module (retrievers are named per test): a runtime per test would cost more than the tests.
@pytest.fixture(scope="module")
def api(provider, tmp_path_factory):
    services = build_services(Settings(
        runtime="embedded", data_dir=tmp_path_factory.mktemp("llm") / "data", openai_api_key=KEY, google_api_key=KEY,
        anthropic_api_key=KEY, openai_base_url=f"{provider}/v1", google_base_url=f"{provider}/v1beta",
        anthropic_base_url=f"{provider}/v1"))
    client = TestClient(create_app(services))
    tenant = make_tenant(services, "acme")
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "kitchen", "vector_configs": [{"name": "emb", "dimension": 3}]}).raise_for_status()
    client.post("/v1/namespaces/kitchen/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": doc_id, "vectors": {"emb": [math.cos(i / 4), math.sin(i / 4), 0.0]},
         "payload": {"content": content, "title": f"title {doc_id}", "kind": "fruit" if i < 2 else "music"}}
        for i, (doc_id, content) in enumerate(TEXTS.items())]}).raise_for_status()
    yield client, {**tenant.headers, "X-Namespace": "kitchen"}
    services.close()


SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0, 0.0]}, "top_k": 4}]}}}


_names = itertools.count()


def execute(client, headers, stages, inputs=None):
    created = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": f"r{next(_names)}", "stages": stages, "input_schema": {"query": {"type": "string"}}})
    assert created.status_code == 200, created.text
    return client.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers,
                       json={"inputs": inputs or {}})


@pytest.mark.parametrize("provider_name, path", [("openai", "/v1/chat/completions"),
                                                 ("google", "/v1beta/models/gemini-2.5-flash-lite:generateContent"),
                                                 ("anthropic", "/v1/messages")])
def test_llm_filter_keeps_what_the_model_accepts_on_each_provider(api, provider_name, path):
    client, headers = api
    response = execute(client, headers, [SEARCH, {"stage_name": "judge", "config": {"stage_id": "llm_filter",
                                                                                     "parameters": {
        "provider": provider_name, "criteria": "Keep only documents about {{INPUT.query}}",
        "include_reasoning": True}}}], {"query": "apples"})
    assert response.status_code == 200, response.text
    assert sorted(d["document_id"] for d in response.json()["documents"]) == ["d0", "d1"]
    assert response.json()["documents"][0]["llm_filter_reason"] == "mentions apples"
    stats = response.json()["stage_statistics"]["stages"]["judge"]
    assert stats["llm_calls"] == 4 and stats["tokens_used"] > 0
    assert {p for p, _ in Provider.calls} == {path}
    assert all("Keep only documents about apples" in prompt for _, prompt in Provider.calls)


def test_answers_are_cached_by_content(api):
    client, headers = api
    stages = [SEARCH, {"stage_name": "judge", "config": {"stage_id": "llm_filter", "parameters": {
        "provider": "openai", "criteria": "apples only"}}}]
    first = execute(client, headers, stages)
    second = execute(client, headers, stages)
    assert [d["document_id"] for d in first.json()["documents"]] == \
        [d["document_id"] for d in second.json()["documents"]]
    assert len(Provider.calls) == 4
    assert second.json()["stage_statistics"]["stages"]["judge"]["metadata"]["cache_hits"] == 4


def test_a_failing_document_is_kept_and_reported_and_all_failing_is_503(api):
    client, headers = api
    partly = execute(client, headers, [SEARCH, {"stage_name": "judge", "config": {"stage_id": "llm_filter",
                                                                                  "parameters": {
        "provider": "openai", "criteria": "apples FAIL-ME-{{DOC.kind}}"}}}])
    assert partly.status_code == 200, partly.text
    # the fruit documents were judged (kept: apples); the music ones failed and pass through, reported
    assert sorted(d["document_id"] for d in partly.json()["documents"]) == ["d0", "d1", "d2", "d3"]
    assert partly.json()["stage_statistics"]["stages"]["judge"]["metadata"]["failed_documents"] == 2
    assert "2 of 4 LLM calls failed" in partly.json()["warnings"][0]
    wholly = execute(client, headers, [SEARCH, {"stage_name": "judge", "config": {"stage_id": "llm_filter",
                                                                                  "parameters": {
        "provider": "openai", "criteria": "FAIL-ME-music"}}}])
    assert wholly.status_code == 503, wholly.text
    assert KEY not in wholly.text


def test_llm_enrich_writes_the_answer_only_where_asked(api):
    client, headers = api
    response = execute(client, headers, [SEARCH, {"stage_name": "shout", "config": {"stage_id": "llm_enrich",
                                                                                     "parameters": {
        "provider": "anthropic", "prompt": "Shout: {{DOC.title}}", "output_field": "loud",
        "when": {"AND": [{"field": "kind", "operator": "eq", "value": "fruit"}]}}}}])
    assert response.status_code == 200, response.text
    by_id = {d["document_id"]: d for d in response.json()["documents"]}
    assert by_id["d0"]["loud"] == "TITLE D0" and "loud" not in by_id["d2"]
    assert len(Provider.calls) == 2


def test_summarize_groups_and_cites(api):
    client, headers = api
    response = execute(client, headers, [SEARCH, {"stage_name": "sum", "config": {"stage_id": "summarize",
                                                                                   "parameters": {
        "provider": "google", "group_by": "kind"}}}])
    assert response.status_code == 200, response.text
    summaries = {d["group_key"]: d for d in response.json()["documents"]}
    assert summaries["fruit"]["summary"] == "2 documents"
    assert sorted(summaries["music"]["source_document_ids"]) == ["d2", "d3"]


def test_query_expand_searches_each_rewrite_and_fuses(api):
    client, headers = api
    tenant_headers = {"Authorization": headers["Authorization"]}
    client.post("/v1/namespaces", headers=tenant_headers, json={"namespace_name": "articles"}).raise_for_status()
    texts = {"cake": "a recipe for chocolate cake with butter", "stocks": "stock markets fell sharply on Monday",
             "cat": "the cat slept on the warm windowsill"}
    vectors = api_services(client).inference_gateway.embed_texts("all_minilm_l6_v2", list(texts.values()))
    client.post("/v1/namespaces/articles/documents/upsert", headers=tenant_headers, json={"documents": [
        {"document_id": key, "vectors": {"text_extractor_v1_embedding": vector}}
        for key, vector in zip(texts, vectors)]}).raise_for_status()
    articles = {**tenant_headers, "X-Namespace": "articles"}
    response = execute(client, articles, [{"stage_name": "expand", "config": {"stage_id": "query_expand",
                                                                               "parameters": {
        "provider": "openai", "num_expansions": 2, "feature_search_config": {"searches": [
            {"feature_uri": "mixpeek://text_extractor@v1/embedding",
             "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 1}]}}}}], {"query": "pastry"})
    assert response.status_code == 200, response.text
    stats = response.json()["stage_statistics"]["stages"]["expand"]
    assert stats["metadata"]["queries"] == ["pastry", "baking desserts", "a sweet recipe"]
    assert response.json()["documents"][0]["document_id"] == "cake"
    assert "different search queries" in Provider.calls[0][1] and "pastry" in Provider.calls[0][1]


def api_services(client: TestClient):
    return client.app.state.services


def test_a_provider_without_a_key_is_refused_at_creation(tmp_path: Path):
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path / "bare"))
    try:
        client = TestClient(create_app(services))
        tenant = make_tenant(services, "acme")
        client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
            "namespace_id": "bare", "vector_configs": [{"name": "emb", "dimension": 3}]}).raise_for_status()
        response = client.post("/v1/retrievers", headers={**tenant.headers, "X-Namespace": "bare"}, json={
            "retriever_name": "x", "stages": [SEARCH, {"stage_name": "judge", "config": {
                "stage_id": "llm_filter", "parameters": {"provider": "openai", "criteria": "apples"}}}]})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "stage_unavailable"
        assert response.json()["error"]["details"]["field"] in ("provider", None)
    finally:
        services.close()
