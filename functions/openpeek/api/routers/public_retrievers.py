"""The public side of published retrievers: execution by public name, with no organisation key. Thin: validate,
call PublicationService.execute_public, present. What the caller may do is the publication's to say (its password,
its rate limits, the fields it exposes): see services/publications.py."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from openpeek.api.auth import services
from openpeek.api.errors import envelope
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.retrievers import ExecuteRetrieverRequest
from openpeek.domain.errors import BadRequest, TooManyRequests
from openpeek.services.publications import PublicCaller

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/public/retrievers", tags=["Public Retriever API"])

_REFUSED = {"filters": "ad-hoc filters (they could probe fields the publication does not expose)",
            "stream": "streaming (SSE) execution", "expand": "expanding referenced documents",
            "return_vectors": "returning vectors", "explain": "the execution plan",
            "target_collection_id": "writing results to a collection"}


@router.post("/{public_name}/execute", response_model=dict)
def execute_public(request: Request, public_name: str, body: ExecuteRetrieverRequest,
                   return_presigned_urls: Optional[bool] = Query(None),
                   x_public_api_key: Optional[str] = Header(default=None, alias="X-Public-API-Key"),
                   x_retriever_password: Optional[str] = Header(default=None, alias="X-Retriever-Password")
                   ) -> JSONResponse | dict:
    """Execute a published retriever. No organisation key: a password-protected publication needs
    `X-Retriever-Password` (or its public key in `X-Public-API-Key`); a public key that is sent must be the
    publication's. 404 for an unknown, inactive or unpublished name; 429 past its rate limits (with Retry-After).
    The answer holds each document's id, score and exposed fields only; blobs here are served by this deployment,
    so `return_presigned_urls` changes nothing."""
    for field, what in _REFUSED.items():
        if getattr(body, field):
            raise BadRequest(f"{what} is not available on a published retriever; omit '{field}'",
                             code="unsupported_field", details={"field": field})
    execution = body.model_dump(include={"inputs", "pagination", "limit", "page_size"}, exclude_none=True)
    caller = PublicCaller(api_key=x_public_api_key, password=x_retriever_password,
                          client=request.client.host if request.client else "")
    try:
        return services(request).publications.execute_public(public_name, execution, caller)
    except TooManyRequests as refused:
        return envelope(refused.status, refused.message, type_=refused.type, code=refused.code,
                        details=refused.details,
                        headers={"Retry-After": str((refused.details or {}).get("retry_after_seconds", 1))})
