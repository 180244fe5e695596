"""feature_search: one or several nearest-neighbour searches sent to the vector store in one call, their rankings
fused (rrf by default, dbsf or weighted). Parameters are checked by domain/retrievers.py (their rules depend on the
namespace's vector indexes)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Literal, Optional

import numpy as np

from openpeek.domain import documents as document_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest, DomainError, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.stages.candidates import Candidate
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.vectors import SearchRequest, SparseVector
from openpeek.services.stages.base import RunContext, Stage, StageParameters

RRF_K = 60
PYTHON_FILTER_OVERFETCH = 10
DEFAULT_TOP_K = 10


class SearchQuery(StageParameters):
    input_mode: Literal["vector", "text", "document"] = "vector"
    value: Any


class Search(StageParameters):
    feature_uri: str
    query: SearchQuery
    filters: Optional[dict[str, Any]] = None
    top_k: Optional[int] = None
    weight: Optional[float] = None
    score_threshold: Optional[float] = None


class FeatureSearchParameters(StageParameters):
    searches: list[Search]
    final_top_k: Optional[int] = None
    fusion: Literal["rrf", "dbsf", "weighted"] = "rrf"
    weights: Optional[list[float]] = None
    score_threshold: Optional[float] = None


def _bad(message: str, code: str = "invalid_query", **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


class FeatureSearch(Stage):
    stage_id = "feature_search"
    category = "filter"
    icon = "search"
    description = ("Nearest-neighbour search on one or more of the namespace's vector indexes (vector, text or "
                   "document query), fused by rrf, dbsf or weighted scores, with filters.")
    Parameters = FeatureSearchParameters
    cost_tier = "moderate"
    example = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
        {"feature_uri": "text_embedding", "query": {"input_mode": "text", "value": "{{INPUT.query}}"},
         "top_k": 50}], "final_top_k": 25}}}
    use_cases = ("semantic search", "hybrid dense + sparse search", "more like this document")

    def check(self, namespace: Namespace, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        rules.check_feature_search(namespace, stage_name, parameters)
        return parameters

    def parse(self, stage_name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        return parameters

    def run(self, context: RunContext, parameters: dict, candidates: list[Candidate]) -> list[Candidate]:
        return self.run_many([(context, parameters)])[0]

    def run_many(self, runs: list[tuple[RunContext, dict]]) -> list[list[Candidate]]:
        """Several executions' searches in one vector-store call where no authorization plan intervenes (batch
        execution); each execution's rankings are then fused on their own."""
        if not runs:
            return []
        namespace = runs[0][0].namespace
        vectors = self.dependencies.vectors
        embedded = self._embed_together(namespace, runs) if len(runs) > 1 else {}
        planned = [self._plan(context, parameters, embedded) for context, parameters in runs]
        # An execution whose collections are all cold asks the vector store nothing: it holds none of their points,
        # and a namespace with only cold collections then never opens (or keeps in memory) its vector store shard.
        hot = [context.tiers is None or context.tiers[1].hot_needed for context, _ in runs]
        if all(context.access is None for context, _ in runs):
            everything = [request for (requests, _, _), asked in zip(planned, hot) if asked for request in requests]
            results = vectors.query(namespace.collection, everything) if everything else []
            split, offset = [], 0
            for (requests, _, _), asked in zip(planned, hot):
                if not asked:
                    split.append([[] for _ in requests])
                    continue
                split.append(results[offset: offset + len(requests)])
                offset += len(requests)
        else:  # the namespace enforces document authorization: the plan restricts (and may repeat) the searches
            split = [context.access.query(lambda batch: vectors.query(namespace.collection, batch), requests)
                     for (context, _), (requests, _, _) in zip(runs, planned)]
        split = [self._across_tiers(context, requests, results)
                 for (context, _), (requests, _, _), results in zip(runs, planned, split)]
        usage = self.dependencies.usage
        if usage is not None and namespace.auto_create_indexes:
            usage.record(namespace.namespace_id, set().union(
                *(filter_rules.filter_keys(request.filter) for requests, _, _ in planned for request in requests)))
        return [self._finish(context, parameters, results, python_filters, limits)
                for (context, parameters), results, (_, python_filters, limits) in zip(runs, split, planned)]

    @staticmethod
    def _across_tiers(context: RunContext, requests: list[SearchRequest], results: list) -> list:
        """Cold collections answer from the cold store, merged with the hot results by score (`_source_tier`)."""
        if context.tiers is None:
            return results
        search, plan = context.tiers
        return search.search(plan, requests, results)

    def _embed_together(self, namespace: Namespace, runs: list[tuple[RunContext, dict]]) -> dict[tuple, list]:
        """The text queries of several executions embedded in one model call per inference service (a batch's 50
        queries are one forward pass, not 50). A problem (an index without a service, the model failing) leaves
        this empty, so each execution embeds its own queries and fails, or not, on its own."""
        wanted: dict[str, dict[tuple[str, str], None]] = {}
        services = namespace.vector_inference_map()
        for _, parameters in runs:
            for search in parameters.get("searches") or ():
                query = search.get("query") or {}
                if query.get("input_mode") != "text" or not isinstance(query.get("value"), str) or not query["value"]:
                    continue
                try:
                    index = rules.resolve_feature_uri(namespace, search["feature_uri"])
                except BadRequest:
                    continue
                if services.get(index):
                    wanted.setdefault(services[index], {})[(index, query["value"])] = None
        embedded: dict[tuple, list] = {}
        for service, keys in wanted.items():
            if len(keys) < 2:
                continue
            try:
                found = self.dependencies.inference.embed_texts(service, [text for _, text in keys])
            except (DomainError, DependencyUnavailable):
                return {}
            embedded.update(zip(keys, found))
        return embedded

    def _plan(self, context: RunContext, parameters: dict,
              embedded: dict[tuple, list] | None = None) -> tuple[list[SearchRequest], list, list[int]]:
        namespace, stage = context.namespace, context.stage_name
        final_top_k = _optional_top_k(parameters.get("final_top_k"), stage, "final_top_k")
        with_vectors = context.return_vectors or context.fetch_vectors
        # Only the fields later stages read, for each of the hundreds of hits (the page returned is completed);
        # not where hits are filtered in Python here, checked for access, or merged with cold collections' hits.
        projected = (tuple(sorted(context.payload_fields)) if context.payload_fields is not None
                     and context.access is None and (context.tiers is None or not context.tiers[1].cold) else None)
        requests, python_filters, limits = [], [], []
        for position, search in enumerate(parameters["searches"]):
            index = rules.resolve_feature_uri(namespace, search["feature_uri"])
            vector = self._query_vector(namespace, index, search["query"], stage, position, embedded)
            top_k = _optional_top_k(search.get("top_k"), stage, "top_k") or final_top_k or DEFAULT_TOP_K
            wanted = filter_rules.combine(filter_rules.parse_filter(search.get("filters")), context.ad_hoc)
            store_filter = wanted
            limit = top_k
            if wanted is not None and filter_rules.needs_python(wanted):
                store_filter = filter_rules.strip_python_only(wanted)
                limit = min(rules.MAX_TOP_K, top_k * PYTHON_FILTER_OVERFETCH)
                python_filters.append(wanted)
            else:
                python_filters.append(None)
            limits.append(top_k)
            threshold = _optional_number(search.get("score_threshold"), stage, "score_threshold")
            # Vectors only a later stage computes on (mmr, cluster) come as float32 rows; those the caller asked
            # to see (return_vectors) stay lists, as the response presents them.
            payload_fields = projected if python_filters[-1] is None else None
            context.payload_projected = context.payload_projected or payload_fields is not None
            requests.append(SearchRequest(vector_name=index, vector=vector, limit=limit, filter=store_filter,
                                          score_threshold=threshold, with_vectors=with_vectors,
                                          vectors_as_arrays=with_vectors and not context.return_vectors,
                                          payload_fields=payload_fields))
            context.search_index = context.search_index or index
        stage_threshold = _optional_number(parameters.get("score_threshold"), stage, "score_threshold")
        if (final_top_k and len(requests) == 1 and python_filters[0] is None and stage_threshold is None
                and context.access is None and context.tiers is None):
            # One search whose hits nothing re-ranks or filters in Python: the stage keeps its first final_top_k
            # (_finish), so the store need not convert the others (top 200 searched for 10 returned).
            requests[0] = replace(requests[0], hits_used=min(final_top_k, limits[0]))
        return requests, python_filters, limits

    def _finish(self, context: RunContext, parameters: dict, results: list, python_filters: list,
                limits: list[int]) -> list[Candidate]:
        final_top_k = parameters.get("final_top_k")
        stage_threshold = parameters.get("score_threshold")
        ranked: list[list[Candidate]] = []
        for hits, python_filter, top_k in zip(results, python_filters, limits):
            found = [Candidate(hit.id, hit.score, hit.payload, hit.vectors) for hit in hits]
            if python_filter is not None:
                found = [c for c in found if filter_rules.matches(python_filter, c.payload, c.document_id)]
            ranked.append(found[:top_k])
        fused = ranked[0] if len(ranked) == 1 else fuse(ranked, parameters.get("fusion") or "rrf",
                                                         parameters.get("weights"))
        if stage_threshold is not None:
            fused = [c for c in fused if c.score >= stage_threshold]
        context.metadata["searches"] = len(limits)
        if context.search_index:
            context.metadata["feature_index"] = context.search_index
        return fused[: final_top_k or max(limits)]

    def _query_vector(self, namespace: Namespace, index: str, query: dict, stage: str, position: int,
                      embedded: dict[tuple, list] | None = None):
        spec = next(spec for spec in namespace.vector_indexes() if spec.name == index)
        mode = query.get("input_mode", "vector")
        value = query.get("value")
        where = f"stage '{stage}' searches[{position}]"
        if value is None or value == "" or value == []:
            raise _bad(f"{where}: the query value is empty (is the input it names missing?)")
        if mode == "text":
            if not isinstance(value, str):
                raise _bad(f"{where}: input_mode text takes a string")
            vector = (embedded or {}).get((index, value)) or self.dependencies.inference.embed_query(
                namespace, index, value)
            if len(vector) != spec.dimension:
                raise _bad(f"{where}: the inference service for '{index}' returns {len(vector)}-d vectors; the "
                           f"index holds {spec.dimension}-d", code="dimension_mismatch")
            return vector
        if mode == "document":
            if not isinstance(value, str):
                raise _bad(f"{where}: input_mode document takes a document_id")
            found = self.dependencies.vectors.retrieve(namespace.collection, [value], with_vectors=True)
            if not found or index not in found[0].vectors:
                raise NotFound("document", value)
            return found[0].vectors[index]
        return _checked_vector(spec, value, where)


