"""The two filter languages: translation into the store's conditions, refusal of malformed filters, and the Python
evaluator agreeing with the vector store itself (Qdrant Edge) on the same payloads."""

from __future__ import annotations

import pytest

from openpeek.adapters.qdrant.edge import QdrantEdgeStore
from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import PythonOnly, matches, needs_python, parse_filter, strip_python_only
from openpeek.domain.conditions import DatetimeRange, Filter, IsEmpty, IsNull, MatchAny, MatchText, MatchValue, Range
from openpeek.domain.vectors import PayloadIndexSpec, VectorIndexSpec, VectorPoint

PAYLOADS = {
    "a": {"category": "audio", "price": 10, "tags": ["new", "sale"], "title": "Wireless Headphones",
          "created": "2026-01-05T00:00:00Z", "_internal": {"metadata": {"source": "crawl"}}},
    "b": {"category": "video", "price": 25, "tags": ["sale"], "title": "Camera Kit", "created": "2026-03-01T00:00:00Z",
          "_internal": {"metadata": {"source": "upload"}}},
    "c": {"category": "audio", "price": 40, "tags": [], "title": "Speaker", "created": "2026-06-01T00:00:00Z",
          "note": None},
    "d": {"category": "books", "price": 5.5, "title": "Headphones Buying Guide", "created": "2025-12-31T00:00:00Z"},
}

