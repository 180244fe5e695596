"""The pure rules behind a document's lineage, diagnostics and dry-run schema check."""

from __future__ import annotations

from openpeek.domain import document_lineage as lineage
from openpeek.domain import document_schema


def test_the_root_object_is_root_object_id_else_the_tier_one_source_object():
    assert lineage.root_object_id({"root_object_id": "obj_r", "source_object_id": "obj_s"}) == "obj_r"
    assert lineage.root_object_id({"source_object_id": "obj_s"}) == "obj_s"
    assert lineage.root_object_id({"source_document_id": "doc_p"}) is None
    assert lineage.parent_id({"source_document_id": "doc_p"}) == "doc_p"
    assert lineage.parent_id({"source_document_id": ""}) is None


def test_a_time_range_needs_two_finite_numbers():
    assert lineage.time_range({"start_time": 1, "end_time": 2.5}) == (1.0, 2.5)
    assert lineage.time_range({"start_time": 1}) is None
    assert lineage.time_range({"start_time": True, "end_time": 2}) is None
    assert lineage.time_range({"start_time": float("nan"), "end_time": 2}) is None


def test_vector_facts_name_what_is_held_and_what_the_collection_expects():
    facts = lineage.vector_facts({"dense": [0.1, 0.2], "sparse": {"indices": [3, 9, 12], "values": [1, 2, 3]}},
                                 {"dense": ("mixpeek://x@v1/dense", 2), "missing": ("mixpeek://x@v1/missing", 8)})
    assert [fact.public() for fact in facts] == [
        {"name": "dense", "feature_uri": "mixpeek://x@v1/dense", "present": True, "dimension": 2,
         "expected_dimension": 2, "sparse": False},
        {"name": "missing", "feature_uri": "mixpeek://x@v1/missing", "present": False, "dimension": None,
         "expected_dimension": 8, "sparse": False},
        {"name": "sparse", "feature_uri": None, "present": True, "dimension": 3, "expected_dimension": None,
         "sparse": True}]


def test_visibility_follows_vectors_and_the_collections_tier():
    held = lineage.vector_facts({"v": [1.0, 0.0]}, {"v": ("uri", 2)})
    none = lineage.vector_facts({}, {"v": ("uri", 2)})
    assert lineage.visibility(held, collection_writes_vectors=True, tier=None, lifecycle_state="active") == (
        True, "searchable in the vector store through v (2-d)")
    assert "cold store" in lineage.visibility(held, collection_writes_vectors=True, tier="cold",
                                              lifecycle_state="cold")[1]
    assert lineage.visibility(held, collection_writes_vectors=True, tier="archived",
                              lifecycle_state="archived")[0] is False
    searchable, why = lineage.visibility(none, collection_writes_vectors=True, tier=None, lifecycle_state="active")
    assert searchable is False and "without a vector" in why and "(v)" in why
    assert "writes no vectors" in lineage.visibility([], collection_writes_vectors=False, tier=None,
                                                     lifecycle_state="active")[1]


def test_payload_bytes_is_the_compact_utf8_json_size():
    assert lineage.payload_bytes({"a": "é"}) == len('{"a":"é"}'.encode())


def test_schema_violations_check_declared_types_and_required_properties_and_name_undeclared_fields():
    schema = {"properties": {"title": {"type": "string", "required": True}, "year": {"type": "integer"},
                             "body": {"type": "text"}, "tags": {"type": "array", "items": {"type": "string"}}}}
    found, undeclared = document_schema.violations(schema, {"year": "1999", "body": 3, "tags": ["a", 1],
                                                            "colour": "red"})
    assert {(item["field"], item["rule"]) for item in found} == {
        ("year", "type"), ("body", "type"), ("tags[1]", "type"), ("title", "required")}
    assert undeclared == ["colour"]
    assert document_schema.violations(schema, {"title": "ok", "year": 2001}) == ([], [])
