"""The public side of published retrievers, with no organisation key: the catalogue of every organisation's active
publications, a publication's page config and template, its password check, execution by public name, and the
public's feedback on its results. Thin: validate, call PublicationService, present. What the caller may do is the
publication's to say (its password, its rate limits, the fields it exposes): see services/publications.py. Nothing
here shows an organisation, namespace or retriever id, a secret name, or the public key."""

from __future__ import annotations

from typing import Any, Callable, Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from openpeek.api.auth import services
from openpeek.api.errors import envelope
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.interactions import (PublicInteractionBatchRequest, PublicInteractionRequest,
                                              VerifyPasswordRequest)
from openpeek.api.models.retrievers import ExecuteRetrieverRequest
from openpeek.api.routers.published_retrievers import public_url
from openpeek.domain.errors import BadRequest, TooManyRequests
from openpeek.domain.paging import Window
from openpeek.domain.publications import Publication
from openpeek.services.publications import PublicCaller

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/public/retrievers", tags=["Public Retriever API"])

_REFUSED = {"filters": "ad-hoc filters (they could probe fields the publication does not expose)",
            "stream": "streaming (SSE) execution", "expand": "expanding referenced documents",
            "return_vectors": "returning vectors", "explain": "the execution plan",
            "target_collection_id": "writing results to a collection"}


_SESSION = Header(default=None, alias="X-Session-ID", min_length=1, max_length=256)
_PUBLIC_KEY = Header(default=None, alias="X-Public-API-Key")
_PASSWORD = Header(default=None, alias="X-Retriever-Password")


def _caller(request: Request, api_key: Optional[str] = None, password: Optional[str] = None) -> PublicCaller:
    return PublicCaller(api_key=api_key, password=password, client=request.client.host if request.client else "")


def _limited(call: Callable[[], Any]) -> Any:
    """The call's answer, or its 429 in the error envelope with Retry-After."""
    try:
        return call()
    except TooManyRequests as refused:
        return envelope(refused.status, refused.message, type_=refused.type, code=refused.code,
                        details=refused.details,
                        headers={"Retry-After": str((refused.details or {}).get("retry_after_seconds", 1))})


def _text(config: dict[str, Any], key: str) -> Optional[str]:
    value = config.get(key)
    return value if isinstance(value, str) else None


def _catalogue_entry(request: Request, publication: Publication) -> dict[str, Any]:
    """The SDK's PublicRetrieverListItem: what the page shows, from the display config the owner published."""
    config = publication.display_config
    seo = config.get("seo") if isinstance(config.get("seo"), dict) else {}
    links = [{"name": link["name"], "url": link["url"]} for link in config.get("external_links") or []
             if isinstance(link, dict) and isinstance(link.get("name"), str) and isinstance(link.get("url"), str)]
    return {"public_name": publication.public_name, "public_url": public_url(request, publication.public_name),
            "title": _text(config, "title") or publication.display_name or publication.public_name,
            "description": _text(config, "description") or publication.description,
            "logo_url": _text(config, "logo_url"),
            "icon_base64": _text(config, "icon_base64") or publication.icon_base64,
            "og_image_url": _text(seo, "og_image_url"), "password_protected": publication.password_protected,
            "is_active": publication.is_active, "external_links": links or None,
            "created_at": publication.created_at, "updated_at": publication.updated_at}


