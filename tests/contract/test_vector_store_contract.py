"""The VectorStore contract, run against every adapter: qdrant-client's in-process engine (standing in for a Qdrant
server), Qdrant Edge on a temporary directory, and the router that sends a dedicated-tier namespace's collection to its
own Qdrant (here every collection is dedicated, the shared store an Edge that must stay empty). Whatever one adapter
does, the others must do the same."""

from __future__ import annotations

import json
from dataclasses import replace
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from qdrant_client import QdrantClient

from openpeek.adapters.qdrant import edge as edge_adapter
from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.adapters.qdrant.mapping import point_id
from openpeek.adapters.qdrant.server import QdrantServerStore
from openpeek.adapters.vector_routing import VectorStoreRouter
from openpeek.domain.infrastructure import DedicatedVectorStore
from openpeek.domain.conditions import (Condition, DatetimeRange, Filter, HasIds, IsEmpty, IsNull, MatchAny, MatchText,
                                        MatchValue, Range)
from openpeek.domain.failures import CollectionNotFound, DependencyUnavailable
from openpeek.domain.vectors import PayloadIndexSpec, SearchRequest, SparseVector, VectorIndexSpec, VectorPoint
from openpeek.ports import VectorStore

C = "ns_contract"
TEXT = VectorIndexSpec("text", 2, "cosine")
SPARSE = VectorIndexSpec("splade", 0, sparse=True)


# The adapter a router sends the contract's collections to, by router (for the tests that reach into an adapter).
_ROUTED_TO: dict[int, QdrantServerStore] = {}


def adapter_of(store: VectorStore) -> Any:
    return _ROUTED_TO.get(id(store), store)


@pytest.fixture(params=["qdrant_memory", "qdrant_edge", "routed_to_dedicated"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "qdrant_memory":
        yield QdrantServerStore(QdrantClient(location=":memory:"))
    elif request.param == "routed_to_dedicated":
        shared = QdrantEdgeStore(tmp_path / "shared")
        dedicated = QdrantServerStore(QdrantClient(location=":memory:"))
        target = DedicatedVectorStore("http://qdrant-ns:6333", "key")
        router = VectorStoreRouter(shared, lambda collection: target, lambda url, key: dedicated)
        _ROUTED_TO[id(router)] = dedicated
        yield router
        assert shared.collections() == []  # nothing of a dedicated namespace reached the shared store
        _ROUTED_TO.pop(id(router))
        shared.close()
    else:
        edge = QdrantEdgeStore(tmp_path / "edge")
        yield edge
        edge.close()


def edge_registry() -> Any:
    return edge_adapter._REGISTRY


def ids_of(points: list[Any]) -> list[str]:
    return [p.id for p in points]


def scroll_all(store: VectorStore, collection: str = C, **kwargs: Any) -> list[VectorPoint]:
    out: list[VectorPoint] = []
    offset = None
    while True:
        page, offset = store.scroll(collection, offset=offset, **kwargs)
        out.extend(page)
        if offset is None:
            return out


# -- collections ---------------------------------------------------------------------------------------------------


def test_create_is_idempotent_and_keeps_the_first_schema(store: VectorStore) -> None:
    assert not store.collection_exists(C)
    store.create_collection(C, [TEXT, SPARSE], [PayloadIndexSpec("kind", "keyword")])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]})])

    store.create_collection(C, [VectorIndexSpec("other", 5, "dot")])

    assert store.collection_exists(C)
    assert not store.collection_exists("ns_other")
    info = store.info(C)
    assert info.vectors == {"text": TEXT, "splade": VectorIndexSpec("splade", 0, "dot", sparse=True)}
    assert info.payload_indexes == {"kind": "keyword"}
    assert store.count(C) == 1


def test_drop_removes_points_and_a_missing_collection_is_a_no_op(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]})])

    store.drop_collection(C)
    store.drop_collection(C)
    store.drop_collection("ns_never_made")

    assert not store.collection_exists(C)
    store.create_collection(C, [TEXT])
    assert store.count(C) == 0


