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

MAX_ANCESTORS = MAX_SOURCE_DEPTH  # a chain cannot be deeper than the collections that made it
MAX_DESCENDANTS = 100  # direct children per answer, as Mixpeek caps them


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


# -- one document's lineage, as a whole ------------------------------------------------------------------------------

LINEAGE_FIELDS = ("source_type", "root_object_id", "root_bucket_id", "source_object_id", "source_document_id",
                  "source_collection_id")


def lineage_of(document: Mapping[str, Any], chain: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The SDK's DocumentLineage of a document: its flat lineage fields and the chain of steps (`step` of each
    document from the one made from the root object to this one), or None when it names no source object, bucket or
    document (it was written directly: its `source_type` alone, e.g. direct_upsert, traces nothing). No
    database-table imports run here, so `source_row` is never set."""
    fields = {key: document.get(key) if isinstance(document.get(key), str) and document.get(key) else None
              for key in LINEAGE_FIELDS}
    if not any(value for key, value in fields.items() if key != "source_type"):
        return None
    return {**fields, "root_object_id": root_object_id(document), "source_row": None, "lineage_chain": chain}


# -- everything made from one bucket object --------------------------------------------------------------------------

# What a tree reads of each document (and the bucket its root object was in).
TREE_FIELDS = ["collection_id", "source_collection_id", "source_document_id", "root_bucket_id", "created_at"]


def made_from(object_id: str) -> dict[str, Any]:
    """The filter (the API's filter language) of the documents made from one bucket object: those naming it as their
    root, and tier-1 documents written naming it only as their source."""
    return {"OR": [{"field": "root_object_id", "operator": "eq", "value": object_id},
                   {"field": "source_object_id", "operator": "eq", "value": object_id}]}


@dataclass(frozen=True)
class TreeCollection:
    """What a decomposition tree says of a collection: its name, extractor and the collection it reads from (None
    when it reads buckets)."""

    collection_id: str
    collection_name: str | None
    feature_extractor_id: str | None
    source_collection_id: str | None


def decomposition_tree(documents: list[Mapping[str, Any]], collections: Mapping[str, TreeCollection], *,
                       include_document_ids: bool) -> list[dict[str, Any]]:
    """The collections that made `documents` (all made from one object), as a tree: each collection node holds
    how many of them it holds and the nodes of the collections reading from it; the roots are the collections that
    read the object's bucket. A collection that holds none of them but sits between two that do (its documents were
    deleted) is a node with `document_count` 0, so every node hangs under the collection it reads from.
    With `include_document_ids`, each node lists its document ids (oldest first) and, below the first tier, the
    upstream document each was made from."""
    held: dict[str, list[Mapping[str, Any]]] = {}
    for document in documents:
        held.setdefault(str(document.get("collection_id")), []).append(document)

    def upstream(collection_id: str) -> str | None:
        known = collections.get(collection_id)
        if known is not None:
            return known.source_collection_id
        named = {document.get("source_collection_id") for document in held.get(collection_id, ())} - {None, ""}
        return min(named) if named else None  # a collection that is gone: where its documents say they came from

    parent: dict[str, str | None] = {}
    pending = list(held)
    while pending:
        collection_id = pending.pop()
        if collection_id in parent:
            continue
        above = upstream(collection_id)
        parent[collection_id] = above
        if above is not None and above not in parent:
            pending.append(above)
    # A hand-written source can close a loop: a node whose ancestry returns to itself hangs at the top instead,
    # which breaks the loop for the others in it.
    for collection_id in sorted(parent):
        seen, above = {collection_id}, parent[collection_id]
        while above is not None and above not in seen:
            seen.add(above)
            above = parent.get(above)
        if above == collection_id:
            parent[collection_id] = None

    children: dict[str | None, list[str]] = {}
    for collection_id, above in parent.items():
        children.setdefault(above, []).append(collection_id)

    def node(collection_id: str, level: int) -> dict[str, Any]:
        known = collections.get(collection_id)
        mine = sorted(held.get(collection_id, ()), key=lambda document: (str(document.get("created_at") or ""),
                                                                          str(document.get("document_id"))))
        shown: dict[str, Any] = {
            "collection_id": collection_id, "collection_name": known.collection_name if known else None,
            "feature_extractor_id": known.feature_extractor_id if known else None, "depth": level,
            "source_type": "bucket" if parent[collection_id] is None else "collection",
            "source_collection_id": parent[collection_id], "document_count": len(mine)}
        if include_document_ids:
            shown["document_ids"] = [document.get("document_id") for document in mine]
            if parent[collection_id] is not None:
                shown["source_document_ids"] = {document.get("document_id"): parent_id(document) for document in mine}
        shown["children"] = [node(child, level + 1) for child in _ordered(children.get(collection_id, ()),
                                                                           collections)]
        return shown

    return [node(collection_id, 1) for collection_id in _ordered(children.get(None, ()), collections)]


def tree_depth(nodes: list[dict[str, Any]]) -> int:
    return max((max(node["depth"], tree_depth(node["children"])) for node in nodes), default=0)


def _ordered(collection_ids: Any, collections: Mapping[str, TreeCollection]) -> list[str]:
    """Collections by name, then id (a collection that is gone has no name: it comes first)."""
    return sorted(collection_ids, key=lambda collection_id: (
        (collections[collection_id].collection_name or "") if collection_id in collections else "", collection_id))
