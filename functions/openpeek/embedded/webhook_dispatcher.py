"""Webhook delivery for the embedded runtime: what EventBridge → SQS (+DLQ) → the delivery Lambda do in AWS, on one
background thread.

The dispatcher subscribes to the InProcessEventBus (only to the event types a webhook can subscribe to) and queues
each event; publishing costs the publisher a queue put, never an HTTP call. The worker finds the subscribed webhooks
and makes one attempt per webhook; a failed attempt is retried after base_delay_s * factor**(attempt-1) seconds
(± jitter, at most max_delay_s), up to max_attempts attempts, after which the delivery log gets a dead-letter record
(status "dead"). Each retry re-reads the webhook (a deleted or disabled webhook gets no more attempts; a changed URL
or secret is used). Retries waiting when the process stops are lost (the log shows the attempts made).

    dispatcher = LocalWebhookDispatcher(delivery, bus)   # starts unless autostart=False
    ...
    dispatcher.stop()                                     # unsubscribes, finishes the attempt in flight, joins
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from openpeek.domain.webhooks import EVENT_TYPES, Webhook
from openpeek.domain.events import DomainEvent
from openpeek.ports import Metrics
from openpeek.services.webhook_delivery import WebhookDelivery, WebhookEvent, normalize_event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Attempt:
    webhook: Webhook
    event: WebhookEvent
    attempt: int


class LocalWebhookDispatcher:
    def __init__(self, delivery: WebhookDelivery, bus: Any, *, max_attempts: int = 5, base_delay_s: float = 1.0,
                 factor: float = 2.0, jitter: float = 0.2, max_delay_s: float = 300.0, autostart: bool = True,
                 metrics: Metrics | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_delay_s < 0 or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need base_delay_s >= 0, factor >= 1 and 0 <= jitter < 1")
        self._delivery = delivery
        self._bus = bus
        self._metrics = metrics
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.factor = factor
        self.jitter = jitter
        self.max_delay_s = max_delay_s
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, Any]] = []  # (due monotonic time, sequence, DomainEvent | _Attempt)
        self._sequence = itertools.count()
        self._busy = 0  # work items taken off the queue and not finished
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        if autostart:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._condition:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="openpeek-webhooks", daemon=True)
            self._thread.start()
        self._unsubscribe = self._bus.subscribe(self.submit, event_types=EVENT_TYPES)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking events, let the attempt in flight finish, and drop pending retries."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._condition:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._condition.notify_all()
        if thread is not None:
            thread.join(timeout)

    close = stop

    def __enter__(self) -> "LocalWebhookDispatcher":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def submit(self, event: DomainEvent | dict[str, Any]) -> None:
        """Queue an event for delivery (the bus calls this; so may anyone)."""
        self._push(0.0, event)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued, waiting for a retry, or in flight; False on timeout (tests)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    # -- the worker --------------------------------------------------------------------------------------------------

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        delay = min(self.base_delay_s * self.factor ** (attempt - 1), self.max_delay_s)
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)

    def _push(self, delay_s: float, item: Any) -> None:
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay_s, next(self._sequence), item))
            self._condition.notify_all()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    self._condition.wait(None if not self._queue else self._queue[0][0] - now)
                if self._stopping:
                    self._queue.clear()
                    self._condition.notify_all()
                    return
                _, _, item = heapq.heappop(self._queue)
                self._busy += 1
            try:
                if isinstance(item, _Attempt):
                    self._attempt(item)
                else:
                    self._plan(item)
            except Exception:  # noqa: BLE001 - one bad event or a table hiccup must not kill the worker
                logger.exception("webhook dispatcher failed on %r", item)
            finally:
                with self._condition:
                    self._busy -= 1
                    self._condition.notify_all()

    def _plan(self, event: DomainEvent | dict[str, Any]) -> None:
        normalized = normalize_event(event)
        for webhook in self._delivery.targets(normalized):
            self._attempt(_Attempt(webhook, normalized, 1))

    def _attempt(self, job: _Attempt) -> None:
        webhook = job.webhook if job.attempt == 1 else self._delivery.current(job.webhook)
        if webhook is None or not webhook.is_active:
            return  # deleted or disabled since: no more attempts
        result = self._delivery.attempt(webhook, job.event, job.attempt)
        if self._metrics is not None:
            # the names the delivery Lambda uses
            self._metrics.count("WebhookDeliveries" if result.ok else "WebhookDeliveryFailures")
        if result.ok:
            return
        if job.attempt >= self.max_attempts:
            self._delivery.dead_letter(webhook, job.event, result)
            return
        self._push(self.retry_delay(job.attempt), _Attempt(webhook, job.event, job.attempt + 1))