def test_collection_without_vectors_can_gain_them(store: VectorStore) -> None:
    store.create_collection(C, [])
    assert store.info(C).vectors == {}
    store.upsert(C, [VectorPoint("d1", {}, {"k": 1})])

    assert store.add_vector_indexes(C, [TEXT]) == ["text"]

    assert store.info(C).vectors == {"text": TEXT}
    store.upsert(C, [VectorPoint("d2", {"text": [0.0, 1.0]})])
    assert ids_of(store.query(C, [SearchRequest("text", [0.0, 1.0])])[0]) == ["d2"]
    assert store.retrieve(C, ["d1"])[0].payload == {"k": 1, "document_id": "d1"}


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.info(C),
        lambda s: s.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]})]),
        lambda s: s.query(C, [SearchRequest("text", [1.0, 0.0])]),
        lambda s: s.retrieve(C, ["d1"]),
        lambda s: s.scroll(C),
        lambda s: s.count(C),
        lambda s: s.delete(C, ["d1"]),
        lambda s: s.delete_by_filter(C, Filter(must=(MatchValue("k", 1),))),
        lambda s: s.set_payload(C, ["d1"], {"k": 1}),
        lambda s: s.create_payload_index(C, PayloadIndexSpec("k", "keyword")),
        lambda s: s.drop_payload_index(C, "k"),
        lambda s: s.add_vector_indexes(C, [TEXT]),
    ],
    ids=[
        "info", "upsert", "query", "retrieve", "scroll", "count", "delete", "delete_by_filter", "set_payload",
        "create_payload_index", "drop_payload_index", "add_vector_indexes",
    ],
)
def test_operations_on_a_missing_collection_raise_collection_not_found(
    store: VectorStore, call: Callable[[VectorStore], Any]
) -> None:
    with pytest.raises(CollectionNotFound):
        call(store)


# -- points --------------------------------------------------------------------------------------------------------


def test_upsert_and_retrieve_round_trip_dense_sparse_and_nested_payload(store: VectorStore) -> None:
    # Dot product: cosine collections store vectors normalized, so only a non-cosine vector comes back verbatim.
    store.create_collection(C, [VectorIndexSpec("raw", 3, "dot"), SPARSE])
    payload = {"title": "a", "meta": {"tags": ["x", "y"], "depth": {"n": 2, "ok": True}}, "score": 0.5, "none": None}
    store.upsert(
        C,
        [
            VectorPoint("doc/1", {"raw": [0.5, -2.0, 4.0], "splade": SparseVector((3, 17), (0.25, 1.5))}, payload),
            VectorPoint("doc/2", {"raw": [1.0, 1.0, 1.0]}),
        ],
    )

    got = store.retrieve(C, ["missing", "doc/2", "doc/1"], with_vectors=True)

    assert ids_of(got) == ["doc/2", "doc/1"]
    assert got[1].vectors == {"raw": [0.5, -2.0, 4.0], "splade": SparseVector((3, 17), (0.25, 1.5))}
    assert got[1].payload == {**payload, "document_id": "doc/1"}
    assert got[0].vectors == {"raw": [1.0, 1.0, 1.0]}
    assert got[0].payload == {"document_id": "doc/2"}
    assert store.retrieve(C, ["doc/1"])[0].vectors == {}


def test_cosine_vectors_come_back_normalized(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint("d1", {"text": [3.0, 4.0]})])
    assert store.retrieve(C, ["d1"], with_vectors=True)[0].vectors["text"] == pytest.approx([0.6, 0.8], rel=1e-6)


def test_document_id_in_the_payload_is_accepted_when_it_agrees(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]}, {"document_id": "d1", "k": 1})])
    assert store.retrieve(C, ["d1"])[0].payload == {"document_id": "d1", "k": 1}

    with pytest.raises(ValueError):
        store.upsert(C, [VectorPoint("d2", {"text": [1.0, 0.0]}, {"document_id": "someone-else"})])
    assert store.count(C) == 1


def test_point_ids_are_uuid5_of_the_document_id(store: VectorStore) -> None:
    # Other tools (and a migration) find points by this id, so it is part of the contract.
    assert point_id("doc-1") == "3d420c0c-ed78-5279-9302-f77918e42f2a"
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint("doc-1", {"text": [1.0, 0.0]}), VectorPoint("doc-2", {"text": [0.0, 1.0]})])
    assert ids_of(store.scroll(C, filter=Filter(must=(HasIds(("doc-1",)),)))[0]) == ["doc-1"]


def test_reupsert_replaces_the_whole_point(store: VectorStore) -> None:
    store.create_collection(C, [TEXT, SPARSE])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0], "splade": SparseVector((1,), (1.0,))}, {"a": 1, "b": 2})])

    store.upsert(C, [VectorPoint("d1", {"text": [0.0, 1.0]}, {"a": 3})])

    (point,) = store.retrieve(C, ["d1"], with_vectors=True)
    assert point.payload == {"a": 3, "document_id": "d1"}
    assert point.vectors == {"text": [0.0, 1.0]}
    assert store.count(C) == 1


def test_delete_ignores_missing_ids(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)]}) for i in range(4)])

    store.delete(C, ["d1", "d3", "never"])
    store.delete(C, [])

    assert sorted(ids_of(scroll_all(store))) == ["d0", "d2"]


