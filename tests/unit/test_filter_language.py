"""Seed 004's filter language in full: the shorthand `{"field": value}` and `case_sensitive` work, never ignored."""

from __future__ import annotations

import pytest

from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import Filter, MatchAny, MatchValue, matches, needs_python, parse_filter

BOOK = {"title": "Straße der Sieger", "genre": "Drama", "tags": ["Classic", "german"],
        "_internal": {"metadata": {"title": "Faust"}}}


def test_the_shorthand_is_equality_on_each_field():
    assert parse_filter({"metadata.title": "Faust", "year": 1808}) == Filter(must=(
        MatchValue("_internal.metadata.title", "Faust"), MatchValue("year", 1808)))
    assert parse_filter({"genre": ["Drama", "Poetry"]}) == Filter(must=(MatchAny("genre", ("Drama", "Poetry")),))
    assert matches(parse_filter({"metadata.title": "Faust"}), BOOK, "b1")
    assert not matches(parse_filter({"metadata.title": "Hamlet"}), BOOK, "b1")


@pytest.mark.parametrize("spec", [{"genre": {"nested": 1}}, {"genre": []}, {"a b": "x"}])
def test_a_shorthand_that_is_not_field_equality_is_refused(spec):
    with pytest.raises(BadRequest):
        parse_filter(spec)


def test_case_sensitive_false_matches_case_folded_text():
    for operator, value in [("eq", "STRASSE DER SIEGER"), ("starts_with", "straße"), ("ends_with", "SIEGER"),
                            ("regex", "^STRAßE DER")]:
        insensitive = parse_filter({"AND": [{"field": "title", "operator": operator, "value": value}],
                                    "case_sensitive": False})
        assert needs_python(insensitive)
        assert matches(insensitive, BOOK, "b1"), operator
        sensitive = parse_filter({"AND": [{"field": "title", "operator": operator, "value": value,
                                           "case_sensitive": True}], "case_sensitive": False})
        assert not matches(sensitive, BOOK, "b1"), operator
    negated = parse_filter({"AND": [{"field": "genre", "operator": "ne", "value": "drama"}], "case_sensitive": False})
    assert not matches(negated, BOOK, "b1")


def test_case_insensitive_operators_without_an_implementation_are_refused_not_ignored():
    for operator, value in [("in", ["drama"]), ("contains", "classic")]:
        with pytest.raises(BadRequest) as refused:
            parse_filter({"AND": [{"field": "genre", "operator": operator, "value": value}],
                          "case_sensitive": False})
        assert "case-insensitively" in refused.value.message
    with pytest.raises(BadRequest):
        parse_filter({"AND": [{"field": "genre", "operator": "eq", "value": "x"}], "case_sensitive": "no"})
