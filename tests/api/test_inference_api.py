"""Inference routes: the registry listing and raw embeddings with the bundled local model."""

from __future__ import annotations

import numpy as np
import pytest


def test_services_list_says_what_is_usable_here(client, tenant):
    response = client.get("/v1/inference/services", headers=tenant.headers)
    assert response.status_code == 200
    by_name = {s["name"]: s for s in response.json()["results"]}
    assert by_name["all_minilm_l6_v2"] == {**by_name["all_minilm_l6_v2"], "dimension": 384, "modality": "text",
                                           "provider": "local", "usable": True}
    openai = by_name["openai_text_3_small"]
    assert openai["usable"] is False and openai["dimension"] == 1536 and "OPENPEEK_OPENAI_API_KEY" in \
        openai["how_to_enable"]
    assert by_name["clip_vit_b32"]["usable"] is False and by_name["clip_vit_b32"]["how_to_enable"]
    assert client.get("/v1/inference/services").status_code == 401


def test_raw_inference_embeds_texts_with_the_local_model(client, tenant):
    response = client.post("/v1/inference", headers=tenant.headers, json={
        "inference_name": "all_minilm_l6_v2",
        "inputs": {"texts": ["a dog runs in the park", "a puppy playing outside", "quarterly tax filing"]}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "local" and body["model"] == "all_minilm_l6_v2" and body["latency_ms"] >= 0
    vectors = np.asarray(body["data"]["embeddings"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_feature_uri_and_provider_model_resolve_to_the_same_service(client, tenant):
    by_uri = client.post("/v1/inference", headers=tenant.headers, json={
        "feature_uri": "mixpeek://text_extractor@v1/embedding", "inputs": {"text": "hello world"}}).json()
    by_model = client.post("/v1/inference", headers=tenant.headers, json={
        "provider": "local", "model": "all-MiniLM-L6-v2", "inputs": {"text": "hello world"}}).json()
    assert np.allclose(by_uri["data"]["embedding"], by_model["data"]["embedding"], atol=1e-5)


@pytest.mark.parametrize("body, status, code", [
    ({"inference_name": "openai_text_3_small", "inputs": {"text": "x"}}, 400, "inference_service_unavailable"),
    ({"inference_name": "warp_drive", "inputs": {"text": "x"}}, 400, "inference_service_not_found"),
    ({"inputs": {"text": "x"}}, 400, "missing_inference_service"),
    ({"inference_name": "all_minilm_l6_v2", "inputs": {"prompts": ["x"]}}, 400, "invalid_inference_inputs"),
    ({"inference_name": "all_minilm_l6_v2", "inputs": {"texts": []}}, 400, "invalid_inference_inputs"),
    ({"inference_name": "all_minilm_l6_v2", "inputs": {"texts": ["x"] * 257}}, 400, "too_many_inputs"),
    ({"inference_name": "all_minilm_l6_v2", "inputs": {"text": "x" * 40000}}, 400, "input_too_long"),
    ({"feature_uri": "mixpeek://nope@v9/x", "inputs": {"text": "x"}}, 400, "feature_extractor_not_found"),
    ({"provider": "openai", "model": "gpt-4o", "inputs": {"text": "x"}}, 400, "inference_service_not_found"),
])
def test_bad_requests_are_clear_400s(client, tenant, body, status, code):
    response = client.post("/v1/inference", headers=tenant.headers, json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.text


def test_auth_and_body_shape(client, tenant):
    assert client.post("/v1/inference", json={"inference_name": "all_minilm_l6_v2",
                                              "inputs": {"text": "x"}}).status_code == 401
    unknown_key = client.post("/v1/inference", headers=tenant.headers, json={
        "inference_name": "all_minilm_l6_v2", "inputs": {"text": "x"}, "temperature": 0.2})
    assert unknown_key.status_code == 422
    blank = client.post("/v1/inference", headers=tenant.headers, json={
        "inference_name": "all_minilm_l6_v2", "inputs": {"texts": ["fine", "   "]}})
    assert blank.status_code == 400 and blank.json()["error"]["code"] == "invalid_inference_inputs"


def test_the_sdks_namespace_header_and_unused_parameters_are_accepted(client, tenant):
    response = client.post("/v1/inference", headers={**tenant.headers, "X-Namespace": "anything"}, json={
        "inference_name": "all_minilm_l6_v2", "inputs": {"text": "hello"}, "parameters": {},
        "enable_semantic_cache": False})
    assert response.status_code == 200 and len(response.json()["data"]["embedding"]) == 384
    assert response.json()["cached"] is False and response.json()["tokens_used"] is None


def test_a_text_longer_than_the_model_reads_is_cut_not_refused(client, tenant):
    long_text = "the court ruled on the appeal " * 200  # about 1200 tokens; the model reads the first 256
    response = client.post("/v1/inference", headers=tenant.headers, json={
        "inference_name": "all_minilm_l6_v2", "inputs": {"texts": [long_text, long_text[:600]]}})
    assert response.status_code == 200, response.text
    full, prefix = (np.asarray(v) for v in response.json()["data"]["embeddings"])
    assert np.isclose(np.linalg.norm(full), 1.0, atol=1e-3) and full @ prefix > 0.9