def test_delete_by_filter_removes_only_matching_points(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, 0.0]}, {"odd": i % 2 == 1, "i": i}) for i in range(6)])

    store.delete_by_filter(C, Filter(must=(MatchValue("odd", True),), must_not=(MatchValue("i", 5),)))

    assert sorted(ids_of(scroll_all(store))) == ["d0", "d2", "d4", "d5"]


def test_set_payload_merges_keys_into_each_point(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(
        C,
        [
            VectorPoint("d1", {"text": [1.0, 0.0]}, {"keep": 1, "change": "old", "nested": {"a": 1}}),
            VectorPoint("d2", {"text": [0.0, 1.0]}, {"keep": 2}),
            VectorPoint("d3", {"text": [0.0, 1.0]}, {"keep": 3}),
        ],
    )

    store.set_payload(C, ["d1", "d2", "missing"], {"change": "new", "nested": {"b": 2}})

    got = {p.id: p.payload for p in store.retrieve(C, ["d1", "d2", "d3"])}
    assert got["d1"] == {"keep": 1, "change": "new", "nested": {"b": 2}, "document_id": "d1"}
    assert got["d2"] == {"keep": 2, "change": "new", "nested": {"b": 2}, "document_id": "d2"}
    assert got["d3"] == {"keep": 3, "document_id": "d3"}
    assert store.count(C) == 3
    with pytest.raises(ValueError):
        store.set_payload(C, ["d1"], {"document_id": "d9"})


# -- query -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # The same points and query rank differently under each metric; euclidean scores are distances.
        ("cosine", [("a", 1.0), ("b", 0.7071068), ("c", 0.0), ("d", -0.3162278)]),
        ("dot", [("b", 3.0), ("a", 1.0), ("c", 0.0), ("d", -1.0)]),
        ("euclidean", [("a", 0.0), ("c", 1.4142135), ("d", 3.6055512), ("b", 3.6055512)]),
    ],
)
def test_query_orders_best_first_for_each_metric(
    store: VectorStore, metric: str, expected: list[tuple[str, float]]
) -> None:
    store.create_collection(C, [VectorIndexSpec("v", 2, metric)])  # type: ignore[arg-type]
    vectors = {"a": [1.0, 0.0], "b": [3.0, 3.0], "c": [0.0, 1.0], "d": [-1.0, 3.0]}
    store.upsert(C, [VectorPoint(k, {"v": v}) for k, v in vectors.items()])

    (hits,) = store.query(C, [SearchRequest("v", [1.0, 0.0])])

    got = [(h.id, h.score) for h in hits]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-5, abs=1e-6)
    if metric == "euclidean":  # b and d tie; their order is not part of the contract
        assert [i for i, _ in got[:2]] == ["a", "c"] and {i for i, _ in got[2:]} == {"b", "d"}
    else:
        assert [i for i, _ in got] == [i for i, _ in expected]


def test_query_limit_and_score_threshold(store: VectorStore) -> None:
    store.create_collection(C, [TEXT, VectorIndexSpec("dist", 1, "euclidean")])
    store.upsert(
        C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)], "dist": [float(i)]}) for i in range(6)]
    )

    top2, similar, near = store.query(
        C,
        [
            SearchRequest("text", [1.0, 0.0], limit=2),
            SearchRequest("text", [1.0, 0.0], score_threshold=0.5),
            # For a distance, the threshold is an upper bound.
            SearchRequest("dist", [0.0], score_threshold=2.5),
        ],
    )

    assert ids_of(top2) == ["d0", "d1"]
    assert ids_of(similar) == ["d0", "d1"]  # cos(d1) = 0.707, cos(d2) = 0.447
    assert all(h.score >= 0.5 for h in similar)
    assert ids_of(near) == ["d0", "d1", "d2"]


def test_several_requests_in_one_call_with_vectors_and_without_payload(store: VectorStore) -> None:
    store.create_collection(C, [TEXT, SPARSE])
    store.upsert(
        C,
        [
            VectorPoint("d1", {"text": [1.0, 0.0], "splade": SparseVector((1, 2), (1.0, 1.0))}, {"k": "x"}),
            VectorPoint("d2", {"text": [0.0, 1.0], "splade": SparseVector((2,), (3.0,))}, {"k": "y"}),
        ],
    )

    dense, sparse, filtered = store.query(
        C,
        [
            SearchRequest("text", [1.0, 0.0], with_vectors=True),
            SearchRequest("splade", SparseVector((2,), (1.0,)), with_payload=False),
            SearchRequest("text", [1.0, 0.0], filter=Filter(must=(MatchValue("k", "y"),))),
        ],
    )

    assert ids_of(dense) == ["d1", "d2"]
    assert dense[0].vectors["text"] == pytest.approx([1.0, 0.0])
    assert dense[0].vectors["splade"] == SparseVector((1, 2), (1.0, 1.0))
    assert dense[0].payload == {"k": "x", "document_id": "d1"}
    assert [(h.id, h.score) for h in sparse] == [("d2", pytest.approx(3.0)), ("d1", pytest.approx(1.0))]
    assert sparse[0].payload == {} and sparse[0].vectors == {}
    assert ids_of(filtered) == ["d2"]
    assert store.query(C, []) == []


