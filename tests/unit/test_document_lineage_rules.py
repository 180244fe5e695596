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


def test_lineage_is_none_for_a_document_that_names_no_source():
    assert lineage.lineage_of({"source_type": "direct_upsert", "title": "x"}, []) is None
    found = lineage.lineage_of({"source_object_id": "obj_s", "source_type": "bucket"}, [{"document_id": "d"}])
    assert found["root_object_id"] == "obj_s" and found["source_row"] is None
    assert found["lineage_chain"] == [{"document_id": "d"}] and found["source_document_id"] is None


def _tree_collection(collection_id: str, source: str | None) -> lineage.TreeCollection:
    return lineage.TreeCollection(collection_id, collection_id.removeprefix("col_"), "x_v1", source)


def test_a_tree_hangs_each_collection_under_the_one_it_reads_even_when_that_one_holds_none():
    collections = {"col_a": _tree_collection("col_a", None), "col_b": _tree_collection("col_b", "col_a"),
                   "col_c": _tree_collection("col_c", "col_b"), "col_d": _tree_collection("col_d", "col_a")}
    documents = [{"document_id": "a1", "collection_id": "col_a", "created_at": "2"},
                 {"document_id": "a0", "collection_id": "col_a", "created_at": "1"},
                 {"document_id": "c1", "collection_id": "col_c", "source_document_id": "b1"},
                 {"document_id": "d1", "collection_id": "col_d", "source_document_id": "a0"}]
    tree = lineage.decomposition_tree(documents, collections, include_document_ids=True)
    [a] = tree
    assert (a["document_ids"], a["depth"], a["source_type"]) == (["a0", "a1"], 1, "bucket")
    b, d = a["children"]  # by name
    assert (b["collection_id"], b["document_count"], b["document_ids"]) == ("col_b", 0, [])  # its documents are gone
    assert b["children"][0]["source_document_ids"] == {"c1": "b1"} and b["children"][0]["depth"] == 3
    assert d["source_document_ids"] == {"d1": "a0"}
    assert lineage.tree_depth(tree) == 3
    assert "document_ids" not in lineage.decomposition_tree(documents, collections, include_document_ids=False)[0]


def test_a_tree_of_a_collection_that_is_gone_uses_its_documents_and_a_loop_is_broken_at_the_top():
    documents = [{"document_id": "g1", "collection_id": "col_gone", "source_collection_id": "col_a"},
                 {"document_id": "a1", "collection_id": "col_a"}]
    [a] = lineage.decomposition_tree(documents, {"col_a": _tree_collection("col_a", None)},
                                     include_document_ids=False)
    assert [(child["collection_id"], child["collection_name"]) for child in a["children"]] == [("col_gone", None)]

    looped = {"col_x": _tree_collection("col_x", "col_y"), "col_y": _tree_collection("col_y", "col_x"),
              "col_z": _tree_collection("col_z", "col_x")}
    tree = lineage.decomposition_tree([{"document_id": "z1", "collection_id": "col_z"}], looped,
                                      include_document_ids=False)
    [x] = tree  # col_x hangs at the top; col_y reads it, col_z reads col_x
    assert x["collection_id"] == "col_x"
    assert sorted(child["collection_id"] for child in x["children"]) == ["col_y", "col_z"]
