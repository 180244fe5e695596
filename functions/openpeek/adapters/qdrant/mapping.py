"""What the two Qdrant adapters (server and Edge) share, written without either SDK.

The Lambda closure has qdrant-client but not qdrant-edge, and the embedded runtime must not need the server, so this
module imports neither: it fixes the identity rules (document_id ↔ point id), checks payload-index parameters against
the seed's schema, and walks the neutral Filter tree, leaving each adapter only the construction of its SDK's objects.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Generic, Mapping, Protocol, Sequence, TypeVar

import numpy as np

from openpeek.domain.conditions import (DatetimeRange, Filter, HasIds, IsEmpty, IsNull, MatchAny, MatchText, MatchValue,
                                        Range)
from openpeek.domain.vectors import Metric, PayloadIndexSpec, PayloadType, VectorIndexSpec, VectorPoint

DOCUMENT_ID_KEY = "document_id"
"""Payload key holding the caller's document_id, so that a point found by search can be named again."""

COPY_BATCH = 256
"""Points per scroll page and per upsert when a collection is copied: large enough to amortise round trips, small
enough that one request stays well below Qdrant's 32 MiB body limit with 4k-dimension float vectors."""


_UUID_NAMESPACE = uuid.NAMESPACE_URL.bytes + b"openpeek:"


def point_id(document_id: str) -> str:
    """Qdrant ids must be unsigned integers or UUIDs; a name-based UUID makes the mapping stable without a lookup.
    This is uuid.uuid5(NAMESPACE_URL, "openpeek:" + document_id), computed without building UUID objects: it runs
    twice per document on every upsert."""
    digest = bytearray(hashlib.sha1(_UUID_NAMESPACE + document_id.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def stored_payload(point: VectorPoint) -> dict[str, Any]:
    """The payload as written: the caller's keys plus document_id, which the services usually set already."""
    payload = dict(point.payload)
    current = payload.setdefault(DOCUMENT_ID_KEY, point.id)
    if current != point.id:
        # The point id is derived from the document_id; storing another one would make the point unnameable.
        raise ValueError(f"payload {DOCUMENT_ID_KEY!r} is {current!r} but the point is {point.id!r}")
    return payload


def check_payload_merge(ids: Sequence[str], payload: Mapping[str, Any]) -> None:
    """A merge must not rebind document_id: it is what ties a stored point back to the id it was written under."""
    if DOCUMENT_ID_KEY in payload and any(payload[DOCUMENT_ID_KEY] != doc_id for doc_id in ids):
        raise ValueError(f"set_payload cannot change {DOCUMENT_ID_KEY!r}")


def document_id_of(record: Any, payload: Mapping[str, Any] | None) -> str:
    """The caller's id of a stored point (a record with an `id`); points written by other tools (no document_id) fall
    back to the raw id. The record's id is read only then: Edge builds a uuid.UUID for it on each read (~5 µs, half
    a second over a 100,000-point export)."""
    if payload and isinstance(payload.get(DOCUMENT_ID_KEY), str):
        return payload[DOCUMENT_ID_KEY]
    return str(record.id)


def payload_selection(fields: Sequence[str] | None) -> bool | list[str]:
    """with_payload for a scroll: everything, or the named keys plus the document id (a scroll that exports vectors
    needs little of the payload, and converting it is most of the cost)."""
    return True if fields is None else sorted({DOCUMENT_ID_KEY, *fields})


def ordered_unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def scroll_offset(offset: str | None) -> str | None:
    """The port's opaque scroll offset is the next point's id; anything else is the caller's mistake."""
    if offset is None:
        return None
    try:
        return str(uuid.UUID(offset))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"invalid scroll offset {offset!r}") from None


# -- vector schema -------------------------------------------------------------------------------------------------

METRIC_BY_QDRANT_DISTANCE: dict[str, Metric] = {"cosine": "cosine", "dot": "dot", "euclid": "euclidean"}
"""Qdrant's distance names (lower-cased; the SDKs spell them Cosine/COSINE/...) to the port's metric names."""

SPARSE_METRIC: Metric = "dot"
"""Sparse vectors are always scored by dot product; read-back specs say so whatever the caller declared."""


def check_vector_specs(specs: Sequence[VectorIndexSpec]) -> None:
    """Refuse a bad schema before anything is written, in the same words for both adapters."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("vector index names must be unique")
    for s in specs:
        if not s.name:
            raise ValueError("a vector index needs a name")
        if not s.sparse:
            if s.metric not in ("cosine", "dot", "euclidean"):
                raise ValueError(f"unknown metric {s.metric!r} for vector index {s.name!r}")
            if isinstance(s.dimension, bool) or not isinstance(s.dimension, int) or s.dimension < 1:
                raise ValueError(f"vector index {s.name!r} needs a positive dimension")


# -- payload indexes -----------------------------------------------------------------------------------------------

_INDEX_PARAMS: dict[PayloadType, frozenset[str]] = {
    "keyword": frozenset({"is_tenant"}),
    "integer": frozenset({"lookup", "range"}),
    "float": frozenset(),
    "bool": frozenset(),
    "geo": frozenset(),
    "datetime": frozenset(),
    "text": frozenset({"tokenizer", "min_token_len", "max_token_len", "lowercase"}),
    "uuid": frozenset({"is_tenant"}),
}
"""The parameters seed 000 defines per index type (its *IndexParams schemas), and nothing else: both adapters must
accept exactly the same inputs."""

TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")


def index_params(spec: PayloadIndexSpec) -> dict[str, Any]:
    """The spec's parameters, checked, without None values. Raises ValueError for what the seed does not define."""
    if spec.type not in _INDEX_PARAMS:
        raise ValueError(f"unknown payload index type {spec.type!r}")
    params = {k: v for k, v in spec.params.items() if v is not None}
    if params.pop("type", spec.type) != spec.type:
        raise ValueError(f"payload index params say type {spec.params['type']!r} but the index is {spec.type!r}")
    unknown = sorted(set(params) - _INDEX_PARAMS[spec.type])
    if unknown:
        raise ValueError(f"{spec.type} index does not take {', '.join(unknown)}")
    for name in ("is_tenant", "lookup", "range", "lowercase"):
        if name in params and not isinstance(params[name], bool):
            raise ValueError(f"{name} must be a boolean")
    for name in ("min_token_len", "max_token_len"):
        if name in params and (isinstance(params[name], bool) or not isinstance(params[name], int) or params[name] < 1):
            raise ValueError(f"{name} must be a positive integer")
    if params.get("min_token_len", 0) > params.get("max_token_len", params.get("min_token_len", 0)):
        raise ValueError("min_token_len must not exceed max_token_len")
    if "tokenizer" in params and params["tokenizer"] not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}")
    return params


