"""Retrievers (seed 002; the SDK's CreateRetrieverRequest / RetrieverModel): a named, stored pipeline of stages run
against one namespace, with an input schema checked on every execution and `{{INPUT.name}}` templates.

Stage parameters are checked by the stage objects of the catalogue the service passes in (services/stages/); this
module keeps the pipeline's own rules and the checks of the search and filter stages, whose rules depend on the
namespace's vector indexes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from openpeek.domain import extractors
from openpeek.domain.errors import BadRequest
from openpeek.domain.filters import parse_filter
from openpeek.domain.namespace import Namespace

INPUT_MODES = ("vector", "text", "document")
FUSIONS = ("rrf", "dbsf", "weighted")
INPUT_TYPES = ("string", "text", "number", "float", "integer", "boolean", "array", "object", "date", "datetime",
               "document_reference", "image", "audio", "video", "pdf", "excel")
MAX_TOP_K = 1000
MAX_STAGES = 32
MAX_SEARCHES = 8
TEMPLATE = re.compile(r"\{\{\s*(?:INPUT|inputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
WHOLE_TEMPLATE = re.compile(r"^\{\{\s*(?:INPUT|inputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
DYNAMIC_INPUT = re.compile(r"^inputs\.([A-Za-z_][A-Za-z0-9_]*)")
DYNAMIC_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$")


def _bad(message: str, code: str = "invalid_retriever", **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


@dataclass(frozen=True)
class Retriever:
    retriever_id: str
    namespace_id: str
    retriever_name: str
    stages: tuple[dict[str, Any], ...]
    input_schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None
    display_config: dict[str, Any] | None = None
    budget_limits: dict[str, Any] | None = None
    collection_identifiers: tuple[str, ...] = ()
    visibility: str | None = None
    created_at: str = ""
    updated_at: str = ""
    version: int = 1
    # A publication of it exists (services/publications.py). Not stored with the retriever: set where the API shows
    # retrievers (RetrieverService.describe and list).
    published: bool = False

    @property
    def fusion(self) -> str | None:
        for stage in self.stages:
            if stage["config"].get("stage_id") == "feature_search":
                return (stage["config"].get("parameters") or {}).get("fusion") or "rrf"
        return None

    def to_record(self) -> dict[str, Any]:
        return {
            "retriever_id": self.retriever_id, "namespace_id": self.namespace_id,
            "retriever_name": self.retriever_name, "stages": list(self.stages), "input_schema": self.input_schema,
            "description": self.description, "tags": list(self.tags), "metadata": self.metadata,
            "display_config": self.display_config, "budget_limits": self.budget_limits,
            "collection_identifiers": list(self.collection_identifiers), "visibility": self.visibility,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Retriever":
        return cls(
            retriever_id=record["retriever_id"], namespace_id=record["namespace_id"],
            retriever_name=record["retriever_name"], stages=tuple(record["stages"]),
            input_schema=record.get("input_schema") or {}, description=record.get("description"),
            tags=tuple(record.get("tags") or ()), metadata=record.get("metadata"),
            display_config=record.get("display_config"), budget_limits=record.get("budget_limits"),
            collection_identifiers=tuple(record.get("collection_identifiers") or ()),
            visibility=record.get("visibility"), created_at=record.get("created_at") or "",
            updated_at=record.get("updated_at") or "", version=version,
        )

    def with_changes(self, changes: dict[str, Any]) -> "Retriever":
        converted = {key: tuple(value) if key in ("stages", "tags", "collection_identifiers") else value
                     for key, value in changes.items()}
        return replace(self, **converted)


# -- definitions ------------------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise _bad("retriever_name must be 1-128 characters of letters, digits, spaces, '_', '-' or '.', starting "
                   "with a letter or digit", code="invalid_retriever_name", retriever_name=name)
    return name


def check_input_schema(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    checked = {}
    for name, spec in schema.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name):
            raise _bad(f"input_schema key '{name}' must be an identifier (letters, digits, '_')",
                       code="invalid_input_schema", input=name)
        if spec.get("type") not in INPUT_TYPES:
            raise _bad(f"input_schema '{name}': type must be one of {', '.join(INPUT_TYPES)}",
                       code="invalid_input_schema", input=name)
        checked[name] = {key: value for key, value in spec.items() if value is not None}
    return checked


PASSTHROUGH_URI = "mixpeek://passthrough_extractor@v1/"


def resolve_feature_uri(namespace: Namespace, uri: Any) -> str:
    """A search names an index of the namespace: by its name (seed 002's `text_embedding`) or by an extractor's
    feature URI (`mixpeek://text_extractor@v1/embedding`)."""
    indexes = {spec.name: spec for spec in namespace.vector_indexes()}
    if isinstance(uri, str) and uri in indexes:
        return uri
    # `mixpeek://text_extractor@v1/embedding` means the namespace's text_extractor index on whichever model it has;
    # one that holds it on two models (a namespace made before the deployment ran it on another) means the one added
    # last, the model its new collections write.
    held = [ref.definition().vector_index_name for ref in namespace.feature_extractors]
    present = [extractor.vector_index_name
               for extractor in (extractors.candidates_of_feature_uri(uri) if isinstance(uri, str) else ())
               if extractor.vector_index_name in indexes]
    if present:
        return max(present, key=lambda name: held.index(name) if name in held else -1)
    if isinstance(uri, str) and uri.startswith(PASSTHROUGH_URI) and uri[len(PASSTHROUGH_URI):] in indexes:
        return uri[len(PASSTHROUGH_URI):]  # a passthrough collection's vectors keep the names its rows gave them
    raise _bad(
        f"feature_uri '{uri}' names no vector index of this namespace; it has: {', '.join(sorted(indexes)) or 'none'}",
        code="unknown_feature_uri", feature_uri=uri, available_indexes=sorted(indexes),
    )


def _dynamic_path(value: Any) -> str | None:
    """The path of a DynamicValue (seed 004: `{"type": "dynamic", "field": "inputs.user_id"}`), else None."""
    if isinstance(value, dict) and value.get("type") == "dynamic" and isinstance(value.get("field"), str) \
            and set(value) <= {"type", "field"}:
        return value["field"]
    return None


def _input_references(value: Any) -> set[str]:
    """Input names a value refers to, by `{{INPUT.name}}` or by a DynamicValue on `inputs.name`."""
    if isinstance(value, str):
        return set(TEMPLATE.findall(value))
    path = _dynamic_path(value)
    if path is not None:
        head = DYNAMIC_INPUT.match(path)
        return {head.group(1)} if head else set()
    if isinstance(value, dict):
        return set().union(*(_input_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_input_references(v) for v in value)) if value else set()
    return set()


def has_placeholders(value: Any) -> bool:
    """Whether a value is only known at execution (a template or a DynamicValue somewhere inside)."""
    if isinstance(value, str):
        return "{{" in value and TEMPLATE.search(value) is not None
    if _dynamic_path(value) is not None:
        return True
    if isinstance(value, dict):
        return any(has_placeholders(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholders(v) for v in value)
    return False


def _positive_int(value: Any, name: str, maximum: int, stage: str) -> None:
    if isinstance(value, str) and WHOLE_TEMPLATE.match(value):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _bad(f"stage '{stage}': {name} must be an integer from 1 to {maximum}", stage=stage, parameter=name)


def _number_or_placeholder(value: Any, name: str, stage: str) -> None:
    if value is None or (isinstance(value, str) and WHOLE_TEMPLATE.match(value)):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"stage '{stage}': {name} must be a number", stage=stage, parameter=name)


class StageCatalogue(Protocol):
    """What check_stages needs of the stage registry: look a stage up by id, list the ids."""

    def get(self, stage_id: str) -> Any: ...

    def known(self) -> list[str]: ...


def check_stages(namespace: Namespace, stages: list[dict[str, Any]], input_schema: dict[str, Any],
                 catalogue: StageCatalogue) -> list[dict]:
    """Validate stage definitions at create/patch time, so execution only meets input errors. Each stage's own
    parameters are checked by its stage object (400 naming the stage and the field)."""
    if not stages:
        raise _bad("a retriever needs at least one stage")
    if len(stages) > MAX_STAGES:
        raise _bad(f"at most {MAX_STAGES} stages")
    names = set()
    checked = []
    for stage in stages:
        name = stage["stage_name"]
        if name in names:
            raise _bad(f"stage_name '{name}' appears twice", stage=name)
        names.add(name)
        config = stage["config"]
        stage_id = config.get("stage_id")
        definition = catalogue.get(stage_id) if isinstance(stage_id, str) else None
        if definition is None:
            raise _bad(f"stage '{name}': unknown stage_id '{stage_id}'; known stages: {', '.join(catalogue.known())}",
                       code="unknown_stage", stage=name, stage_id=stage_id if isinstance(stage_id, str) else None,
                       field="stage_id", known_stages=catalogue.known())
        unknown_keys = set(config) - {"stage_id", "parameters"}
        if unknown_keys:
            raise _bad(f"stage '{name}': config takes stage_id and parameters, not {sorted(unknown_keys)}", stage=name)
        parameters = config.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise _bad(f"stage '{name}': parameters must be an object", stage=name, field="parameters")
        parameters = definition.check(namespace, name, parameters)
        missing = _input_references(parameters) - set(input_schema)
        if missing:
            raise _bad(f"stage '{name}' uses {{{{INPUT.{sorted(missing)[0]}}}}} but input_schema has no such key",
                       code="unknown_input", stage=name, inputs=sorted(missing))
        expected_type = definition.stage_type()
        if stage.get("stage_type") not in (None, expected_type):
            raise _bad(f"stage '{name}': stage_id '{stage_id}' is of stage_type '{expected_type}'", stage=name,
                       field="stage_type")
        checked.append({**{k: v for k, v in stage.items() if v is not None}, "stage_type": expected_type,
                        "config": {"stage_id": stage_id, "parameters": parameters}})
    return checked


def check_feature_search(namespace: Namespace, stage: str, parameters: dict) -> None:
    unknown = set(parameters) - {"searches", "final_top_k", "fusion", "weights", "score_threshold"}
    if unknown:
        raise _bad(f"stage '{stage}': feature_search takes searches, final_top_k, fusion, weights, "
                   f"score_threshold; not {sorted(unknown)}", stage=stage)
    searches = parameters.get("searches")
    if not isinstance(searches, list) or not searches or len(searches) > MAX_SEARCHES:
        raise _bad(f"stage '{stage}': searches must list 1 to {MAX_SEARCHES} searches", stage=stage)
    for position, search in enumerate(searches):
        where = f"stage '{stage}' searches[{position}]"
        if not isinstance(search, dict):
            raise _bad(f"{where} must be an object", stage=stage)
        unknown = set(search) - {"feature_uri", "query", "filters", "top_k", "weight", "score_threshold"}
        if unknown:
            raise _bad(f"{where}: unknown keys {sorted(unknown)}", stage=stage)
        resolve_feature_uri(namespace, search.get("feature_uri"))
        query = search.get("query")
        if not isinstance(query, dict) or "value" not in query:
            raise _bad(f"{where}: query must be {{input_mode, value}}", stage=stage)
        mode = query.get("input_mode", "vector")
        if not isinstance(mode, str) or mode not in INPUT_MODES:
            raise _bad(f"{where}: input_mode must be one of {', '.join(INPUT_MODES)}", stage=stage)
        if "top_k" in search:
            _positive_int(search["top_k"], "top_k", MAX_TOP_K, stage)
        if not has_placeholders(search.get("filters")):
            parse_filter(search.get("filters"))
        if "score_threshold" in search:
            _number_or_placeholder(search["score_threshold"], "score_threshold", stage)
    if "final_top_k" in parameters:
        _positive_int(parameters["final_top_k"], "final_top_k", MAX_TOP_K, stage)
    if "score_threshold" in parameters:
        _number_or_placeholder(parameters["score_threshold"], "score_threshold", stage)
    fusion = parameters.get("fusion") or "rrf"
    if fusion not in FUSIONS:
        raise _bad(f"stage '{stage}': fusion must be one of {', '.join(FUSIONS)}", stage=stage)
    weights = parameters.get("weights")
    if weights is not None and (not isinstance(weights, list) or len(weights) != len(searches)
                                or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                                           for w in weights)):
        raise _bad(f"stage '{stage}': weights must list one non-negative number per search", stage=stage)


def check_attribute_filter(namespace: Namespace, stage: str, parameters: dict) -> None:
    if set(parameters) - {"filters"} or "filters" not in parameters:
        raise _bad(f"stage '{stage}': attribute_filter takes {{\"filters\": ...}}", stage=stage)
    if not has_placeholders(parameters["filters"]):
        parse_filter(parameters["filters"])


def check_sort(namespace: Namespace, stage: str, parameters: dict) -> None:
    if set(parameters) - {"sort_by", "field", "direction", "order"}:
        raise _bad(f"stage '{stage}': sort takes field (or sort_by) and direction", stage=stage)
    field_name = parameters.get("field") or parameters.get("sort_by")
    direction = parameters.get("direction") or parameters.get("order")
    if isinstance(field_name, list):  # the SDK's sort_by: [{field, direction}]
        if len(field_name) != 1 or not isinstance(field_name[0], dict):
            raise _bad(f"stage '{stage}': sort_by takes one {{field, direction}}", stage=stage)
        direction = direction or field_name[0].get("direction")
        field_name = field_name[0].get("field")
    if not isinstance(field_name, str) or not field_name:
        raise _bad(f"stage '{stage}': sort needs a field", stage=stage)
    direction = direction or "desc"
    if not (isinstance(direction, str) and WHOLE_TEMPLATE.match(direction)) and str(direction).lower() not in (
            "asc", "desc"):
        raise _bad(f"stage '{stage}': direction must be asc or desc", stage=stage)


def check_limit(namespace: Namespace, stage: str, parameters: dict) -> None:
    if set(parameters) - {"limit", "offset"} or "limit" not in parameters:
        raise _bad(f"stage '{stage}': limit takes limit and offset", stage=stage)
    _positive_int(parameters["limit"], "limit", MAX_TOP_K, stage)
    offset = parameters.get("offset", 0)
    if not (isinstance(offset, str) and WHOLE_TEMPLATE.match(offset)) and (
            isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 10_000):
        raise _bad(f"stage '{stage}': offset must be an integer from 0 to 10000", stage=stage)


# -- execution inputs -------------------------------------------------------------------------------------------


def _type_matches(kind: str, value: Any) -> bool:
    if kind in ("string", "text", "date", "datetime", "document_reference", "image", "audio", "video", "pdf",
                "excel"):
        return isinstance(value, str)
    if kind in ("number", "float"):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def check_inputs(schema: dict[str, dict[str, Any]], inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs against the retriever's input_schema: a missing required key or a wrong type → 400 naming the key.
    Defaults fill absent keys; keys the schema does not declare are refused (a typo would otherwise be ignored)."""
    unknown = sorted(set(inputs) - set(schema))
    if unknown:
        raise _bad(f"input '{unknown[0]}' is not in this retriever's input_schema ({', '.join(sorted(schema))})",
                   code="invalid_input", input=unknown[0])
    resolved = {}
    for name, spec in schema.items():
        if name not in inputs or inputs[name] is None:
            if spec.get("required"):
                raise _bad(f"input '{name}' is required", code="missing_input", input=name)
            if "default" in spec:
                resolved[name] = spec["default"]
            continue
        value = inputs[name]
        if not _type_matches(spec["type"], value):
            raise _bad(f"input '{name}' must be of type {spec['type']}", code="invalid_input", input=name,
                       expected_type=spec["type"])
        if spec.get("enum") and value not in spec["enum"]:
            raise _bad(f"input '{name}' must be one of {spec['enum']}", code="invalid_input", input=name)
        resolved[name] = value
    return resolved


def substitute(value: Any, inputs: dict[str, Any], request: dict[str, Any] | None = None) -> Any:
    """`{{INPUT.name}}` anywhere in a stage's parameters. A string that is only the template takes the input's own
    value and type (a vector stays a list); a template inside a longer string is replaced by the value's text.
    A template whose input was not given resolves to None. A DynamicValue takes the value at its path in the
    execution request (`inputs.x` reads the checked inputs, defaults included)."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = WHOLE_TEMPLATE.match(value)
        if whole:
            return inputs.get(whole.group(1))
        return TEMPLATE.sub(lambda m: "" if inputs.get(m.group(1)) is None else str(inputs[m.group(1)]), value)
    if isinstance(value, dict):
        path = _dynamic_path(value)
        if path is not None:
            return resolve_dynamic(path, {**(request or {}), "inputs": inputs})
        return {key: substitute(item, inputs, request) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, inputs, request) for item in value]
    return value


def resolve_dynamic(path: str, request: dict[str, Any]) -> Any:
    """`inputs.user_id`, `filters.AND[0].value`: dot notation with list indexes into the execution request.
    A path that names nothing → 400 naming it (a silent None would turn a filter into a different one)."""
    found: Any = request
    parts = DYNAMIC_PATH_PART.findall(path)
    if not parts:
        raise _bad(f"dynamic value path '{path}' is empty", code="invalid_input", path=path)
    for key, index in parts:
        if key and isinstance(found, dict) and key in found:
            found = found[key]
        elif index and isinstance(found, list) and int(index) < len(found):
            found = found[int(index)]
        else:
            raise _bad(f"dynamic value '{path}' names nothing in the execution request", code="invalid_input",
                       path=path)
    return found
