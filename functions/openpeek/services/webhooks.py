"""Webhook subscriptions: create, read, list, update, delete, and the delivery log; plus `build_webhooks`, which
wires them (and the delivery) for a runtime.

Two route families use this service: the seed's /v1/webhooks (scoped to the X-Namespace namespace: pass `namespace`)
and the SDK's /v1/organizations/webhooks (org-wide: `namespace` None, unless the body names one). An identifier is a
webhook id or name; another organisation's webhook, or (namespace-scoped calls) another namespace's, is not found.

The signing secret (`whsec_...`) is generated at creation (or chosen by the caller) and returned only in the answer
to the create call. It is not hashed (delivery needs it to sign) but kept, with the custom header values, in the secret
store (repositories/secrets.py), never in the table. Every later read shows 'redacted'.
"""

from __future__ import annotations

from typing import Any


from openpeek.domain import webhooks as rules
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.namespace import Namespace
from openpeek.domain.webhooks import Webhook
from openpeek.domain.events import DomainEvent
from openpeek.ports import EventBus, Table, WebhookSender
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.optimistic import retry_on_conflict
from openpeek.repositories.webhooks import WebhookNameTaken, WebhookRepository
from openpeek.services.organizations import Principal
from openpeek.repositories.secrets import SecretVault
from openpeek.services.webhook_delivery import WebhookDelivery

UPDATE_ATTEMPTS = 16


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A webhook named '{name}' exists already in this organization", code="webhook_name_taken",
                    details={"webhook_name": name})


def _events_of(request: dict[str, Any]) -> Any:
    """The seed says `events`, the SDK `event_types`."""
    if request.get("events") is not None and request.get("event_types") is not None:
        raise BadRequest("give either events or event_types, not both", code="invalid_event_types")
    return request["events"] if request.get("events") is not None else request.get("event_types")


