"""Wire model of standalone namespace creation (seed 002; the SDK's CreateStandaloneNamespaceRequestModel)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, StrictBool, StrictStr

from openpeek.api.models.namespaces import Strict, VectorConfigInput


class CreateStandaloneNamespaceRequest(Strict):
    # Also the namespace's name; NamespaceService holds it to the id rules (3-64 letters, digits, '_' or '-').
    namespace_id: StrictStr = Field(min_length=1, max_length=128)
    # The SDK's high-level client sends the name it resolved beside namespace_id.
    namespace_name: Optional[StrictStr] = Field(default=None, min_length=3, max_length=64)
    vector_configs: Optional[list[VectorConfigInput]] = Field(default=None, max_length=64)
    storage: Optional[dict[str, Any]] = None
    config: Optional[dict[str, Any]] = None
    auto_create_indexes: Optional[StrictBool] = None
