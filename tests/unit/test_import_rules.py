"""The import rules (domain/imports.py): what inference reads from sample rows, what validation refuses, and how an
export becomes documents."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from openpeek.domain import imports as rules


def b64(values, dtype):
    return base64.b64encode(np.asarray(values, dtype=dtype).tobytes()).decode()


def mapping(*fields, **more):
    return rules.ImportMapping.parse({"fields": [{"source_field": source, "target": target}
                                                 for source, target in fields], **more})


def test_inference_types_vectors_and_cardinality():
    rows = [{"id": f"r{n}", "tags": ["a"], "score": n / 2, "kind": "x", "at": "2026-01-02T03:04:05Z",
             "emb": list(np.linspace(0, 1, 16)), "v": b64([1, 2, 3], "<f4"), "nested": {"flag": True}}
            for n in range(4)]
    fields, warnings = rules.infer_fields(rows, {"small": 3})
    found = {field["path"]: field for field in fields}
    assert {path: field["type"] for path, field in found.items()} == {
        "id": "string", "tags": "object", "score": "float", "kind": "string", "at": "datetime", "emb": "vector",
        "v": "vector", "nested.flag": "boolean"}
    assert found["id"]["cardinality"] == "high" and found["kind"]["cardinality"] == "low"
    assert found["id"]["suggested_target"] == {"kind": "identity", "role": "document_id"}
    assert (found["v"]["dim"], found["v"]["dtype"], found["v"]["suggested_target"]["index"]) == \
        (3, "float32-base64", "small")
    assert found["emb"]["dim"] == 16 and "matches no known index dimension" in " ".join(warnings)
    assert rules.infer_fields([], None) == ([], ["no sample_rows were given: nothing to infer from"])


def test_mixed_types_are_warned_about():
    fields, warnings = rules.infer_fields([{"a": 1}, {"a": "x"}, {"a": 2}], None)
    assert fields[0]["type"] == "integer" and "several types" in warnings[0]


def test_validation_names_every_problem():
    errors = rules.validate_mapping(mapping(
        ("a", {"kind": "vector", "index": "emb", "dim": 8}),
        ("b", {"kind": "identity", "role": "owner"}),
        ("c", {"kind": "metadata", "path": "collection_id"}),
        ("d", {"kind": "metadata", "path": "metadata.x"}),
        ("e", {"kind": "metadata", "path": "metadata.x"}),
        ("f", {"kind": "parent"}),
        ("g", {"kind": "metadata", "path": "y", "expected_type": "integer"}),
        ("h", {"kind": "vector", "index": "other", "dim": 4, "dtype": "int3"}),
        source_type="somewhere"),
        [{"path": p, "type": "string"} for p in "abcdefgh"], {"emb": 4})
    assert [(error["field"], error["error"].split(" ")[0]) for error in errors] == [
        (None, "source_type"), ("a", "index"), ("b", "identity"), ("c", "'collection_id'"), ("e", "'metadata.x'"),
        ("f", "a"), ("g", "the"), ("h", "dtype")]
    assert rules.validate_mapping(mapping(("x", {"kind": "metadata", "path": "metadata.x"})), [{"path": "y",
                                                                                                  "type": "string"}]) \
        == [{"field": "x", "error": "'x' is not among the declared source_fields"}]
    assert rules.validate_mapping(rules.ImportMapping(()))[0] == {"field": None, "error": "the mapping has no fields"}


def test_reconstruction_explodes_joins_and_derives_stable_ids():
    export = {"asset": {"id": "a1"}, "scenes": [{"i": 0, "t": "one"}, {"i": 1, "t": "two"}],
              "vectors": [{"i": 1, "vector_b64": b64([0, 1], "<f2")}, {"i": 0, "vector_b64": b64([1, 0], "<f2")}]}
    chosen = mapping(("asset.id", {"kind": "identity", "role": "root_object_id"}),
                     ("scenes[].t", {"kind": "metadata", "path": "metadata.text"}),
                     ("scenes[].i", {"kind": "parent", "chain_position": 0}),
                     ("vectors[].vector_b64", {"kind": "vector", "index": "emb", "dim": 2,
                                                "dtype": "float16-base64"}),
                     chain_template={"steps": [{"step": "scene"}]})
    explode = rules.Explode.parse({"explode_axis": "scenes",
                                   "vector_join": {"array": "vectors", "key": "i", "index": "emb"}})
    documents, errors = rules.reconstruct(export, chosen, explode, "col_1")
    assert errors == []
    assert [doc.body["vectors"]["emb"] for doc in documents] == [[1.0, 0.0], [0.0, 1.0]]
    assert [doc.body["metadata"] for doc in documents] == [{"text": "one"}, {"text": "two"}]
    assert documents[1].body["lineage_chain"] == [{"step": "scene", "position": 0, "id": 1}]
    assert documents[0].body["root_object_id"] == "a1" and documents[0].body["source_type"] == "import"
    again, _ = rules.reconstruct(export, chosen, explode, "col_1")
    assert [doc.document_id for doc in again] == [doc.document_id for doc in documents]
    assert len({doc.document_id for doc in documents}) == 2
    other, _ = rules.reconstruct(export, chosen, explode, "col_2")
    assert {doc.document_id for doc in other}.isdisjoint(doc.document_id for doc in documents)


def test_rows_that_cannot_be_rebuilt_are_reported_alone():
    export = {"rows": [{"v": [1, 2]}, {"v": [1, 2, 3]}, {"v": "!!"}, {"w": 1}, {"v": [float("nan"), 1]}]}
    chosen = mapping(("rows[].v", {"kind": "vector", "index": "emb", "dim": 2}))
    documents, errors = rules.reconstruct(export, chosen, rules.Explode.parse({"explode_axis": "rows"}), "col")
    assert [doc.position for doc in documents] == [0]
    assert [(error["row"], error["error"]) for error in errors] == [
        (1, "'rows[].v' has 3 dimensions, the mapping says 2"), (2, "'rows[].v' is not valid base64"),
        (3, "'rows[].v' holds no vector"), (4, "'rows[].v' holds NaN or infinite values")]


@pytest.mark.parametrize("value, dtype, expected", [
    ([1, 2], None, [1.0, 2.0]),
    (b64([0.5, -1], "<f4"), "float32-base64", [0.5, -1.0]),
    (b64([0.5, -1], "<f8"), "float64-base64", [0.5, -1.0]),
])
def test_vectors_decode_from_lists_and_base64(value, dtype, expected):
    assert rules.decode_vector(value, dtype, 2, "v") == expected
