"""Query models of the SDK's DocumentLineageApi object routes: GET /v1/objects/{object_id}/documents and
/decomposition-tree. Query values arrive as text, so numbers and booleans are parsed (not strict); their bounds are
those of the document listings."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, Field

from openpeek.api.models.collections import DOCUMENT_CURSOR
from openpeek.services.collections.documents import ListQuery

MAX_COLLECTION_FILTER = 100  # collection ids one listing may name


class ObjectDocumentsQuery(BaseModel):
    """`collection_ids` (the SDK's filter, repeated: ?collection_ids=a&collection_ids=b; ids or names) and the paging
    every document listing takes: `limit` (or `page_size`), `offset` (or 1-based `page`), or the `cursor` a page
    returned."""

    collection_ids: Optional[list[str]] = Field(default=None, max_length=MAX_COLLECTION_FILTER)
    limit: Optional[int] = Field(default=None, ge=1, le=1000)
    page_size: Optional[int] = Field(default=None, ge=1, le=1000)
    offset: Optional[int] = Field(default=None, ge=0, le=100_000)
    page: Optional[int] = Field(default=None, ge=1, le=100_000)
    cursor: Optional[str] = Field(default=None, max_length=512, pattern=DOCUMENT_CURSOR)
    return_vectors: bool = False

    def list_query(self) -> ListQuery:
        size = self.limit or self.page_size or 100
        start = (self.page - 1) * size if self.page else (self.offset or 0)
        return ListQuery(limit=size, offset=start, cursor=self.cursor, return_vectors=self.return_vectors)


class DecompositionTreeQuery(BaseModel):
    include_document_ids: bool = False
