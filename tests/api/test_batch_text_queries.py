"""Batch execution of text queries: every query's text is embedded in one model call, and each query's results are
those of its own single execution."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant

TEXTS = {"cake": "a recipe for chocolate cake with butter", "stocks": "stock markets fell sharply on Monday",
         "cat": "the cat slept on the warm windowsill", "rain": "heavy rain and storms expected this weekend"}
QUERIES = ["baking a dessert", "the economy and shares", "a sleepy kitten", "weather forecast"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("batch") / "data"))
    client = TestClient(create_app(built))
    tenant = make_tenant(built, "acme")
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "articles"}).raise_for_status()
    vectors = built.inference_gateway.embed_texts("all_minilm_l6_v2", list(TEXTS.values()))
    client.post("/v1/namespaces/articles/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": key, "vectors": {"text_extractor_v1_embedding": vector}}
        for key, vector in zip(TEXTS, vectors)]}).raise_for_status()
    headers = {**tenant.headers, "X-Namespace": "articles"}
    created = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "by-text", "input_schema": {"query": {"type": "string", "required": True}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "mixpeek://text_extractor@v1/embedding",
             "query": {"input_mode": "text", "value": "{{INPUT.query}}"}, "top_k": 2}]}}}]})
    assert created.status_code == 200, created.text
    yield client, headers, created.json()["retriever_id"], built
    built.close()


def test_a_batch_embeds_all_its_text_queries_in_one_model_call(api, monkeypatch):
    client, headers, retriever_id, built = api
    singles = [[d["document_id"] for d in client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers,
                                                      json={"inputs": {"query": q}}).json()["documents"]]
               for q in QUERIES]
    assert [ranked[0] for ranked in singles] == ["cake", "stocks", "cat", "rain"]
    calls = []
    embed_texts = built.inference_gateway.embed_texts
    monkeypatch.setattr(built.inference_gateway, "embed_texts",
                        lambda name, texts: calls.append(list(texts)) or embed_texts(name, texts))
    response = client.post(f"/v1/retrievers/{retriever_id}/execute/batch", headers=headers, json={
        "queries": [{"inputs": {"query": q}} for q in QUERIES]})
    assert response.status_code == 200, response.text
    assert [[d["document_id"] for d in r["documents"]] for r in response.json()["results"]] == singles
    assert calls == [QUERIES]


def test_a_query_the_batch_refuses_fails_alone_and_the_others_still_share_one_call(api, monkeypatch):
    client, headers, retriever_id, built = api
    calls = []
    embed_texts = built.inference_gateway.embed_texts
    monkeypatch.setattr(built.inference_gateway, "embed_texts",
                        lambda name, texts: calls.append(list(texts)) or embed_texts(name, texts))
    response = client.post(f"/v1/retrievers/{retriever_id}/execute/batch", headers=headers, json={
        "queries": [{"inputs": {"query": QUERIES[0]}}, {"inputs": {}}, {"inputs": {"query": QUERIES[2]}}]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["completed", "failed", "completed"]
    assert results[2]["documents"][0]["document_id"] == "cat"
    assert calls == [[QUERIES[0], QUERIES[2]]]