def _optional_top_k(value: Any, stage: str, name: str) -> int | None:
    """A top_k after substitution (a template may have brought any type)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= rules.MAX_TOP_K:
        raise _bad(f"stage '{stage}': {name} must be an integer from 1 to {rules.MAX_TOP_K}")
    return value


def _optional_number(value: Any, stage: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"stage '{stage}': {name} must be a number")
    return value


def _checked_vector(spec, value: Any, where: str) -> list[float] | SparseVector:
    if spec.sparse:
        if not isinstance(value, dict) or set(value) != {"indices", "values"}:
            raise _bad(f"{where}: index '{spec.name}' is sparse; send {{indices, values}}")
        return document_rules.check_sparse(spec.name, value, 0, "query")
    if not isinstance(value, list):
        raise _bad(f"{where}: input_mode vector takes a list of {spec.dimension} numbers", code="invalid_query_vector")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 1 or array.dtype.kind not in "fiu":
        raise _bad(f"{where}: the query vector must be a flat list of numbers", code="invalid_query_vector")
    if array.shape[0] != spec.dimension:
        raise _bad(f"{where}: the query vector has dimension {array.shape[0]}; index '{spec.name}' expects "
                   f"{spec.dimension}", code="dimension_mismatch", vector_index=spec.name,
                   expected_dimension=spec.dimension, got_dimension=int(array.shape[0]))
    if not np.isfinite(array).all():
        raise _bad(f"{where}: the query vector holds NaN or infinity", code="invalid_query_vector")
    return value


def fuse(ranked: list[list[Candidate]], fusion: str, weights: list[float] | None) -> list[Candidate]:
    """Several rankings → one. rrf: Σ 1/(k + rank). dbsf: each search's scores normalised by mean ± 3σ, summed.
    weighted: each search's scores min-max normalised, times its weight, summed."""
    weights = weights or [1.0] * len(ranked)
    combined: dict[str, float] = {}
    first_seen: dict[str, Candidate] = {}
    for hits, weight in zip(ranked, weights):
        scores = [c.score for c in hits]
        normalise = _normaliser(fusion, scores)
        for rank, candidate in enumerate(hits):
            first_seen.setdefault(candidate.document_id, candidate)
            if fusion == "rrf":
                contribution = weight / (RRF_K + rank + 1)
            else:
                contribution = weight * normalise(candidate.score)
            combined[candidate.document_id] = combined.get(candidate.document_id, 0.0) + contribution
    order = sorted(combined, key=lambda doc: (-combined[doc], doc))
    return [Candidate(doc, combined[doc], first_seen[doc].payload, first_seen[doc].vectors) for doc in order]


def _normaliser(fusion: str, scores: list[float]) -> Callable[[float], float]:
    if not scores:
        return lambda score: 0.0
    if fusion == "dbsf":
        mean = sum(scores) / len(scores)
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
        low, high = mean - 3 * spread, mean + 3 * spread
    else:
        low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return lambda score: 1.0
    return lambda score: min(1.0, max(0.0, (score - low) / (high - low)))


STAGE = FeatureSearch
