"""Collection import (the SDK's ImportRequest, SchemaInferenceRequest, MappingValidationRequest): documents rebuilt
from one external export with a mapping that says where each source field lands.

Paths name fields in the export with dots (`asset.title`); `[]` marks an array of objects (`scenes[].caption`). When the
import explodes the export along an array (`explode.explode_axis`), each element of that array becomes one document and
a path under the axis (`scenes[].caption` or `scenes.caption`) is read from the element; any other path is read from
the export itself and shared by every document.

A mapping target is one of:
- `metadata`: the value lands at `path` (`metadata.brand` in the document's metadata, any other path a payload field);
- `vector`: a vector for the index `index` (`dim` numbers), given as a JSON list or as base64 little-endian floats
  (`dtype` float32-base64 / float16-base64 / float64-base64);
- `identity`: a lineage field (`role`: document_id, root_object_id, source_object_id, ...);
- `parent`: an entry of the document's lineage_chain at `chain_position`;
- `ignore`: not imported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from openpeek.domain.batches import document_id as derived_document_id
from openpeek.domain.documents import SYSTEM_FIELDS

TARGET_KINDS = ("metadata", "vector", "identity", "parent", "ignore")
IDENTITY_ROLES = ("document_id", "root_object_id", "root_bucket_id", "source_object_id", "source_document_id",
                  "source_collection_id", "content_hash")
LIST_DTYPES = ("float32", "float16", "float64")
BASE64_DTYPES = {"float32-base64": "<f4", "float16-base64": "<f2", "float64-base64": "<f8"}
VECTOR_DTYPES = (*LIST_DTYPES, *BASE64_DTYPES)
MAX_DIMENSION = 4096
MIN_LIST_VECTOR = 16  # a shorter list of numbers reads as plain data (tags, coordinates) unless a known dim says so
MAX_SAMPLE_CHARS = 200
FIELD_TYPES = ("string", "integer", "float", "boolean", "datetime", "vector", "object", "null")
SOURCE_TYPES = ("bucket", "collection")  # the lineage source_type a mapping may give its documents
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
IMPORT_SOURCE_TYPE = "import"


@dataclass(frozen=True)
class Target:
    kind: str
    path: str | None = None
    index: str | None = None
    dim: int | None = None
    dtype: str | None = None
    role: str | None = None
    chain_position: int | None = None
    expected_type: str | None = None

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> "Target":
        return cls(**{key: spec.get(key) for key in cls.__dataclass_fields__})

    def public(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class FieldMapping:
    source_field: str
    target: Target


@dataclass(frozen=True)
class ImportMapping:
    fields: tuple[FieldMapping, ...]
    source_type: str | None = None
    chain_template: dict[str, Any] | None = None

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> "ImportMapping":
        return cls(tuple(FieldMapping(entry["source_field"], Target.parse(entry["target"]))
                         for entry in spec.get("fields") or ()),
                   spec.get("source_type"), spec.get("chain_template"))


# -- inference ---------------------------------------------------------------------------------------------------------


@dataclass
class _Seen:
    types: Counter = field(default_factory=Counter)
    dims: Counter = field(default_factory=Counter)
    dtypes: Counter = field(default_factory=Counter)
    values: set = field(default_factory=set)
    occurrences: int = 0
    sample: Any = None


def infer_fields(rows: Sequence[Mapping[str, Any]], known_index_dims: Mapping[str, int] | None = None,
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every field the sample rows hold, with its type (string, integer, float, boolean, datetime, object, vector,
    null), its `cardinality` (low: at most half of its occurrences are distinct values, so it groups; high: mostly
    distinct), a sample value, and a suggested target. A list of numbers is a vector when its length is a known
    index dimension or at least MIN_LIST_VECTOR; a string is a base64 vector when its bytes make a known dimension of
    float32 or float16 numbers."""
    known = dict(known_index_dims or {})
    seen: dict[str, _Seen] = {}
    warnings: list[str] = []
    if not rows:
        warnings.append("no sample_rows were given: nothing to infer from")
    for row in rows:
        if isinstance(row, Mapping):
            _walk(row, "", seen, set(known.values()))
    fields = []
    for path, found in seen.items():
        kinds = [kind for kind, _ in found.types.most_common() if kind != "null"] or ["null"]
        kind = kinds[0]
        if len(kinds) > 1:
            warnings.append(f"'{path}' holds several types ({', '.join(sorted(kinds))}); {kind} is the most common")
        entry: dict[str, Any] = {"path": path, "type": kind}
        if kind == "vector":
            dim = found.dims.most_common(1)[0][0]
            if len(found.dims) > 1:
                lengths = ", ".join(map(str, sorted(found.dims)))
                warnings.append(f"'{path}' holds vectors of several lengths ({lengths})")
            dtype = found.dtypes.most_common(1)[0][0]
            entry.update(dim=dim, dtype=dtype)
            index = next((name for name, size in known.items() if size == dim), None)
            if index is None:
                index = _leaf(path)
                warnings.append(f"'{path}' is a {dim}-d vector that matches no known index dimension")
            entry["suggested_target"] = {"kind": "vector", "index": index, "dim": dim, "dtype": dtype}
        else:
            distinct_enough = len(found.values) > max(1, found.occurrences // 2)
            entry.update(sample=found.sample, cardinality="high" if distinct_enough else "low")
            entry["suggested_target"] = _suggest(path, kind)
        fields.append(entry)
    return fields, warnings


def _walk(value: Mapping[str, Any], prefix: str, seen: dict[str, _Seen], dims: set[int]) -> None:
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping):
            _walk(item, path + ".", seen, dims)
            continue
        if isinstance(item, list) and item and all(isinstance(element, Mapping) for element in item):
            for element in item:
                _walk(element, path + "[].", seen, dims)
            continue
        found = seen.setdefault(path, _Seen())
        kind, dim, dtype = _kind_of(item, dims)
        if kind not in ("vector", "null"):
            found.occurrences += 1
            found.values.add(json.dumps(item, sort_keys=True, default=str))
        found.types[kind] += 1
        if kind == "vector":
            found.dims[dim] += 1
            found.dtypes[dtype] += 1
        elif found.sample is None and item is not None:
            found.sample = item[:MAX_SAMPLE_CHARS] if isinstance(item, str) else item if not isinstance(item, list) \
                else item[:8]


