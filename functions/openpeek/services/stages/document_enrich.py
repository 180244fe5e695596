"""document_enrich: join fields from other documents of the namespace (optionally of one collection) onto each
document, matching a field of the document to a field of the others (their document_id by default)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from openpeek.domain import filters as filter_rules
from openpeek.domain.documents import present
from openpeek.domain.stages.candidates import Candidate, value_at, with_value
from openpeek.domain.stages.grouping import hashable
from openpeek.domain.vectors import VectorPoint
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid

MAX_JOIN_VALUES = 1_000
SCAN_PAGE = 1_000
_JOIN_KEYS_PROTECTED = ("document_id", "collection_id", "score")


class DocumentEnrichParameters(StageParameters):
    cache_behavior: Optional[str] = None
    cache_ttl_seconds: Optional[int] = Field(default=None, ge=0)
    retriever_id: Optional[str] = None
    retriever_config: Optional[dict[str, Any]] = None
    retriever_inputs: Optional[dict[str, Any]] = None
    target_collection_id: Optional[str] = None
    source_field: str = Field(default="source_object_id", min_length=1)
    target_field: str = Field(default="document_id", min_length=1)
    fields_to_merge: Optional[list[str]] = None
    output_field: Optional[str] = None
    strategy: Literal["enrich", "replace", "append"] = "enrich"
    when: Optional[dict[str, Any]] = None
    allow_missing: bool = True


class DocumentEnrich(Stage):
    stage_id = "document_enrich"
    category = "apply"
    icon = "git-merge"
    description = ("Joins another document onto each document: the one whose target_field (document_id by default) "
                   "equals the document's source_field, within target_collection_id when given. Merges "
                   "fields_to_merge (or all fields) at the root or under output_field; strategy enrich, replace or "
                   "append; `when` limits which documents are enriched; allow_missing false drops those without a "
                   "match. Joins are direct (retriever_id / retriever_config joins are not supported here).")
    Parameters = DocumentEnrichParameters
    example = {"stage_name": "with_product", "config": {"stage_id": "document_enrich", "parameters": {
        "source_field": "metadata.product_id", "target_field": "document_id", "output_field": "product",
        "fields_to_merge": ["title", "price"]}}}

    def check_rules(self, stage_name: str, parameters: DocumentEnrichParameters) -> None:
        for name in ("retriever_id", "retriever_config", "retriever_inputs"):
            if getattr(parameters, name) is not None:
                raise invalid(stage_name, self.stage_id, name, "retriever-based joins are not supported by this "
                              "deployment; join directly with source_field and target_field")
        if parameters.strategy == "append" and not parameters.output_field:
            raise invalid(stage_name, self.stage_id, "output_field", "strategy 'append' needs an output_field")
        filter_rules.parse_filter(parameters.when)

    def run(self, context: RunContext, parameters: DocumentEnrichParameters,
            candidates: list[Candidate]) -> list[Candidate]:
        condition = filter_rules.parse_filter(parameters.when)
        eligible = [condition is None or filter_rules.matches(condition, c.payload, c.document_id) for c in candidates]
        keys = {hashable(value_at(c, parameters.source_field)): value_at(c, parameters.source_field)
                for c, wanted in zip(candidates, eligible) if wanted and value_at(c, parameters.source_field) is not None}
        matches = self._lookup(context, parameters, list(keys.values())[:MAX_JOIN_VALUES])
        enriched, matched, dropped = [], 0, 0
        for candidate, wanted in zip(candidates, eligible):
            if not wanted:
                enriched.append(candidate)
                continue
            found = matches.get(hashable(value_at(candidate, parameters.source_field)))
            if found is None:
                if parameters.allow_missing:
                    enriched.append(candidate)
                else:
                    dropped += 1
                continue
            matched += 1
            enriched.append(_merge(candidate, found, parameters))
        context.metadata.update({"join_strategy": "direct", "matched_count": matched, "dropped_count": dropped,
                                 "lookup_values": len(keys)})
        if len(keys) > MAX_JOIN_VALUES:
            context.warnings.append(f"document_enrich '{context.stage_name}': joined the first {MAX_JOIN_VALUES} "
                                    "distinct values only")
        return enriched

    def _lookup(self, context: RunContext, parameters: DocumentEnrichParameters,
                values: list[Any]) -> dict[Any, dict[str, Any]]:
        """target value → the matching document's fields as the caller sees them (first match wins)."""
        if not values:
            return {}
        vectors = self.dependencies.vectors
        collection = context.namespace.collection
        found: list[VectorPoint] = []
        if parameters.target_field == "document_id":
            found = vectors.retrieve(collection, [str(v) for v in values])
        else:
            conditions = [{"field": parameters.target_field, "operator": "in", "value": values}]
            if parameters.target_collection_id:
                conditions.append({"field": "collection_id", "operator": "eq",
                                   "value": parameters.target_collection_id})
            wanted = filter_rules.parse_filter({"AND": conditions})
            offset = None
            while True:
                page, offset = vectors.scroll(collection, filter=wanted, limit=SCAN_PAGE, offset=offset)
                found += page
                if offset is None or len(found) >= MAX_JOIN_VALUES * 10:
                    break
        by_value: dict[Any, dict[str, Any]] = {}
        for point in found:
            if parameters.target_collection_id and point.payload.get("collection_id") != parameters.target_collection_id:
                continue
            view = present(point, with_vectors=False)
            key = point.id if parameters.target_field == "document_id" else value_at(
                Candidate(point.id, 0.0, point.payload, {}), parameters.target_field)
            for value in key if isinstance(key, list) else [key]:
                by_value.setdefault(hashable(value), view)
        return by_value


def _merge(candidate: Candidate, found: dict[str, Any], parameters: DocumentEnrichParameters) -> Candidate:
    if parameters.fields_to_merge:
        picked: dict[str, Any] = {}
        for path in parameters.fields_to_merge:
            value = _view_value(found, path)
            if value is not None:
                picked[path.split(".")[-1]] = value
    else:
        picked = dict(found)
    if parameters.strategy == "replace":
        return Candidate(candidate.document_id, candidate.score, {**picked, "enriched_from": found["document_id"]},
                         candidate.vectors)
    if parameters.strategy == "append":
        existing = value_at(candidate, parameters.output_field)
        items = list(existing) if isinstance(existing, list) else []
        return with_value(candidate, parameters.output_field, items + [picked])
    if parameters.output_field:
        return with_value(candidate, parameters.output_field, picked)
    merged = candidate
    for key, value in picked.items():
        if key in _JOIN_KEYS_PROTECTED and not parameters.fields_to_merge:
            continue  # the outer document keeps its own identity and score
        merged = with_value(merged, key, value) if key != "metadata" else merged
    return merged


def _view_value(view: dict[str, Any], path: str) -> Any:
    """A dot path into a document as the caller sees it (metadata at `metadata`, not where it is stored)."""
    found: Any = view
    for part in path.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    return found


STAGE = DocumentEnrich
