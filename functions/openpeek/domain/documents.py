"""Bring-your-own documents (seed 002): the checks every vector passes before anything is written, and the point a
document becomes in the vector store.

Stored layout (DESIGN.md "Keys and identifiers"): the caller's payload keys at top level; system fields (document_id,
namespace_id, internal_id as tenant key, collection_id, lineage, created_at, updated_at) written by the service; the
caller's metadata and ACL under `_internal`. A payload key that collides with a system field is dropped and reported,
as the SDK's BYOUpsertResponse.dropped_payload_fields documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace, VectorConfig, check_vector_configs
from openpeek.domain.vectors import SparseVector, VectorIndexSpec, VectorPoint

MAX_DOCUMENTS_PER_UPSERT = 1000
DEFAULT_COLLECTION_ID = "col_default"
"""The namespace-level collection a document belongs to when the upsert names none (the SDK's BYOUpsertRequest):
a document always has a collection_id, which the SDK's DocumentResponse requires."""
MAX_DOCUMENT_ID_LENGTH = 512
MAX_PAYLOAD_DEPTH = 32
"""How deep a document's payload, metadata or lineage chain may nest. Qdrant cannot decode a payload nested ~127
levels: such a point poisons every search of its namespace, so the limit is kept well below that, at the door."""
MAX_PAYLOAD_BYTES = 1_048_576
"""A document's payload, metadata and lineage together, measured as the length of their strings and keys plus
8 bytes per value: a vector-store payload is for filtering and display, not for blobs."""
FLOAT32_MAX = 3.4028234663852886e38
"""The vector store keeps float32: a larger magnitude would become infinity, so it is refused like NaN."""
INTERNAL = "_internal"
LINEAGE_FIELDS = (
    "root_object_id", "root_bucket_id", "source_object_id", "source_document_id", "source_collection_id",
    "lineage_path", "lineage_chain", "content_hash",
)
SYSTEM_FIELDS = frozenset({
    "document_id", "namespace_id", "internal_id", "collection_id", "bucket_id", "object_id", "source_type",
    "created_at", "updated_at", INTERNAL, "_acl", "metadata", *LINEAGE_FIELDS,
})


@dataclass
class CheckedDocument:
    document_id: str
    vectors: dict[str, list[float] | SparseVector]
    payload: dict[str, Any]
    dropped_fields: list[str] = field(default_factory=list)


def _reject(message: str, position: int, document_id: Any, **details: Any) -> BadRequest:
    long = isinstance(document_id, str) and len(document_id) > 80
    shown = document_id[:80] + "…" if long else document_id  # an overlong id is itself the error: shorten it
    return BadRequest(
        f"documents[{position}] ({shown!r}): {message}",
        code="invalid_document",
        details={"index": position, "document_id": shown, **details},
    )


def check_batch(namespace: Namespace, documents: list[dict[str, Any]]) -> list[CheckedDocument]:
    """Every document and every vector of the request, checked before anything is written: one bad document
    rejects the whole request."""
    if not documents:
        raise BadRequest("documents must hold at least one document", code="invalid_document")
    if len(documents) > MAX_DOCUMENTS_PER_UPSERT:
        raise BadRequest(
            f"At most {MAX_DOCUMENTS_PER_UPSERT} documents per upsert; got {len(documents)}",
            code="too_many_documents",
            details={"max": MAX_DOCUMENTS_PER_UPSERT, "got": len(documents)},
        )
    indexes = {spec.name: spec for spec in namespace.vector_indexes()}
    seen: set[str] = set()
    checked = []
    for position, document in enumerate(documents):
        document_id = document.get("document_id")
        if not isinstance(document_id, str) or not document_id.strip() or len(document_id) > MAX_DOCUMENT_ID_LENGTH:
            raise _reject(f"document_id must be 1-{MAX_DOCUMENT_ID_LENGTH} characters, not blank", position,
                          document_id)
        if document_id in seen:
            raise _reject("document_id appears more than once in this request", position, document_id)
        seen.add(document_id)
        vectors = {
            name: _check_vector(indexes, name, value, position, document_id)
            for name, value in (document.get("vectors") or {}).items()
        }
        _check_free_form(document, position, document_id)
        payload, dropped = _user_payload(document.get("payload"))
        checked.append(CheckedDocument(document_id, vectors, payload, dropped))
    return checked


def _check_vector(indexes: dict[str, VectorIndexSpec], name: str, value: Any, position: int,
                  document_id: str) -> list[float] | SparseVector:
    spec = indexes.get(name)
    if spec is None:
        raise _reject(
            f"unknown vector index '{name}'; this namespace has: {', '.join(sorted(indexes)) or 'none'}",
            position, document_id, vector_index=name, available_indexes=sorted(indexes),
        )
    if spec.sparse:
        return check_sparse(name, value, position, document_id)
    if type(value) is list and len(value) == spec.dimension and _plainly_valid(value, spec.metric):
        return value
    return _explain_dense(spec, name, value, position, document_id)


def _plainly_valid(vector: list, metric: str) -> bool:
    """The common case, vouched for in C loops (a few microseconds for 384 numbers, against ~30 for numpy): sum()
    raises on anything that is not a number and carries NaN or infinity through, and any() finds a non-zero entry.
    False means "look closer", never "invalid": a finite vector whose sum overflows goes to the precise check too."""
    try:
        total = sum(vector)
        finite = math.isfinite(total)
    except (TypeError, OverflowError):
        return False
    return finite and (metric != "cosine" or any(vector)) and -FLOAT32_MAX <= min(vector) and \
        max(vector) <= FLOAT32_MAX


def _explain_dense(spec: VectorIndexSpec, name: str, value: Any, position: int,
                   document_id: str) -> list[float]:
    """The precise, slower check of a dense vector: raises the error that names what is wrong."""
    if isinstance(value, dict):
        raise _reject(f"vector index '{name}' is dense: send a list of {spec.dimension} numbers", position,
                      document_id, vector_index=name)
    if not isinstance(value, list) or not value:
        raise _reject(f"vector '{name}' must be a non-empty list of numbers", position, document_id,
                      vector_index=name)
    try:
        array = np.asarray(value)  # no dtype: a string or an object must not be silently converted
    except (TypeError, ValueError, OverflowError):
        array = None
    # Booleans pass as 0 and 1, as they do through sum() in the fast path and in the vector store itself.
    if array is None or array.dtype.kind not in "fiub" or array.size == 0:
        raise _reject(f"vector '{name}' must be a list of numbers", position, document_id, vector_index=name)
    if array.ndim != 1:
        raise _reject(f"vector '{name}' must be a flat list of numbers (multi-vectors are not supported)",
                      position, document_id, vector_index=name)
    if array.shape[0] != spec.dimension:
        raise _reject(
            f"vector '{name}' has dimension {array.shape[0]}; the index expects {spec.dimension}",
            position, document_id, vector_index=name, expected_dimension=spec.dimension, got_dimension=array.shape[0],
        )
    as_float = array.astype(np.float64)
    if not np.isfinite(as_float).all():
        raise _reject(f"vector '{name}' holds NaN or infinity", position, document_id, vector_index=name)
    if (np.abs(as_float) > FLOAT32_MAX).any():
        raise _reject(f"vector '{name}' holds a number beyond float32's range (±{FLOAT32_MAX:.4g})", position,
                      document_id, vector_index=name)
    if spec.metric == "cosine" and not array.any():
        raise _reject(f"vector '{name}' is all zeros, which has no direction under cosine", position, document_id,
                      vector_index=name)
    return value  # checked: a flat list of finite numbers of the right length


def check_sparse(name: str, value: Any, position: int, document_id: str) -> SparseVector:
    if not isinstance(value, dict) or set(value) != {"indices", "values"}:
        raise _reject(f"vector index '{name}' is sparse: send {{\"indices\": [...], \"values\": [...]}}", position,
                      document_id, vector_index=name)
    indices, values = value["indices"], value["values"]
    if not isinstance(indices, list) or not isinstance(values, list) or not indices:
        raise _reject(f"sparse vector '{name}' needs non-empty indices and values lists", position, document_id,
                      vector_index=name)
    if len(indices) != len(values):
        raise _reject(f"sparse vector '{name}' has {len(indices)} indices but {len(values)} values", position,
                      document_id, vector_index=name)
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 or i > 2**32 - 1 for i in indices):
        raise _reject(f"sparse vector '{name}' indices must be integers from 0 to 4294967295", position,
                      document_id, vector_index=name)
    if len(set(indices)) != len(indices):
        raise _reject(f"sparse vector '{name}' repeats an index", position, document_id, vector_index=name)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise _reject(f"sparse vector '{name}' values must be numbers", position, document_id, vector_index=name)
    as_float = np.asarray(values, dtype=np.float64)
    if not np.isfinite(as_float).all():
        raise _reject(f"sparse vector '{name}' holds NaN or infinity", position, document_id, vector_index=name)
    if (np.abs(as_float) > FLOAT32_MAX).any():
        raise _reject(f"sparse vector '{name}' holds a number beyond float32's range (±{FLOAT32_MAX:.4g})",
                      position, document_id, vector_index=name)
    return SparseVector(tuple(indices), tuple(float(v) for v in values))


