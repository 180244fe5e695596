"""Builtin extractors on more than one model: the variant a deployment runs, the index and feature URI it writes,
how a namespace resolves a feature URI to it, and how a heavy tier's job output becomes the runner's vectors."""

from __future__ import annotations

import pytest

from openpeek.domain import extractors
from openpeek.domain.collections import (
    Collection,
    CollectionSource,
    CollectionVectorIndex,
    ExtractorConfig,
    extractor_spec,
    model_of,
    on_model,
)
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import ExtractorRef, Namespace, check_vector_configs
from openpeek.domain.retrievers import resolve_feature_uri
from openpeek.services.ingestion.extraction_job import NO_VECTOR, StagedVectors
from openpeek.services.ingestion.extractors import Draft, build

TITAN_TEXT = "bedrock_titan_text_v2"
TITAN_MM = "bedrock_titan_multimodal_g1"


def test_text_extractor_on_titan_has_its_own_index_dimension_and_feature_uri() -> None:
    default, titan = extractors.variants("text_extractor_v1")
    assert (default.inference_service, default.dimension) == ("all_minilm_l6_v2", 384)
    assert (titan.inference_service, titan.dimension) == (TITAN_TEXT, 1024)
    assert titan.vector_index_name == "text_extractor_v1_titan_text_v2_embedding" != default.vector_index_name
    assert extractors.find("text_extractor_v1", TITAN_TEXT) is titan
    assert extractors.find("text_extractor_v1", "nothing") is None
    assert extractors.from_feature_uri("mixpeek://text_extractor@v1/titan_text_v2_v1") is titan
    assert extractors.from_feature_uri("mixpeek://text_extractor@v1/embedding") is default
    with pytest.raises(BadRequest):
        extractors.resolve("text_extractor", "v1", "clip_vit_b32")


def test_a_deployment_runs_the_default_model_when_it_can_and_a_variant_when_only_that_is_usable() -> None:
    assert extractors.model_for("text_extractor_v1", {"all_minilm_l6_v2", TITAN_TEXT}) is None
    assert extractors.model_for("text_extractor_v1", {TITAN_TEXT, TITAN_MM}) == TITAN_TEXT
    assert extractors.model_for("text_extractor_v1", set()) is None  # the default stays and says how to enable it
    assert extractors.model_for("image_extractor_v1", {TITAN_MM}) == TITAN_MM
    assert extractors.model_for("multimodal_extractor_v1", {TITAN_MM}) is None


def test_a_namespace_on_titan_resolves_the_generic_feature_uri_to_titans_index_and_keeps_its_model() -> None:
    namespace = Namespace("ns_1", "org_1", "docs",
                          feature_extractors=(ExtractorRef("text_extractor", "v1", None, TITAN_TEXT),))
    index = "text_extractor_v1_titan_text_v2_embedding"
    assert [(spec.name, spec.dimension) for spec in namespace.vector_indexes()] == [(index, 1024)]
    assert namespace.vector_inference_map() == {index: TITAN_TEXT}
    assert resolve_feature_uri(namespace, "mixpeek://text_extractor@v1/embedding") == index
    assert resolve_feature_uri(namespace, "mixpeek://text_extractor@v1/titan_text_v2_v1") == index
    assert Namespace.from_record(namespace.to_record(), 1).feature_extractors == namespace.feature_extractors
    both, added = Namespace("ns_2", "org_1", "both",
                            feature_extractors=(ExtractorRef("text_extractor", "v1"),)).with_extractors_appended(
        [ExtractorRef("text_extractor", "v1", None, TITAN_TEXT), ExtractorRef("text_extractor", "v1")])
    assert [ref.model for ref in added] == [TITAN_TEXT]
    assert len(both.vector_indexes()) == 2


def test_a_variants_index_name_is_reserved_at_its_own_dimension() -> None:
    with pytest.raises(BadRequest) as refused:
        check_vector_configs([{"name": "text_extractor_v1_titan_text_v2_embedding", "dimension": 384}])
    assert refused.value.code == "reserved_vector_name"
    assert check_vector_configs([{"name": "text_extractor_v1_titan_text_v2_embedding", "dimension": 1024}])


def test_a_collection_spec_on_a_model_carries_that_models_vectors() -> None:
    spec = extractor_spec("image_extractor", "v1")
    titan = on_model(spec, TITAN_MM)
    [vector] = titan.vectors
    assert (vector.output, vector.dimension, vector.inference_service) == ("titan_multimodal_g1_v1", 1024, TITAN_MM)
    assert model_of(titan) == TITAN_MM and model_of(spec) is None
    with pytest.raises(LookupError):
        on_model(spec, TITAN_TEXT)


def _image_collection() -> Collection:
    return Collection("col_1", "photos", "ns_1", CollectionSource("bucket", ("bkt_1",)),
                      ExtractorConfig("image_extractor", "v1", {"image": "photo"}), {}, {},
                      (CollectionVectorIndex("mixpeek://image_extractor@v1/titan_multimodal_g1_v1",
                                             "image_extractor_v1_titan_multimodal_g1_embedding", 1024, "cosine",
                                             TITAN_MM),))


def _never_called(service: str):
    raise AssertionError(f"the store step must not call {service}")


def test_the_jobs_vectors_fill_the_drafts_and_a_source_without_them_fails_with_the_reason() -> None:
    collection = _image_collection()
    extractor = build(collection.feature_extractor.public(), _never_called, model=TITAN_MM)
    vector = [0.5] * 1024
    staged = StagedVectors({("col_1", "obj_a", "image"): vector}, {"col_1": {
        "obj_c": {"error": "Bedrock refused the request: ThrottlingException", "error_type": "transient"},
        "obj_d": {"error": "Bedrock refused the request: ValidationException", "error_type": "permanent"}}})
    drafts = {source: [Draft("image", {}, image=b"\x89PNG\r\n\x1a\n")]
              for source in ("obj_a", "obj_b", "obj_c", "obj_d")}
    failed = staged(collection, extractor, drafts)
    assert {source: (str(error), error.error_type) for source, error in failed.items()} == {
        "obj_b": (NO_VECTOR, "transient"),
        "obj_c": ("Bedrock refused the request: ThrottlingException", "transient"),
        "obj_d": ("Bedrock refused the request: ValidationException", "permanent")}
    assert drafts["obj_a"][0].vectors == {"image_extractor_v1_titan_multimodal_g1_embedding": vector}


def test_a_namespace_holding_both_text_models_answers_the_generic_uri_with_the_one_added_last() -> None:
    older = Namespace("ns_3", "org_1", "upgraded", feature_extractors=(
        ExtractorRef("text_extractor", "v1"), ExtractorRef("text_extractor", "v1", None, TITAN_TEXT)))
    assert resolve_feature_uri(older, "mixpeek://text_extractor@v1/embedding") == \
        "text_extractor_v1_titan_text_v2_embedding"
    assert resolve_feature_uri(older, "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1") == \
        "text_extractor_v1_embedding"
