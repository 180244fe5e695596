"""Seed 000's PayloadIndexConfig rules, in the domain (no I/O)."""

from __future__ import annotations

import pytest

from openpeek.domain.errors import BadRequest
from openpeek.domain.payload_indexes import PROTECTED_INDEXES, build_user_indexes, resolve_params


@pytest.mark.parametrize(
    "index_type, defaults",
    [
        ("text", {"tokenizer": "word", "min_token_len": 2, "max_token_len": 15, "lowercase": True}),
        ("integer", {"lookup": True, "range": True}),
        ("keyword", {"is_tenant": False}),
        ("uuid", {"is_tenant": False}),
        ("float", {}),
        ("geo", {}),
        ("datetime", {}),
        ("bool", {}),
    ],
)
def test_each_type_gets_its_seed_defaults(index_type, defaults):
    assert resolve_params("f", index_type, None) == defaults
    assert resolve_params("f", index_type, {"type": index_type}) == defaults


def test_overrides_merge_over_defaults():
    assert resolve_params("f", "text", {"tokenizer": "prefix", "lowercase": False}) == {
        "tokenizer": "prefix", "min_token_len": 2, "max_token_len": 15, "lowercase": False
    }


def test_protected_set_matches_seed_000():
    by_name = {index.field_name: index for index in PROTECTED_INDEXES}
    assert set(by_name) == {
        "internal_id", "namespace_id", "collection_id", "document_id", "bucket_id", "object_id",
        "root_object_id", "root_bucket_id", "source_object_id", "created_at", "updated_at",
    }
    assert by_name["internal_id"].params == {"is_tenant": True}
    assert all(index.is_protected for index in PROTECTED_INDEXES)


def test_echoed_protected_entries_are_dropped_and_changed_ones_refused():
    echoed = [{"field_name": "internal_id", "type": "keyword", "field_schema": {"is_tenant": True}, "is_protected": True}]
    assert build_user_indexes(echoed) == []
    changed = [{"field_name": "internal_id", "type": "keyword", "field_schema": {"is_tenant": False},
                "is_protected": True}]
    with pytest.raises(BadRequest) as error:
        build_user_indexes(changed)
    assert error.value.code == "protected_index"


def test_booleans_must_be_booleans():
    with pytest.raises(BadRequest):
        resolve_params("f", "keyword", {"is_tenant": "yes"})
    with pytest.raises(BadRequest):
        resolve_params("f", "text", {"min_token_len": True})