def _check_free_form(document: dict[str, Any], position: int, document_id: str) -> None:
    """The caller's free-form fields (payload, metadata, lineage_chain) within MAX_PAYLOAD_DEPTH and
    MAX_PAYLOAD_BYTES; the error names the path where the limit was passed. Walked with an explicit stack, so a
    hostile depth cannot exhaust Python's."""
    size = 0
    for name in ("payload", "metadata", "lineage_chain"):
        stack: list[tuple[Any, str, int]] = [(document.get(name), name, 0)]
        while stack:
            value, path, depth = stack.pop()
            size += 8
            if isinstance(value, dict):
                if depth >= MAX_PAYLOAD_DEPTH:
                    raise _reject(f"'{path[:200]}' nests deeper than {MAX_PAYLOAD_DEPTH} levels", position,
                                  document_id, path=path[:200], max_depth=MAX_PAYLOAD_DEPTH)
                for key, item in value.items():
                    size += len(key)
                    stack.append((item, f"{path}.{key}", depth + 1))
            elif isinstance(value, list):
                if depth >= MAX_PAYLOAD_DEPTH:
                    raise _reject(f"'{path[:200]}' nests deeper than {MAX_PAYLOAD_DEPTH} levels", position,
                                  document_id, path=path[:200], max_depth=MAX_PAYLOAD_DEPTH)
                stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
            elif isinstance(value, str):
                size += len(value)
            if size > MAX_PAYLOAD_BYTES:
                raise _reject(f"payload, metadata and lineage exceed {MAX_PAYLOAD_BYTES} bytes (at '{path[:200]}')",
                              position, document_id, path=path[:200], max_bytes=MAX_PAYLOAD_BYTES)


