"""A collection document's lineage and what can be said about it (the SDK's CollectionDocumentsApi ancestors,
descendants, download and diagnostics).

A document made by a batch carries flat lineage fields (services/ingestion/runner.py): `source_type` (bucket |
collection), `root_object_id` and `root_bucket_id` (the bucket object at the root), `source_object_id` (tier 1: the
object it was made from) or `source_document_id` and `source_collection_id` (tier 2+: the upstream document), and
`batch_id`. The chain is walked through `source_document_id` one parent at a time; nothing here reads a store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from openpeek.domain import tiering
from openpeek.domain.collections import MAX_SOURCE_DEPTH
from openpeek.domain.errors import DomainError

MAX_ANCESTORS = MAX_SOURCE_DEPTH  # a chain cannot be deeper than the collections that made it
MAX_DESCENDANTS = 100  # direct children per answer, as Mixpeek caps them


class SourceMediaUnavailable(DomainError):
    """The document's source media cannot be served: it has no source object, or the object or its blob is gone."""

    status = 404
    type = "NotFoundError"


class MediaCutUnsupported(DomainError):
    """A time-ranged document's frame-accurate cut needs a video re-encoder, which this deployment does not run."""

    status = 501
    type = "NotImplementedError"


def parent_id(document: Mapping[str, Any]) -> str | None:
    """The upstream document this one was made from (tier 2+), or None for a document made from an object or
    written directly."""
    value = document.get("source_document_id")
    return value if isinstance(value, str) and value else None


def root_object_id(document: Mapping[str, Any]) -> str | None:
    """The bucket object at the root of the document's chain: `root_object_id`, or for a tier-1 document written
    without it, `source_object_id`."""
    for key in ("root_object_id", "source_object_id"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def root_bucket_id(document: Mapping[str, Any]) -> str | None:
    value = document.get("root_bucket_id")
    return value if isinstance(value, str) and value else None


def step(document: Mapping[str, Any], feature_extractor_id: str | None) -> dict[str, Any]:
    """One step of a lineage chain (the SDK's DocumentLineageStep): the collection, its extractor, the document it
    made and when."""
    return {"collection_id": document.get("collection_id"), "feature_extractor_id": feature_extractor_id,
            "document_id": document.get("document_id"), "timestamp": document.get("created_at")}


def time_range(document: Mapping[str, Any]) -> tuple[float, float] | None:
    """(start_time, end_time) in seconds when the document is a time range of its source (a scene, a segment)."""
    start, end = document.get("start_time"), document.get("end_time")
    if all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
           for value in (start, end)):
        return float(start), float(end)
    return None


def payload_bytes(fields: Mapping[str, Any]) -> int:
    """The size of a document's fields (vectors left out) as compact UTF-8 JSON: what its payload costs the store."""
    return len(json.dumps(fields, separators=(",", ":"), ensure_ascii=False, default=str).encode())


@dataclass(frozen=True)
class VectorFact:
    """A vector a document has, or one its collection writes that the document lacks."""

    name: str
    feature_uri: str | None
    dimension: int | None  # the stored vector's length (dense), or its non-zero count (sparse); None when absent
    expected_dimension: int | None
    sparse: bool

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "feature_uri": self.feature_uri, "present": self.dimension is not None,
                "dimension": self.dimension, "expected_dimension": self.expected_dimension, "sparse": self.sparse}


def vector_facts(vectors: Mapping[str, Any] | None,
                 indexes: Mapping[str, tuple[str | None, int | None]]) -> list[VectorFact]:
    """Every vector the document holds and every index (`vector name -> (feature URI, dimension)`) of its collection
    it has none for, by name."""
    held = dict(vectors or {})
    facts = []
    for name in sorted(set(held) | set(indexes)):
        uri, expected = indexes.get(name, (None, None))
        value = held.get(name)
        sparse = isinstance(value, Mapping)
        if sparse:
            dimension: int | None = len(value.get("indices") or ())
        elif isinstance(value, list) and value:
            dimension = len(value)
        else:
            dimension = None
        facts.append(VectorFact(name, uri, dimension, expected, sparse))
    return facts


def visibility(facts: list[VectorFact], *, collection_writes_vectors: bool, tier: str | None,
               lifecycle_state: str | None) -> tuple[bool, str]:
    """(searchable, why): whether a search can find this document, from the vectors it holds and where its
    collection's documents are served from."""
    if tier == tiering.ARCHIVED or lifecycle_state == tiering.ARCHIVED:
        return False, "its collection is archived: only metadata and lineage are kept, no vectors, so no search " \
                      "reaches it"
    present = [fact for fact in facts if fact.dimension is not None]
    if not collection_writes_vectors and not present:
        return False, "its collection writes no vectors: the document is found by listing and filters, not by search"
    if not present:
        missing = ", ".join(fact.name for fact in facts) or "none"
        return False, f"it is stored without a vector for any of its collection's indexes ({missing})"
    where = "the cold store" if (tier == tiering.COLD or lifecycle_state == tiering.COLD) else "the vector store"
    held = ", ".join(f"{fact.name} ({fact.dimension}{' non-zero' if fact.sparse else '-d'})" for fact in present)
    lacking = [fact.name for fact in facts if fact.dimension is None and fact.expected_dimension is not None]
    note = f"; it has no vector for {', '.join(lacking)}" if lacking else ""
    return True, f"searchable in {where} through {held}{note}"
