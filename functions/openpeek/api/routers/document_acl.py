"""A document's access control list (the SDK's CollectionDocumentsApi.update_document_acl).

PATCH /v1/collections/{collection_identifier}/documents/{document_id}/acl, namespace from X-Namespace; the rules are
DocumentService.update_acl's.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.documents import UpdateDocumentAclRequest
from openpeek.domain.namespace import Namespace

router = APIRouter(route_class=OrjsonRoute, tags=["Documents"])


@router.patch("/v1/collections/{collection_identifier}/documents/{document_id}/acl")
def update_document_acl(request: Request, collection_identifier: str, document_id: str,
                        body: UpdateDocumentAclRequest, namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).documents.update_acl(namespace, collection_identifier, document_id,
                                                  body.model_dump(exclude_none=True))
