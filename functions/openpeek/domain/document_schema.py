"""A document's fields against its collection's output schema (POST .../documents/schema/validate): each field the
schema declares must have the declared type (the bucket schema's rules, domain/buckets.check_value); a property the
schema marks required must be present. Fields the schema does not declare are allowed (documents are open, as
bucket metadata is) and reported, so a caller sees a misspelt name."""

from __future__ import annotations

from typing import Any, Mapping

from openpeek.domain.buckets import check_value
from openpeek.domain.collections import BLOB_TYPES, METADATA_TYPES
from openpeek.domain.errors import BadRequest


def violations(output_schema: Mapping[str, Any], fields: Mapping[str, Any]) -> tuple[list[dict[str, Any]],
                                                                                   list[str]]:
    """(the violations, each {field, rule, message, expected}; the fields the schema does not declare)."""
    properties = output_schema.get("properties") or {}
    found: list[dict[str, Any]] = []
    for name, value in fields.items():
        spec = properties.get(name)
        if not isinstance(spec, Mapping):
            continue
        # A blob property passed through onto documents arrives as its text or its URL: a string.
        checked = {**spec, "type": "string"} if spec.get("type") in BLOB_TYPES else dict(spec)
        if checked.get("type") not in METADATA_TYPES:
            continue
        try:
            check_value(name, checked, value)
        except BadRequest as error:
            details = error.details or {}
            found.append({"field": details.get("property", name), "rule": details.get("rule", "type"),
                          "message": error.message, "expected": details.get("expected")})
    for name, spec in properties.items():
        if isinstance(spec, Mapping) and spec.get("required") and fields.get(name) is None:
            found.append({"field": name, "rule": "required", "message": f"property '{name}' is required by the "
                          "collection's output schema", "expected": spec.get("type")})
    return found, sorted(name for name in fields if name not in properties)