class WebhookService:
    def __init__(self, repository: WebhookRepository, events: EventBus, namespaces: NamespaceRepository, *,
                 deployed: bool, resolver: rules.Resolver) -> None:
        self._repository = repository
        self._events = events
        self._namespaces = namespaces
        self._deployed = deployed
        self._resolver = resolver

    # -- create / read -----------------------------------------------------------------------------------------------

    def create(self, principal: Principal, request: dict[str, Any], namespace: Namespace | None = None) -> Webhook:
        """`request`: webhook_name, url (seed) or channels (SDK), events or event_types, optional resource_types,
        is_active, and (org routes only) namespace / namespace_id to scope it. The returned Webhook carries the
        secret; show it to the caller this once."""
        name = rules.check_name(request.get("webhook_name"))
        event_types = rules.check_event_types(_events_of(request))
        target = rules.target_from_request(request)
        if target is None:
            raise BadRequest("a webhook needs a url (or one 'webhook' channel with configs.url)",
                             code="invalid_webhook_url")
        rules.check_url(target.url, deployed=self._deployed, resolver=self._resolver)
        is_active = request.get("is_active", True)
        now = isoformat(utcnow())
        webhook = Webhook(
            webhook_id=rules.new_webhook_id(), org_id=principal.org_id, webhook_name=name, url=target.url,
            secret=target.secret or rules.new_secret(), event_types=event_types,
            namespace_id=self._scope(principal, request, namespace),
            resource_types=rules.check_resource_types(request.get("resource_types")), headers=target.headers,
            timeout_s=target.timeout_s, is_active=True if is_active is None else bool(is_active),
            created_at=now, updated_at=now,
        )
        try:
            self._repository.create(webhook)
        except WebhookNameTaken:
            raise _name_taken(name) from None
        self._publish("webhook.created", webhook)
        return webhook

    def get(self, principal: Principal, identifier: str, namespace: Namespace | None = None) -> Webhook:
        found = self._repository.find(principal.org_id, identifier, namespace.namespace_id if namespace else None)
        if found is None or (namespace is not None and found.namespace_id != namespace.namespace_id):
            raise NotFound("webhook", identifier)
        return found

    def list(self, principal: Principal, namespace: Namespace | None = None, *, event_type: str | None = None,
             is_active: bool | None = None) -> list[Webhook]:
        """Oldest first."""
        found = self._repository.list(principal.org_id)
        if namespace is not None:
            found = [webhook for webhook in found if webhook.namespace_id == namespace.namespace_id]
        if event_type is not None:
            found = [webhook for webhook in found if event_type in webhook.event_types]
        if is_active is not None:
            found = [webhook for webhook in found if webhook.is_active == is_active]
        return sorted(found, key=lambda webhook: (webhook.created_at, webhook.webhook_id))

    # -- update / delete ---------------------------------------------------------------------------------------------

    def update(self, principal: Principal, identifier: str, changes: dict[str, Any],
               namespace: Namespace | None = None) -> Webhook:
        """Fields present (and not null) in `changes` replace the stored ones; the others stay. A concurrent update
        is retried on a fresh read."""
        changes = {key: value for key, value in changes.items() if value is not None}
        def attempt() -> Webhook:
            current = self.get(principal, identifier, namespace)
            updates: dict[str, Any] = {}
            if "webhook_name" in changes:
                updates["webhook_name"] = rules.check_name(changes["webhook_name"])
            if "events" in changes or "event_types" in changes:
                updates["event_types"] = rules.check_event_types(_events_of(changes))
            if "resource_types" in changes:
                updates["resource_types"] = rules.check_resource_types(changes["resource_types"])
            if "is_active" in changes:
                updates["is_active"] = bool(changes["is_active"])
            target = rules.target_from_request(changes)
            if target is not None:
                rules.check_url(target.url, deployed=self._deployed, resolver=self._resolver)
                # A client that sends back what GET showed keeps the stored values of the headers shown redacted.
                headers = {name: current.headers.get(name, value) if value == rules.REDACTED else value
                           for name, value in target.headers.items()}
                updates.update(url=target.url, headers=headers, timeout_s=target.timeout_s)
                if target.secret is not None:
                    updates["secret"] = target.secret
            if namespace is None and ("namespace" in changes or "namespace_id" in changes):
                updates["namespace_id"] = self._scope(principal, changes, None)
            updated = current.with_changes(**updates, updated_at=isoformat(utcnow()))
            try:
                saved = self._repository.save(updated, current)
            except WebhookNameTaken:
                raise _name_taken(updated.webhook_name) from None
            self._publish("webhook.updated", saved)
            return saved

        return retry_on_conflict(attempt, attempts=UPDATE_ATTEMPTS, gave_up=lambda: Conflict(
            "The webhook changed too often while updating it; try again", code="concurrent_update"))

    def check_target(self, url: Any) -> None:
        """Raise BadRequest unless `url` passes the URL rules of this runtime (a manifest's dry run)."""
        rules.check_url(url, deployed=self._deployed, resolver=self._resolver)

    def delete(self, principal: Principal, identifier: str, namespace: Namespace | None = None) -> Webhook:
        webhook = self.get(principal, identifier, namespace)
        self._repository.delete(webhook)
        self._publish("webhook.deleted", webhook)
        return webhook

    def deliveries(self, principal: Principal, identifier: str, namespace: Namespace | None = None, *,
                   limit: int | None = None) -> tuple[Webhook, list[dict[str, Any]]]:
        """The webhook's delivery log, newest attempt first."""
        webhook = self.get(principal, identifier, namespace)
        return webhook, self._repository.attempts(webhook.webhook_id, limit=limit)

    # -- helpers -----------------------------------------------------------------------------------------------------

    def _scope(self, principal: Principal, request: dict[str, Any], namespace: Namespace | None) -> str | None:
        if namespace is not None:
            return namespace.namespace_id
        named = request.get("namespace_id") or request.get("namespace")
        if named is None or named == "":
            return None
        if not isinstance(named, str):
            raise BadRequest("namespace must be a namespace id or name", code="invalid_namespace")
        found = self._namespaces.find(principal.org_id, named)
        if found is None:
            raise NotFound("namespace", named)
        return found.namespace_id

    def _publish(self, event_type: str, webhook: Webhook) -> None:
        self._events.publish(DomainEvent(
            type=event_type, org_id=webhook.org_id, namespace_id=webhook.namespace_id,
            data={"webhook_id": webhook.webhook_id, "webhook_name": webhook.webhook_name},
            occurred_at=isoformat(utcnow()),
        ))


def build_webhooks(table: Table, events: EventBus, *, runtime: str, sender: WebhookSender,
                   resolver: rules.Resolver, vault: SecretVault | None = None,
                   namespaces: NamespaceRepository | None = None) -> tuple[WebhookService, WebhookDelivery]:
    """The webhook service and the delivery for a runtime ("aws": https and public targets only; "embedded": http
    and loopback targets allowed too). `sender` makes the HTTP calls; `resolver` is the DNS resolution,
    host → addresses, the URL rules check; `vault` keeps the signing secrets and header values out of the table (the
    runtime always gives one)."""
    if runtime not in ("embedded", "aws"):
        raise ValueError(f"unknown runtime {runtime!r}")
    deployed = runtime == "aws"
    repository = WebhookRepository(table, vault)
    namespaces = namespaces or NamespaceRepository(table, vault)
    service = WebhookService(repository, events, namespaces, deployed=deployed, resolver=resolver)
    delivery = WebhookDelivery(repository, sender, deployed=deployed, resolver=resolver,
                               public_namespace_id=namespaces.public_id_of)
    return service, delivery
