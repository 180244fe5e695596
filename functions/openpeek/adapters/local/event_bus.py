"""EventBus for the embedded runtime: events go straight to in-process subscribers.

Delivery is synchronous, in the publisher's thread and in subscription order, so a test or a laptop run sees the effect
of an event as soon as the call that raised it returns. As with EventBridge, publishing never fails because a consumer
did: a subscriber's exception is logged and the others still get the event.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

from openpeek.domain.events import DomainEvent

logger = logging.getLogger(__name__)

EventHandler = Callable[[DomainEvent], None]


@dataclass(frozen=True, eq=False)  # identity, so unsubscribing removes this very subscription
class _Subscription:
    handler: EventHandler
    event_types: frozenset[str] | None  # None: every type

    def wants(self, event: DomainEvent) -> bool:
        return self.event_types is None or event.type in self.event_types


class InProcessEventBus:
    """EventBus whose subscribers are callables in this process; keeps the last `max_recent` events for inspection."""

    def __init__(self, max_recent: int = 1_000) -> None:
        if max_recent < 0:
            raise ValueError("max_recent cannot be negative")
        self._lock = threading.Lock()
        self._subscriptions: list[_Subscription] = []
        self._recent: deque[DomainEvent] = deque(maxlen=max_recent)

    def subscribe(self, handler: EventHandler, event_types: Iterable[str] | None = None) -> Callable[[], None]:
        """Deliver future events to handler (only those of `event_types` when given). Returns a function that ends
        the subscription, so short-lived consumers (a test, a request-scoped listener) do not leak."""
        if event_types is not None:
            event_types = frozenset(event_types)
            if not event_types:
                # An empty filter would silently receive nothing; that is always a caller mistake.
                raise ValueError("event_types must name at least one type; pass None to receive every type")
        subscription = _Subscription(handler, event_types)
        with self._lock:
            self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            with self._lock:
                if subscription in self._subscriptions:
                    self._subscriptions.remove(subscription)

        return unsubscribe

    def publish(self, event: DomainEvent) -> None:
        with self._lock:
            self._recent.append(event)
            # Handlers run outside the lock on a snapshot, so one may publish or (un)subscribe without deadlocking.
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            if not subscription.wants(event):
                continue
            try:
                subscription.handler(event)
            except Exception:
                logger.exception(
                    "event subscriber %r failed on %s (org %s)", subscription.handler, event.type, event.org_id
                )

    def recent(self) -> list[DomainEvent]:
        """The last published events, oldest first."""
        with self._lock:
            return list(self._recent)