CASES = [
    ({"must": [{"key": "category", "match": {"value": "audio"}}]}, {"a", "c"}),
    ({"AND": [{"field": "category", "operator": "eq", "value": "audio"}]}, {"a", "c"}),
    ({"must_not": [{"key": "category", "match": {"value": "audio"}}]}, {"b", "d"}),
    ({"AND": [{"field": "category", "operator": "ne", "value": "audio"}]}, {"b", "d"}),
    ({"should": [{"key": "category", "match": {"value": "video"}}, {"key": "price", "range": {"lt": 6}}]}, {"b", "d"}),
    ({"OR": [{"field": "category", "operator": "eq", "value": "video"},
             {"field": "price", "operator": "lt", "value": 6}]}, {"b", "d"}),
    ({"must": [{"key": "price", "range": {"gte": 10, "lte": 25}}]}, {"a", "b"}),
    ({"AND": [{"field": "price", "operator": "gte", "value": 10}, {"field": "price", "operator": "lte", "value": 25}]},
     {"a", "b"}),
    ({"must": [{"key": "category", "match": {"any": ["video", "books"]}}]}, {"b", "d"}),
    ({"AND": [{"field": "category", "operator": "in", "value": ["video", "books"]}]}, {"b", "d"}),
    ({"AND": [{"field": "category", "operator": "nin", "value": ["video", "books"]}]}, {"a", "c"}),
    ({"must": [{"key": "category", "match": {"except": ["video", "books"]}}]}, {"a", "c"}),
    ({"AND": [{"field": "tags", "operator": "contains", "value": "sale"}]}, {"a", "b"}),
    ({"must": [{"key": "tags", "match": {"value": "new"}}]}, {"a"}),
    ({"AND": [{"field": "metadata.source", "operator": "eq", "value": "crawl"}]}, {"a"}),
    ({"must": [{"key": "created", "range": {"gte": "2026-02-01T00:00:00Z"}}]}, {"b", "c"}),
    ({"NOT": [{"field": "category", "operator": "eq", "value": "audio"},
              {"field": "price", "operator": "gt", "value": 20}]}, {"d"}),
    ({"AND": [{"OR": [{"field": "category", "operator": "eq", "value": "audio"},
                      {"field": "category", "operator": "eq", "value": "books"}]},
              {"NOT": [{"field": "price", "operator": "gt", "value": 30}]}]}, {"a", "d"}),
    ({"must": [{"is_empty": {"key": "tags"}}]}, {"c", "d"}),
    ({"AND": [{"field": "tags", "operator": "exists", "value": True}]}, {"a", "b"}),
    ({"must": [{"has_id": ["a", "d"]}]}, {"a", "d"}),
    ({"AND": [{"field": "price", "operator": "eq", "value": 5.5}]}, {"d"}),
    ({"AND": [{"field": "price", "operator": "gt", "value": 10}]}, {"b", "c"}),
    ({"AND": [{"field": "price", "operator": "lt", "value": 10}]}, {"d"}),
    ({"AND": [{"field": "created", "operator": "lt", "value": "2026-01-05T00:00:00Z"}]}, {"d"}),
    ({"AND": [{"field": "title", "operator": "contains", "value": "headphones"}]}, {"a", "d"}),
    ({"AND": [{"field": "title", "operator": "contains", "value": "Head"}]}, set()),  # words, not fragments
    ({"AND": [{"field": "title", "operator": "phrase", "value": "guide buying"}]}, {"d"}),
    ({"AND": [{"field": "title", "operator": "text", "value": "Kit"}]}, {"b"}),
    ({"must": [{"key": "title", "match": {"text": "SPEAKER"}}]}, {"c"}),
    ({"must": [{"key": "title", "match": {"text": "Speak"}}]}, set()),
    ({"AND": [{"field": "tags", "operator": "exists", "value": False}]}, {"c", "d"}),
    ({"AND": [{"field": "note", "operator": "is_null", "value": True}]}, {"c"}),
    ({"must": [{"is_null": {"key": "note"}}]}, {"c"}),
    ({"AND": [{"field": "note", "operator": "is_null", "value": False}]}, {"a", "b", "d"}),
    ({"AND": [{"field": "metadata.source", "operator": "in", "value": ["crawl", "upload"]}]}, {"a", "b"}),
    ({"must": [{"key": "metadata.source", "match": {"value": "upload"}}]}, {"b"}),
    ({"AND": [{"field": "missing", "operator": "ne", "value": "x"}]}, {"a", "b", "c", "d"}),
    # The two languages nest inside each other.
    ({"must": [{"OR": [{"field": "price", "operator": "lt", "value": 6},
                       {"field": "price", "operator": "gt", "value": 30}]}],
      "must_not": [{"key": "category", "match": {"value": "books"}}]}, {"c"}),
    ({"AND": [{"should": [{"key": "category", "match": {"value": "video"}}, {"key": "price", "range": {"lte": 5.5}}]}]},
     {"b", "d"}),
    ({"OR": [{"field": "category", "operator": "eq", "value": "audio"}], "NOT": [{"field": "price", "operator": "eq",
                                                                                  "value": 40}]}, {"a"}),
]


def test_both_languages_translate_to_the_same_conditions():
    assert parse_filter({"must": [{"key": "x", "match": {"value": "y"}}]}) == \
        parse_filter({"AND": [{"field": "x", "operator": "eq", "value": "y"}]}) == Filter(must=(MatchValue("x", "y"),))
    assert parse_filter({"AND": [{"field": "p", "operator": "in", "value": [1, 2]}]}) == \
        Filter(must=(MatchAny("p", (1, 2)),))
    assert parse_filter({"must": [{"key": "p", "range": {"gt": 1}}]}) == Filter(must=(Range("p", gt=1),))
    assert parse_filter(None) is None and parse_filter({}) is None


SEED_004_OPERATORS = ["eq", "ne", "gt", "lt", "gte", "lte", "in", "nin", "contains", "starts_with", "ends_with",
                      "regex", "exists", "is_null", "text", "phrase"]