def _user_payload(payload: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    if not payload:
        return {}, []
    dropped = [key for key in payload if key in SYSTEM_FIELDS]
    if not dropped:
        return payload, []
    return {key: value for key, value in payload.items() if key not in SYSTEM_FIELDS}, dropped


def build_point(namespace: Namespace, document: CheckedDocument, source: dict[str, Any], *,
                collection_id: str | None, created_at: str, updated_at: str) -> VectorPoint:
    """The stored point: the caller's payload plus the system fields (which always win)."""
    payload = dict(document.payload)
    payload.update({
        "document_id": document.document_id,
        "namespace_id": namespace.public_id,  # what the caller sees and filters on; storage never reads it
        "internal_id": namespace.org_id,
        "collection_id": collection_id,
        "source_type": source.get("source_type") or "direct_upsert",
        "created_at": created_at,
        "updated_at": updated_at,
    })
    for name in LINEAGE_FIELDS:
        if source.get(name) is not None:
            payload[name] = source[name]
    internal = {}
    if source.get("metadata") is not None:
        internal["metadata"] = source["metadata"]
    if source.get("acl") is not None:
        internal["_acl"] = {key: value for key, value in source["acl"].items() if value is not None}
    if internal:
        payload[INTERNAL] = internal
    return VectorPoint(id=document.document_id, vectors=document.vectors, payload=payload)


def unsearchable(namespace: Namespace, document: CheckedDocument) -> bool:
    """Stored, but with no vector for any of the namespace's indexes, so no search can find it."""
    return not document.vectors and bool(namespace.vector_indexes())


def present(point: VectorPoint, *, with_vectors: bool) -> dict[str, Any]:
    """A stored document as the caller sees it: payload and system fields at top level, metadata and ACL by name,
    `_internal` never raw."""
    view = {key: value for key, value in point.payload.items() if key != INTERNAL}
    internal = point.payload.get(INTERNAL) or {}
    view["document_id"] = point.id
    if "metadata" in internal:
        view["metadata"] = internal["metadata"]
    if "_acl" in internal:
        view["acl"] = internal["_acl"]
    if with_vectors:
        view["vectors"] = {
            name: ({"indices": list(value.indices), "values": list(value.values)}
                   if isinstance(value, SparseVector) else value)
            for name, value in point.vectors.items()
        }
    return view


def inferred_vector_configs(namespace: Namespace, documents: list[dict[str, Any]]) -> list[VectorConfig]:
    """A standalone namespace created without vector_configs learns its indexes from its first upserts (the SDK's
    CreateStandaloneNamespaceRequest: "if omitted, indexes are inferred"): a list of numbers makes a dense cosine index
    of its length, {indices, values} a sparse one. Every document of the batch must agree on an index's shape; the
    values themselves are checked afterwards like any other upsert."""
    if not namespace.extra.get("dynamic_vector_indexes"):
        return []
    known = {spec.name for spec in namespace.vector_indexes()}
    shapes: dict[str, tuple[bool, int]] = {}
    for position, document in enumerate(documents):
        for name, value in (document.get("vectors") or {}).items():
            if name in known:
                continue
            sparse = isinstance(value, dict)
            shape = (sparse, 0 if sparse else (len(value) if isinstance(value, list) else -1))
            if shape[1] == -1 or (not sparse and shape[1] == 0):
                raise _reject(f"vector '{name}' must be a non-empty list of numbers or {{indices, values}}",
                              position, document.get("document_id"), vector_index=name)
            if shapes.setdefault(name, shape) != shape:
                raise _reject(
                    f"vector '{name}' is new to this namespace and its documents disagree on its shape "
                    f"({shapes[name][1]} vs {shape[1]} dimensions)", position, document.get("document_id"),
                    vector_index=name,
                )
    configs = [VectorConfig(name, 0, "dot", sparse=True) if sparse else VectorConfig(name, dimension, "cosine")
               for name, (sparse, dimension) in shapes.items()]
    check_vector_configs([{"name": c.name, "dimension": c.dimension or None, "metric": c.metric,
                           "type": "sparse" if c.sparse else "dense"} for c in configs])
    return configs
