"""Running a retriever: inputs checked and substituted, then each stage in order over a list of candidates.

feature_search sends all its searches to the vector store in one call and fuses their rankings (rrf by default,
dbsf or weighted); attribute_filter, sort and limit work on the candidates already found.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from openpeek.domain import documents as document_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import retrievers as rules
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import Retriever
from openpeek.ports import Filter, SearchRequest, SparseVector, VectorPoint, VectorStore
from openpeek.services.access_control import AccessControl, AccessPlan
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.inference import InferenceGateway

RRF_K = 60
PYTHON_FILTER_OVERFETCH = 10
DEFAULT_TOP_K = 10
MAX_PAGE_SIZE = 500


@dataclass
class Candidate:
    document_id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, Any]


def _bad(message: str, code: str = "invalid_query", **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


class RetrievalService:
    def __init__(self, vectors: VectorStore, inference: InferenceGateway, usage: FilterUsage | None = None,
                 access: AccessControl | None = None) -> None:
        self._vectors = vectors
        self._access = access or AccessControl()  # acts only for namespaces whose authorization is enabled
        self._inference = inference
        self._usage = usage  # counts filtered fields for namespaces with auto_create_indexes
        self._stages: dict[str, Callable[..., list[Candidate]]] = {
            "feature_search": self._feature_search,
            "attribute_filter": self._attribute_filter,
            "sort": self._sort,
            "limit": self._limit,
        }
        self._tiers: Any = None  # CrossTierSearch, where collections can be cold (services/tiering)

    def use_tiers(self, tiers: Any) -> None:
        """Feature searches also read cold collections from the cold store (merged by score, `_source_tier`)."""
        self._tiers = tiers

    def execute(self, namespace: Namespace, retriever: Retriever, request: dict[str, Any], *,
                subject: str | None = None) -> dict[str, Any]:
        """`subject`: the acting principal (X-Acting-Subject), for namespaces that enforce document authorization."""
        started = time.perf_counter()
        inputs = rules.check_inputs(retriever.input_schema, request.get("inputs") or {})
        ad_hoc = filter_rules.parse_filter(rules.substitute(request.get("filters"), inputs, request))
        searches = any(stage["config"]["stage_id"] == "feature_search" for stage in retriever.stages)
        access = self._access.plan(namespace, subject) if searches else None
        tiers = self._tiers.plan(namespace, retriever) if searches and self._tiers is not None else None
        with_vectors = bool(request.get("return_vectors"))
        candidates: list[Candidate] = []
        statistics: dict[str, dict[str, Any]] = {}
        searched = False
        for stage in retriever.stages:
            stage_id = stage["config"]["stage_id"]
            parameters = rules.substitute(stage["config"].get("parameters") or {}, inputs, request)
            stage_started = time.perf_counter()
            before = len(candidates)
            candidates = self._stages[stage_id](namespace, stage["stage_name"], parameters, candidates,
                                                ad_hoc=ad_hoc, with_vectors=with_vectors, access=access, tiers=tiers)
            searched = searched or stage_id == "feature_search"
            statistics[stage["stage_name"]] = {
                "input_count": before,
                "output_count": len(candidates),
                "duration_ms": round((time.perf_counter() - stage_started) * 1000, 3),
                "efficiency": round(len(candidates) / before, 4) if before else 0,
                "metadata": {"stage_id": stage_id},
            }
            if tiers is not None and stage_id == "feature_search":
                statistics[stage["stage_name"]]["metadata"]["source_tiers"] = _source_tiers(candidates)
        if ad_hoc is not None and not searched:
            candidates = [c for c in candidates if filter_rules.matches(ad_hoc, c.payload, c.document_id)]

        page, pagination = _paginate(candidates, request)
        total_ms = round((time.perf_counter() - started) * 1000, 3)
        explain_plan = None
        if request.get("explain"):
            explain_plan = {"stages": [{"stage_name": name, **figures} for name, figures in statistics.items()],
                            "total_time_ms": total_ms, "optimization_summary": None}
        return {
            "retriever_id": retriever.retriever_id,
            "execution_id": new_id("exec"),
            "status": "completed",
            "documents": [_present(candidate, with_vectors) for candidate in page],
            "pagination": pagination,
            "stage_statistics": {"stages": statistics, "total_time_ms": total_ms, "credits_used": 0,
                                 "server_service_ms": total_ms},
            "budget": {"credits_used": 0, "time_elapsed_ms": total_ms},
            "warnings": (tiers.warnings or None) if tiers is not None else None,
            **({"explain_plan": explain_plan} if explain_plan else {}),
        }

    # -- stages -------------------------------------------------------------------------------------------------

    def _feature_search(self, namespace: Namespace, stage: str, parameters: dict, _: list[Candidate], *,
                        ad_hoc: Filter | None, with_vectors: bool,
                        access: AccessPlan | None = None, tiers: Any = None) -> list[Candidate]:
        searches = parameters["searches"]
        final_top_k = _optional_top_k(parameters.get("final_top_k"), stage, "final_top_k")
        stage_threshold = _optional_number(parameters.get("score_threshold"), stage, "score_threshold")
        requests, python_filters, limits = [], [], []
        for position, search in enumerate(searches):
            index = rules.resolve_feature_uri(namespace, search["feature_uri"])
            vector = self._query_vector(namespace, index, search["query"], stage, position)
            top_k = _optional_top_k(search.get("top_k"), stage, "top_k") or final_top_k or DEFAULT_TOP_K
            wanted = filter_rules.combine(filter_rules.parse_filter(search.get("filters")), ad_hoc)
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
            requests.append(SearchRequest(vector_name=index, vector=vector, limit=limit, filter=store_filter,
                                          score_threshold=threshold, with_vectors=with_vectors))
        if access is None:
            results = self._vectors.query(namespace.collection, requests)
        else:  # the namespace enforces document authorization: the plan restricts (and may repeat) the searches
            results = access.query(lambda batch: self._vectors.query(namespace.collection, batch), requests)
        if tiers is not None:
            results = self._tiers.search(tiers, requests, results)
        if self._usage is not None and namespace.auto_create_indexes:
            self._usage.record(namespace.namespace_id, set().union(
                *(filter_rules.filter_keys(request.filter) for request in requests)))

        ranked: list[list[Candidate]] = []
        for hits, python_filter, top_k in zip(results, python_filters, limits):
            found = [Candidate(hit.id, hit.score, hit.payload, hit.vectors) for hit in hits]
            if python_filter is not None:
                found = [c for c in found if filter_rules.matches(python_filter, c.payload, c.document_id)]
            ranked.append(found[:top_k])
        fused = ranked[0] if len(ranked) == 1 else _fuse(ranked, parameters.get("fusion") or "rrf",
                                                          parameters.get("weights"))
        if stage_threshold is not None:
            fused = [c for c in fused if c.score >= stage_threshold]
        return fused[: final_top_k or max(limits)]

    def _query_vector(self, namespace: Namespace, index: str, query: dict, stage: str, position: int):
        spec = next(spec for spec in namespace.vector_indexes() if spec.name == index)
        mode = query.get("input_mode", "vector")
        value = query.get("value")
        where = f"stage '{stage}' searches[{position}]"
        if value is None or value == "" or value == []:
            raise _bad(f"{where}: the query value is empty (is the input it names missing?)")
        if mode == "text":
            if not isinstance(value, str):
                raise _bad(f"{where}: input_mode text takes a string")
            vector = self._inference.embed_query(namespace, index, value)
            if len(vector) != spec.dimension:
                raise _bad(f"{where}: the inference service for '{index}' returns {len(vector)}-d vectors; the "
                           f"index holds {spec.dimension}-d", code="dimension_mismatch")
            return vector
        if mode == "document":
            if not isinstance(value, str):
                raise _bad(f"{where}: input_mode document takes a document_id")
            found = self._vectors.retrieve(namespace.collection, [value], with_vectors=True)
            if not found or index not in found[0].vectors:
                raise NotFound("document", value)
            return found[0].vectors[index]
        return _checked_vector(spec, value, where)

    def _attribute_filter(self, namespace: Namespace, stage: str, parameters: dict, candidates: list[Candidate],
                          **_: Any) -> list[Candidate]:
        wanted = filter_rules.parse_filter(parameters.get("filters"))
        if wanted is None:
            return candidates
        return [c for c in candidates if filter_rules.matches(wanted, c.payload, c.document_id)]

    def _sort(self, namespace: Namespace, stage: str, parameters: dict, candidates: list[Candidate],
              **_: Any) -> list[Candidate]:
        field = parameters.get("field") or parameters.get("sort_by")
        direction = parameters.get("direction") or parameters.get("order")
        if isinstance(field, list):  # the SDK's sort_by: [{field, direction}]
            if len(field) != 1 or not isinstance(field[0], dict):
                raise _bad(f"stage '{stage}': sort_by takes one {{field, direction}}")
            direction = direction or field[0].get("direction")
            field = field[0].get("field")
        direction = direction or "desc"
        if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
            raise _bad(f"stage '{stage}': direction must be asc or desc")
        descending = direction.lower() == "desc"
        key = filter_rules.stored_key(field)

        def value_of(candidate: Candidate) -> Any:
            if key == "score":
                return candidate.score
            value = candidate.payload
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return value

        present = [c for c in candidates if value_of(c) is not None]
        missing = [c for c in candidates if value_of(c) is None]
        numbers = all(isinstance(value_of(c), (int, float)) and not isinstance(value_of(c), bool) for c in present)
        sort_key = (lambda c: value_of(c)) if numbers else (lambda c: str(value_of(c)))
        return sorted(present, key=sort_key, reverse=descending) + missing  # missing values last, either way

    def _limit(self, namespace: Namespace, stage: str, parameters: dict, candidates: list[Candidate],
               **_: Any) -> list[Candidate]:
        limit, offset = parameters.get("limit"), parameters.get("offset") or 0
        for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise _bad(f"stage '{stage}': {name} must be an integer of at least {low}")
        return candidates[offset: offset + limit]


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
        point = document_rules.check_sparse(spec.name, value, 0, "query")
        return point
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


def _fuse(ranked: list[list[Candidate]], fusion: str, weights: list[float] | None) -> list[Candidate]:
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


def _source_tiers(candidates: list[Candidate]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for candidate in candidates:
        tier = candidate.payload.get("_source_tier", "hot")
        counts[tier] = counts.get(tier, 0) + 1
    return counts


def _present(candidate: Candidate, with_vectors: bool) -> dict[str, Any]:
    view = document_rules.present(VectorPoint(candidate.document_id, candidate.vectors, candidate.payload),
                                  with_vectors=with_vectors)
    view["score"] = candidate.score
    return view


def _paginate(candidates: list[Candidate], request: dict[str, Any]) -> tuple[list[Candidate], dict[str, Any]]:
    """Offset (page_size, page_number) or cursor (limit, cursor) pagination over the final list; `limit` alone is
    the page size. Without any, everything the stages kept is one page."""
    pagination = request.get("pagination") or {}
    total = len(candidates)
    method = pagination.get("method") or ("cursor" if "cursor" in pagination else "offset")
    allowed = _PAGINATION_KEYS.get(method) if isinstance(method, str) else None
    if allowed is None:
        raise _bad(f"pagination method '{method}' is not supported here; use offset (page_size, page_number) or "
                   "cursor (limit, cursor)", code="invalid_pagination")
    if set(pagination) - allowed:
        raise _bad(f"{method} pagination takes {', '.join(sorted(allowed))}; not "
                   f"{', '.join(sorted(set(pagination) - allowed))}", code="invalid_pagination")
    if method == "cursor":
        size = _page_size(pagination.get("limit") or request.get("limit") or 10)
        start = _decode_cursor(pagination.get("cursor"))
        page = candidates[start: start + size]
        following = start + size
        return page, {"method": "cursor", "limit": size, "total": total, "has_more": following < total,
                      "next_cursor": _encode_cursor(following) if following < total else None}
    size = _page_size(pagination.get("page_size") or request.get("limit") or (total or 1))
    number = pagination.get("page_number") or 1
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _bad("pagination.page_number must be an integer of at least 1", code="invalid_pagination")
    start = (number - 1) * size
    page = candidates[start: start + size]
    pages = max(1, math.ceil(total / size))
    return page, {"method": "offset", "page_size": size, "page_number": number, "total": total,
                  "total_pages": pages, "has_next": number < pages, "has_previous": number > 1}


_PAGINATION_KEYS = {"offset": {"method", "page_size", "page_number"}, "cursor": {"method", "limit", "cursor"}}


def _page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad("the page size must be a positive integer", code="invalid_pagination")
    return min(value, MAX_PAGE_SIZE)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if cursor in (None, ""):
        return 0
    try:
        text = base64.urlsafe_b64decode(str(cursor).encode()).decode()
        if not text.startswith("o:"):
            raise ValueError
        offset = int(text[2:])
        if offset < 0:
            raise ValueError
        return offset
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _bad("pagination.cursor is not a cursor this API returned", code="invalid_cursor") from None