def test_bad_vectors_are_the_callers_fault(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    with pytest.raises(ValueError):
        store.upsert(C, [VectorPoint("d1", {"text": [1.0, 2.0, 3.0]})])
    with pytest.raises(ValueError):
        store.upsert(C, [VectorPoint("d1", {"unknown": [1.0, 2.0]})])
    with pytest.raises(ValueError):
        store.query(C, [SearchRequest("unknown", [1.0, 0.0])])
    assert store.count(C) == 0


# -- filters ---------------------------------------------------------------------------------------------------------

DOCS: dict[str, dict[str, Any]] = {
    "d1": {"kind": "video", "n": 1, "flag": True, "tags": ["a", "b"], "at": "2024-01-01T00:00:00Z",
           "title": "Red fox jumps", "opt": None, "meta": {"lang": "en"}},
    "d2": {"kind": "image", "n": 5, "flag": False, "tags": [], "at": "2024-06-01T00:00:00Z",
           "title": "lazy dog sleeps", "meta": {"lang": "fr"}},
    "d3": {"kind": "video", "n": 10, "flag": False, "tags": ["b"], "at": "2025-01-01T00:00:00Z",
           "title": "quick red car", "opt": "x"},
    "d4": {"kind": "text", "n": 7.5, "title": "nothing here"},
}

FILTER_CASES: list[tuple[str, Condition, set[str]]] = [
    ("match str", MatchValue("kind", "video"), {"d1", "d3"}),
    ("match int", MatchValue("n", 5), {"d2"}),
    ("match true", MatchValue("flag", True), {"d1"}),
    ("match false", MatchValue("flag", False), {"d2", "d3"}),
    ("match array element", MatchValue("tags", "b"), {"d1", "d3"}),
    ("match nested key", MatchValue("meta.lang", "fr"), {"d2"}),
    ("any str", MatchAny("kind", ("image", "text")), {"d2", "d4"}),
    ("any int", MatchAny("n", (1, 10)), {"d1", "d3"}),
    ("any mixed", MatchAny("kind", ("image", 3)), {"d2"}),
    ("range closed", Range("n", gte=5, lt=10), {"d2", "d4"}),
    ("range open", Range("n", gt=5), {"d3", "d4"}),
    ("datetime from", DatetimeRange("at", gte="2024-06-01T00:00:00Z"), {"d2", "d3"}),
    ("datetime before", DatetimeRange("at", lt="2024-06-01T00:00:00+00:00"), {"d1"}),
    ("is null", IsNull("opt"), {"d1"}),
    ("is empty array or missing", IsEmpty("tags"), {"d2", "d4"}),
    ("is empty null or missing", IsEmpty("opt"), {"d1", "d2", "d4"}),
    ("has ids", HasIds(("d1", "d4", "nope")), {"d1", "d4"}),
    ("text", MatchText("title", "red"), {"d1", "d3"}),
    ("text two words", MatchText("title", "red fox"), {"d1"}),
    ("must and must_not", Filter(must=(MatchValue("kind", "video"),), must_not=(MatchValue("flag", True),)), {"d3"}),
    ("should", Filter(should=(MatchValue("kind", "image"), Range("n", gte=10))), {"d2", "d3"}),
    (
        "nested",
        Filter(
            must=(Filter(should=(MatchValue("kind", "text"), MatchValue("flag", True))),),
            must_not=(HasIds(("d1",)),),
        ),
        {"d4"},
    ),
    ("empty filter", Filter(), {"d1", "d2", "d3", "d4"}),
]


@pytest.fixture
def docs(store: VectorStore) -> VectorStore:
    store.create_collection(C, [TEXT], [PayloadIndexSpec("title", "text", {"tokenizer": "word", "lowercase": True})])
    store.upsert(C, [VectorPoint(k, {"text": [1.0, float(i)]}, v) for i, (k, v) in enumerate(DOCS.items())])
    return store


@pytest.mark.parametrize(("condition", "expected"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter_conditions_select_the_same_points_in_scroll_count_query_and_delete(
    docs: VectorStore, condition: Condition, expected: set[str]
) -> None:
    f = condition if isinstance(condition, Filter) else Filter(must=(condition,))

    assert set(ids_of(scroll_all(docs, filter=f))) == expected
    assert docs.count(C, f) == len(expected)
    (hits,) = docs.query(C, [SearchRequest("text", [1.0, 0.0], filter=f)])
    assert set(ids_of(hits)) == expected

    docs.delete_by_filter(C, f)
    assert set(ids_of(scroll_all(docs))) == set(DOCS) - expected


# -- scroll and count ------------------------------------------------------------------------------------------------


def test_scroll_can_return_only_the_payload_fields_asked_for(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint("doc-a", {"text": [1.0, 0.0]}, {"text": "kept", "big": "x" * 100, "n": 1})])

    (point,), _ = store.scroll(C, limit=5, with_vectors=True, payload_fields=["text"])

    assert point.id == "doc-a" and point.vectors["text"] == pytest.approx([1.0, 0.0])
    assert point.payload.get("text") == "kept" and "big" not in point.payload and "n" not in point.payload


def test_scroll_pages_cover_every_point_exactly_once(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint(f"d{i:02}", {"text": [1.0, float(i)]}, {"i": i}) for i in range(25)])

    pages, offset, first = [], None, True
    while first or offset is not None:
        first = False
        page, offset = store.scroll(C, limit=7, offset=offset)
        pages.append(ids_of(page))

    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert sorted(i for p in pages for i in p) == [f"d{i:02}" for i in range(25)]
    assert sorted(ids_of(scroll_all(store, filter=Filter(must=(Range("i", gte=20),)), limit=2))) == [
        f"d{i}" for i in range(20, 25)
    ]
    again, _ = store.scroll(C, limit=7)
    assert ids_of(again) == pages[0]  # stable order
    assert again[0].vectors == {} and again[0].payload["document_id"] == again[0].id
    with_vectors, _ = store.scroll(C, limit=1, with_vectors=True)
    assert set(with_vectors[0].vectors) == {"text"}
    with pytest.raises(ValueError):
        store.scroll(C, offset="not-an-offset")


def test_count_with_and_without_filter(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    assert store.count(C) == 0
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, 0.0]}, {"i": i}) for i in range(10)])

    assert store.count(C) == 10
    assert store.count(C, Filter(must=(Range("i", lt=3),))) == 3
    assert store.count(C, Filter(must=(MatchValue("i", 99),))) == 0


