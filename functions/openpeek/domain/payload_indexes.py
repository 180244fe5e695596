"""Payload index rules of seed 000 (PayloadIndexConfig): types, per-type parameters, protected system indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import is_field_path

PAYLOAD_TYPES = ("keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid")
TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")

# Each type's parameters and their defaults (seed 000: TextIndexParams, IntegerIndexParams, KeywordIndexParams, ...).
_PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    "text": {"tokenizer": "word", "min_token_len": 2, "max_token_len": 15, "lowercase": True},
    "integer": {"lookup": True, "range": True},
    "keyword": {"is_tenant": False},
    "uuid": {"is_tenant": False},
    "float": {},
    "geo": {},
    "datetime": {},
    "bool": {},
}


@dataclass(frozen=True)
class PayloadIndex:
    field_name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    is_protected: bool = False
    automatic: bool = False  # created by the auto-index job rather than by a user

    @property
    def field_schema(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "field_name": self.field_name,
            "type": self.type,
            "params": dict(self.params),
            "is_protected": self.is_protected,
        }
        if self.automatic:
            record["automatic"] = True
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "PayloadIndex":
        return cls(
            field_name=record["field_name"],
            type=record["type"],
            params=dict(record.get("params") or {}),
            is_protected=bool(record.get("is_protected", False)),
            automatic=bool(record.get("automatic", False)),
        )


def _keyword(name: str, *, tenant: bool = False) -> PayloadIndex:
    return PayloadIndex(name, "keyword", {"is_tenant": tenant}, is_protected=True)


PROTECTED_INDEXES: tuple[PayloadIndex, ...] = (
    _keyword("internal_id", tenant=True),
    _keyword("namespace_id"),
    _keyword("collection_id"),
    _keyword("document_id"),
    _keyword("bucket_id"),
    _keyword("object_id"),
    _keyword("root_object_id"),
    _keyword("root_bucket_id"),
    _keyword("source_object_id"),
    PayloadIndex("created_at", "datetime", {}, is_protected=True),
    PayloadIndex("updated_at", "datetime", {}, is_protected=True),
)
PROTECTED_FIELD_NAMES = frozenset(index.field_name for index in PROTECTED_INDEXES)
_PROTECTED_BY_NAME = {index.field_name: index for index in PROTECTED_INDEXES}


def resolve_params(field_name: str, index_type: str, field_schema: dict[str, Any] | None) -> dict[str, Any]:
    """The index's parameters: the type's defaults overlaid with field_schema, after checking that field_schema
    belongs to this type and holds only this type's parameters with values of the right kind."""
    if index_type not in _PARAM_DEFAULTS:
        raise BadRequest(
            f"Payload index '{field_name}': type must be one of {sorted(_PARAM_DEFAULTS)}",
            code="invalid_field_schema",
            details={"field_name": field_name},
        )
    defaults = _PARAM_DEFAULTS[index_type]
    schema = dict(field_schema or {})
    declared = schema.pop("type", index_type)
    if declared != index_type:
        raise BadRequest(
            f"Payload index '{field_name}': field_schema.type '{declared}' does not match type '{index_type}'",
            code="invalid_field_schema",
            details={"field_name": field_name, "type": index_type, "field_schema_type": declared},
        )
    unknown = sorted(set(schema) - set(defaults))
    if unknown:
        raise BadRequest(
            f"Payload index '{field_name}': field_schema for type '{index_type}' does not accept {unknown}; "
            f"accepted: {sorted(defaults) or 'no parameters'}",
            code="invalid_field_schema",
            details={"field_name": field_name, "unknown": unknown, "accepted": sorted(defaults)},
        )
    params = {**defaults, **schema}
    for key, default in defaults.items():
        value = params[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise BadRequest(
                f"Payload index '{field_name}': {key} must be a boolean",
                code="invalid_field_schema",
                details={"field_name": field_name, "parameter": key},
            )
        if isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1 or value > 1024:
                raise BadRequest(
                    f"Payload index '{field_name}': {key} must be an integer between 1 and 1024",
                    code="invalid_field_schema",
                    details={"field_name": field_name, "parameter": key},
                )
    if index_type == "text":
        if params["tokenizer"] not in TOKENIZERS:
            raise BadRequest(
                f"Payload index '{field_name}': tokenizer must be one of {list(TOKENIZERS)}",
                code="invalid_field_schema",
                details={"field_name": field_name, "parameter": "tokenizer"},
            )
        if params["min_token_len"] > params["max_token_len"]:
            raise BadRequest(
                f"Payload index '{field_name}': min_token_len must not exceed max_token_len",
                code="invalid_field_schema",
                details={"field_name": field_name},
            )
    return params


def build_user_indexes(requested: list[dict[str, Any]]) -> list[PayloadIndex]:
    """Validate a user's payload index list (create or PATCH) and return the user-managed indexes it asks for.

    Entries identical to a protected index are accepted and dropped (a client may send back what GET returned);
    any other attempt to create or change a protected index, or to use a protected name unprotected, is refused."""
    seen: set[str] = set()
    result: list[PayloadIndex] = []
    for entry in requested:
        name = entry["field_name"]
        if name in seen:
            raise BadRequest(
                f"Payload index field_name '{name}' appears more than once; field names must be unique",
                code="duplicate_payload_index",
                details={"field_name": name},
            )
        seen.add(name)
        if not is_field_path(name):
            raise BadRequest(
                f"Payload index field_name '{str(name)[:100]}' is not a field path: use dot-separated names of "
                "letters, digits, '_' or '-', each optionally followed by [] or [N]",
                code="invalid_field_name",
                details={"field_name": str(name)[:100]},
            )
        params = resolve_params(name, entry["type"], entry.get("field_schema"))
        if name in PROTECTED_FIELD_NAMES:
            protected = _PROTECTED_BY_NAME[name]
            unchanged = entry.get("is_protected") and entry["type"] == protected.type and params == protected.params
            if unchanged:
                continue
            if entry.get("is_protected"):
                raise BadRequest(
                    f"Protected payload index '{name}' is managed by the system and cannot be changed",
                    code="protected_index",
                    details={"field_name": name},
                )
            raise BadRequest(
                f"'{name}' is a protected system field name and cannot be used for a user-managed index",
                code="protected_field_name",
                details={"field_name": name, "protected_fields": sorted(PROTECTED_FIELD_NAMES)},
            )
        if entry.get("is_protected"):
            raise BadRequest(
                f"Payload index '{name}': users cannot create protected indexes (is_protected must be false)",
                code="protected_index",
                details={"field_name": name},
            )
        result.append(PayloadIndex(name, entry["type"], params))
    return result
