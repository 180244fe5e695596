"""A document's access control list (the SDK's CollectionDocumentsApi.update_document_acl).

PATCH /v1/collections/{collection_identifier}/documents/{document_id}/acl, namespace from X-Namespace: the lists
given (read, write) replace the stored ones, `public` replaces the flag, what is not given stays. The ACL lives in the
document's payload under `_internal._acl`, where push-mode authorization (services/access_control.py) filters on it;
the answer is the document as GET shows it.
"""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StrictBool, StrictStr

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.namespaces import Strict
from openpeek.domain import documents as document_rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.events import DomainEvent

router = APIRouter(route_class=OrjsonRoute, tags=["Documents"])


class UpdateDocumentAclRequest(Strict):
    """The SDK's UpdateDocumentACLRequest."""

    read: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    write: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    public: Optional[StrictBool] = None


@router.patch("/v1/collections/{collection_identifier}/documents/{document_id}/acl")
def update_document_acl(request: Request, collection_identifier: str, document_id: str,
                        body: UpdateDocumentAclRequest, namespace: Namespace = Depends(current_namespace)) -> dict:
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise BadRequest("send at least one of read, write, public", code="empty_acl_update")
    vectors = services(request).vectors
    found = vectors.retrieve(namespace.collection, [document_id])
    if not found or found[0].payload.get("collection_id") != collection_identifier:
        raise NotFound("document", document_id)
    payload = found[0].payload
    internal = dict(payload.get(document_rules.INTERNAL) or {})
    internal["_acl"] = {**(internal.get("_acl") or {}), **changes}
    now = isoformat(utcnow())
    vectors.set_payload(namespace.collection, [document_id], {document_rules.INTERNAL: internal, "updated_at": now})
    services(request).events.publish(DomainEvent(
        type="document.updated", org_id=namespace.org_id, namespace_id=namespace.namespace_id,
        data={"count": 1, "document_ids": [document_id], "truncated": False, "fields": ["acl"]}, occurred_at=now,
    ))
    updated = vectors.retrieve(namespace.collection, [document_id])
    if not updated:  # deleted meanwhile
        raise NotFound("document", document_id)
    return document_rules.present(updated[0], with_vectors=False)
