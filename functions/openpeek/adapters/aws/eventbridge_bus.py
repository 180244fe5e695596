"""EventBus on EventBridge: domain events go to the environment's bus, where rules route them (webhook queue, ...).

Each event is one PutEvents entry whose DetailType is the domain event type (`namespace.created`), so rules can match on
`detail-type` without parsing the detail, and whose Detail is the whole event as JSON.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openpeek.adapters.aws.clients import LazyClient
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import DependencyUnavailable

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def _event_time(occurred_at: str) -> datetime | None:
    """The envelope's `time` should be when the event happened, not when it was sent; an unparseable timestamp
    falls back to EventBridge's receive time rather than losing the event."""
    try:
        return datetime.fromisoformat(occurred_at)
    except (TypeError, ValueError):
        return None


class EventBridgeBus:
    """EventBus publishing to one EventBridge bus. The client is made on first use, so building the bus at Lambda
    import time costs no network or credentials."""

    def __init__(self, bus_name: str, source: str = "openpeek", client: Any = None) -> None:
        if not bus_name:
            raise ValueError("EventBridgeBus needs a bus name")
        self._bus_name = bus_name
        self._source = source
        self._client = LazyClient("events", config=_CLIENT_CONFIG, client=client, setup_failed=lambda error: (
            DependencyUnavailable(f"EventBridge client setup failed: {error}")))

    @property
    def bus_name(self) -> str:
        return self._bus_name

    def publish(self, event: DomainEvent) -> None:
        entry: dict[str, Any] = {
            "Source": self._source,
            "DetailType": event.type,
            # Not stringifying unknown types on purpose: a non-JSON payload is a service bug and should fail loudly.
            "Detail": json.dumps(dataclasses.asdict(event), separators=(",", ":")),
            "EventBusName": self._bus_name,
        }
        time = _event_time(event.occurred_at)
        if time is not None:
            entry["Time"] = time
        try:
            response = self._events().put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"EventBridge put_events for {event.type} failed: {error}") from error
        # PutEvents answers 200 even when it refuses the entry; only FailedEntryCount tells.
        if response.get("FailedEntryCount", 0) > 0:
            failed = next((item for item in response.get("Entries", []) if item.get("ErrorCode")), {})
            raise DependencyUnavailable(
                f"EventBridge refused {event.type} on bus {self._bus_name}: "
                f"{failed.get('ErrorCode', 'unknown error')} {failed.get('ErrorMessage', '')}".rstrip()
            )

    def _events(self) -> Any:
        return self._client.get()