# -- payload indexes -------------------------------------------------------------------------------------------------

ALL_INDEX_TYPES = [
    PayloadIndexSpec("tenant", "keyword", {"is_tenant": True}),
    PayloadIndexSpec("n", "integer", {"lookup": True, "range": True}),
    PayloadIndexSpec("f", "float"),
    PayloadIndexSpec("b", "bool"),
    PayloadIndexSpec("where", "geo"),
    PayloadIndexSpec("at", "datetime"),
    PayloadIndexSpec(
        "body", "text", {"tokenizer": "multilingual", "min_token_len": 2, "max_token_len": 20, "lowercase": True}
    ),
    PayloadIndexSpec("ref", "uuid", {"is_tenant": False}),
    PayloadIndexSpec("meta.lang", "keyword"),
]


def test_payload_indexes_of_every_type_show_in_info(store: VectorStore) -> None:
    store.create_collection(C, [TEXT], ALL_INDEX_TYPES[:2])
    for spec in ALL_INDEX_TYPES[2:]:
        store.create_payload_index(C, spec)

    assert store.info(C).payload_indexes == {spec.field_name: spec.type for spec in ALL_INDEX_TYPES}


def test_payload_index_can_be_replaced_and_dropped(store: VectorStore) -> None:
    store.create_collection(C, [TEXT], [PayloadIndexSpec("k", "keyword"), PayloadIndexSpec("t", "text")])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]}, {"k": 3, "t": "some words"})])

    store.create_payload_index(C, PayloadIndexSpec("k", "integer", {"range": True}))
    store.drop_payload_index(C, "t")
    store.drop_payload_index(C, "never-indexed")

    assert store.info(C).payload_indexes == {"k": "integer"}
    assert store.count(C, Filter(must=(Range("k", gte=3),))) == 1


@pytest.mark.parametrize(
    "spec",
    [
        PayloadIndexSpec("k", "keyword", {"tokenizer": "word"}),
        PayloadIndexSpec("k", "text", {"tokenizer": "letters"}),
        PayloadIndexSpec("k", "text", {"min_token_len": 0}),
        PayloadIndexSpec("k", "text", {"min_token_len": 9, "max_token_len": 3}),
        PayloadIndexSpec("k", "integer", {"lookup": "yes"}),
        PayloadIndexSpec("k", "vector"),  # type: ignore[arg-type]
    ],
    ids=["param of another type", "unknown tokenizer", "bad length", "lengths crossed", "bad flag", "unknown type"],
)
def test_bad_payload_index_params_are_refused_before_anything_is_written(
    store: VectorStore, spec: PayloadIndexSpec
) -> None:
    store.create_collection(C, [TEXT])
    with pytest.raises(ValueError):
        store.create_payload_index(C, spec)
    with pytest.raises(ValueError):
        store.create_collection("ns_second", [TEXT], [spec])
    assert store.info(C).payload_indexes == {}
    assert not store.collection_exists("ns_second")


