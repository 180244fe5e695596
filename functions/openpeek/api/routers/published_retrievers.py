"""Published retrievers (namespace from X-Namespace): publish a retriever under a public name, read, update and
unpublish the publication, check a name, repair a publication whose parts disagree, list what is published, and the
namespace's publish quota with its public use. Thin: validate, call PublicationService, present.

Included before the retrievers router, and `/published` and `/publish/stats` before `/{retriever_id}/publish`, so a
retriever id never shadows them. There is no mxp.co here: `public_url` and `short_url` are this deployment's public
execute route for the name (api/routers/public_retrievers.py)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends, Query, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.publications import PublishRetrieverRequest, UpdatePublishedRetrieverRequest
from openpeek.api.presenters import retriever_model
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window
from openpeek.domain.publications import Publication

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/retrievers", tags=["Published Retrievers"])


def public_url(request: Request, public_name: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/v1/public/retrievers/{public_name}/execute"


def publication_model(request: Request, publication: Publication) -> dict[str, Any]:
    """The SDK's PublishedRetrieverResponse; the public key is never shown again after publishing."""
    return {
        "retriever_id": publication.retriever_id, "public_id": publication.public_id,
        "public_name": publication.public_name, "public_url": public_url(request, publication.public_name),
        "display_name": publication.display_name, "description": publication.description,
        "icon_base64": publication.icon_base64, "public_api_key": None,
        "display_config": publication.display_config, "rate_limit_config": publication.rate_limit_config,
        "password_protected": publication.password_protected, "is_active": publication.is_active,
        "retriever_metadata": publication.retriever_metadata, "tags": list(publication.tags),
        "category": publication.category, "created_at": publication.created_at, "updated_at": publication.updated_at,
    }


@router.get("/published")
def list_published(request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    """The namespace's retrievers the public can reach: published ones (with their publication) and those whose
    visibility is PUBLIC or MARKETPLACE (publication null), oldest first."""
    found = services(request).publications.listing(namespace)
    window = Window.of(limit, offset=offset)
    return {"results": [{**retriever_model(retriever), "is_published": True,
                         "publication": None if publication is None else publication_model(request, publication)}
                        for retriever, publication in window.of_list(found)],
            "total": len(found), "pagination": window.pagination(len(found))}


@router.get("/publish/stats")
def publish_stats(request: Request, namespace: Namespace = Depends(current_namespace)) -> dict:
    """The SDK's OrganizationPublishStatsResponse for this namespace, with each publication's public use: requests
    its rate limits admitted and refused, and public executions completed."""
    return services(request).publications.stats(namespace)


@router.post("/{retriever_id}/publish")
def publish(request: Request, retriever_id: str, body: PublishRetrieverRequest,
            namespace: Namespace = Depends(current_namespace)) -> dict:
    """Publish the retriever under a public name (given, or made from display_name). The public key in the answer
    is shown this once: it stands in for the password of a password-protected publication."""
    publication, plain_key = services(request).publications.publish(
        namespace, retriever_id, body.model_dump(exclude_none=True))
    url = public_url(request, publication.public_name)
    return {"public_id": publication.public_id, "retriever_id": publication.retriever_id, "public_url": url,
            "short_url": url, "public_api_key": plain_key, "public_name": publication.public_name}


@router.get("/{retriever_id}/publish")
def get_publication(request: Request, retriever_id: str,
                    namespace: Namespace = Depends(current_namespace)) -> Optional[dict]:
    """null (200) when the retriever is not published, as the SDK documents; 404 only for an unknown retriever."""
    publication = services(request).publications.get(namespace, retriever_id)
    return None if publication is None else publication_model(request, publication)


@router.patch("/{retriever_id}/publish")
def update_publication(request: Request, retriever_id: str, body: UpdatePublishedRetrieverRequest,
                       namespace: Namespace = Depends(current_namespace)) -> dict:
    publication = services(request).publications.update(namespace, retriever_id, body.model_dump(exclude_none=True))
    return publication_model(request, publication)


@router.delete("/{retriever_id}/publish")
def unpublish(request: Request, retriever_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    publication = services(request).publications.unpublish(namespace, retriever_id)
    return {"success": True, "message": f"Unpublished '{publication.public_name}'"}


@router.get("/{retriever_id}/publish/availability")
def name_availability(request: Request, retriever_id: str, name: str = Query(min_length=1, max_length=200),
                      namespace: Namespace = Depends(current_namespace)) -> dict:
    return {"name": name, "available": services(request).publications.name_available(namespace, retriever_id, name)}


@router.post("/{retriever_id}/publish/reconcile")
def reconcile(request: Request, retriever_id: str, dry_run: bool = Query(False),
              namespace: Namespace = Depends(current_namespace)) -> dict:
    """Mixpeek repairs its published record against its marketplace listing; there is no marketplace here, so this
    repairs what can drift apart here: the publication against its public-name reservation, a publication whose
    retriever is gone, and the namespace's publish count (PublicationService.reconcile)."""
    return services(request).publications.reconcile(namespace, retriever_id, dry_run=dry_run)