def _kind_of(value: Any, dims: set[int]) -> tuple[str, int | None, str | None]:
    if value is None:
        return "null", None, None
    if isinstance(value, bool):
        return "boolean", None, None
    if isinstance(value, int):
        return "integer", None, None
    if isinstance(value, float):
        return "float", None, None
    if isinstance(value, list):
        numeric = bool(value) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
        if numeric and (len(value) in dims or len(value) >= MIN_LIST_VECTOR):
            return "vector", len(value), "float32"
        return "object", None, None  # a list that is not a vector: JSON, like an object
    if isinstance(value, str):
        decoded = _base64_bytes(value) if len(value) >= 8 else None
        if decoded is not None:
            for dtype, width in (("float32-base64", 4), ("float16-base64", 2)):
                if len(decoded) % width == 0 and len(decoded) // width in dims:
                    return "vector", len(decoded) // width, dtype
        return ("datetime" if _DATETIME.match(value) else "string"), None, None
    return "object", None, None


def _base64_bytes(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _leaf(path: str) -> str:
    return path.replace("[]", "").split(".")[-1]


def _suggest(path: str, kind: str) -> dict[str, Any]:
    leaf = _leaf(path)
    if path in ("document_id", "id"):
        return {"kind": "identity", "role": "document_id"}
    if path in IDENTITY_ROLES:
        return {"kind": "identity", "role": path}
    local = path.split("[].")[-1]
    if local.split(".")[0] in SYSTEM_FIELDS:
        local = f"source_{leaf}"
    return {"kind": "metadata", "path": f"metadata.{local}", "expected_type": kind}


# -- validation --------------------------------------------------------------------------------------------------------


def validate_mapping(mapping: ImportMapping, source_fields: Sequence[Mapping[str, Any]] | None = None,
                     known_index_dims: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Every problem of a mapping, each {field, error} (field None for the whole mapping); [] when it is sound."""
    errors: list[dict[str, Any]] = []

    def problem(source: str | None, message: str) -> None:
        errors.append({"field": source, "error": message})

    if not mapping.fields:
        problem(None, "the mapping has no fields")
    if mapping.source_type is not None and mapping.source_type not in SOURCE_TYPES:
        problem(None, f"source_type '{mapping.source_type}' is not one of {', '.join(SOURCE_TYPES)}")
    declared = {entry["path"]: entry.get("type") for entry in source_fields or ()}
    known = dict(known_index_dims or {})
    sources: Counter = Counter(entry.source_field for entry in mapping.fields)
    for source, count in sources.items():
        if count > 1:
            problem(source, f"'{source}' is mapped {count} times; map each source field once")
    paths: dict[str, str] = {}
    roles: dict[str, str] = {}
    positions: dict[int, str] = {}
    indexes: dict[str, str] = {}
    for entry in mapping.fields:
        source, target = entry.source_field, entry.target
        if not source.strip():
            problem(source, "source_field must name a field")
        if declared and source not in declared:
            problem(source, f"'{source}' is not among the declared source_fields")
        source_type = declared.get(source)
        if target.expected_type and target.expected_type not in FIELD_TYPES:
            problem(source, f"expected_type '{target.expected_type}' is not one of {', '.join(FIELD_TYPES)}")
        elif target.expected_type and source_type and target.expected_type != source_type:
            problem(source, f"the target expects {target.expected_type}, but '{source}' is {source_type}")
        if target.kind not in TARGET_KINDS:
            problem(source, f"target kind '{target.kind}' is not one of {', '.join(TARGET_KINDS)}")
        elif target.kind == "metadata":
            if not target.path or not target.path.strip(". "):
                problem(source, "a metadata target needs a path (e.g. 'metadata.brand')")
            else:
                root = target.path.split(".")[0]
                if root in SYSTEM_FIELDS and not (root == "metadata" and "." in target.path):
                    problem(source, f"'{target.path}' is a field the service writes itself; choose another path")
                if target.path in paths:
                    problem(source, f"'{target.path}' is also the target of '{paths[target.path]}'")
                paths.setdefault(target.path, source)
        elif target.kind == "vector":
            problem_text = _vector_target_problem(target, known, source_type)
            if problem_text:
                problem(source, problem_text)
            if target.index and target.index in indexes:
                problem(source, f"index '{target.index}' is also the target of '{indexes[target.index]}'")
            if target.index:
                indexes.setdefault(target.index, source)
        elif target.kind == "identity":
            if target.role not in IDENTITY_ROLES:
                problem(source, f"identity role '{target.role}' is not one of {', '.join(IDENTITY_ROLES)}")
            elif target.role in roles:
                problem(source, f"identity role '{target.role}' is also given by '{roles[target.role]}'")
            else:
                roles[target.role] = source
        elif target.kind == "parent":
            if target.chain_position is None or target.chain_position < 0:
                problem(source, "a parent target needs chain_position (0 or more)")
            elif target.chain_position in positions:
                problem(source, f"chain_position {target.chain_position} is also given by "
                                f"'{positions[target.chain_position]}'")
            else:
                positions[target.chain_position] = source
    return errors


def _vector_target_problem(target: Target, known: Mapping[str, int], source_type: str | None) -> str | None:
    if not target.index:
        return "a vector target needs the index it is stored under"
    if target.dim is None or not 1 <= target.dim <= MAX_DIMENSION:
        return f"a vector target needs dim from 1 to {MAX_DIMENSION}"
    if target.dtype is not None and target.dtype not in VECTOR_DTYPES:
        return f"dtype '{target.dtype}' is not one of {', '.join(VECTOR_DTYPES)}"
    if target.index in known and known[target.index] != target.dim:
        return f"index '{target.index}' has {known[target.index]} dimensions, the mapping says {target.dim}"
    if source_type is not None and source_type not in ("vector", "object", "string"):
        return f"a vector cannot come from a {source_type} field"
    return None


# -- reconstruction ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorJoin:
    array: str
    key: str
    index: str
    vector_field: str = "vector_b64"


@dataclass(frozen=True)
class Explode:
    explode_axis: str
    vector_join: VectorJoin | None = None

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | None) -> "Explode | None":
        if not spec:
            return None
        join = spec.get("vector_join")
        return cls(spec["explode_axis"], VectorJoin(**{key: value for key, value in join.items() if value is not None})
                   if join else None)


@dataclass(frozen=True)
class Rebuilt:
    """One document rebuilt from the export: its position (the exploded element's index, 0 without explosion), its
    id, and the body the collection's document writer takes (payload fields, metadata, vectors, lineage)."""

    position: int
    document_id: str
    body: dict[str, Any]


class RowFailed(ValueError):
    pass


def reconstruct(export: Mapping[str, Any], mapping: ImportMapping, explode: Explode | None,
                collection_id: str) -> tuple[list[Rebuilt], list[dict[str, Any]]]:
    """The documents the export holds under the mapping, and the rows that could not be rebuilt ({row, error}; row -1
    for the export as a whole). A document without a document_id identity gets one derived from the collection, the
    export's identity (its source or root object id, else a digest of its content) and its position, so importing the
    same export again overwrites rather than duplicates."""
    if explode is None:
        elements: list[Mapping[str, Any] | None] = [None]
    else:
        found = lookup(export, explode.explode_axis.replace("[]", ""))
        if not isinstance(found, list) or not all(isinstance(element, Mapping) for element in found):
            return [], [{"row": -1, "error": f"explode_axis '{explode.explode_axis}' is not an array of objects in "
                                             "the export"}]
        elements = list(found)
    joined = _vector_rows(export, explode)
    if isinstance(joined, str):
        return [], [{"row": -1, "error": joined}]
    export_key = _export_identity(export, mapping)
    rebuilt, errors = [], []
    for position, element in enumerate(elements):
        try:
            rebuilt.append(_rebuild(export, element, position, mapping, explode, joined, collection_id, export_key))
        except RowFailed as failure:
            errors.append({"row": position, "error": str(failure)})
    return rebuilt, errors


def _export_identity(export: Mapping[str, Any], mapping: ImportMapping) -> str:
    for role in ("source_object_id", "root_object_id"):
        entry = next((e for e in mapping.fields if e.target.kind == "identity" and e.target.role == role), None)
        if entry is not None and "[]" not in entry.source_field:
            value = lookup(export, entry.source_field)
            if value is not None:
                return str(value)
    canonical = json.dumps(export, sort_keys=True, default=str, separators=(",", ":")).encode()
    return "export:" + hashlib.sha256(canonical).hexdigest()


def _vector_rows(export: Mapping[str, Any], explode: Explode | None) -> dict[Any, Mapping[str, Any]] | str:
    if explode is None or explode.vector_join is None:
        return {}
    join = explode.vector_join
    rows = lookup(export, join.array.replace("[]", ""))
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        return f"vector_join.array '{join.array}' is not an array of objects in the export"
    return {_hashable(row.get(join.key)): row for row in rows if row.get(join.key) is not None}


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _resolve(path: str, export: Mapping[str, Any], element: Mapping[str, Any] | None,
             explode: Explode | None) -> Any:
    if element is not None and explode is not None:
        axis = explode.explode_axis.replace("[]", "")
        for marker in (f"{axis}[].", f"{axis}."):
            if path.startswith(marker):
                return lookup(element, path[len(marker):])
    if "[]" in path:
        return _collect(export, path)
    return lookup(export, path)


def _collect(value: Any, path: str) -> list[Any]:
    """Every value a path with `[]` reaches (the values of a field across an array of objects)."""
    head, _, rest = path.partition("[].")
    items = lookup(value, head) if head else value
    if not isinstance(items, list):
        return []
    if "[]" in rest:
        return [found for item in items for found in _collect(item, rest)]
    return [lookup(item, rest) for item in items if isinstance(item, Mapping)]


def lookup(value: Any, path: str) -> Any:
    """The value at a dotted path of nested objects (None where any step is missing)."""
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _rebuild(export: Mapping[str, Any], element: Mapping[str, Any] | None, position: int, mapping: ImportMapping,
             explode: Explode | None, joined: dict[Any, Mapping[str, Any]], collection_id: str,
             export_key: str) -> Rebuilt:
    body: dict[str, Any] = {"source_type": mapping.source_type or IMPORT_SOURCE_TYPE}
    metadata: dict[str, Any] = {}
    vectors: dict[str, list[float]] = {}
    chain: dict[int, Any] = {}
    document_id = None
    for entry in mapping.fields:
        target = entry.target
        if target.kind == "ignore":
            continue
        if target.kind == "vector" and explode is not None and explode.vector_join is not None \
                and target.index == explode.vector_join.index:
            continue  # the joined row supplies it, below
        value = _resolve(entry.source_field, export, element, explode)
        if value is None:
            if target.kind == "vector":
                raise RowFailed(f"'{entry.source_field}' holds no vector")
            continue
        if target.kind == "metadata":
            path = target.path or ""
            if path.startswith("metadata."):
                _assign(metadata, path[len("metadata."):], value)
            else:
                _assign(body, path, value)
        elif target.kind == "vector":
            vectors[target.index or ""] = decode_vector(value, target.dtype, target.dim, entry.source_field)
        elif target.kind == "identity":
            if target.role == "document_id":
                document_id = str(value)
            else:
                body[target.role or ""] = value
        elif target.kind == "parent":
            chain[target.chain_position or 0] = value
    if explode is not None and explode.vector_join is not None and element is not None:
        join = explode.vector_join
        row = joined.get(_hashable(element.get(join.key)))
        if row is None:
            raise RowFailed(f"no row of '{join.array}' has {join.key} = {element.get(join.key)!r}")
        spec = next((e.target for e in mapping.fields if e.target.kind == "vector" and e.target.index == join.index),
                    None)
        vectors[join.index] = decode_vector(row.get(join.vector_field), spec.dtype if spec else None,
                                            spec.dim if spec else None, f"{join.array}[].{join.vector_field}")
    if chain:
        template = mapping.chain_template or {}
        steps = template.get("steps") if isinstance(template.get("steps"), list) else []
        body["lineage_chain"] = [
            {**(steps[spot] if spot < len(steps) and isinstance(steps[spot], Mapping) else {}), "position": spot,
             "id": chain[spot]} for spot in sorted(chain)]
    if metadata:
        body["metadata"] = metadata
    if vectors:
        body["vectors"] = vectors
    return Rebuilt(position, document_id or derived_document_id(collection_id, export_key, str(position)), body)


def _assign(target: dict[str, Any], path: str, value: Any) -> None:
    parts = [part for part in path.split(".") if part]
    for part in parts[:-1]:
        nested = target.get(part)
        if not isinstance(nested, dict):
            nested = target[part] = {}
        target = nested
    if parts:
        target[parts[-1]] = value


def decode_vector(value: Any, dtype: str | None, dim: int | None, source: str) -> list[float]:
    """A vector from a JSON list or a base64 string of little-endian floats (float32 unless dtype says otherwise)."""
    if isinstance(value, str):
        raw = _base64_bytes(value)
        if raw is None:
            raise RowFailed(f"'{source}' is not valid base64")
        numpy_type = BASE64_DTYPES.get(dtype or "", "<f4")
        width = np.dtype(numpy_type).itemsize
        if len(raw) % width:
            raise RowFailed(f"'{source}' holds {len(raw)} bytes, not a whole number of {dtype or 'float32'} values")
        vector = np.frombuffer(raw, dtype=numpy_type).astype(np.float64)
    elif isinstance(value, list) and value and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                   for x in value):
        vector = np.asarray(value, dtype=np.float64)
    else:
        raise RowFailed(f"'{source}' is neither a list of numbers nor a base64 vector")
    if dim is not None and len(vector) != dim:
        raise RowFailed(f"'{source}' has {len(vector)} dimensions, the mapping says {dim}")
    if not np.all(np.isfinite(vector)):
        raise RowFailed(f"'{source}' holds NaN or infinite values")
    return vector.tolist()
