"""Schema sync's rules (domain/collections.py): which fields of sampled documents are the collection's output, with
which type, and how they join a schema without changing what it holds."""

from __future__ import annotations

from openpeek.domain.collections import discovered_properties, merged_schema


def test_fields_are_typed_by_their_first_non_null_value_and_service_fields_stay_out():
    found = discovered_properties([
        {"title": None, "stars": 4, "document_id": "d1", "collection_id": "col_x", "_internal": {"metadata": {}},
         "_source_tier": "hot", "created_at": "2026-01-01T00:00:00Z"},
        {"title": "Dune", "stars": 4.5, "tags": ["sf"], "seen": False, "where": {"shelf": 3}},
    ])
    assert found == {"stars": {"type": "integer"}, "title": {"type": "string"}, "tags": {"type": "array"},
                     "seen": {"type": "boolean"}, "where": {"type": "object"}}


def test_merging_only_adds_and_never_retypes():
    schema = {"properties": {"title": {"type": "text"}}, "required": ["title"]}
    merged, added = merged_schema(schema, {"title": {"type": "string"}, "year": {"type": "integer"},
                                           "author": {"type": "string"}})
    assert added == ["author", "year"]
    assert merged == {"properties": {"title": {"type": "text"}, "year": {"type": "integer"},
                                     "author": {"type": "string"}}, "required": ["title"]}
    assert schema == {"properties": {"title": {"type": "text"}}, "required": ["title"]}  # the input is untouched
    assert merged_schema(merged, {"year": {"type": "string"}}) == (merged, [])