@pytest.mark.parametrize("operator, value, expected", [
    ("eq", "a", MatchValue("f", "a")),
    ("ne", "a", Filter(must_not=(MatchValue("f", "a"),))),
    ("gt", 1, Range("f", gt=1)),
    ("lt", 1, Range("f", lt=1)),
    ("gte", 1.5, Range("f", gte=1.5)),
    ("lte", "2026-01-01T00:00:00Z", DatetimeRange("f", lte="2026-01-01T00:00:00Z")),
    ("in", ["a", "b"], MatchAny("f", ("a", "b"))),
    ("nin", [1, 2], Filter(must_not=(MatchAny("f", (1, 2)),))),
    ("contains", 3, MatchValue("f", 3)),
    ("contains", "word", Filter(should=(MatchValue("f", "word"), MatchText("f", "word")))),
    ("starts_with", "ab", PythonOnly("f", "starts_with", "ab")),
    ("ends_with", "yz", PythonOnly("f", "ends_with", "yz")),
    ("regex", "^a.*z$", PythonOnly("f", "regex", "^a.*z$")),
    ("exists", True, Filter(must_not=(IsEmpty("f"),))),
    ("exists", False, IsEmpty("f")),
    ("is_null", True, IsNull("f")),
    ("is_null", False, Filter(must_not=(IsNull("f"),))),
    ("text", "two words", MatchText("f", "two words")),
    ("phrase", "two words", MatchText("f", "two words")),
])
def test_every_filter_operator_of_seed_004_translates(operator, value, expected):
    assert parse_filter({"AND": [{"field": "f", "operator": operator, "value": value}]}) == Filter(must=(expected,))


def test_the_operator_list_is_seed_004s():
    from openpeek.domain.filters import OPERATORS
    assert sorted(OPERATORS) == sorted(SEED_004_OPERATORS)


def test_shapes_around_the_conditions():
    # metadata.x lives under _internal.metadata (the payload contract); a lone condition is a filter of one;
    # the operator defaults to eq (FilterCondition's default); OR and NOT map to should and must_not.
    assert parse_filter({"field": "metadata.lang", "value": "en"}) == \
        Filter(must=(MatchValue("_internal.metadata.lang", "en"),))
    assert parse_filter({"key": "metadata.lang", "match": {"any": ["en", "fr"]}}) == \
        Filter(must=(MatchAny("_internal.metadata.lang", ("en", "fr")),))
    assert parse_filter({"OR": [{"field": "a", "value": 1}], "NOT": [{"field": "b", "value": 2}]}) == \
        Filter(should=(MatchValue("a", 1),), must_not=(MatchValue("b", 2),))
    assert parse_filter({"must": [{"must_not": [{"key": "a", "match": {"value": True}}]}]}) == \
        Filter(must=(Filter(must_not=(MatchValue("a", True),)),))
    assert parse_filter({"must": [{"is_null": {"key": "a"}}, {"is_empty": {"key": "b"}}]}) == \
        Filter(must=(IsNull("a"), IsEmpty("b")))


@pytest.mark.parametrize("spec, expected", CASES)
def test_python_evaluator_selects_the_expected_documents(spec, expected):
    parsed = parse_filter(spec)
    assert {doc for doc, payload in PAYLOADS.items() if matches(parsed, payload, doc)} == expected


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    store = QdrantEdgeStore(tmp_path_factory.mktemp("edge"))
    store.create_collection("f", [VectorIndexSpec("v", 2)], [PayloadIndexSpec("category", "keyword"),
                                                            PayloadIndexSpec("price", "float")])
    store.upsert("f", [VectorPoint(doc, {"v": [1.0, float(i)]}, {**payload, "document_id": doc})
                       for i, (doc, payload) in enumerate(PAYLOADS.items())])
    yield store
    store.close()


@pytest.mark.parametrize("spec, expected", CASES)
def test_the_vector_store_agrees_with_the_python_evaluator(edge, spec, expected):
    points, _ = edge.scroll("f", filter=parse_filter(spec), limit=100)
    assert {point.id for point in points} == expected


