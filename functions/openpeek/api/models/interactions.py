"""Wire models of search interactions (the SDK's SearchInteraction, BulkInteractionsRequest, ListInteractionsRequest,
PublicInteractionRequest, PublicInteractionBatchRequest) and the public page's VerifyPasswordRequest."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, Optional, Union

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from openpeek.api.models.namespaces import Strict
from openpeek.domain import interactions as rules

InteractionTypeName = Literal[rules.INTERACTION_TYPES]  # type: ignore[valid-type]
Identifier = Field(default=None, min_length=1, max_length=256)
MAX_CONTEXT_BYTES = 32_768  # metadata and query_snapshot together: an interaction stays well inside one table item


def _lower_case_types(value: Any) -> Any:
    """The SDK sends the enum's values (`click`); Mixpeek's own examples write them upper case (`CLICK`)."""
    if isinstance(value, list):
        return [item.lower() if isinstance(item, str) else item for item in value]
    return value


class _InteractionFields(Strict):
    interaction_type: list[InteractionTypeName] = Field(min_length=1, max_length=len(rules.INTERACTION_TYPES))
    position: StrictInt = Field(ge=0, le=1_000_000)
    metadata: Optional[dict[str, Any]] = None
    session_id: Optional[StrictStr] = Identifier
    execution_id: Optional[StrictStr] = Identifier
    query_snapshot: Optional[dict[str, Any]] = None
    document_score: Optional[Union[StrictInt, StrictFloat]] = None

    _types = field_validator("interaction_type", mode="before")(_lower_case_types)

    @model_validator(mode="after")
    def _bounded_context(self) -> "_InteractionFields":
        size = len(json.dumps([self.metadata, self.query_snapshot], default=str).encode())
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(f"metadata and query_snapshot together take at most {MAX_CONTEXT_BYTES} bytes of JSON")
        return self


class SearchInteraction(_InteractionFields):
    """`document_id` is accepted for `feature_id` (the same value, as the SDK says)."""

    feature_id: StrictStr = Field(min_length=1, max_length=256)
    user_id: Optional[StrictStr] = Identifier
    retriever_id: Optional[StrictStr] = Identifier
    result_set_size: Optional[StrictInt] = Field(default=None, ge=0, le=1_000_000)
    feature_uri: Optional[StrictStr] = Field(default=None, min_length=1, max_length=512)
    occurred_at: Optional[datetime] = None

    @model_validator(mode="before")
    @classmethod
    def _document_id_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "document_id" in data:
            data = dict(data)
            document_id = data.pop("document_id")
            if data.get("feature_id") not in (None, document_id):
                raise ValueError("feature_id and document_id name the same document; send one, or the same value")
            data["feature_id"] = document_id
        return data

    @model_validator(mode="after")
    def _references(self) -> "SearchInteraction":
        if self.retriever_id is not None and self.execution_id is None:
            raise ValueError("an interaction on a retriever's result needs the execution_id its execution returned")
        if self.result_set_size == 0 and set(self.interaction_type) != {"zero_results"}:
            raise ValueError("result_set_size 0 is only for a zero_results interaction")
        return self


class BulkInteractionsRequest(Strict):
    interactions: list[SearchInteraction] = Field(min_length=1, max_length=rules.MAX_BULK)


class SortOption(Strict):
    field: StrictStr = Field(min_length=1, max_length=64)
    direction: Literal["asc", "desc"] = "desc"


class ListInteractionsRequest(Strict):
    execution_id: Optional[StrictStr] = Identifier
    retriever_id: Optional[StrictStr] = Identifier
    session_id: Optional[StrictStr] = Identifier
    user_id: Optional[StrictStr] = Identifier
    feature_id: Optional[StrictStr] = Identifier
    interaction_type: Optional[InteractionTypeName] = None
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortOption] = None
    search: Optional[StrictStr] = Field(default=None, min_length=1, max_length=200)
    include_total: Optional[bool] = None  # the SDK's list bodies carry it beside the query parameter

    @field_validator("interaction_type", mode="before")
    @classmethod
    def _lower_case_type(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class PublicInteractionRequest(_InteractionFields):
    document_id: StrictStr = Field(min_length=1, max_length=256)
    result_set_size: Optional[StrictInt] = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _execution_named(self) -> "PublicInteractionRequest":
        if self.execution_id is None:
            raise ValueError("an interaction needs the execution_id the search returned")
        return self


class PublicInteractionBatchRequest(Strict):
    interactions: list[PublicInteractionRequest] = Field(min_length=1, max_length=rules.MAX_PUBLIC_BATCH)


class VerifyPasswordRequest(Strict):
    password: StrictStr = Field(min_length=1, max_length=1024)
