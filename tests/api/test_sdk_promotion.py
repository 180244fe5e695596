"""Standalone creation, promotion and its dry run, and raw inference, through the official SDK against a live
`openpeek serve`: every answer, failures included, must parse in the SDK's own models."""

from __future__ import annotations

import json

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    CreateStandaloneNamespaceRequestModel,
    PromoteNamespaceRequestModel,
    PromoteNamespaceResponseModel,
    PromoteValidateResponseModel,
    RawInferenceRequest,
    StandaloneNamespaceResponseModel,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_client(server):
    return sdk_client(server).api_client


def test_standalone_validate_and_promote_parse_in_the_sdk(api_client):
    documents_api = mixpeek.BYODocumentsApi(api_client)
    namespaces_api = mixpeek.NamespacesApi(api_client)

    created = documents_api.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="sdk-promo", vector_configs=[{"name": "text_embedding", "dimension": 384},
                                                 {"name": "openai_embedding", "dimension": 1536,
                                                  "metric": "dot_product"}]))
    assert isinstance(created, StandaloneNamespaceResponseModel)
    assert (created.namespace_id, created.mode, created.status, created.document_count) == (
        "sdk-promo", "standalone", "active", 0)
    assert [c["metric"] for c in created.vector_configs] == ["cosine", "dot"]
    assert namespaces_api.get_namespace("sdk-promo").namespace_name == "sdk-promo"

    # A dry run that fails lists every problem and changes nothing.
    invalid = documents_api.validate_promotion_namespaces_id_promote(
        "sdk-promo", PromoteNamespaceRequestModel.from_dict({"vector_mappings": [
            {"existing_index": "openai_embedding", "inference_service": "all_minilm_l6_v2"},
            {"existing_index": "nope", "inference_service": "all_minilm_l6_v2"}]}))
    assert isinstance(invalid, PromoteValidateResponseModel) and invalid.valid is False
    assert [e["code"] for e in invalid.errors] == ["dimension_mismatch", "vector_index_not_found"]
    assert invalid.errors[1]["details"]["available_indexes"] == ["openai_embedding", "text_embedding"]
    assert {"existing_index": "text_embedding", "inference_services": ["all_minilm_l6_v2"]} in invalid.suggestions

    # promote refuses the same body with a 400 in the error envelope.
    with pytest.raises(ApiException) as refused:
        documents_api.promote_namespace("sdk-promo", PromoteNamespaceRequestModel.from_dict({
            "vector_mappings": [{"existing_index": "openai_embedding", "inference_service": "all_minilm_l6_v2"}]}))
    error = json.loads(refused.value.body)["error"]
    assert refused.value.status == 400 and error["code"] == "dimension_mismatch" and "1536-d" in error["message"]
    assert namespaces_api.get_namespace("sdk-promo").mode == "standalone"

    body = {"vector_mappings": [{"existing_index": "text_embedding", "inference_service": "all_minilm_l6_v2"}],
            "add_vectors": [{"name": "title_embedding", "dimension": 384, "inference_service": "all_minilm_l6_v2"}]}
    valid = documents_api.validate_promotion_namespaces_id_promote(
        "sdk-promo", PromoteNamespaceRequestModel.from_dict(body))
    assert valid.valid is True and valid.errors == [] and valid.current_mode == "standalone"

    promoted = documents_api.promote_namespace("sdk-promo", PromoteNamespaceRequestModel.from_dict(body))
    assert isinstance(promoted, PromoteNamespaceResponseModel)
    assert (promoted.previous_mode, promoted.mode, promoted.status) == ("standalone", "managed", "active")
    assert promoted.vector_inference_map == {"text_embedding": "all_minilm_l6_v2",
                                             "title_embedding": "all_minilm_l6_v2"}
    got = namespaces_api.get_namespace("sdk-promo")
    assert got.mode == "managed" and got.vector_inference_map == promoted.vector_inference_map


def test_promoting_another_organisations_or_a_missing_namespace_is_404(api_client):
    with pytest.raises(ApiException) as missing:
        mixpeek.BYODocumentsApi(api_client).promote_namespace("no-such-ns", PromoteNamespaceRequestModel())
    assert missing.value.status == 404


def test_raw_inference_by_feature_uri_through_the_sdk(api_client):
    inference = mixpeek.InferenceApi(api_client)
    by_uri = inference.execute_raw_inference(RawInferenceRequest(
        feature_uri="mixpeek://text_extractor@v1/embedding", inputs={"texts": ["a cat sleeps", "a kitten naps"]}))
    assert by_uri.provider == "local" and by_uri.model == "all_minilm_l6_v2" and by_uri.latency_ms >= 0
    assert [len(v) for v in by_uri.data["embeddings"]] == [384, 384]
    with pytest.raises(ApiException) as unusable:
        inference.execute_raw_inference(RawInferenceRequest(
            inference_name="openai_text_3_small", inputs={"text": "x"}))
    error = json.loads(unusable.value.body)["error"]
    assert unusable.value.status == 400 and error["details"]["how_to_enable"] == "set OPENPEEK_OPENAI_API_KEY"