@router.get("/")
def list_public_retrievers(request: Request, page: int = Query(1, ge=1, le=500),
                           page_size: int = Query(20, ge=1, le=100), include_inactive: bool = Query(False),
                           search: Optional[str] = Query(None, min_length=1, max_length=200)) -> dict:
    """Every organisation's active publications, oldest first; `search` finds text in their title or description.
    An inactive publication answers 404 to the public everywhere, so it is not listed either: include_inactive=true
    is refused rather than ignored."""
    if include_inactive:
        raise BadRequest("inactive published retrievers are not shown to the public; omit include_inactive",
                         code="unsupported_field", details={"field": "include_inactive"})
    found = services(request).publications.catalogue(search)
    window = Window.of(page_size, page=page)
    protected = sum(1 for publication in found if publication.password_protected)
    return {"results": [_catalogue_entry(request, publication) for publication in window.of_list(found)],
            "total_count": len(found), "page": page, "page_size": page_size,
            "total_pages": -(-len(found) // page_size),
            "stats": {"total_active": len(found), "total_password_protected": protected,
                      "total_open": len(found) - protected}}


@router.get("/{public_name}/config")
def get_public_config(request: Request, public_name: str) -> dict:
    """What the public page renders: its display config, whether it needs a password, and the retriever metadata
    when its owner published it. The public key was shown to the owner once and is not kept: public_api_key is
    null (executions need no key; a password-protected one takes X-Retriever-Password)."""
    publication = services(request).publications.public_config(public_name)
    return {"public_name": publication.public_name, "public_api_key": None,
            "display_config": publication.display_config, "password_protected": publication.password_protected,
            "retriever_metadata": publication.retriever_metadata if publication.include_metadata else None}


@router.get("/{public_name}/template", response_model=dict)
def get_public_template(request: Request, public_name: str, x_public_api_key: Optional[str] = _PUBLIC_KEY,
                        x_retriever_password: Optional[str] = _PASSWORD) -> JSONResponse | dict:
    """The retriever's definition to adapt into one's own, when its owner published its metadata (403 otherwise);
    a password-protected one needs X-Retriever-Password. Credentials, URLs, headers and bodies in stage parameters
    show as "<withheld>"."""
    caller = _caller(request, x_public_api_key, x_retriever_password)
    template = _limited(lambda: services(request).publications.public_template(public_name, caller))
    if isinstance(template, JSONResponse):
        return template
    return {**template, "source_public_url": public_url(request, public_name)}


@router.post("/{public_name}/verify", response_model=dict)
def verify_password(request: Request, public_name: str, body: VerifyPasswordRequest,
                    x_public_api_key: Optional[str] = _PUBLIC_KEY) -> JSONResponse | dict:
    """Whether the password (or the public key in X-Public-API-Key) opens the publication, without executing it;
    within its rate limits. public_api_key is null: the key is not kept, and executions take the password."""
    caller = _caller(request, x_public_api_key, body.password)
    valid = _limited(lambda: services(request).publications.verify(public_name, caller))
    return valid if isinstance(valid, JSONResponse) else {"valid": valid, "public_api_key": None}


def _public_interaction(entry: PublicInteractionRequest, session: Optional[str]) -> dict[str, Any]:
    stated = entry.model_dump(exclude_none=True)
    stated["feature_id"] = stated.pop("document_id")
    if session and "session_id" not in stated:
        stated["session_id"] = session
    return stated


@router.post("/{public_name}/interactions/batch", response_model=dict)
def track_interaction_batch(request: Request, public_name: str, body: PublicInteractionBatchRequest,
                            x_session_id: Optional[str] = _SESSION,
                            x_public_api_key: Optional[str] = _PUBLIC_KEY) -> JSONResponse | dict:
    """Up to 100 interactions at once, X-Session-ID applying to each that names no session. All are checked before
    any is recorded: one naming an execution of another retriever or a document not in its namespace is 404."""
    interactions = [_public_interaction(entry, x_session_id) for entry in body.interactions]
    recorded = _limited(lambda: services(request).publications.track_public(
        public_name, interactions, _caller(request, x_public_api_key)))
    if isinstance(recorded, JSONResponse):
        return recorded
    return {"success": True, "recorded": sum(1 for entry in recorded if not entry["deduplicated"]),
            "deduplicated": sum(1 for entry in recorded if entry["deduplicated"]), "interactions": recorded}


@router.post("/{public_name}/interactions", response_model=dict)
def track_interaction(request: Request, public_name: str, body: PublicInteractionRequest,
                      x_session_id: Optional[str] = _SESSION,
                      x_public_api_key: Optional[str] = _PUBLIC_KEY) -> JSONResponse | dict:
    """The public's feedback on one result of this publication's search: no password needed, but it names the
    execution the search returned (of this retriever) and a document of its results' namespace (404 otherwise);
    within the publication's rate limits. The same (execution, document, types) within 5 minutes is dropped."""
    recorded = _limited(lambda: services(request).publications.track_public(
        public_name, [_public_interaction(body, x_session_id)], _caller(request, x_public_api_key)))
    if isinstance(recorded, JSONResponse):
        return recorded
    return {"success": True, **recorded[0]}


@router.post("/{public_name}/execute", response_model=dict)
def execute_public(request: Request, public_name: str, body: ExecuteRetrieverRequest,
                   return_presigned_urls: Optional[bool] = Query(None),
                   x_public_api_key: Optional[str] = _PUBLIC_KEY, x_retriever_password: Optional[str] = _PASSWORD
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
    caller = _caller(request, x_public_api_key, x_retriever_password)
    return _limited(lambda: services(request).publications.execute_public(public_name, execution, caller))
