"""The rules of bring-your-own documents (domain/documents.py), without I/O: what a batch must satisfy before anything
is written, and the point a document becomes (the payload contract retrievers read)."""

from __future__ import annotations

import math

import pytest

from openpeek.domain import documents as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace, VectorConfig, check_vector_configs
from openpeek.domain.vectors import SparseVector

NAMESPACE = Namespace(
    namespace_id="ns_legal", org_id="org_acme", namespace_name="legal-docs", mode="standalone",
    vector_configs=(VectorConfig("dense", 4, "cosine"), VectorConfig("raw", 3, "dot"),
                    VectorConfig("keywords", 0, "dot", sparse=True)),
)


def doc(document_id="a", **vectors):
    return {"document_id": document_id, "vectors": vectors or {"dense": [1.0, 0.0, 0.0, 0.0]}}


def rejection(documents) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        rules.check_batch(NAMESPACE, documents)
    return caught.value


def test_a_valid_batch_passes_with_its_vectors_untouched():
    vector = [0.5, 0.5, 0.5, 0.5]
    checked = rules.check_batch(NAMESPACE, [doc("a", dense=vector), doc("b", raw=[1, 2, 3])])
    assert [c.document_id for c in checked] == ["a", "b"]
    assert checked[0].vectors["dense"] is vector  # no copy of a thousand vectors on the way to the store
    assert checked[1].vectors["raw"] == [1, 2, 3]  # integers are numbers too


@pytest.mark.parametrize("vectors, words", [
    ({"nope": [1.0, 0, 0, 0]}, "this namespace has: dense, keywords, raw"),
    ({"dense": [1.0, 0.0]}, "has dimension 2; the index expects 4"),
    ({"dense": []}, "non-empty"),
    ({"dense": [1.0, float("nan"), 0.0, 0.0]}, "NaN or infinity"),
    ({"dense": [1.0, float("inf"), 0.0, 0.0]}, "NaN or infinity"),
    ({"raw": [float("inf"), float("-inf"), 1.0]}, "NaN or infinity"),  # sums to NaN: still found
    ({"dense": [1.0, "2", 0.0, 0.0]}, "list of numbers"),
    ({"dense": [1.0, None, 0.0, 0.0]}, "list of numbers"),
    ({"dense": [[1.0, 0.0, 0.0, 0.0]]}, "multi-vectors"),
    ({"dense": "1,0,0,0"}, "non-empty list"),
    ({"dense": [0.0, 0.0, 0.0, 0.0]}, "all zeros"),
    ({"dense": {"indices": [0], "values": [1.0]}}, "is dense"),
    ({"keywords": [1.0, 2.0]}, "is sparse"),
    ({"keywords": {"indices": [1, 1], "values": [1.0, 2.0]}}, "repeats an index"),
    ({"keywords": {"indices": [1, 2], "values": [1.0]}}, "2 indices but 1 values"),
    ({"keywords": {"indices": [-1], "values": [1.0]}}, "integers from 0"),
    ({"keywords": {"indices": [1.5], "values": [1.0]}}, "integers from 0"),
    ({"keywords": {"indices": [], "values": []}}, "non-empty"),
    ({"keywords": {"indices": [1], "values": [float("nan")]}}, "NaN or infinity"),
    ({"keywords": {"indices": [1], "values": ["x"]}}, "must be numbers"),
])
def test_a_bad_vector_is_refused_naming_the_document_and_its_place(vectors, words):
    error = rejection([doc("good"), {"document_id": "bad", "vectors": vectors}])
    assert words in error.message
    assert error.details["index"] == 1 and error.details["document_id"] == "bad"
    assert error.message.startswith("documents[1] ('bad')")


def test_values_beyond_float32_are_refused_like_nan():
    # The store keeps float32: 1e308 would become infinity there, so it is refused at the door, naming the vector.
    big = [1e308, 1e308, 1e308]
    assert math.isinf(sum(big))
    refused = rejection([doc("a", raw=big)])
    assert "raw" in refused.message and "float32" in refused.message


def test_values_at_the_float32_limit_are_accepted_untouched():
    largest = [3.4e38, -3.4e38, 3.4e38]
    assert rules.check_batch(NAMESPACE, [doc("a", raw=largest)])[0].vectors["raw"] == largest


def test_an_all_zero_vector_is_fine_where_the_metric_is_not_cosine():
    assert rules.check_batch(NAMESPACE, [doc("a", raw=[0.0, 0.0, 0.0])])


def test_dimension_error_details_name_index_expected_and_got():
    details = rejection([doc("a", dense=[1.0, 2.0, 3.0])]).details
    assert (details["vector_index"], details["expected_dimension"], details["got_dimension"]) == ("dense", 4, 3)


def test_unknown_index_lists_the_available_ones():
    assert rejection([doc("a", other=[1.0])]).details["available_indexes"] == ["dense", "keywords", "raw"]


