"""Retrievers API (namespace from X-Namespace): CRUD, list, the stage catalogue, execute (single, batch, ad-hoc),
explain, execution history, clone, typeahead. Thin: validate, call the services, present.

Literal paths (stages, typeahead, execute, executions) are declared before `/{retriever_id}` ones, so a retriever
can never shadow them; `/published` and the publish routes live in published_retrievers.py, included first."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response

from openpeek.api.auth import current_namespace, services
from openpeek.api.errors import SafeJSONResponse
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.retrievers import (
    AdhocExecuteRequest,
    CloneRetrieverRequest,
    CreateRetrieverRequest,
    ExecuteBatchRequest,
    ExecuteRetrieverRequest,
    ExplainRetrieverRequest,
    ListAdhocExecutionsRequest,
    ListExecutionsRequest,
    ListRetrieversRequest,
    PatchRetrieverRequest,
)
from openpeek.api.presenters import retriever_model
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/retrievers", tags=["Retrievers"])


@router.post("")
def create_retriever(request: Request, body: CreateRetrieverRequest,
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    created = services(request).retrievers.create(namespace, body.model_dump(exclude_none=True))
    return retriever_model(created)


def _list(request: Request, namespace: Namespace, body: ListRetrieversRequest | None, limit: int,
          page_size: int | None, offset: int, page: int | None) -> dict:
    window = Window.of(page_size or limit, offset=None if page else offset, page=page)
    sorts = list(body.sorts or []) if body else []
    if body and body.sort:
        sorts.insert(0, body.sort)
    found = services(request).retrievers.list(
        namespace, search=body.search if body else None, case_sensitive=bool(body and body.case_sensitive),
        filters=body.filters if body else None, sorts=sorts)
    return {
        "results": [retriever_model(retriever) for retriever in window.of_list(found)],
        "total": len(found),
        "pagination": window.pagination(len(found)),
    }


@router.get("")
def list_retrievers(request: Request, limit: int = Query(100, ge=1, le=1000),
                    page_size: Optional[int] = Query(None, ge=1, le=1000), offset: int = Query(0, ge=0),
                    page: Optional[int] = Query(None, ge=1), namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, None, limit, page_size, offset, page)


@router.post("/list")
def search_retrievers(request: Request, body: Optional[ListRetrieversRequest] = Body(default=None),
                      limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                      offset: int = Query(0, ge=0), page: Optional[int] = Query(None, ge=1),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, body, limit, page_size, offset, page)


_UNSUPPORTED = {"stream": "streaming (SSE) execution", "target_collection_id": "writing results to a collection",
                "expand": "expanding referenced documents"}


def _refuse_unsupported(body: Any) -> None:
    for field, what in _UNSUPPORTED.items():
        if getattr(body, field, None):
            raise BadRequest(f"{what} is not supported by this deployment; omit '{field}'", code="unsupported_field",
                             details={"field": field})


@router.get("/stages")
def list_stages(request: Request) -> list[dict]:
    """The stage catalogue: each stage's id, category, description (with the service it needs, if any) and the JSON
    schema of its parameters. Public, as the SDK calls it (no credentials): it says nothing about any tenant."""
    return services(request).retrieval.stages.catalogue()


@router.get("/typeahead")
def typeahead(request: Request, q: str = Query(min_length=1, max_length=200), fields: Optional[str] = Query(None),
              limit: int = Query(10, ge=1, le=50), namespace: Namespace = Depends(current_namespace)) -> dict:
    wanted = [field.strip() for field in (fields or "").split(",") if field.strip()]
    return services(request).retrieval_typeahead.suggest(namespace, q, wanted, limit)


# The execute routes answer with their response already encoded (response_model only documents it): FastAPI would
# otherwise validate and convert every document of the answer once more before encoding it.
@router.post("/execute", response_model=dict)
def execute_adhoc(request: Request, body: AdhocExecuteRequest, return_vectors: bool = Query(False),
                  acting_subject: Optional[str] = Header(default=None, alias="X-Acting-Subject"),
                  namespace: Namespace = Depends(current_namespace)) -> Response:
    """Run a retriever definition without storing it; the run is kept in the ad-hoc execution history."""
    _refuse_unsupported(body)
    definition = body.model_dump(include={"stages", "input_schema", "collection_identifiers"}, exclude_none=True)
    execution = body.model_dump(include={"inputs", "filters", "pagination", "limit"}, exclude_none=True)
    execution["return_vectors"] = body.return_vectors or return_vectors
    execution.setdefault("limit", body.page_size)
    return SafeJSONResponse(services(request).retrieval.execute_ad_hoc(namespace, definition, execution,
                                                                        subject=acting_subject))


def _window(found: list[dict], limit: int, page_size: Optional[int], offset: int, page: Optional[int]
            ) -> tuple[list[dict], dict]:
    window = Window.of(page_size or limit, offset=None if page else offset, page=page)
    return window.of_list(found), {"total": len(found), "limit": window.size, "offset": window.start,
                                   "has_next": window.start + window.size < len(found)}


def _summary(record: dict) -> dict:
    return {key: record.get(key) for key in (
        "execution_id", "status", "created_at", "completed_at", "duration_ms", "total_processed", "total_returned",
        "inputs_hash", "query_summary")} | {"credits_used": 0, "cache_hit_rate": None, "trace_id": None}


def _adhoc_summary(record: dict) -> dict:
    return {"execution_id": record["execution_id"], "execution_mode": "adhoc", "status": record["status"],
            "timestamp": record.get("created_at"), "duration_ms": record.get("duration_ms") or 0, "credits_used": 0,
            "total_processed": record.get("total_processed") or 0, "total_returned": record.get("total_returned") or 0,
            "cache_hit_rate": None, "query_summary": record.get("query_summary"),
            "stages_completed": record.get("stages_completed") or 0, "total_stages": record.get("total_stages") or 0,
            "collection_ids": record.get("collection_ids") or []}


def _detail(record: dict) -> dict:
    """The SDK's ExecutionDetail. Documents are not kept with a run (documents_retained false): total_returned says
    how many it returned."""
    return {"retriever_id": record.get("retriever_id") or "", "execution_id": record["execution_id"],
            "status": record["status"], "documents": [], "pagination": record.get("pagination"),
            "stage_statistics": record.get("stage_statistics"), "budget": {"credits_used": 0,
                                                                           "time_elapsed_ms": record.get("duration_ms")},
            "warnings": record.get("warnings") or None, "error": record.get("error"),
            "created_at": record.get("created_at"), "completed_at": record.get("completed_at"),
            "current_stage": record.get("current_stage"), "stages_completed": record.get("stages_completed") or 0,
            "total_stages": record.get("total_stages") or 0, "documents_retained": False,
            "total_returned": record.get("total_returned")}


@router.get("/executions/{execution_id}")
def get_adhoc_execution(request: Request, execution_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    record = services(request).retrieval_history.get(namespace, None, execution_id)
    return {**_adhoc_summary(record), "inputs": record.get("query_summary"), "inputs_hash": record.get("inputs_hash")}


@router.post("/executions/list")
def list_adhoc_executions(request: Request, body: Optional[ListAdhocExecutionsRequest] = Body(default=None),
                          limit: int = Query(20, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                          offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                          namespace: Namespace = Depends(current_namespace)) -> dict:
    body = body or ListAdhocExecutionsRequest()
    found = services(request).retrieval_history.list(namespace, None, status=body.status,
                                                     start_time=body.start_time, end_time=body.end_time)
    if body.count_only:
        return {"results": [], "total": len(found), "pagination": None}
    window, pagination = _window(found, limit, page_size, offset, page)
    return {"results": [_adhoc_summary(record) for record in window], "total": len(found), "pagination": pagination}


@router.get("/{retriever_id}")
def get_retriever(request: Request, retriever_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return retriever_model(services(request).retrievers.describe(namespace, retriever_id))


@router.patch("/{retriever_id}")
def patch_retriever(request: Request, retriever_id: str, body: PatchRetrieverRequest,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return {"retriever": retriever_model(services(request).retrievers.patch(namespace, retriever_id, changes))}


@router.delete("/{retriever_id}")
def delete_retriever(request: Request, retriever_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).retrievers.delete(namespace, retriever_id)
    return {"success": True, "retriever_id": deleted.retriever_id, "message": "Retriever deleted"}


@router.post("/{retriever_id}/execute", response_model=dict)
def execute_retriever(request: Request, retriever_id: str, body: ExecuteRetrieverRequest,
                      return_vectors: bool = Query(False), explain: bool = Query(False),
                      include_legacy_results: bool = Query(False),
                      acting_subject: Optional[str] = Header(default=None, alias="X-Acting-Subject"),
                      namespace: Namespace = Depends(current_namespace)) -> Response:
    """Run the retriever's stages.

    `X-Acting-Subject` names the principal the search runs for (an end user's id, as written in documents' ACLs and
    in OpenFGA as `<user_type>:<id>`). It matters only in a namespace whose `infrastructure.authorization.enabled`
    is true: then only documents that principal may read come back (push mode: `acl.public` or the id in
    `acl.read`; pull modes: OpenFGA's `relation` on `<object_type>:<document_id>`). Without the header such a
    namespace returns public documents only (push) or nothing (pull modes); an OpenFGA failure is a 503, never
    unfiltered results. Elsewhere the header is ignored."""
    _refuse_unsupported(body)
    execution = body.model_dump(exclude_none=True)
    # The SDK sends these as query parameters or body fields; either one turns them on.
    execution["return_vectors"] = body.return_vectors or return_vectors
    execution["explain"] = body.explain or explain
    execution.setdefault("limit", body.page_size)
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    result = services_.retrieval.execute(namespace, retriever, execution, subject=acting_subject)
    if include_legacy_results:
        result["results"] = result["documents"]
    return SafeJSONResponse(result)


@router.post("/{retriever_id}/execute/batch", response_model=dict)
def execute_batch(request: Request, retriever_id: str, body: ExecuteBatchRequest,
                  return_vectors: bool = Query(False),
                  acting_subject: Optional[str] = Header(default=None, alias="X-Acting-Subject"),
                  namespace: Namespace = Depends(current_namespace)) -> Response:
    """Several queries through one retriever in one request: the retriever is read once and the first
    feature_search of every query goes to the vector store in one call. `settings.limit` is each query's page size.
    `concurrency` is accepted and not needed: the queries run one after another, their searches together."""
    _refuse_unsupported(body)
    settings = body.settings or {}
    unknown = sorted(set(settings) - {"limit"})
    if unknown:
        raise BadRequest(f"batch settings take 'limit'; not {', '.join(unknown)}", code="invalid_settings",
                         details={"settings": unknown})
    shared: dict[str, Any] = {"return_vectors": body.return_vectors or return_vectors}
    if settings.get("limit") is not None:
        shared["limit"] = settings["limit"]
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    queries = [query.model_dump(exclude_none=True) for query in body.queries]
    return SafeJSONResponse(services_.retrieval.execute_batch(namespace, retriever, queries, shared,
                                                              subject=acting_subject))


@router.post("/{retriever_id}/execute/explain")
def explain_retriever(request: Request, retriever_id: str, body: ExplainRetrieverRequest,
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    return services_.retrieval_history.explain(namespace, retriever, body.inputs)


@router.post("/{retriever_id}/executions/list")
def list_executions(request: Request, retriever_id: str, body: Optional[ListExecutionsRequest] = Body(default=None),
                    limit: int = Query(20, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                    offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    body = body or ListExecutionsRequest()
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    found = services_.retrieval_history.list(namespace, retriever, status=body.status, filters=body.filters,
                                             sorts=body.sorts)
    window, pagination = _window(found, limit, page_size, offset, page)
    return {"results": [_summary(record) for record in window], "pagination": pagination}


@router.get("/{retriever_id}/executions/{execution_id}")
def get_execution(request: Request, retriever_id: str, execution_id: str,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    return _detail(services_.retrieval_history.get(namespace, retriever, execution_id))


@router.get("/{retriever_id}/executions/{execution_id}/status")
def get_execution_status(request: Request, retriever_id: str, execution_id: str,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    record = services_.retrieval_history.get(namespace, retriever, execution_id)
    return {key: record.get(key) for key in ("execution_id", "retriever_id", "status", "current_stage",
                                             "stages_completed", "total_stages", "created_at", "completed_at",
                                             "duration_ms", "error")}


@router.get("/{retriever_id}/executions/{execution_id}/profile")
def get_execution_profile(request: Request, retriever_id: str, execution_id: str,
                          namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    retriever = services_.retrievers.get(namespace, retriever_id)
    return services_.retrieval_history.profile(namespace, retriever, execution_id)


@router.post("/{retriever_id}/clone")
def clone_retriever(request: Request, retriever_id: str, body: CloneRetrieverRequest,
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    source = services_.retrievers.get(namespace, retriever_id)
    cloned = services_.retrievers.clone(namespace, source.retriever_id, body.model_dump(exclude_none=True))
    return {"retriever": retriever_model(cloned), "source_retriever_id": source.retriever_id}