# -- vector indexes --------------------------------------------------------------------------------------------------


def test_add_vector_indexes_keeps_every_point_and_returns_only_new_names(store: VectorStore) -> None:
    store.create_collection(C, [VectorIndexSpec("text", 3, "dot")], [PayloadIndexSpec("group", "integer")])
    # More points than one copy batch, so a rebuilding adapter has to page.
    points = [
        VectorPoint(f"doc-{i}", {"text": [float(i), 1.0, -1.0]}, {"group": i % 7, "nested": {"i": i, "tags": ["t"]}})
        for i in range(300)
    ]
    store.upsert(C, points)

    added = store.add_vector_indexes(
        C, [VectorIndexSpec("text", 3, "dot"), VectorIndexSpec("image", 2, "euclidean"), SPARSE]
    )

    assert added == ["image", "splade"]
    assert store.collection_exists(C)
    info = store.info(C)
    assert info.points_count == 300
    assert info.vectors == {
        "text": VectorIndexSpec("text", 3, "dot"),
        "image": VectorIndexSpec("image", 2, "euclidean"),
        "splade": VectorIndexSpec("splade", 0, "dot", sparse=True),
    }
    assert info.payload_indexes == {"group": "integer"}
    stored = {p.id: p for p in scroll_all(store, with_vectors=True, limit=128)}
    assert len(stored) == 300
    for p in points:
        assert stored[p.id].vectors == p.vectors
        assert stored[p.id].payload == {**p.payload, "document_id": p.id}

    store.upsert(C, [VectorPoint("doc-5", {"text": [5.0, 1.0, -1.0], "image": [0.0, 1.0]}, points[5].payload)])
    store.upsert(C, [VectorPoint("new", {"image": [0.0, 3.0], "splade": SparseVector((9,), (2.0,))})])
    image, sparse, text = store.query(
        C,
        [
            SearchRequest("image", [0.0, 0.0]),
            SearchRequest("splade", SparseVector((9,), (1.0,))),
            SearchRequest("text", [1.0, 0.0, 0.0], limit=1, filter=Filter(must=(MatchValue("group", 299 % 7),))),
        ],
    )
    assert [(h.id, h.score) for h in image] == [("doc-5", pytest.approx(1.0)), ("new", pytest.approx(3.0))]
    assert ids_of(sparse) == ["new"]
    assert ids_of(text) == ["doc-299"]
    assert store.add_vector_indexes(C, [VectorIndexSpec("image", 2, "euclidean")]) == []
    assert store.count(C) == 301


