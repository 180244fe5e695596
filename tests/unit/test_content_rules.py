"""The pure rules of managed content: bucket schemas, objects against a schema, unique keys, blob keys and ids,
and the embedded upload token."""

from __future__ import annotations

import pytest

from openpeek.domain import buckets as rules
from openpeek.domain import objects as object_rules
from openpeek.domain import uploads as upload_rules
from openpeek.domain.buckets import Bucket
from openpeek.domain.errors import BadRequest, Forbidden

SCHEMA = rules.validate_schema({"properties": {
    "body": {"type": "text", "required": True}, "cover": {"type": "image"},
    "year": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}},
    "meta": {"type": "object", "properties": {"lang": {"type": "string", "required": True}}},
    "kind": {"type": "string", "enum": ["novel", "essay"]}, "published": {"type": "date"}}})
BUCKET = Bucket("bkt_1", "books", "ns_1", "org_1", SCHEMA, unique_key={"fields": ["year", "kind"]})


def refusal(call) -> BadRequest:
    with pytest.raises(BadRequest) as refused:
        call()
    return refused.value


def test_schema_keeps_what_it_understands_and_names_what_it_refuses():
    assert SCHEMA["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert "tags[]" in refusal(lambda: rules.validate_schema(
        {"properties": {"tags": {"type": "array", "items": {"type": "video"}}}})).message
    assert refusal(lambda: rules.validate_schema({"properties": {"a": {"type": "text", "format": "x"}}})
                   ).details["property"] == "a"
    assert refusal(lambda: rules.validate_schema({"properties": {"a": {"type": "string", "enum": []}}})
                   ).details["property"] == "a"


@pytest.mark.parametrize("blobs, metadata, named, rule", [
    ([], {}, "body", "required"),
    ([("body", "text"), ("year", "text")], {}, "year", "type"),
    ([("body", "pdf")], {}, "body", "type"),
    ([("body", "text")], {"year": 1.5}, "year", "type"),
    ([("body", "text")], {"year": True}, "year", "type"),
    ([("body", "text")], {"tags": ["a", 2]}, "tags[1]", "type"),
    ([("body", "text")], {"meta": {}}, "meta.lang", "required"),
    ([("body", "text")], {"kind": "poem"}, "kind", "enum"),
    ([("body", "text")], {"published": "yesterday"}, "published", "type"),
    ([("body", "text")], {"cover": "aGk="}, "cover", "type"),
])
def test_objects_are_checked_against_the_schema(blobs, metadata, named, rule):
    refused = refusal(lambda: rules.check_object(BUCKET, blobs, metadata))
    assert refused.details["property"] == named and refused.details["rule"] == rule


def test_a_fitting_object_passes_and_undeclared_metadata_is_kept():
    rules.check_object(BUCKET, [("body", "text"), ("cover", "image")],
                       {"year": 2001, "tags": ["x"], "meta": {"lang": "en"}, "kind": "essay",
                        "published": "2001-02-03", "anything": {"else": 1}})


def test_unique_key_value_needs_every_field_and_the_key_cannot_name_a_blob():
    assert rules.unique_key_value(BUCKET, {"year": 2001, "kind": "essay"}) == "year=2001|kind=essay"
    assert refusal(lambda: rules.unique_key_value(BUCKET, {"year": 2001})).details["property"] == "kind"
    assert refusal(lambda: rules.validate_unique_key({"fields": ["cover"]}, SCHEMA)).code == "invalid_unique_key"


def test_schema_changes_that_break_objects_are_named():
    changed = {"properties": {**SCHEMA["properties"], "year": {"type": "string"}}}
    changed["properties"].pop("cover")
    assert rules.removed_or_retyped(SCHEMA, changed) == ["cover", "year"]


def test_blob_keys_live_under_the_namespace_prefix_and_ids_sort_by_time():
    key = object_rules.object_blob_key("ns_1", "bkt_1", "obj_1", "body", "blob_1")
    assert key.startswith(object_rules.content_prefix("ns_1")) and key.startswith("namespaces/ns_1/")
    assert object_rules.upload_blob_key("ns_1", "bkt_1", "upl_1", "../../etc/passwd").endswith("/upl_1/passwd")
    ids = [object_rules.new_object_id() for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) == len(ids[0]) for i in ids)
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)


def test_fingerprint_ignores_blob_order():
    a = {"property": "a", "content_hash": "1"}
    b = {"property": "b", "content_hash": "2"}
    assert object_rules.object_fingerprint([a, b]) == object_rules.object_fingerprint([b, a])


def test_upload_tokens_are_signed_and_expire():
    key = b"k" * 32
    token = upload_rules.sign_token({"upl": "upl_1", "exp": 1000}, key)
    assert upload_rules.read_token(token, key, 999)["upl"] == "upl_1"
    with pytest.raises(Forbidden) as expired:
        upload_rules.read_token(token, key, 1001)
    assert expired.value.code == "upload_token_expired"
    with pytest.raises(Forbidden):
        upload_rules.read_token(token, b"other key", 999)
    payload, _, signature = token.partition(".")
    forged = upload_rules.sign_token({"upl": "upl_2", "exp": 1000}, b"attacker").split(".")[0] + "." + signature
    with pytest.raises(Forbidden):
        upload_rules.read_token(forged, key, 999)
    assert upload_rules.normalise_sha256("SHA256:" + "A" * 64, "file_hash") == "a" * 64
    assert refusal(lambda: upload_rules.normalise_sha256("abc", "file_hash")).code == "invalid_checksum"
