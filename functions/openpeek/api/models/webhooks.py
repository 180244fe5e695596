"""Wire models of the Webhooks API: the seed's {webhook_name, url, events} and the SDK's WebhookInput
({webhook_name, event_types, channels: [{channel: "webhook", configs: WebhookConfig}], resource_types, is_active}),
one model for both. Event types and URLs are checked by domain/webhooks.py (400 with a code, not 422)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class WebhookRequest(Strict):
    webhook_name: Optional[StrictStr] = None
    # seed shape
    url: Optional[StrictStr] = None
    events: Optional[list[Any]] = None
    headers: Optional[dict[str, StrictStr]] = None
    timeout: Optional[StrictFloat | StrictInt] = None
    signing_secret: Optional[StrictStr] = None
    # SDK shape
    event_types: Optional[list[Any]] = None
    channels: Optional[list[dict[str, Any]]] = None
    resource_types: Optional[list[StrictStr]] = None
    is_active: Optional[StrictBool] = None
    # org routes: scope the webhook to one namespace (id or name); absent = every namespace of the organisation
    namespace: Optional[StrictStr] = None
    namespace_id: Optional[StrictStr] = None
    # read-only fields a client may echo back from a GET; accepted and ignored
    webhook_id: Optional[StrictStr] = None
    internal_id: Optional[StrictStr] = None
    delivery_health: Optional[dict[str, Any]] = None
    created_at: Optional[Any] = None
    updated_at: Optional[Any] = None

    def changes(self) -> dict[str, Any]:
        """What the caller set, without the read-only echoes."""
        return self.model_dump(exclude_unset=True, exclude={"webhook_id", "internal_id", "delivery_health",
                                                            "created_at", "updated_at"})


class ListWebhooksRequest(Strict):
    event_type: Optional[StrictStr] = None
    is_active: Optional[StrictBool] = None
