"""Buckets (the SDK's BucketCreateRequest / BucketResponse): a named container of objects in one namespace, with a
schema that every object's blobs and metadata are checked against before anything is stored.

`bucket_schema` is `{"properties": {name: {"type": ..., "required"?: bool, "description"?, "enum"?, "items"?,
"properties"?, "default"?, "examples"?}}}`. A property's type is either a blob type (the object carries it as a blob:
text, image, audio, video, pdf, excel) or a metadata type (a plain value among the object's metadata).
`unique_key` (`{"fields": [...], "default_policy"?: insert|update|upsert}`) names metadata properties whose values
identify an object; it cannot change after creation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable

from openpeek.domain.errors import BadRequest

BLOB_TYPES = ("text", "image", "audio", "video", "pdf", "excel")
METADATA_TYPES = ("string", "number", "integer", "float", "boolean", "object", "array", "date", "datetime")
STORAGE_CLASSES = ("standard", "nearline", "coldline", "archive")
UNIQUE_KEY_POLICIES = ("insert", "update", "upsert")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
PROPERTY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_PROPERTIES = 100
_FIELD_KEYS = {"type", "required", "description", "enum", "items", "properties", "default", "examples"}


def _bad(message: str, code: str = "invalid_bucket_schema", **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


@dataclass(frozen=True)
class Bucket:
    bucket_id: str
    bucket_name: str
    namespace_id: str
    org_id: str
    bucket_schema: dict[str, Any]
    unique_key: dict[str, Any] | None = None
    storage_class: str = "standard"
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    version: int = 1

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        return self.bucket_schema.get("properties") or {}

    def blob_properties(self) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.properties.items() if spec["type"] in BLOB_TYPES}

    def metadata_properties(self) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.properties.items() if spec["type"] in METADATA_TYPES}

    def to_record(self) -> dict[str, Any]:
        return {
            "bucket_id": self.bucket_id, "bucket_name": self.bucket_name, "namespace_id": self.namespace_id,
            "org_id": self.org_id, "bucket_schema": self.bucket_schema, "unique_key": self.unique_key,
            "storage_class": self.storage_class, "description": self.description, "metadata": self.metadata,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Bucket":
        return cls(
            bucket_id=record["bucket_id"], bucket_name=record["bucket_name"], namespace_id=record["namespace_id"],
            org_id=record["org_id"], bucket_schema=record.get("bucket_schema") or {"properties": {}},
            unique_key=record.get("unique_key"), storage_class=record.get("storage_class") or "standard",
            description=record.get("description"), metadata=record.get("metadata") or {},
            created_at=record.get("created_at", ""), updated_at=record.get("updated_at", ""), version=version,
        )


# -- rules ---------------------------------------------------------------------------------------------------------


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise _bad(f"bucket_name '{name}' is invalid: 1-128 characters, letters, digits, '_', '.', '-', starting with "
                   "a letter or digit", code="invalid_bucket_name", field="bucket_name")
    if name.startswith(("bkt_",)):
        raise _bad(f"bucket_name '{name}' may not start with 'bkt_' (that prefix names bucket ids)",
                   code="invalid_bucket_name", field="bucket_name")
    return name


def _validate_field(path: str, spec: dict[str, Any], *, top_level: bool) -> dict[str, Any]:
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise _bad(f"bucket_schema property '{path}' has unknown keys {sorted(unknown)}", property=path)
    kind = spec.get("type")
    allowed = (BLOB_TYPES + METADATA_TYPES) if top_level else METADATA_TYPES
    if kind not in allowed:
        raise _bad(f"bucket_schema property '{path}' has type '{kind}'; allowed: {', '.join(allowed)}"
                   + ("" if top_level else " (blob types only at the top level)"), property=path)
    clean: dict[str, Any] = {"type": kind}
    if "required" in spec and spec["required"] is not None:
        if not isinstance(spec["required"], bool):
            raise _bad(f"bucket_schema property '{path}': 'required' must be a boolean", property=path)
        clean["required"] = spec["required"]
    for key in ("description", "default", "examples"):
        if spec.get(key) is not None:
            clean[key] = spec[key]
    if spec.get("enum") is not None:
        if not isinstance(spec["enum"], list) or not spec["enum"]:
            raise _bad(f"bucket_schema property '{path}': 'enum' must be a non-empty list", property=path)
        clean["enum"] = spec["enum"]
    if spec.get("items") is not None:
        if kind != "array":
            raise _bad(f"bucket_schema property '{path}': 'items' only applies to type 'array'", property=path)
        clean["items"] = _validate_field(f"{path}[]", spec["items"], top_level=False)
    if spec.get("properties") is not None:
        if kind != "object":
            raise _bad(f"bucket_schema property '{path}': 'properties' only applies to type 'object'", property=path)
        clean["properties"] = {name: _validate_field(f"{path}.{name}", sub, top_level=False)
                               for name, sub in spec["properties"].items()}
    if "default" in clean and kind in METADATA_TYPES:
        check_value(path, clean, clean["default"])
    return clean


def validate_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as stored (unknown keys refused, nested fields checked), or BadRequest naming the property."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        raise _bad("bucket_schema.properties must be an object of property name to field definition")
    if len(properties) > MAX_PROPERTIES:
        raise _bad(f"bucket_schema has {len(properties)} properties; at most {MAX_PROPERTIES}")
    clean = {}
    for name, spec in properties.items():
        if not PROPERTY_PATTERN.match(name):
            raise _bad(f"bucket_schema property name '{name}' is invalid: letters, digits and '_', starting with a "
                       "letter or '_'", property=name)
        if not isinstance(spec, dict):
            raise _bad(f"bucket_schema property '{name}' must be an object with a 'type'", property=name)
        clean[name] = _validate_field(name, spec, top_level=True)
    return {"properties": clean}


def validate_unique_key(unique_key: dict[str, Any] | None, schema: dict[str, Any]) -> dict[str, Any] | None:
    if unique_key is None:
        return None
    fields = unique_key.get("fields") or []
    if not fields:
        raise _bad("unique_key.fields must name at least one property", code="invalid_unique_key")
    properties = schema["properties"]
    for name in fields:
        spec = properties.get(name)
        if spec is None:
            raise _bad(f"unique_key field '{name}' is not a property of bucket_schema", code="invalid_unique_key",
                       property=name)
        if spec["type"] not in ("string", "integer", "number", "float", "boolean", "date", "datetime"):
            raise _bad(f"unique_key field '{name}' has type '{spec['type']}'; only scalar metadata types identify "
                       "an object", code="invalid_unique_key", property=name)
    policy = unique_key.get("default_policy")
    if policy is not None and policy not in UNIQUE_KEY_POLICIES:
        raise _bad(f"unique_key.default_policy '{policy}' is not one of {', '.join(UNIQUE_KEY_POLICIES)}",
                   code="invalid_unique_key")
    return {"fields": list(fields), **({"default_policy": policy} if policy else {})}


def validate_storage_class(storage_class: str | None) -> str:
    value = storage_class or "standard"
    if value not in STORAGE_CLASSES:
        raise _bad(f"storage_class '{value}' is not one of {', '.join(STORAGE_CLASSES)}", code="invalid_storage_class")
    return value


def removed_or_retyped(previous: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Properties of `previous` that `new` drops or gives another type: existing objects may no longer fit."""
    before, after = previous.get("properties") or {}, new.get("properties") or {}
    return sorted(name for name, spec in before.items()
                  if name not in after or after[name]["type"] != spec["type"])


