"""Collection rules: what creation computes from a source schema and an extractor, and what it refuses."""

import pytest

from openpeek.domain import collections as rules
from openpeek.domain.errors import BadRequest

SOURCE = {"content": {"type": "text"}, "title": {"type": "string"}, "year": {"type": "integer"},
          "photo": {"type": "image"}}


def runnable(spec):
    return spec.name in ("text_extractor", "passthrough_extractor")


def text_design(**config):
    extractor, parsed = rules.parse_extractor({"feature_extractor_name": "text_extractor", "version": "v1", **config},
                                              None, runnable)
    return rules.design(extractor, parsed, SOURCE)


def test_text_extractor_output_schema_vectors_and_payload_indexes():
    design = text_design(input_mappings={"text": "content"},
                         field_passthrough=[{"source_path": "title"}, {"source_path": "year", "target_path": "y"}])
    assert design.input_schema == {"properties": SOURCE}
    assert design.output_schema == {"properties": {"title": {"type": "string"}, "y": {"type": "integer"},
                                                   "text": {"type": "string"}}}
    [index] = design.vector_indexes
    assert index.feature_uri == "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
    assert (index.vector_name, index.dimension, index.inference_service) == (
        "text_extractor_v1_embedding", 384, "all_minilm_l6_v2")
    assert {"field_name": "y", "type": "integer"} in design.payload_indexes
    assert design.extractor.input_mappings == {"text": "content"}


def test_a_single_text_property_is_mapped_without_being_named():
    source = {"body": {"type": "string"}, "n": {"type": "integer"}}
    extractor, parsed = rules.parse_extractor(None, ["text_extractor"], runnable)
    assert rules.design(extractor, parsed, source).extractor.input_mappings == {"text": "body"}


def test_mapping_a_missing_property_names_it():
    with pytest.raises(BadRequest) as refused:
        text_design(input_mappings={"text": "summary"})
    assert refused.value.code == "input_mapping_property_missing"
    assert "summary" in refused.value.message


def test_mapping_a_property_of_the_wrong_type_names_it_and_its_type():
    with pytest.raises(BadRequest) as refused:
        text_design(input_mappings={"text": "year"})
    assert refused.value.code == "input_mapping_type_mismatch"
    assert "'year' of type integer" in refused.value.message


def test_passthrough_of_a_missing_property_is_refused_unless_defaulted():
    with pytest.raises(BadRequest) as refused:
        text_design(input_mappings={"text": "content"}, field_passthrough=[{"source_path": "author"}])
    assert "author" in refused.value.message
    design = text_design(input_mappings={"text": "content"},
                         field_passthrough=[{"source_path": "author", "default": "anonymous"}])
    assert design.output_schema["properties"]["author"] == {"type": "string"}


def test_an_extractor_not_runnable_here_names_those_that_are():
    with pytest.raises(BadRequest) as refused:
        rules.parse_extractor({"feature_extractor_name": "image_extractor", "version": "v1"}, None, runnable)
    assert refused.value.code == "feature_extractor_not_available"
    assert refused.value.details["available"] == ["passthrough_extractor_v1", "text_extractor_v1"]


def test_passthrough_vectors_come_from_vector_fields():
    extractor, parsed = rules.parse_extractor(
        {"feature_extractor_name": "passthrough_extractor", "version": "v1",
         "parameters": {"vector_fields": [{"field": "emb", "name": "clip", "dimensions": 4, "distance": "dot"}]},
         "include_all_source_fields": True}, None, runnable)
    design = rules.design(extractor, parsed, SOURCE)
    assert [(i.feature_uri, i.vector_name, i.dimension, i.metric) for i in design.vector_indexes] == [
        ("mixpeek://passthrough_extractor@v1/clip", "clip", 4, "dot")]
    assert design.output_schema["properties"] == SOURCE


def test_unknown_parameters_and_bad_chunking_are_refused():
    with pytest.raises(BadRequest):
        text_design(input_mappings={"text": "content"}, parameters={"chunk_sizes": 3})
    with pytest.raises(BadRequest):
        text_design(input_mappings={"text": "content"}, parameters={"chunk_size": 10, "chunk_overlap": 10})


def test_circular_sources_are_refused_with_the_chain():
    upstream = {"col_b": "col_a", "col_c": "col_b"}
    rules.check_no_cycle("col_d", "col_c", upstream.get)  # col_d <- col_c <- col_b <- col_a: fine
    with pytest.raises(BadRequest) as refused:
        rules.check_no_cycle("col_a", "col_c", upstream.get)
    assert refused.value.details["chain"] == ["col_a", "col_c", "col_b", "col_a"]


def test_record_round_trip():
    design = text_design(input_mappings={"text": "content"})
    collection = rules.Collection("col_1", "docs", "ns_1", rules.CollectionSource("bucket", ("bkt_1",)),
                                  design.extractor, design.input_schema, design.output_schema, design.vector_indexes,
                                  design.payload_indexes, created_at="t", updated_at="t")
    assert rules.Collection.from_record(collection.to_record(), 1) == collection


def test_collection_feature_uris_name_the_namespace_indexes():
    from openpeek.domain.namespace import ExtractorRef, Namespace, VectorConfig
    from openpeek.domain.retrievers import resolve_feature_uri

    namespace = Namespace("ns_1", "org_1", "n", feature_extractors=(ExtractorRef("text_extractor", "v1"),),
                          vector_configs=(VectorConfig("clip", 4),))
    assert resolve_feature_uri(namespace, "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1") == \
        "text_extractor_v1_embedding"
    assert resolve_feature_uri(namespace, "mixpeek://passthrough_extractor@v1/clip") == "clip"
    with pytest.raises(BadRequest):
        resolve_feature_uri(namespace, "mixpeek://passthrough_extractor@v1/other")