@pytest.mark.parametrize("document_id", ["", "   ", "x" * (rules.MAX_DOCUMENT_ID_LENGTH + 1)])
def test_blank_or_overlong_document_ids_are_refused(document_id):
    error = rejection([doc(document_id)])
    assert "document_id must be" in error.message and error.details["index"] == 0
    assert len(error.details["document_id"]) <= 81  # an overlong id is shortened in the error, not echoed whole


def test_a_document_id_of_the_maximum_length_is_accepted():
    assert rules.check_batch(NAMESPACE, [doc("x" * rules.MAX_DOCUMENT_ID_LENGTH)])


def test_duplicate_document_ids_in_one_request_are_refused():
    error = rejection([doc("a"), doc("b"), doc("a")])
    assert "more than once" in error.message and error.details == {"index": 2, "document_id": "a"}


def test_batch_size_limits():
    assert rejection([]).code == "invalid_document"
    too_many = rejection([doc(f"d{i}") for i in range(rules.MAX_DOCUMENTS_PER_UPSERT + 1)])
    assert too_many.code == "too_many_documents" and too_many.details["got"] == rules.MAX_DOCUMENTS_PER_UPSERT + 1
    assert len(rules.check_batch(NAMESPACE, [doc(f"d{i}") for i in range(rules.MAX_DOCUMENTS_PER_UPSERT)])) == 1000


def test_sparse_vectors_become_the_port_value():
    checked = rules.check_batch(NAMESPACE, [doc("s", keywords={"indices": [7, 3], "values": [1, 0.5]})])
    assert checked[0].vectors["keywords"] == SparseVector((7, 3), (1.0, 0.5))


def test_protected_payload_keys_are_dropped_and_reported():
    source = {**doc("a"), "payload": {"title": "kept", "document_id": "forged", "_internal": {}, "created_at": "x"}}
    checked = rules.check_batch(NAMESPACE, [source])[0]
    assert checked.payload == {"title": "kept"}
    assert checked.dropped_fields == ["document_id", "_internal", "created_at"]


def test_the_stored_point_follows_the_payload_contract():
    source = {**doc("a"), "payload": {"title": "Lease", "document_id": "forged"}, "metadata": {"src": "x"},
              "acl": {"read": ["u1"], "write": None, "public": False}, "root_object_id": "obj_1",
              "lineage_path": "bkt/col"}
    checked = rules.check_batch(NAMESPACE, [source])[0]
    point = rules.build_point(NAMESPACE, checked, source, collection_id="col_1",
                              created_at="2024-01-01T00:00:00.000Z", updated_at="2024-02-01T00:00:00.000Z")
    assert point.id == "a" and point.vectors == {"dense": [1.0, 0.0, 0.0, 0.0]}
    assert point.payload == {
        "title": "Lease", "document_id": "a", "namespace_id": "ns_legal", "internal_id": "org_acme",
        "collection_id": "col_1", "source_type": "direct_upsert", "root_object_id": "obj_1", "lineage_path": "bkt/col",
        "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-02-01T00:00:00.000Z",
        "_internal": {"metadata": {"src": "x"}, "_acl": {"read": ["u1"], "public": False}},
    }


def test_presenting_a_point_never_shows_internal_raw():
    source = {**doc("a"), "payload": {"title": "Lease"}, "metadata": {"src": "x"}, "acl": {"public": True}}
    point = rules.build_point(NAMESPACE, rules.check_batch(NAMESPACE, [source])[0], source, collection_id="c",
                              created_at="t0", updated_at="t1")
    view = rules.present(point, with_vectors=False)
    assert "_internal" not in view and "vectors" not in view
    assert view["metadata"] == {"src": "x"} and view["acl"] == {"public": True} and view["title"] == "Lease"
    assert rules.present(point, with_vectors=True)["vectors"] == {"dense": [1.0, 0.0, 0.0, 0.0]}


def test_a_document_without_vectors_is_unsearchable():
    bare = rules.check_batch(NAMESPACE, [{"document_id": "bare", "vectors": {}}])[0]
    assert rules.unsearchable(NAMESPACE, bare)
    assert not rules.unsearchable(NAMESPACE, rules.check_batch(NAMESPACE, [doc("a")])[0])


def test_vector_configs_declare_sparse_indexes():
    configs = check_vector_configs([{"name": "dense", "dimension": 8}, {"name": "kw", "type": "sparse"},
                                    {"name": "kw2", "type": "sparse", "dimension": 999}])
    assert configs[0] == VectorConfig("dense", 8, "cosine")
    assert configs[1].sparse and configs[2].sparse and configs[1].spec().sparse
    assert configs[1].public() == {"name": "kw", "dimension": 0, "metric": "dot", "type": "sparse"}
    assert "type" not in configs[0].public()
    assert VectorConfig.from_record(configs[1].to_record()) == configs[1]