def interrupt_second_write(store: VectorStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the adapter's second write to the store fail, as a crash or a lost connection would."""
    calls = {"n": 0}

    def failing(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                raise ConnectionError("injected failure")
            return real(*args, **kwargs)

        return call

    store = adapter_of(store)
    if isinstance(store, QdrantServerStore):
        # The second vector added in place, or the second copy batch on a server that cannot add in place.
        monkeypatch.setattr(store._client, "create_vector_name", failing(store._client.create_vector_name))
        monkeypatch.setattr(store._client, "upsert", failing(store._client.upsert))
    else:
        entry = edge_registry().shards[Path(store._root) / C]

        class Interrupted:
            update = staticmethod(failing(entry.shard.update))  # the second vector added

            def __getattr__(self, name: str) -> Any:
                return getattr(entry.shard, name)

        monkeypatch.setattr(entry, "shard", Interrupted())


def test_interrupted_add_vector_indexes_loses_nothing_and_can_be_retried(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_collection(C, [VectorIndexSpec("text", 2, "dot")])
    points = [VectorPoint(f"d{i}", {"text": [float(i), 1.0]}, {"i": i, "m": {"k": [i]}}) for i in range(300)]
    store.upsert(C, points)
    wanted = [VectorIndexSpec("image", 2, "euclidean"), SPARSE]

    interrupt_second_write(store, monkeypatch)
    with pytest.raises(DependencyUnavailable):
        store.add_vector_indexes(C, wanted)
    monkeypatch.undo()

    assert "text" in store.info(C).vectors
    stored = {p.id: p for p in scroll_all(store, with_vectors=True, limit=300)}
    assert {p.id: (p.vectors, p.payload) for p in stored.values()} == {
        p.id: (p.vectors, {**p.payload, "document_id": p.id}) for p in points
    }
    added = store.add_vector_indexes(C, wanted)
    assert added and set(added) <= {"image", "splade"}
    assert set(store.info(C).vectors) == {"text", "image", "splade"}
    assert store.count(C) == 300
    adapter = adapter_of(store)
    if isinstance(adapter, QdrantServerStore):  # the partial copy was removed; only the switched-to collection is left
        assert [c.name for c in adapter._client.get_collections().collections] == [adapter._resolve(C)]


def test_a_server_without_in_place_vectors_gets_the_copy_and_keeps_every_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Older Qdrant servers answer 404 to PUT /collections/{c}/vectors/{v}: the adapter copies into a new collection."""
    from qdrant_client.http.exceptions import UnexpectedResponse

    store = QdrantServerStore(QdrantClient(location=":memory:"))
    store.create_collection(C, [VectorIndexSpec("text", 2, "dot")])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [float(i), 1.0]}, {"i": i}) for i in range(50)])

    def old_server(*args: Any, **kwargs: Any) -> Any:
        raise UnexpectedResponse(404, "Not Found", b"", None)

    monkeypatch.setattr(store._client, "create_vector_name", old_server)
    physical_before = store._resolve(C)
    assert store.add_vector_indexes(C, [VectorIndexSpec("image", 2, "euclidean")]) == ["image"]
    assert store._resolve(C) != physical_before  # the copy took over under the alias
    assert set(store.info(C).vectors) == {"text", "image"} and store.count(C) == 50


# -- info and threads ------------------------------------------------------------------------------------------------


def test_info_counts_points(store: VectorStore) -> None:
    store.create_collection(C, [TEXT, SPARSE])
    empty = store.info(C)
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)]}) for i in range(12)])
    store.delete(C, ["d0", "d1"])

    info = store.info(C)

    assert (empty.status, empty.points_count) == ("green", 0)
    assert info.status == "green"
    assert info.points_count == 10
    assert info.segments_count >= 1
    assert 0 <= info.indexed_vectors_count <= 10


def test_calls_from_many_threads(store: VectorStore) -> None:
    store.create_collection(C, [TEXT])
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(10):
                store.upsert(C, [VectorPoint(f"t{t}-{i}", {"text": [1.0, float(i)]}, {"t": t})])
                store.query(C, [SearchRequest("text", [1.0, 0.0], limit=3)])
                store.count(C, Filter(must=(MatchValue("t", t),)))
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.count(C) == 60
    assert all(store.count(C, Filter(must=(MatchValue("t", t),))) == 10 for t in range(6))


def test_edge_shards_outlive_the_store_and_are_shared_within_a_process(tmp_path: Path) -> None:
    """Edge only: it is the adapter that keeps collections on disk in this process."""
    store = QdrantEdgeStore(tmp_path / "edge")
    store.create_collection(C, [TEXT], [PayloadIndexSpec("k", "keyword")])
    store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]}, {"k": "v"})])
    store.add_vector_indexes(C, [SPARSE])

    twin = QdrantEdgeStore(tmp_path / "edge")  # a second store on the same root must not open the shard twice
    assert twin.count(C) == 1
    twin.close()
    assert store.count(C) == 1  # still open for the first store
    store.close()

    reopened = QdrantEdgeStore(tmp_path / "edge")
    try:
        info = reopened.info(C)
        assert info.points_count == 1
        assert set(info.vectors) == {"text", "splade"}
        assert info.payload_indexes == {"k": "keyword"}
        assert reopened.retrieve(C, ["d1"])[0].payload == {"k": "v", "document_id": "d1"}
        reopened.drop_collection(C)
        assert sorted(p.name for p in (tmp_path / "edge").iterdir()) == []
    finally:
        reopened.close()


# -- the server adapter's failures -----------------------------------------------------------------------------------


@contextmanager
def canned_qdrant(status: int) -> Iterator[str]:
    """An HTTP server answering every request with `status` and a Qdrant-shaped error body."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = json.dumps({"status": {"error": f"canned {status}"}, "time": 0.0}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, CollectionNotFound), (500, DependencyUnavailable), (503, DependencyUnavailable), (400, ValueError)],
)
def test_server_answers_become_port_errors(status: int, error: type[Exception]) -> None:
    with canned_qdrant(status) as url:
        store = QdrantServerStore.connect(url, None, timeout=2)
        with pytest.raises(error):
            store.info(C)
        with pytest.raises(error):
            store.query(C, [SearchRequest("text", [1.0, 0.0])])


def test_unreachable_server_is_a_dependency_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    store = QdrantServerStore.connect(f"http://127.0.0.1:{port}", None, timeout=1)
    with pytest.raises(DependencyUnavailable):
        store.collection_exists(C)
    with pytest.raises(DependencyUnavailable):
        store.upsert(C, [VectorPoint("d1", {"text": [1.0, 0.0]})])


def test_query_hits_used_keeps_the_full_search_first_hits(store: VectorStore, tmp_path: Path) -> None:
    """A caller that reads only the first hits of a wider search (feature_search: top_k 200 searched, final_top_k 10
    kept) gets exactly the full search's first hits; the embedded store converts no more than those."""
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)]}, {"rank": i}) for i in range(8)])

    full, used = store.query(C, [SearchRequest("text", [1.0, 0.0], limit=6),
                                 SearchRequest("text", [1.0, 0.0], limit=6, hits_used=2)])

    assert [(h.id, h.score, h.payload) for h in used[:2]] == [(h.id, h.score, h.payload) for h in full[:2]]
    assert ids_of(full) == ["d0", "d1", "d2", "d3", "d4", "d5"]
    edge = QdrantEdgeStore(tmp_path / "edge-hits-used")
    edge.create_collection(C, [TEXT])
    edge.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)]}) for i in range(8)])
    (only,) = edge.query(C, [SearchRequest("text", [1.0, 0.0], limit=6, hits_used=2)])
    assert ids_of(only) == ["d0", "d1"]


