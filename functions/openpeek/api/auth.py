"""Authentication: `Authorization: Bearer sk_...` → Principal; `X-Namespace` → the caller's namespace."""

from __future__ import annotations

from fastapi import Depends, Header, Request

from openpeek.api.namespace_ids import remember_caller
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.organizations import Principal


def services(request: Request):
    return request.app.state.services


def principal(
    request: Request,
    authorization: str | None = Header(default=None, include_in_schema=False),
) -> Principal:
    caller = services(request).organizations.authenticate(authorization)
    remember_caller(request.state, caller)  # the answer shows this organisation's public namespace ids
    return caller


def current_namespace(
    request: Request,
    caller: Principal = Depends(principal),
    x_namespace: str | None = Header(default=None, alias="X-Namespace"),
) -> Namespace:
    """The namespace a namespace-scoped route works in, by name or id; another organisation's is 404."""
    if not x_namespace or not x_namespace.strip():
        raise BadRequest("This route needs the X-Namespace header (namespace name or id)", code="missing_namespace")
    return services(request).namespaces.resolve(caller, x_namespace.strip())