# -- filters -------------------------------------------------------------------------------------------------------

C = TypeVar("C")


class ConditionBuilder(Protocol[C]):
    """Makes one SDK's condition objects; `translate_filter` decides which to make."""

    def match_value(self, key: str, value: str | int | bool) -> C: ...

    def match_any(self, key: str, values: list[str] | list[int]) -> C: ...

    def match_text(self, key: str, text: str) -> C: ...

    def range(self, condition: Range) -> C: ...

    def datetime_range(self, condition: DatetimeRange) -> C: ...

    def is_null(self, key: str) -> C: ...

    def is_empty(self, key: str) -> C: ...

    def has_ids(self, point_ids: list[str]) -> C: ...

    def filter(self, must: list[C] | None, should: list[C] | None, must_not: list[C] | None) -> C: ...


class FilterTranslator(Generic[C]):
    """Walks the neutral condition tree once for either SDK."""

    def __init__(self, builder: ConditionBuilder[C]) -> None:
        self._b = builder

    def filter(self, f: Filter) -> C:
        return self._b.filter(self._all(f.must), self._all(f.should), self._all(f.must_not))

    def _all(self, conditions: Sequence[Any]) -> list[C] | None:
        # An empty clause is sent as absent: Qdrant would read an empty `should` as "at least one of nothing".
        return [self._one(c) for c in conditions] or None

    def _one(self, c: Any) -> C:
        b = self._b
        if isinstance(c, Filter):
            return self.filter(c)
        if isinstance(c, MatchValue):
            return b.match_value(c.key, c.value)
        if isinstance(c, MatchAny):
            return self._match_any(c)
        if isinstance(c, MatchText):
            return b.match_text(c.key, c.text)
        if isinstance(c, Range):
            return b.range(c)
        if isinstance(c, DatetimeRange):
            return b.datetime_range(c)
        if isinstance(c, IsNull):
            return b.is_null(c.key)
        if isinstance(c, IsEmpty):
            return b.is_empty(c.key)
        if isinstance(c, HasIds):
            return b.has_ids([point_id(i) for i in c.ids])
        raise TypeError(f"not a filter condition: {c!r}")

    def _match_any(self, c: MatchAny) -> C:
        # Qdrant's `any` takes strings or integers, never both (nor booleans): split a mixed list into alternatives.
        strings = [v for v in c.values if isinstance(v, str)]
        integers = [v for v in c.values if isinstance(v, int) and not isinstance(v, bool)]
        booleans = [v for v in c.values if isinstance(v, bool)]
        parts: list[C] = []
        if strings or not c.values:
            parts.append(self._b.match_any(c.key, strings))
        if integers:
            parts.append(self._b.match_any(c.key, integers))
        parts.extend(self._b.match_value(c.key, v) for v in dict.fromkeys(booleans))
        if len(parts) == 1:
            return parts[0]
        return self._b.filter(None, parts, None)


def dense_as_arrays(vectors: dict[str, Any]) -> dict[str, Any]:
    """A point's vectors with each dense list as a float32 numpy row (SearchRequest.vectors_as_arrays); sparse ones
    unchanged. The store's values are float32, so the row holds exactly the list's numbers."""
    return {name: np.asarray(value, dtype=np.float32) if isinstance(value, list) else value
            for name, value in vectors.items()}