def test_query_vectors_as_arrays_gives_the_same_vectors_as_float32_rows(store: VectorStore) -> None:
    """A search that asks for vectors_as_arrays gets the same hits, with each dense vector as a 1-d float32 array of
    exactly the numbers the lists hold (the embedded store reads them from its float32 sidecar), sparse ones as
    SparseVector, and a point without a vector of an index without that key."""
    import numpy as np

    store.create_collection(C, [TEXT, VectorIndexSpec("dist", 3, "euclidean"), SPARSE])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i) / 3],
                                           **({"dist": [0.1 * i, 2.0, -1.5]} if i % 2 else {}),
                                           **({"splade": SparseVector((i, 100), (0.5, 1.0))} if i % 3 else {})},
                                 {"rank": i}) for i in range(9)])
    asked = [SearchRequest("text", [1.0, 0.2], limit=6, with_vectors=True),
             SearchRequest("dist", [0.0, 2.0, -1.5], limit=3, with_vectors=True)]
    as_lists = store.query(C, asked)
    as_arrays = store.query(C, [replace(request, vectors_as_arrays=True) for request in asked])
    for lists, arrays in zip(as_lists, as_arrays):
        assert [(h.id, h.score, h.payload) for h in arrays] == [(h.id, h.score, h.payload) for h in lists]
        for listed, arrayed in zip(lists, arrays):
            assert set(arrayed.vectors) == set(listed.vectors)
            for name, value in listed.vectors.items():
                if isinstance(value, SparseVector):
                    assert arrayed.vectors[name] == value
                else:
                    row = arrayed.vectors[name]
                    assert type(row) is np.ndarray and row.dtype == np.float32 and row.ndim == 1
                    assert row.tobytes() == np.asarray(value, dtype=np.float32).tobytes()
    # without with_vectors, no vectors either way
    (bare,) = store.query(C, [SearchRequest("text", [1.0, 0.2], limit=3, vectors_as_arrays=True)])
    assert all(h.vectors == {} for h in bare)


def test_query_payload_fields_returns_only_those_top_level_keys(store: VectorStore) -> None:
    """A search that names payload fields (a retriever's later stages read only those) gets the same hits in the same
    order with only those top-level keys (nested values whole) and the document id; the others stay in the store."""
    store.create_collection(C, [TEXT])
    store.upsert(C, [VectorPoint(f"d{i}", {"text": [1.0, float(i)]},
                                 {"price": i, "big": "x" * 200, "_internal": {"metadata": {"color": f"c{i}"}}})
                     for i in range(6)])

    whole, projected = store.query(C, [SearchRequest("text", [1.0, 0.0], limit=4),
                                       SearchRequest("text", [1.0, 0.0], limit=4,
                                                     payload_fields=("price", "_internal"))])

    assert [(h.id, h.score) for h in projected] == [(h.id, h.score) for h in whole]
    assert ids_of(projected) == ["d0", "d1", "d2", "d3"]
    for hit in projected:
        number = int(hit.id[1:])
        assert {k: v for k, v in hit.payload.items() if k != "document_id"} == {
            "price": number, "_internal": {"metadata": {"color": f"c{number}"}}}
    assert all(h.payload["big"] == "x" * 200 for h in whole)
    (only_ids,) = store.query(C, [SearchRequest("text", [1.0, 0.0], limit=2, payload_fields=())])
    assert ids_of(only_ids) == ["d0", "d1"] and all(set(h.payload) <= {"document_id"} for h in only_ids)
