"""An organisation's named secrets (the SDK's /v1/organizations/secrets) on the Table port.

One item per secret, `ORG#<org>` / `ORGSECRET#<name>`, holding only its id and the reference to its value in the
secret store (repositories/secrets.py: the SecretVault seals the value, the item names the revision); the plaintext
never reaches the table. The value is stored under the secret's id, not its name, so a create that loses a race for
the name drops only its own value, never the one already stored under that name."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import Table
from openpeek.repositories.secrets import Reference, SecretVault

SECRET_KIND = "org_secret"
_VALUE = "value"


def _pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def _sk(name: str) -> str:
    return f"ORGSECRET#{name}"


@dataclass(frozen=True)
class StoredSecret:
    org_id: str
    secret_name: str
    secret_id: str
    reference: Reference
    created_at: str
    updated_at: str
    version: int = 1


class OrganizationSecretRepository:
    def __init__(self, table: Table, vault: SecretVault) -> None:
        self._table = table
        self._vault = vault

    def get(self, org_id: str, name: str) -> StoredSecret | None:
        item = self._table.get(_pk(org_id), _sk(name))
        if item is None:
            return None
        return StoredSecret(org_id, item["secret_name"], item["secret_id"], item["secret_reference"],
                            item.get("created_at") or "", item.get("updated_at") or "", int(item["version"]))

    def names(self, org_id: str) -> list[str]:
        return sorted(item["secret_name"] for item in self._table.query(_pk(org_id), "ORGSECRET#"))

    def create(self, org_id: str, name: str, secret_id: str, value: str, now: str) -> None:
        """Seal the value, then write the item only if the name is free. Raises ConditionFailed when it is taken
        (the value sealed for it is dropped again), DependencyUnavailable when the secret store fails (the table is
        not touched)."""
        def commit(reference: Reference | None) -> None:
            self._table.put({"pk": _pk(org_id), "sk": _sk(name), "version": 1, "secret_name": name,
                             "secret_id": secret_id, "secret_reference": reference, "created_at": now,
                             "updated_at": now}, if_absent=True)

        self._vault.write(org_id, SECRET_KIND, secret_id, {_VALUE: value}, None, commit, creating=True)

    def replace_value(self, secret: StoredSecret, value: str, now: str) -> None:
        """A new revision of the value, and the item naming it, written only over the version read (ConditionFailed
        otherwise, and the new revision is dropped)."""
        def commit(reference: Reference | None) -> None:
            self._table.put({"pk": _pk(secret.org_id), "sk": _sk(secret.secret_name), "version": secret.version + 1,
                             "secret_name": secret.secret_name, "secret_id": secret.secret_id,
                             "secret_reference": reference, "created_at": secret.created_at, "updated_at": now},
                            if_version=secret.version)

        self._vault.write(secret.org_id, SECRET_KIND, secret.secret_id, {_VALUE: value}, secret.reference, commit)

    def delete(self, secret: StoredSecret) -> None:
        """The item goes first (only the version read: ConditionFailed otherwise), then the value; a secret store
        failing at that point leaves an unreferenced value behind, nothing a caller can reach."""
        self._table.delete(_pk(secret.org_id), _sk(secret.secret_name), if_version=secret.version)
        try:
            self._vault.forget(secret.org_id, SECRET_KIND, secret.secret_id)
        except DependencyUnavailable as error:  # the secret is gone for callers; only its sealed value stays
            logging.getLogger(__name__).warning("the value of deleted organisation secret %s stays behind: %s",
                                                secret.secret_id, error)

    def value(self, secret: StoredSecret) -> str:
        """The plaintext (for the stages that call out with it). Raises SecretNotFound / DependencyUnavailable."""
        values: dict[str, Any] = self._vault.reveal(secret.reference)
        return values[_VALUE]
