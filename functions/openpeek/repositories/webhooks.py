"""Webhooks and their delivery log on the Table port.

`WEBHOOKS#<org>` / `WH#<webhook_id>` holds a webhook (org-wide or namespace-scoped: its `namespace_id` says), and
`WEBHOOKS#<org>` / `WHNAME#<name>` (org-wide) or `WHNSNAME#<namespace_id>#<name>` (a namespace's) reserves its name in
the same transaction (names are unique per organisation, or per namespace for a namespace's webhooks), so delivery finds an organisation's webhooks with one query. The delivery log lives in `WHLOG#<webhook_id>`:
`ATT#<started_at>#<delivery_id>#<attempt>` is one attempt (newest first is a descending query) and
`DLV#<delivery_id>` the state of one delivery (attempts so far, delivered/failed/dead), so a retried SQS record
neither re-sends what was delivered nor restarts the attempt count. Log items expire (`expires_at`, the table's TTL).
A webhook's signing secret and header values are not in its item: it names them in the secret store (`secrets`,
repositories/secrets.py) and keeps the header names.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable

from openpeek.domain.webhooks import Webhook
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories import secrets
from openpeek.repositories.secrets import SecretVault


SECRET_KIND = "webhook"
LOG_RETENTION_S = 30 * 24 * 3600


class WebhookNameTaken(Exception):
    pass


def _pk(org_id: str) -> str:
    return f"WEBHOOKS#{org_id}"


def _name_sk(name: str, namespace_id: str | None = None) -> str:
    """An organisation-wide webhook's name is unique in its organisation; a namespace's webhook's name only in its
    namespace (so one manifest applies to sibling namespaces, dev → staging → prod)."""
    return f"WHNAME#{name}" if namespace_id is None else f"WHNSNAME#{namespace_id}#{name}"


def _log_pk(webhook_id: str) -> str:
    return f"WHLOG#{webhook_id}"


class WebhookRepository:
    def __init__(self, table: Table, vault: SecretVault | None = None) -> None:
        """`vault`: where the signing secrets and header values are kept (without one they are read as ''/'redacted'
        and a write keeps the stored reference)."""
        self._table = table
        self._vault = vault

    def _webhook(self, item: dict[str, Any]) -> Webhook:
        return secrets.revealed(self._vault, Webhook.from_record(item, item["version"]))

    def _sealed(self, webhook: Webhook, before: dict[str, str] | None, commit: Callable[[Webhook], Any],
                *, creating: bool = False) -> Any:
        return secrets.sealed(self._vault, SECRET_KIND, webhook.webhook_id, webhook, before, commit, creating=creating)

    # -- webhooks ----------------------------------------------------------------------------------------------------

    def _item(self, webhook: Webhook) -> dict[str, Any]:
        return {"pk": _pk(webhook.org_id), "sk": f"WH#{webhook.webhook_id}", "version": webhook.version,
                **webhook.to_record()}

    def _name_item(self, webhook: Webhook) -> dict[str, Any]:
        return {"pk": _pk(webhook.org_id), "sk": _name_sk(webhook.webhook_name, webhook.namespace_id),
                "webhook_id": webhook.webhook_id}

    def create(self, webhook: Webhook) -> None:
        try:
            self._sealed(webhook, None, lambda sealed: self._table.transact_write([
                Put(self._item(sealed), if_absent=True), Put(self._name_item(webhook), if_absent=True)]),
                         creating=True)
        except ConditionFailed:
            raise WebhookNameTaken(webhook.webhook_name) from None

    def get(self, org_id: str, webhook_id: str) -> Webhook | None:
        item = self._table.get(_pk(org_id), f"WH#{webhook_id}")
        return None if item is None else self._webhook(item)

    def find(self, org_id: str, identifier: str, namespace_id: str | None = None) -> Webhook | None:
        """By id, then by name: the namespace's webhook of that name, else the organisation-wide one (also found
        under the reservation webhooks made before names were per namespace)."""
        found = self.get(org_id, identifier)
        if found is not None:
            return found
        names = ([_name_sk(identifier, namespace_id)] if namespace_id else []) + [_name_sk(identifier)]
        for name_sk in names:
            reservation = self._table.get(_pk(org_id), name_sk)
            webhook = None if reservation is None else self.get(org_id, reservation["webhook_id"])
            if webhook is not None:
                return webhook
        return None

    def list(self, org_id: str) -> list[Webhook]:
        return [self._webhook(item) for item in self._table.query(_pk(org_id), "WH#")]

    def save(self, webhook: Webhook, previous: Webhook) -> Webhook:
        """Conditional on the version read; moves the name reservation on rename. Raises ConditionFailed or
        WebhookNameTaken, and then nothing was written."""
        saved = replace(webhook, version=previous.version + 1)
        renamed = (saved.webhook_name, saved.namespace_id) != (previous.webhook_name, previous.namespace_id)

        def commit(sealed: Webhook) -> Webhook:
            operations: list[Put | Delete] = [Put(self._item(sealed), if_version=previous.version)]
            if renamed:
                operations.extend([*self._name_deletes(previous), Put(self._name_item(saved), if_absent=True)])
            self._table.transact_write(operations)
            return replace(saved, secret_reference=sealed.secret_reference)

        try:
            saved = self._sealed(saved, previous.secret_reference, commit)
        except ConditionFailed:
            if renamed and self._table.get(_pk(saved.org_id), _name_sk(saved.webhook_name, saved.namespace_id)):
                raise WebhookNameTaken(saved.webhook_name) from None
            raise
        return saved

    @staticmethod
    def _name_deletes(webhook: Webhook) -> list[Delete]:
        """Its name reservation, in either form (a namespace's webhook created before names were per namespace
        holds the organisation-wide one)."""
        forms = {_name_sk(webhook.webhook_name), _name_sk(webhook.webhook_name, webhook.namespace_id)}
        return [Delete(_pk(webhook.org_id), name_sk) for name_sk in sorted(forms)]

    def delete(self, webhook: Webhook) -> None:
        self._table.transact_write([Delete(_pk(webhook.org_id), f"WH#{webhook.webhook_id}"),
                                    *self._name_deletes(webhook)])
        if self._vault is not None:
            try:
                self._vault.forget(webhook.org_id, SECRET_KIND, webhook.webhook_id)
            except Exception as error:  # the webhook is gone; what is left is an unreferenced secret
                logging.getLogger(__name__).warning("the secret of deleted webhook %s stays behind: %s",
                                                    webhook.webhook_id, error)
        # The log goes with it (best effort; whatever is left expires with its TTL).
        for item in self._table.query(_log_pk(webhook.webhook_id), limit=1000):
            self._table.delete(item["pk"], item["sk"])

    # -- delivery log ------------------------------------------------------------------------------------------------

    def delivery_state(self, webhook_id: str, delivery_id: str) -> dict[str, Any] | None:
        return self._table.get(_log_pk(webhook_id), f"DLV#{delivery_id}")

    def record_attempt(self, webhook_id: str, attempt: dict[str, Any], *, expires_at: int) -> None:
        """Append one attempt and move the delivery's state to it (attempts = this attempt, status = its status)."""
        delivery_id = attempt["delivery_id"]
        self._table.put({"pk": _log_pk(webhook_id),
                         "sk": f"ATT#{attempt['started_at']}#{delivery_id}#{attempt['attempt']:04d}",
                         "expires_at": expires_at, **attempt})
        self._table.put({"pk": _log_pk(webhook_id), "sk": f"DLV#{delivery_id}", "expires_at": expires_at,
                         "delivery_id": delivery_id, "attempts": attempt["attempt"], "status": attempt["status"],
                         "updated_at": attempt["finished_at"]})

    def record_dead(self, webhook_id: str, record: dict[str, Any], *, expires_at: int) -> None:
        """The dead letter: the delivery gave up after its last attempt."""
        delivery_id = record["delivery_id"]
        self._table.put({"pk": _log_pk(webhook_id), "sk": f"ATT#{record['started_at']}#{delivery_id}#dead",
                         "expires_at": expires_at, **record})
        self._table.put({"pk": _log_pk(webhook_id), "sk": f"DLV#{delivery_id}", "expires_at": expires_at,
                         "delivery_id": delivery_id, "attempts": record["attempt"], "status": "dead",
                         "updated_at": record["finished_at"]})

    def attempts(self, webhook_id: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Attempts, newest first."""
        items = self._table.query(_log_pk(webhook_id), "ATT#", descending=True, limit=limit)
        return [{key: value for key, value in item.items() if key not in ("pk", "sk", "expires_at")}
                for item in items]
