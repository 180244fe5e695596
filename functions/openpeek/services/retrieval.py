"""Running a retriever: inputs checked and substituted, then each stage of the catalogue (services/stages/) in order
over the working set; each run is recorded in the execution history with its per-stage profile.

Batch execution runs several inputs through one retriever read once, embedding their text queries in one model call
and sending the first feature_search of every query to the vector store in one call (deployed, one round trip to the
Qdrant server instead of one per query), and writing the queries' runs to the history in one write.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson

from openpeek.garbage_collection import fewer_collections
from openpeek.domain import documents as document_rules
from openpeek.domain import filters as filter_rules
from openpeek.domain import retrievers as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.ids import new_id
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import decode_cursor, encode_cursor
from openpeek.domain.retrievers import Retriever
from openpeek.domain.stages import projection
from openpeek.domain.stages.candidates import Candidate
from openpeek.domain.vectors import VectorPoint
from openpeek.ports import VectorStore
from openpeek.repositories.retriever_executions import RetrieverExecutionRepository
from openpeek.services.access_control import AccessControl
from openpeek.services.filter_usage import FilterUsage
from openpeek.services.inference import InferenceGateway
from openpeek.services.stages.base import RunContext
from openpeek.services.stages.registry import StageDependencies, StageRegistry

MAX_PAGE_SIZE = 500
QUERY_SUMMARY_CHARS = 200
SEARCH_STAGES = frozenset({"feature_search", "query_expand"})  # they search the store (filters, authorization apply)
_UNPLANNED: Any = object()  # a run plans its tiers itself (a batch plans them once for all its queries)

__all__ = ["Candidate", "RetrievalService"]


def _bad(message: str, code: str = "invalid_query", **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


class RetrievalService:
    def __init__(self, vectors: VectorStore, inference: InferenceGateway, usage: FilterUsage | None = None,
                 access: AccessControl | None = None, *, stages: StageRegistry | None = None,
                 executions: RetrieverExecutionRepository | None = None) -> None:
        self._vectors = vectors
        self._access = access or AccessControl()  # acts only for namespaces whose authorization is enabled
        self._stages = stages or StageRegistry(StageDependencies(vectors, inference, usage=usage))
        self._executions = executions  # None: executions are not recorded (no history)
        self._tiers: Any = None  # CrossTierSearch, where collections can be cold (services/tiering)

    def use_tiers(self, tiers: Any) -> None:
        """Feature searches also read cold collections from the cold store (merged by score, `_source_tier`)."""
        self._tiers = tiers

    @property
    def stages(self) -> StageRegistry:
        return self._stages

    def execute(self, namespace: Namespace, retriever: Retriever, request: dict[str, Any], *,
                subject: str | None = None) -> dict[str, Any]:
        """`subject`: the acting principal (X-Acting-Subject), for namespaces that enforce document authorization."""
        return self._run(namespace, retriever, request, subject=subject, ad_hoc=False)

    def execute_ad_hoc(self, namespace: Namespace, definition: dict[str, Any], request: dict[str, Any], *,
                       subject: str | None = None) -> dict[str, Any]:
        """A retriever that is not stored: its stages are checked as at creation (400 naming stage and field), then
        run exactly as a stored retriever's would; the run is kept in the ad-hoc execution history."""
        schema = rules.check_input_schema(definition.get("input_schema") or {})
        stages = rules.check_stages(namespace, definition["stages"], schema, self._stages)
        transient = Retriever(retriever_id="", namespace_id=namespace.namespace_id, retriever_name="adhoc",
                              stages=tuple(stages), input_schema=schema,
                              collection_identifiers=tuple(definition.get("collection_identifiers") or ()))
        return self._run(namespace, transient, request, subject=subject, ad_hoc=True)

    def execute_batch(self, namespace: Namespace, retriever: Retriever, queries: list[dict[str, Any]],
                      shared: dict[str, Any], *, subject: str | None = None) -> dict[str, Any]:
        """Each query ({inputs, filters}) through the same retriever. A query whose inputs are refused fails alone
        (its entry carries the error); the others still run."""
        with fewer_collections():  # see _run: the batch's searches fetch up to 16 times as many objects
            return self._execute_batch(namespace, retriever, queries, shared, subject)

    def _execute_batch(self, namespace: Namespace, retriever: Retriever, queries: list[dict[str, Any]],
                       shared: dict[str, Any], subject: str | None) -> dict[str, Any]:
        started = time.perf_counter()
        # One tier plan (one read of the namespace's collections) for the batch; each query gets its own copy, for
        # its own warnings.
        planned = self._plan_tiers(namespace, retriever, queries=len(queries))
        tier_plans = [None if planned is None else replace(planned, warnings=[]) for _ in queries]
        prefetched = self._prefetch_first_search(namespace, retriever, queries, shared, subject, tier_plans)
        results = []
        history: list[dict[str, Any]] = []  # the queries' runs, written together once the batch is done
        incomplete: list[_IncompletePage] = []  # the queries' pages, completed together once every query ran
        try:
            for index, query in enumerate(queries):
                request = {**shared, **{k: v for k, v in query.items() if v is not None}}
                try:
                    outcome = self._run(namespace, retriever, request, subject=subject, ad_hoc=False,
                                        first_search=prefetched.pop(index, None), history=history,
                                        tier_plan=tier_plans[index], incomplete=incomplete)
                    results.append({"query_index": index, **outcome})
                except DomainError as error:
                    if error.status >= 500:
                        raise
                    results.append({"query_index": index, "status": "failed", "documents": [],
                                    "error": {"message": error.message, "code": error.code,
                                              "details": error.details}})
            completed = self._complete_pages(namespace, incomplete, history)
            for result in results:
                if result.get("execution_id") in completed:
                    result["documents"] = completed[result["execution_id"]]
        finally:  # a dependency failing mid-batch still leaves the runs before it (and its own failure) in history
            if self._executions is not None and history:
                self._executions.record_many(namespace.namespace_id, history)
        failed = sum(1 for result in results if result["status"] == "failed")
        return {"retriever_id": retriever.retriever_id, "results": results, "total_queries": len(queries),
                "succeeded": len(queries) - failed, "failed": failed,
                "total_time_ms": round((time.perf_counter() - started) * 1000, 3)}

    # -- the pipeline ---------------------------------------------------------------------------------------------

    def _run(self, namespace: Namespace, retriever: Retriever, request: dict[str, Any], *, subject: str | None,
             ad_hoc: bool, first_search: tuple[list[Candidate], bool] | None = None,
             history: list[dict[str, Any]] | None = None, tier_plan: Any = _UNPLANNED,
             incomplete: list[_IncompletePage] | None = None) -> dict[str, Any]:
        if request.get("return_vectors") or any(self._reads_vectors(stage) for stage in retriever.stages):
            # Hundreds of fetched vectors are tens of thousands of float objects: without this the collector walks
            # them several times per request (openpeek/garbage_collection.py; measured: a third of an mmr pipeline's
            # time).
            with fewer_collections():
                return self._run_stages(namespace, retriever, request, subject=subject, ad_hoc=ad_hoc,
                                        first_search=first_search, history=history, tier_plan=tier_plan,
                                        incomplete=incomplete)
        return self._run_stages(namespace, retriever, request, subject=subject, ad_hoc=ad_hoc,
                                first_search=first_search, history=history, tier_plan=tier_plan,
                                incomplete=incomplete)

    def _run_stages(self, namespace: Namespace, retriever: Retriever, request: dict[str, Any], *,
                    subject: str | None, ad_hoc: bool, first_search: tuple[list[Candidate], bool] | None,
                    history: list[dict[str, Any]] | None = None, tier_plan: Any = _UNPLANNED,
                    incomplete: list[_IncompletePage] | None = None) -> dict[str, Any]:
        """`incomplete`: where a batch collects the pages whose payloads were projected, to complete them all with
        one read (_complete_pages); a single run completes its own page."""
        started = time.perf_counter()
        created_at = isoformat(utcnow())
        execution_id = new_id("exec")
        inputs = rules.check_inputs(retriever.input_schema, request.get("inputs") or {})
        extra_filter = filter_rules.parse_filter(rules.substitute(request.get("filters"), inputs, request))
        stage_ids = [stage["config"]["stage_id"] for stage in retriever.stages]
        access = self._access.plan(namespace, subject) if SEARCH_STAGES & set(stage_ids) else None
        if tier_plan is _UNPLANNED:
            tier_plan = self._plan_tiers(namespace, retriever)
        tiers = (self._tiers, tier_plan) if tier_plan is not None else None
        return_vectors = bool(request.get("return_vectors"))
        candidates: list[Candidate] = []
        statistics: dict[str, dict[str, Any]] = {}
        searched = False
        search_index: str | None = None
        warnings: list[str] = []
        # Past the last stage that reads vectors they are dropped from the working set (unless the caller asked for
        # them): hundreds of lists of floats otherwise travel through every later stage's copies to the end.
        last_vector_reader = max((position for position, stage in enumerate(retriever.stages)
                                  if self._reads_vectors(stage)), default=None)
        read_after = self._payload_read_after(retriever)
        projected = False
        for position, stage in enumerate(retriever.stages):
            stage_id = stage_ids[position]
            definition = self._stages.get(stage_id)
            if definition is None:  # a stage this deployment no longer has (the definition was stored earlier)
                raise _bad(f"stage '{stage['stage_name']}': stage_id '{stage_id}' is not available here",
                           code="unknown_stage", stage=stage["stage_name"])
            fetch_vectors = any(self._reads_vectors(later) for later in retriever.stages[position + 1:])
            raw = stage["config"].get("parameters") or {}
            parameters = definition.parse(stage["stage_name"], rules.substitute(raw, inputs, request))
            context = RunContext(namespace=namespace, stage_name=stage["stage_name"], inputs=inputs, request=request,
                                 ad_hoc=extra_filter, return_vectors=return_vectors, fetch_vectors=fetch_vectors,
                                 access=access, search_index=search_index, tiers=tiers,
                                 payload_fields=read_after[position])
            stage_started = time.perf_counter()
            before = len(candidates)
            try:
                if first_search is not None and position == 0:  # searched with the batch's other queries
                    candidates, context.payload_projected = first_search
                    context.search_index = rules.resolve_feature_uri(namespace,
                                                                     parameters["searches"][0]["feature_uri"])
                    context.metadata["batched_search"] = True
                else:
                    candidates = definition.run(context, parameters, candidates)
            except DomainError as error:
                if error.status >= 500:
                    self._record_failure(namespace, retriever, execution_id, created_at, started, statistics,
                                         stage["stage_name"], error, inputs, ad_hoc, history)
                raise
            if position == last_vector_reader and not return_vectors:
                candidates = [Candidate(c.document_id, c.score, c.payload, {}) if c.vectors else c
                              for c in candidates]
            searched = searched or stage_id in SEARCH_STAGES
            projected = projected or context.payload_projected
            search_index = context.search_index or search_index
            warnings += context.warnings
            figures: dict[str, Any] = {
                "input_count": before,
                "output_count": len(candidates),
                "duration_ms": round((time.perf_counter() - stage_started) * 1000, 3),
                "efficiency": round(len(candidates) / before, 4) if before else 0,
                "metadata": {"stage_id": stage_id, **context.metadata},
            }
            if context.llm_calls:
                figures["llm_calls"] = context.llm_calls
            if context.tokens_used:
                figures["tokens_used"] = context.tokens_used
            if tier_plan is not None and stage_id == "feature_search":
                figures["metadata"]["source_tiers"] = _source_tiers(candidates)
            statistics[stage["stage_name"]] = figures
        if tier_plan is not None:
            warnings += tier_plan.warnings
        if extra_filter is not None and not searched:
            candidates = [c for c in candidates if filter_rules.matches(extra_filter, c.payload, c.document_id)]

        page, pagination = _paginate(candidates, request)
        if projected and incomplete is None:
            page = self._with_whole_payloads(namespace, [page])[0]
        total_ms = round((time.perf_counter() - started) * 1000, 3)
        explain_plan = None
        if request.get("explain"):
            explain_plan = {"stages": [{"stage_name": name, **figures} for name, figures in statistics.items()],
                            "total_time_ms": total_ms, "optimization_summary": None}
        stage_statistics = {"stages": statistics, "total_time_ms": total_ms, "credits_used": 0,
                            "server_service_ms": total_ms}
        self._record(namespace, {
            "execution_id": execution_id, "retriever_id": retriever.retriever_id or None,
            "status": "completed", "created_at": created_at, "completed_at": isoformat(utcnow()),
            "duration_ms": total_ms, "stage_statistics": stage_statistics, "total_returned": len(page),
            "total_processed": sum(figures["input_count"] for figures in statistics.values()),
            "stages_completed": len(statistics), "total_stages": len(retriever.stages),
            "stage_order": [[stage["stage_name"], stage["config"]["stage_id"]] for stage in retriever.stages],
            "pagination": pagination, "warnings": warnings, **_input_digest(inputs),
            "collection_ids": list(retriever.collection_identifiers),
        }, ad_hoc, history)
        answer = {
            "retriever_id": retriever.retriever_id or None,
            "execution_id": execution_id,
            "status": "completed",
            # A batch presents a projected page once it is completed (_complete_pages).
            "documents": [] if projected and incomplete is not None else [_present(c, return_vectors) for c in page],
            "pagination": pagination,
            "stage_statistics": stage_statistics,
            "budget": {"credits_used": 0, "time_elapsed_ms": total_ms},
            "warnings": warnings or None,
            **({"explain_plan": explain_plan} if explain_plan else {}),
        }
        if projected and incomplete is not None:
            incomplete.append(_IncompletePage(execution_id, page, return_vectors))
        return answer

    def _plan_tiers(self, namespace: Namespace, retriever: Retriever, queries: int = 1) -> Any:
        """The cold collections the retriever's searches also read (services/tiering), or None."""
        if self._tiers is None or not SEARCH_STAGES & {stage["config"]["stage_id"] for stage in retriever.stages}:
            return None
        return self._tiers.plan(namespace, retriever, queries)

    def _payload_read_after(self, retriever: Retriever) -> list[frozenset[str] | None]:
        """For each stage, the payload keys the stages after it read (None: the whole payload)."""
        reads = []
        for stage in retriever.stages:
            definition = self._stages.get(stage["config"]["stage_id"])
            reads.append(None if definition is None
                         else definition.payload_fields(stage["config"].get("parameters") or {}))
        after: list[frozenset[str] | None] = [frozenset()] * len(reads)
        for position in range(len(reads) - 2, -1, -1):
            after[position] = projection.union([after[position + 1], reads[position + 1]])
        return after

    def _with_whole_payloads(self, namespace: Namespace, pages: list[list[Candidate]]) -> list[list[Candidate]]:
        """The pages' documents with their whole stored payloads, under what the stages wrote (a search fetched
        only the fields the stages read), read in one call. A document deleted since the search keeps what the
        search read."""
        wanted = list(dict.fromkeys(c.document_id for page in pages for c in page))
        if not wanted:
            return pages
        stored = {point.id: point.payload for point in self._vectors.retrieve(namespace.collection, wanted)}
        return [[Candidate(c.document_id, c.score, projection.completed(stored[c.document_id], c.payload), c.vectors)
                 if c.document_id in stored else c for c in page] for page in pages]

    def _complete_pages(self, namespace: Namespace, incomplete: list[_IncompletePage],
                        history: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """A batch's projected pages completed with one read and presented, by execution id. If that read fails,
        the runs it leaves without documents are kept in the history as failed, not completed."""
        if not incomplete:
            return {}
        try:
            pages = self._with_whole_payloads(namespace, [pending.page for pending in incomplete])
        except (DomainError, DependencyUnavailable) as error:
            unfinished = {pending.execution_id for pending in incomplete}
            reason = error.message if isinstance(error, DomainError) else str(error)
            for record in history:
                if record["execution_id"] in unfinished:
                    record.update(status="failed", total_returned=0,
                                  error=f"reading the documents of the page: {reason}")
            raise
        return {pending.execution_id: [_present(candidate, pending.with_vectors) for candidate in page]
                for pending, page in zip(incomplete, pages)}

    def _reads_vectors(self, stage: dict[str, Any]) -> bool:
        definition = self._stages.get(stage["config"]["stage_id"])
        return definition is not None and definition.reads_vectors(stage["config"].get("parameters") or {})

    def _prefetch_first_search(self, namespace: Namespace, retriever: Retriever, queries: list[dict[str, Any]],
                               shared: dict[str, Any], subject: str | None,
                               tier_plans: list[Any]) -> dict[int, tuple[list[Candidate], bool]]:
        """The first stage's searches of every query in one vector-store call, when the first stage is a
        feature_search (its store round trip is most of a query's time). Queries whose inputs are refused are left
        out here and fail on their own later."""
        first = retriever.stages[0] if retriever.stages else None
        definition = self._stages.get(first["config"]["stage_id"]) if first else None
        if definition is None or not hasattr(definition, "run_many"):
            return {}
        # Searches that bring back every hit's vector (a later mmr) go together too: with the batch's collector
        # passes spaced out (execute_batch), one Edge query_batch of 16 × 200 vectors is measured faster than 16
        # queries (bench/retrieval_stages.py).
        fetch_vectors = any(self._reads_vectors(stage) for stage in retriever.stages[1:])
        access = self._access.plan(namespace, subject)
        payload_fields = self._payload_read_after(retriever)[0]
        prepared = {}
        for index, query in enumerate(queries):
            request = {**shared, **{k: v for k, v in query.items() if v is not None}}
            try:
                inputs = rules.check_inputs(retriever.input_schema, request.get("inputs") or {})
                extra_filter = filter_rules.parse_filter(rules.substitute(request.get("filters"), inputs, request))
                parameters = definition.parse(first["stage_name"], rules.substitute(
                    first["config"].get("parameters") or {}, inputs, request))
            except BadRequest:
                continue
            prepared[index] = (RunContext(namespace=namespace, stage_name=first["stage_name"], inputs=inputs,
                                          request=request, ad_hoc=extra_filter,
                                          return_vectors=bool(request.get("return_vectors")),
                                          fetch_vectors=fetch_vectors, access=access,
                                          tiers=None if tier_plans[index] is None else (self._tiers, tier_plans[index]),
                                          payload_fields=payload_fields), parameters)
        try:
            found = definition.run_many(list(prepared.values()))
        except BadRequest:  # one query's search is refused: let each run alone and fail alone
            return {}
        return {index: (candidates, context.payload_projected)
                for (index, (context, _)), candidates in zip(prepared.items(), found)}

    # -- history ----------------------------------------------------------------------------------------------------

    def _record(self, namespace: Namespace, record: dict[str, Any], ad_hoc: bool,
                history: list[dict[str, Any]] | None = None) -> None:
        """Written now, or kept in `history` (a batch's runs, written together by _execute_batch)."""
        if self._executions is None:
            return
        record = {**record, "execution_mode": "adhoc" if ad_hoc else "retriever"}
        if history is not None:
            history.append(record)
        else:
            self._executions.record(namespace.namespace_id, record)

    def _record_failure(self, namespace: Namespace, retriever: Retriever, execution_id: str, created_at: str,
                        started: float, statistics: dict[str, Any], stage_name: str, error: DomainError,
                        inputs: dict[str, Any], ad_hoc: bool, history: list[dict[str, Any]] | None = None) -> None:
        """A dependency failed mid-pipeline: the run is kept as failed, with the stages that did complete."""
        total_ms = round((time.perf_counter() - started) * 1000, 3)
        self._record(namespace, {
            "execution_id": execution_id, "retriever_id": retriever.retriever_id or None, "status": "failed",
            "created_at": created_at, "completed_at": isoformat(utcnow()), "duration_ms": total_ms,
            "stage_statistics": {"stages": statistics, "total_time_ms": total_ms, "credits_used": 0},
            "total_returned": 0, "total_processed": sum(f["input_count"] for f in statistics.values()),
            "stages_completed": len(statistics), "total_stages": len(retriever.stages), "current_stage": stage_name,
            "stage_order": [[stage["stage_name"], stage["config"]["stage_id"]] for stage in retriever.stages],
            "error": f"stage '{stage_name}': {error.message}", **_input_digest(inputs),
            "collection_ids": list(retriever.collection_identifiers),
        }, ad_hoc, history)


@dataclass
class _IncompletePage:
    """A batch query's page that still has only the payload fields its stages read."""

    execution_id: str
    page: list[Candidate]
    with_vectors: bool


def _input_digest(inputs: dict[str, Any]) -> dict[str, Any]:
    """A stable hash of the inputs and a short text summary (vectors shown by their length only)."""
    try:  # orjson: a query vector's hundreds of floats, for every run (the standard library took a tenth of a batch)
        text = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:  # an integer past 64 bits
        text = json.dumps(inputs, sort_keys=True, default=str).encode()
    summary = []
    for name, value in sorted(inputs.items()):
        if isinstance(value, list) and len(value) > 8:
            summary.append(f"{name}=[{len(value)} values]")
        else:
            summary.append(f"{name}={json.dumps(value, default=str)}")
    return {"inputs_hash": hashlib.sha1(text).hexdigest(),
            "query_summary": ", ".join(summary)[:QUERY_SUMMARY_CHARS] or None,
            "query_text": inputs.get("query") if isinstance(inputs.get("query"), str) else None}


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
        start = _start_of(pagination.get("cursor"))
        page = candidates[start: start + size]
        following = start + size
        return page, {"method": "cursor", "limit": size, "total": total, "has_more": following < total,
                      "next_cursor": encode_cursor(following) if following < total else None}
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


def _start_of(cursor: Any) -> int:
    """The offset a cursor of domain/paging (the one cursor format of the API) stands for; none is the start."""
    if cursor in (None, ""):
        return 0
    try:
        return decode_cursor(str(cursor))
    except BadRequest:
        raise _bad("pagination.cursor is not a cursor this API returned", code="invalid_cursor") from None
