"""Wire models of published retrievers (the SDK's PublishRetrieverRequest, UpdatePublishedRetrieverRequest,
DisplayConfigInput, RateLimitConfig); the public execution takes the retrievers' ExecuteRetrieverRequest."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict
from openpeek.api.models.retrievers import InputSchemaField
from openpeek.domain.publications import PUBLIC_NAME_MAX, PUBLIC_NAME_MIN, PUBLIC_NAME_PATTERN


class InputRendering(Strict):
    """One input of the public page (the SDK's InputRenderingConfigInput)."""

    field_name: StrictStr = Field(min_length=1, max_length=256)
    field_schema: InputSchemaField
    input_type: StrictStr = "text"
    label: StrictStr = Field(max_length=256)
    placeholder: Optional[StrictStr] = None
    helper_text: Optional[StrictStr] = None
    suggestions: Optional[list[StrictStr]] = None
    required: StrictBool = True
    order: StrictInt = Field(default=0, ge=0)


class DisplayConfig(Strict):
    """How the public page renders; `exposed_fields` is also what public executions return of each document."""

    title: StrictStr = Field(min_length=1, max_length=200)
    description: Optional[StrictStr] = None
    logo_url: Optional[StrictStr] = None
    icon_base64: Optional[StrictStr] = Field(default=None, max_length=300_000)
    seo: Optional[dict[str, Any]] = None
    markdowns: Optional[list[dict[str, Any]]] = None
    theme: Optional[dict[str, Any]] = None
    inputs: list[InputRendering] = Field(max_length=100)
    layout: Optional[dict[str, Any]] = None
    exposed_fields: list[StrictStr] = Field(min_length=1, max_length=200)
    components: Optional[dict[str, Any]] = None
    field_config: Optional[dict[str, dict[str, Any]]] = None
    custom_cta: Optional[dict[str, Any]] = None
    external_links: Optional[list[dict[str, Any]]] = None
    template_type: Optional[StrictStr] = None
    field_mappings: Optional[dict[str, StrictStr]] = None
    extensions: Optional[dict[str, Any]] = None
    retriever_config: Optional[dict[str, Any]] = None


class RateLimitConfig(Strict):
    enabled: StrictBool = True
    tier: Optional[Literal["standard", "elevated", "enterprise", "unlimited"]] = None
    requests_per_minute: Optional[StrictInt] = Field(default=None, ge=1)
    requests_per_hour: Optional[StrictInt] = Field(default=None, ge=1)
    requests_per_day: Optional[StrictInt] = Field(default=None, ge=1)
    max_results_per_query: StrictInt = Field(default=100, ge=1, le=1000)
    enable_ip_limits: StrictBool = False
    max_requests_per_ip_hour: Optional[StrictInt] = Field(default=None, ge=1)


# A secret's own name, never a path: the secret store's paths (openpeek/<environment>/<org>/...) hold other records'
# secrets, which no publication may name.
SECRET_NAME = r"^[A-Za-z0-9_.-]*$"


class PublishRetrieverRequest(Strict):
    display_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=100)
    public_name: Optional[StrictStr] = Field(default=None, min_length=PUBLIC_NAME_MIN, max_length=PUBLIC_NAME_MAX,
                                             pattern=PUBLIC_NAME_PATTERN.pattern)
    description: Optional[StrictStr] = Field(default=None, max_length=500)
    icon_base64: Optional[StrictStr] = Field(default=None, max_length=300_000)
    display_config: Optional[DisplayConfig] = None
    rate_limit_config: Optional[RateLimitConfig] = None
    password_secret_name: Optional[StrictStr] = Field(default=None, max_length=256, pattern=SECRET_NAME)
    include_metadata: StrictBool = True
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    category: Optional[StrictStr] = Field(default=None, max_length=50)


class UpdatePublishedRetrieverRequest(Strict):
    display_config: Optional[DisplayConfig] = None
    rate_limit_config: Optional[RateLimitConfig] = None
    password_secret_name: Optional[StrictStr] = Field(default=None, max_length=256, pattern=SECRET_NAME)
    is_active: Optional[StrictBool] = None
    tags: Optional[list[StrictStr]] = Field(default=None, max_length=64)
    category: Optional[StrictStr] = Field(default=None, max_length=50)
