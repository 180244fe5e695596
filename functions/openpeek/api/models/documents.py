"""Wire models of the bring-your-own documents API: the SDK's BYOUpsertRequest, BYODocument, BYODocumentACL and
UpsertOptions. Vectors stay untyped here: their shape depends on the index (dense or sparse), which only the domain
knows, and leaving them to the domain's checks (C loops over each vector) keeps a 1,000 × 384 batch cheap: typed
as list[float], pydantic would copy every number once more."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictStr

from openpeek.api.models.namespaces import Strict


class DocumentAcl(Strict):
    read: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    write: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    public: Optional[StrictBool] = None


class ByoDocument(Strict):
    # Length and blankness are domain rules (a 400 naming the document's place in the batch), not schema bounds.
    document_id: StrictStr
    vectors: dict[str, Any] = Field(default_factory=dict)
    payload: Optional[dict[str, Any]] = None
    metadata: Optional[dict[str, Any]] = None
    acl: Optional[DocumentAcl] = None
    source_type: Optional[Literal["bucket", "collection", "direct_upsert", "signal"]] = None
    root_object_id: Optional[StrictStr] = None
    root_bucket_id: Optional[StrictStr] = None
    source_object_id: Optional[StrictStr] = None
    source_document_id: Optional[StrictStr] = None
    source_collection_id: Optional[StrictStr] = None
    lineage_path: Optional[StrictStr] = None
    lineage_chain: Optional[list[dict[str, Any]]] = None
    content_hash: Optional[StrictStr] = None


class UpsertOptions(Strict):
    write_token: StrictBool = False
    idempotency_key: Optional[StrictStr] = Field(default=None, max_length=256)


class ByoUpsertRequest(Strict):
    collection_id: Optional[StrictStr] = Field(default=None, max_length=256)
    # The 1,000 limit is a domain rule with its own 400 (too_many_documents), so it is not a schema bound here.
    documents: list[ByoDocument]
    options: Optional[UpsertOptions] = None


class UpdateDocumentAclRequest(Strict):
    """The SDK's UpdateDocumentACLRequest."""

    read: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    write: Optional[list[StrictStr]] = Field(default=None, max_length=256)
    public: Optional[StrictBool] = None
