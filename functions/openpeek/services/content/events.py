"""Domain events of the content services, in one shape."""

from __future__ import annotations

from typing import Any

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.namespace import Namespace
from openpeek.domain.events import DomainEvent
from openpeek.ports import EventBus


def publish(events: EventBus, event_type: str, namespace: Namespace, data: dict[str, Any]) -> None:
    events.publish(DomainEvent(type=event_type, org_id=namespace.org_id, namespace_id=namespace.namespace_id,
                               data=data, occurred_at=isoformat(utcnow())))
