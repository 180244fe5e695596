"""Wire models of the account-level routes the SDK groups apart: organisation secrets (CreateSecretRequest,
UpdateSecretRequest), the one-off feature search (FeatureSearchRequest), a collection's schema sync
(SchemaSyncRequest)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict
from openpeek.services.organization_secrets import MAX_VALUE_LENGTH


class CreateSecretRequest(Strict):
    secret_name: StrictStr = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    secret_value: StrictStr = Field(min_length=1, max_length=MAX_VALUE_LENGTH)


class UpdateSecretRequest(Strict):
    secret_value: StrictStr = Field(min_length=1, max_length=MAX_VALUE_LENGTH)


class FeatureSearchQuery(Strict):
    input_mode: Literal["text", "image", "url", "vector"] = "text"
    text: Optional[StrictStr] = Field(default=None, max_length=10_000)
    url: Optional[StrictStr] = Field(default=None, max_length=2048)
    image: Optional[StrictStr] = None
    vector: Optional[list[StrictFloat | StrictInt]] = Field(default=None, min_length=1, max_length=65_536)


class FeatureSearchRequest(Strict):
    collection_identifiers: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    query: FeatureSearchQuery
    feature_uri: StrictStr = Field(default="mixpeek://text_extractor@v1/embedding", min_length=1, max_length=512)
    top_k: StrictInt = Field(default=25, ge=1, le=1000)
    filters: Optional[dict[str, Any]] = None


class SchemaSyncRequest(Strict):
    sample_size: StrictInt = Field(default=1000, ge=1, le=10_000)
    force: StrictBool = False
    cascade_to_downstream: StrictBool = True

