"""Webhook delivery: one domain event → a signed JSON POST to each subscribed webhook, every attempt logged.

`deliver(event)` takes the EventBridge event an SQS record carries ({"id", "detail-type", "time", "detail":
{type, org_id, namespace_id, data, occurred_at}}), a DomainEvent, or a dict of DomainEvent's fields. It sends to every
enabled webhook of the event's organisation that subscribes to its type (and to its namespace, for a namespace-scoped
webhook) and has not received it yet, and raises WebhookDeliveryFailed when any attempt failed: the Lambda then
reports that record so SQS retries it (and its DLQ takes it after the queue's last attempt). A retry re-sends only to
the webhooks that have not answered 2xx, with the same delivery id, and counts attempts on from the log.

What a receiver gets:
    POST <url>  Content-Type: application/json
    X-Openpeek-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>
    X-Openpeek-Event: <event type>     X-Openpeek-Delivery: <delivery id, the same on every retry>
    {"id": <event id>, "type": ..., "created_at": ..., "namespace_id": ..., "data": {...}}
2xx within the webhook's timeout (10 s at most) is delivered; anything else (other status, redirect, timeout,
connection error, a target that no longer passes the URL rules) is a failed attempt. The URL rules are checked again
at every attempt on a fresh resolution, and the request goes to an address that was checked (DNS rebinding).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from openpeek.domain import webhooks as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest
from openpeek.domain.webhooks import Webhook, verify_signature  # noqa: F401 - re-exported for receivers and tests
from openpeek.domain.events import DomainEvent
from openpeek.domain.namespace import show_public_ids
from openpeek.ports import WebhookSender
from openpeek.repositories.webhooks import LOG_RETENTION_S, WebhookRepository

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 500


class WebhookDeliveryFailed(Exception):
    """At least one subscribed webhook did not accept the event; `results` has every failed attempt."""

    def __init__(self, results: list["AttemptResult"]) -> None:
        summary = "; ".join(f"{r.webhook_id}: {r.status_code or r.error}" for r in results)
        super().__init__(f"webhook delivery failed for {len(results)} webhook(s): {summary}")
        self.results = results


@dataclass(frozen=True)
class WebhookEvent:
    """An event in the shape a receiver sees it."""

    event_id: str
    type: str
    org_id: str
    namespace_id: str | None
    data: dict[str, Any]
    created_at: str

    def payload(self) -> dict[str, Any]:
        return {"id": self.event_id, "type": self.type, "created_at": self.created_at,
                "namespace_id": self.namespace_id, "data": self.data}


@dataclass(frozen=True)
class AttemptResult:
    webhook_id: str
    delivery_id: str
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None


def _derived_id(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def normalize_event(event: DomainEvent | dict[str, Any]) -> WebhookEvent:
    """The event any caller hands in, as a WebhookEvent. Its id is EventBridge's when there is one, else derived from
    the content, so the same event always has the same id (and each webhook the same delivery id)."""
    envelope_id = None
    if isinstance(event, DomainEvent):
        fields: dict[str, Any] = dataclasses.asdict(event)
    elif isinstance(event, dict) and "detail" in event:
        detail = event["detail"]
        if isinstance(detail, str):
            detail = json.loads(detail)
        fields = {**detail, "type": event.get("detail-type") or detail.get("type")}
        fields.setdefault("occurred_at", event.get("time"))
        envelope_id = event.get("id")
    elif isinstance(event, dict):
        fields = dict(event)
        envelope_id = event.get("id")
    else:
        raise TypeError(f"cannot deliver {type(event).__name__}")
    if not fields.get("type") or not fields.get("org_id"):
        raise ValueError("an event needs a type and an org_id")
    occurred_at = fields.get("occurred_at") or isoformat(utcnow())
    data = fields.get("data") or {}
    event_id = f"evt_{envelope_id}" if envelope_id else "evt_" + _derived_id(
        fields["type"], fields["org_id"], fields.get("namespace_id"), occurred_at, data)
    return WebhookEvent(event_id=event_id, type=fields["type"], org_id=fields["org_id"],
                        namespace_id=fields.get("namespace_id"), data=data, created_at=occurred_at)


def delivery_id_for(event: WebhookEvent, webhook: Webhook) -> str:
    return "dlv_" + _derived_id(event.event_id, webhook.webhook_id)


class WebhookDelivery:
    def __init__(self, repository: WebhookRepository, sender: WebhookSender, *, deployed: bool,
                 resolver: rules.Resolver, clock: Callable[[], float] = time.time,
                 public_namespace_id: Callable[[str, str], str | None] | None = None) -> None:
        """`public_namespace_id(org_id, storage id)`: the id a receiver knows a namespace by (events carry the
        storage id; they differ for a namespace stored under a relocated id)."""
        self._repository = repository
        self._public_namespace_id = public_namespace_id
        self._sender = sender
        self._deployed = deployed
        self._resolver = resolver
        self._clock = clock

    def close(self) -> None:
        self._sender.close()

    # -- the SQS / synchronous entry point ---------------------------------------------------------------------------

    def deliver(self, event: DomainEvent | dict[str, Any]) -> list[AttemptResult]:
        """One attempt to every subscribed webhook that has not had this event yet. Raises WebhookDeliveryFailed
        when any failed (after trying all of them)."""
        normalized = normalize_event(event)
        results = []
        for webhook in self.targets(normalized):
            state = self._repository.delivery_state(webhook.webhook_id, delivery_id_for(normalized, webhook))
            if state is not None and state.get("status") in ("delivered", "dead"):
                continue
            results.append(self.attempt(webhook, normalized))
        failed = [result for result in results if not result.ok]
        if failed:
            raise WebhookDeliveryFailed(failed)
        return results

    # -- the steps (the embedded dispatcher drives them with its own retry policy) -----------------------------------

    def targets(self, event: WebhookEvent) -> list[Webhook]:
        if event.type not in rules.EVENT_TYPES:
            return []  # no webhook can subscribe to it: skip the read
        return rules.subscribers(self._repository.list(event.org_id), event.type, event.namespace_id, event.data)

    def current(self, webhook: Webhook) -> Webhook | None:
        """The webhook as stored now (a retry uses its current URL and secret); None when it was deleted."""
        return self._repository.get(webhook.org_id, webhook.webhook_id)

    def attempt(self, webhook: Webhook, event: WebhookEvent, attempt: int | None = None) -> AttemptResult:
        """POST the event to the webhook once and log the attempt. Never raises for a failed delivery."""
        delivery_id = delivery_id_for(event, webhook)
        if attempt is None:
            state = self._repository.delivery_state(webhook.webhook_id, delivery_id)
            attempt = (int(state["attempts"]) if state else 0) + 1
        started = utcnow()
        began = time.monotonic()
        status_code, error = self._post(webhook, event, delivery_id)
        ok = status_code is not None and 200 <= status_code < 300
        if not ok and error is None:
            error = f"HTTP {status_code}"
        record = {
            "delivery_id": delivery_id, "webhook_id": webhook.webhook_id, "event_id": event.event_id,
            "event_type": event.type, "namespace_id": event.namespace_id, "attempt": attempt,
            "status": "delivered" if ok else "failed", "status_code": status_code,
            "error": None if ok else (error or "")[:MAX_ERROR_LENGTH],
            "started_at": isoformat(started), "finished_at": isoformat(utcnow()),
            "duration_ms": int((time.monotonic() - began) * 1000),
        }
        self._repository.record_attempt(webhook.webhook_id, record, expires_at=self._expiry())
        if not ok:
            logger.info("webhook %s attempt %d for %s failed: %s", webhook.webhook_id, attempt, event.type,
                        record["error"])
        return AttemptResult(webhook.webhook_id, delivery_id, attempt, ok, status_code, record["error"])

    def dead_letter(self, webhook: Webhook, event: WebhookEvent, last: AttemptResult) -> None:
        """Give up on this delivery: a 'dead' record in the log, after the last failed attempt."""
        now = isoformat(utcnow())
        self._repository.record_dead(webhook.webhook_id, {
            "delivery_id": last.delivery_id, "webhook_id": webhook.webhook_id, "event_id": event.event_id,
            "event_type": event.type, "namespace_id": event.namespace_id, "attempt": last.attempt, "status": "dead",
            "status_code": last.status_code,
            "error": f"gave up after {last.attempt} attempt(s); last: {last.error or last.status_code}"[
                :MAX_ERROR_LENGTH],
            "started_at": now, "finished_at": now, "duration_ms": 0,
        }, expires_at=self._expiry())
        logger.warning("webhook %s: delivery %s of %s is dead after %d attempts", webhook.webhook_id,
                       last.delivery_id, event.type, last.attempt)

    def post_once(self, org_id: str, url: str, secret: str, event: DomainEvent) -> AttemptResult:
        """One signed POST of `event` to a URL that is not a subscription (a batch's `webhook_url`): the same URL
        rules and signature as subscribed webhooks, fire and forget (nothing logged, nothing retried)."""
        target = Webhook(webhook_id="adhoc", org_id=org_id, webhook_name="adhoc", url=url, secret=secret,
                         event_types=(event.type,))
        normalized = normalize_event(event)
        delivery_id = delivery_id_for(normalized, target)
        status_code, error = self._post(target, normalized, delivery_id)
        ok = status_code is not None and 200 <= status_code < 300
        return AttemptResult(target.webhook_id, delivery_id, 1, ok, status_code, error)

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def _expiry(self) -> int:
        return int(self._clock()) + LOG_RETENTION_S

    def _post(self, webhook: Webhook, event: WebhookEvent, delivery_id: str) -> tuple[int | None, str | None]:
        try:
            checked = rules.check_url(webhook.url, deployed=self._deployed, resolver=self._resolver)
        except BadRequest as refused:
            return None, f"target refused: {refused.message}"
        payload = copy.deepcopy(event.payload())  # the event itself keeps its storage ids (delivery log, retries)
        if self._public_namespace_id is not None:
            show_public_ids(payload, lambda namespace_id: self._public_namespace_id(event.org_id, namespace_id))
        body = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
        timestamp = int(self._clock())
        headers = {
            **webhook.headers,
            "Content-Type": "application/json",
            rules.SIGNATURE_HEADER: rules.sign(webhook.secret, body, timestamp),
            rules.EVENT_HEADER: event.type,
            rules.DELIVERY_HEADER: delivery_id,
        }
        # The sender connects to the address just checked, never to a fresh resolution (DNS rebinding).
        return self._sender.post(checked, body, headers, timeout_s=min(webhook.timeout_s, rules.MAX_TIMEOUT_S))