@pytest.mark.parametrize("spec, where", [
    ([], "object"),
    ({"must": [{"key": "x"}]}, "match"),
    ({"must": [{"key": "x", "match": {"value": 1.5}}]}, "range"),
    ({"must": "x"}, "list"),
    ({"AND": [{"field": "x", "operator": "like", "value": 1}]}, "unknown operator"),
    ({"AND": [{"field": "x", "operator": "in", "value": "a"}]}, "non-empty list"),
    ({"AND": [{"field": "x", "operator": "regex", "value": "("}]}, "regular expression"),
    ({"AND": [{"field": "", "operator": "eq", "value": 1}]}, "field name"),
    ({"AND": [], "must": []}, "not both"),
    ({"must": [{"key": "d", "range": {"gt": "yesterday"}}]}, "RFC 3339"),
    ({"AND": [{"field": "x"}]}, "needs a value"),
    ({"AND": [{"field": "x", "operator": "eq", "value": {"a": 1}}]}, "strings, integers or booleans"),
    ({"AND": [{"field": "x", "operator": "exists", "value": "yes"}]}, "true or false"),
    ({"AND": [{"field": "x", "operator": "text", "value": ""}]}, "non-empty string"),
    ({"AND": [{"field": "x", "operator": "gt", "value": [1]}]}, "number"),
    ({"AND": [{"field": "x", "operator": "eq", "value": 1, "extra": 2}]}, "unknown keys"),
    ({"must": [{"key": "x", "range": {"between": [1, 2]}}]}, "gt, gte, lt and lte"),
    ({"must": [{"key": "x", "match": {"value": 1, "any": [1]}}]}, "exactly one"),
    ({"must": [{"has_id": "a"}]}, "has_id"),
    ({"must": [{"nonsense": 1}]}, "needs 'field'"),
])
def test_malformed_filters_are_400_naming_the_problem(spec, where):
    with pytest.raises(BadRequest) as refused:
        parse_filter(spec)
    assert refused.value.code == "invalid_filter" and where in refused.value.message


def test_deep_or_huge_filters_are_refused():
    deep: dict = {"field": "x", "operator": "eq", "value": 1}
    for _ in range(40):
        deep = {"AND": [deep]}
    with pytest.raises(BadRequest):
        parse_filter(deep)
    with pytest.raises(BadRequest):
        parse_filter({"OR": [{"field": "x", "operator": "eq", "value": i} for i in range(1000)]})


def test_python_only_operators_are_marked_and_stripped_only_where_that_widens():
    starts = parse_filter({"AND": [{"field": "title", "operator": "starts_with", "value": "Head"},
                                   {"field": "category", "operator": "eq", "value": "books"}]})
    assert needs_python(starts)
    assert strip_python_only(starts) == Filter(must=(MatchValue("category", "books"),))
    assert {doc for doc, p in PAYLOADS.items() if matches(starts, p, doc)} == {"d"}
    negated = parse_filter({"NOT": [{"field": "title", "operator": "regex", "value": "^Head"}]})
    assert strip_python_only(negated) is None  # dropping a negated condition would narrow: search unfiltered
    ends = parse_filter({"AND": [{"field": "title", "operator": "ends_with", "value": "Kit"}]})
    assert {doc for doc, p in PAYLOADS.items() if matches(ends, p, doc)} == {"b"}


@pytest.mark.parametrize("value", [2 ** 63, -2 ** 63 - 1, 1e308])
def test_integer_match_values_beyond_64_bits_are_refused(value):
    for spec in ({"must": [{"key": "n", "match": {"value": value}}]},
                 {"AND": [{"field": "n", "operator": "eq", "value": value}]},
                 {"AND": [{"field": "n", "operator": "in", "value": [1, value]}]}):
        with pytest.raises(BadRequest) as caught:
            parse_filter(spec)
        assert "64 bits" in caught.value.message


def test_the_largest_64_bit_integers_still_match():
    assert parse_filter({"must": [{"key": "n", "match": {"value": 2 ** 63 - 1}}]}) == Filter(
        must=(MatchValue("n", 2 ** 63 - 1),))
