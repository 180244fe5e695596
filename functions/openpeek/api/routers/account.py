"""Who the caller is (`GET /v1/me`, alias `/v1/account`) and the organisation's secrets
(`/v1/organizations/secrets`). Secret values go in and never come out: answers carry the name only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from openpeek.api.auth import principal, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.account import CreateSecretRequest, UpdateSecretRequest
from openpeek.services.organizations import Principal

router = APIRouter(route_class=OrjsonRoute, tags=["Account"])


@router.get("/v1/me")
@router.get("/v1/account", include_in_schema=False)
def whoami(request: Request, caller: Principal = Depends(principal)) -> dict:
    """The key's organisation (id, name, ENTERPRISE or STANDARD) and the key's metadata. Keys here are secret keys of
    the whole organisation: every key holds every permission, none expires, and there are no per-organisation rate
    limits (a deployment throttles its whole API at the gateway), so `rate_limits` is absent."""
    return services(request).organizations.whoami(caller)


@router.post("/v1/organizations/secrets")
def create_secret(request: Request, body: CreateSecretRequest, caller: Principal = Depends(principal)) -> dict:
    name = services(request).organization_secrets.create(caller, body.secret_name, body.secret_value)
    return {"secret_name": name, "created": True}


@router.get("/v1/organizations/secrets")
def list_secrets(request: Request, caller: Principal = Depends(principal)) -> dict:
    names = services(request).organization_secrets.names(caller)
    return {"secrets": names, "count": len(names)}


@router.put("/v1/organizations/secrets/{secret_name}")
def update_secret(request: Request, secret_name: str, body: UpdateSecretRequest,
                  caller: Principal = Depends(principal)) -> dict:
    name = services(request).organization_secrets.update(caller, secret_name, body.secret_value)
    return {"secret_name": name, "updated": True}


@router.delete("/v1/organizations/secrets/{secret_name}")
def delete_secret(request: Request, secret_name: str, caller: Principal = Depends(principal)) -> dict:
    name = services(request).organization_secrets.delete(caller, secret_name)
    return {"secret_name": name, "deleted": True}
