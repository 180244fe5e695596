"""Webhooks API, two route families over one service (services(request).webhooks):

- the seed's /v1/webhooks, scoped to the X-Namespace namespace: POST, GET (list), POST /list, GET/PUT/PATCH/DELETE
  /{identifier}, GET /{identifier}/deliveries;
- the SDK's /v1/organizations/webhooks, org-wide (a body's `namespace` scopes a webhook to one namespace): POST,
  POST /list, GET/PUT/DELETE /{identifier}, GET /{identifier}/deliveries.

Answers are the SDK's WebhookOutput (plus `url`, `events` and `namespace_id` for the seed's shape). The signing
secret appears only in the create answer (`signing_secret`, and the channel's configs.signing_secret); every other
answer shows 'redacted'.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.webhooks import ListWebhooksRequest, WebhookRequest
from openpeek.api.presenters import webhook_model
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, tags=["Webhooks"])

SEED = "/v1/webhooks"
ORG = "/v1/organizations/webhooks"


def _page(items: list[Any], limit: int, page_size: int | None, offset: int, page: int | None) -> tuple[list, dict]:
    window = Window.of(page_size or limit, offset=None if page else offset, page=page)
    return window.of_list(items), window.pagination(len(items))


def _list(request: Request, caller: Principal, namespace: Namespace | None, body: ListWebhooksRequest | None,
          limit: int, page_size: int | None, offset: int, page: int | None) -> dict:
    found = services(request).webhooks.list(caller, namespace, event_type=body.event_type if body else None,
                                            is_active=body.is_active if body else None)
    window, pagination = _page(found, limit, page_size, offset, page)
    return {"results": [webhook_model(webhook) for webhook in window], "total": len(found),
            "pagination": pagination}


def _deliveries(request: Request, caller: Principal, identifier: str, namespace: Namespace | None, limit: int,
                page_size: int | None, offset: int, page: int | None) -> dict:
    webhook, attempts = services(request).webhooks.deliveries(caller, identifier, namespace)
    window, pagination = _page(attempts, limit, page_size, offset, page)
    return {"webhook_id": webhook.webhook_id, "results": window, "total": len(attempts),
            "pagination": pagination}


_LIMIT = Query(100, ge=1, le=1000)
_PAGE_SIZE = Query(None, ge=1, le=1000)
_OFFSET = Query(0, ge=0)
_PAGE = Query(None, ge=1)

# -- the seed's family: X-Namespace ----------------------------------------------------------------------------------


@router.post(SEED)
def create_webhook(request: Request, body: WebhookRequest, caller: Principal = Depends(principal),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    created = services(request).webhooks.create(caller, body.changes(), namespace)
    return webhook_model(created, secret=created.secret)


@router.get(SEED)
def list_webhooks(request: Request, limit: int = _LIMIT, page_size: Optional[int] = _PAGE_SIZE,
                  offset: int = _OFFSET, page: Optional[int] = _PAGE, caller: Principal = Depends(principal),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, caller, namespace, None, limit, page_size, offset, page)


@router.post(SEED + "/list")
def search_webhooks(request: Request, body: Optional[ListWebhooksRequest] = Body(default=None),
                    limit: int = _LIMIT, page_size: Optional[int] = _PAGE_SIZE, offset: int = _OFFSET,
                    page: Optional[int] = _PAGE, caller: Principal = Depends(principal),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, caller, namespace, body, limit, page_size, offset, page)


@router.get(SEED + "/{identifier}")
def get_webhook(request: Request, identifier: str, caller: Principal = Depends(principal),
                namespace: Namespace = Depends(current_namespace)) -> dict:
    return webhook_model(services(request).webhooks.get(caller, identifier, namespace))


@router.put(SEED + "/{identifier}")
@router.patch(SEED + "/{identifier}")
def update_webhook(request: Request, identifier: str, body: WebhookRequest, caller: Principal = Depends(principal),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return webhook_model(services(request).webhooks.update(caller, identifier, body.changes(), namespace))


@router.delete(SEED + "/{identifier}")
def delete_webhook(request: Request, identifier: str, caller: Principal = Depends(principal),
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).webhooks.delete(caller, identifier, namespace)
    return {"success": True, "webhook_id": deleted.webhook_id, "message": "Webhook deleted"}


@router.get(SEED + "/{identifier}/deliveries")
def list_deliveries(request: Request, identifier: str, limit: int = _LIMIT, page_size: Optional[int] = _PAGE_SIZE,
                    offset: int = _OFFSET, page: Optional[int] = _PAGE, caller: Principal = Depends(principal),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    return _deliveries(request, caller, identifier, namespace, limit, page_size, offset, page)


# -- the SDK's family: org-wide --------------------------------------------------------------------------------------


@router.post(ORG)
def create_org_webhook(request: Request, body: WebhookRequest, caller: Principal = Depends(principal)) -> dict:
    created = services(request).webhooks.create(caller, body.changes())
    return webhook_model(created, secret=created.secret)


@router.post(ORG + "/list")
def list_org_webhooks(request: Request, body: Optional[ListWebhooksRequest] = Body(default=None),
                      limit: int = _LIMIT, page_size: Optional[int] = _PAGE_SIZE, offset: int = _OFFSET,
                      page: Optional[int] = _PAGE, caller: Principal = Depends(principal)) -> dict:
    return _list(request, caller, None, body, limit, page_size, offset, page)


@router.get(ORG + "/{identifier}")
def get_org_webhook(request: Request, identifier: str, caller: Principal = Depends(principal)) -> dict:
    return webhook_model(services(request).webhooks.get(caller, identifier))


@router.put(ORG + "/{identifier}")
@router.patch(ORG + "/{identifier}")
def update_org_webhook(request: Request, identifier: str, body: WebhookRequest,
                       caller: Principal = Depends(principal)) -> dict:
    return webhook_model(services(request).webhooks.update(caller, identifier, body.changes()))


@router.delete(ORG + "/{identifier}", status_code=204)
def delete_org_webhook(request: Request, identifier: str, caller: Principal = Depends(principal)) -> Response:
    services(request).webhooks.delete(caller, identifier)
    return Response(status_code=204)


@router.get(ORG + "/{identifier}/deliveries")
def list_org_deliveries(request: Request, identifier: str, limit: int = _LIMIT,
                        page_size: Optional[int] = _PAGE_SIZE, offset: int = _OFFSET, page: Optional[int] = _PAGE,
                        caller: Principal = Depends(principal)) -> dict:
    return _deliveries(request, caller, identifier, None, limit, page_size, offset, page)