# -- values against the schema --------------------------------------------------------------------------------------


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "date": _is_date,
    "datetime": _is_datetime,
}


def check_value(path: str, spec: dict[str, Any], value: Any) -> None:
    """BadRequest naming the property and the rule when `value` does not fit the metadata field `spec`."""
    if value is None:
        return
    kind = spec["type"]
    if not _TYPE_CHECKS[kind](value):
        raise _bad(f"property '{path}' must be of type '{kind}', got {type(value).__name__}",
                   code="schema_violation", property=path, rule="type", expected=kind)
    if spec.get("enum") is not None and value not in spec["enum"]:
        raise _bad(f"property '{path}' must be one of {spec['enum']}", code="schema_violation", property=path,
                   rule="enum")
    if kind == "array" and spec.get("items"):
        for index, item in enumerate(value):
            check_value(f"{path}[{index}]", spec["items"], item)
    if kind == "object" and spec.get("properties"):
        for name, sub in spec["properties"].items():
            if sub.get("required") and value.get(name) is None:
                raise _bad(f"property '{path}.{name}' is required", code="schema_violation",
                           property=f"{path}.{name}", rule="required")
            if name in value:
                check_value(f"{path}.{name}", sub, value[name])


def check_object(bucket: Bucket, blob_properties: Iterable[tuple[str, str]], metadata: dict[str, Any]) -> None:
    """An object's blobs (property, type) and metadata against the bucket's schema: every blob names a blob
    property of the same type, each property at most once; metadata that the schema declares has the declared type;
    required properties are present. Metadata the schema does not declare is kept as is (Mixpeek's schemas are open
    for metadata). Raises BadRequest naming the property and the rule."""
    properties = bucket.properties
    seen: set[str] = set()
    for name, kind in blob_properties:
        spec = properties.get(name)
        if spec is None:
            raise _bad(f"blob property '{name}' is not in the schema of bucket '{bucket.bucket_name}'; its blob "
                       f"properties are: {', '.join(sorted(bucket.blob_properties())) or 'none'}",
                       code="schema_violation", property=name, rule="unknown_property")
        if spec["type"] not in BLOB_TYPES:
            raise _bad(f"property '{name}' is metadata of type '{spec['type']}', not a blob; send it as a key of the "
                       "object", code="schema_violation", property=name, rule="type")
        if kind != spec["type"]:
            raise _bad(f"blob property '{name}' has type '{spec['type']}' in the schema, got '{kind}'",
                       code="schema_violation", property=name, rule="type", expected=spec["type"])
        if name in seen:
            raise _bad(f"blob property '{name}' is given twice", code="schema_violation", property=name,
                       rule="duplicate")
        seen.add(name)
    for name, value in metadata.items():
        spec = properties.get(name)
        if spec is None:
            continue
        if spec["type"] in BLOB_TYPES:
            raise _bad(f"property '{name}' is a '{spec['type']}' blob; send it in 'blobs', not as metadata",
                       code="schema_violation", property=name, rule="type")
        check_value(name, spec, value)
    for name, spec in properties.items():
        if not spec.get("required"):
            continue
        present = name in seen if spec["type"] in BLOB_TYPES else metadata.get(name) is not None
        if not present:
            raise _bad(f"property '{name}' is required by the schema of bucket '{bucket.bucket_name}'",
                       code="schema_violation", property=name, rule="required")


def unique_key_value(bucket: Bucket, metadata: dict[str, Any]) -> str | None:
    """The object's identity under the bucket's unique_key (None without one). Every field must be present."""
    if not bucket.unique_key:
        return None
    parts = []
    for name in bucket.unique_key["fields"]:
        if metadata.get(name) is None:
            raise _bad(f"unique_key field '{name}' is missing from the object", code="schema_violation",
                       property=name, rule="unique_key")
        parts.append(f"{name}={metadata[name]}")
    return "|".join(parts)
