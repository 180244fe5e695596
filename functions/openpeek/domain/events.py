"""Domain events: what happened, for whom, and when; the services publish them on the EventBus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class DomainEvent:
    type: str  # e.g. "namespace.created"
    org_id: str
    namespace_id: str | None
    data: dict[str, Any]
    occurred_at: str  # RFC 3339
