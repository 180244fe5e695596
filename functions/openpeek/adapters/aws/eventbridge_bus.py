"""EventBus on EventBridge: domain events go to the environment's bus, where rules route them (webhook queue, ...).

Each event is one PutEvents entry whose DetailType is the domain event type (`namespace.created`), so rules can match on
`detail-type` without parsing the detail, and whose Detail is the whole event as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
        self._client = client
        self._client_lock = threading.Lock()

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
        if self._client is None:
            # boto3's default session is not thread-safe when it builds clients; build exactly once.
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = boto3.session.Session().client("events", config=_CLIENT_CONFIG)
                    except BotoCoreError as error:
                        raise DependencyUnavailable(f"EventBridge client setup failed: {error}") from error
        return self._client
