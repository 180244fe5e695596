"""attribute_filter evaluates a filter compiled once for the working set (domain/filters.compiled): on every payload
it answers what the document-by-document evaluation (filters.matches) answers."""

from __future__ import annotations

import itertools
import random

from openpeek.domain import filters
from openpeek.domain.conditions import Filter, HasIds, IsEmpty, IsNull, MatchAny, MatchText, MatchValue, Range

VALUES = [None, 0, 1, 5, 9.5, 10, -3, True, False, "a", "b", "red shoes", [], [1, 12], ["a", "c"], [True], {"x": 1}]


def payloads(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        payload: dict = {}
        for key in ("price", "tag", "flag"):
            if rng.random() < 0.8:
                payload[key] = rng.choice(VALUES)
        if rng.random() < 0.7:
            payload["meta"] = {"size": rng.choice(VALUES)} if rng.random() < 0.8 else rng.choice(VALUES)
        made.append(payload)
    return made


LEAVES = [
    Range("price", lt=9), Range("price", gte=1, lte=10), Range("price", gt=0), Range("meta.size", gte=5),
    MatchValue("tag", "a"), MatchValue("flag", True), MatchValue("price", 1), MatchValue("meta.size", 10),
    MatchAny("tag", ("a", "b")), MatchAny("price", (0, 5)), MatchText("tag", "shoes"), IsNull("tag"),
    IsEmpty("meta.size"), HasIds(("doc-1", "doc-3")),
]


def trees(seed: int, count: int) -> list[Filter]:
    rng = random.Random(seed)

    def grow(depth: int):
        if depth == 0 or rng.random() < 0.4:
            return rng.choice(LEAVES)
        return Filter(must=tuple(grow(depth - 1) for _ in range(rng.randint(0, 2))),
                      should=tuple(grow(depth - 1) for _ in range(rng.randint(0, 2))),
                      must_not=tuple(grow(depth - 1) for _ in range(rng.randint(0, 1))))
    return [Filter(must=(leaf,)) for leaf in LEAVES] + [grow(3) for _ in range(count)]


def test_a_compiled_filter_answers_what_matches_answers_on_every_payload():
    documents = [(f"doc-{i}", payload) for i, payload in enumerate(payloads(seed=1, count=120))]
    compared = 0
    for condition in trees(seed=2, count=150):
        holds = filters.compiled(condition)
        for document_id, payload in documents:
            assert holds(payload, document_id) == filters.matches(condition, payload, document_id), (condition, payload)
            compared += 1
    assert compared > 15_000


def test_a_compiled_filter_parsed_from_the_api_language_keeps_the_documents_matches_keeps():
    parsed = filters.parse_filter({"AND": [{"field": "price", "operator": "lt", "value": 9},
                                           {"OR": [{"field": "tag", "operator": "in", "value": ["a", "b"]},
                                                   {"field": "flag", "operator": "eq", "value": True}]}]})
    documents = payloads(seed=3, count=300)
    kept = [d for d in documents if filters.compiled(parsed)(d, "doc")]
    assert kept == [d for d in documents if filters.matches(parsed, d, "doc")] and 0 < len(kept) < len(documents)
