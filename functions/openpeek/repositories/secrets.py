"""Secrets at rest, written once for every record that holds one: a namespace's vector-store key and OpenFGA token,
a webhook's signing secret and custom header values.

The secret values of one owner (a namespace, a webhook) are kept together as one JSON secret in the SecretStore,
named `openpeek/<environment>/<org>/<kind>/<owner id>`; the owner's record holds only a reference to it (name and
revision), never the plaintext. Every write of changed values is a new revision, and the record names the revision it
was written with, so a write that loses its conditional table write leaves the record pointing at values that are
still there (the new revision is dropped again), and a secret-store failure happens before the table is touched: 503,
nothing half-written.

Records written by older versions hold their secrets in plaintext: they still load, and are sealed by their next write.

It lives with the repositories because the secret names are storage keys, like the table keys the repositories own;
the namespace and webhook repositories seal and reveal through it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any, Callable, Protocol, TypeVar

from openpeek.ports import SecretStore

Reference = dict[str, str]  # {"name": ..., "revision": ...}
Result = TypeVar("Result")


class SecretHolder(Protocol):
    """A record with secret fields (a namespace, a webhook): it names its values' place in the secret store."""

    org_id: str
    secret_reference: Reference | None

    def secret_values(self) -> dict[str, str]: ...

    def with_secret_values(self, values: dict[str, str]) -> Any: ...


Holder = TypeVar("Holder", bound=SecretHolder)


class SecretVault:
    def __init__(self, store: SecretStore, *, environment: str) -> None:
        self._store = store
        self._environment = environment

    def name(self, org_id: str, kind: str, owner_id: str) -> str:
        return f"openpeek/{self._environment}/{org_id}/{kind}/{owner_id}"

    def reveal(self, reference: Reference | None) -> dict[str, str]:
        """The values a record's reference names ({} for none). Raises DependencyUnavailable / SecretNotFound."""
        if not reference:
            return {}
        return json.loads(self._store.get(reference["name"], reference["revision"]))

    def write(self, org_id: str, kind: str, owner_id: str, values: dict[str, str], before: Reference | None,
              commit: Callable[[Reference | None], Result], *, creating: bool = False) -> Result:
        """Seal `values` (the owner's secret fields; empty ones are dropped) and run `commit(reference)`, the table
        write that stores the reference. `before`: the reference the stored record holds now; `creating`: the record
        is new. Unchanged values keep their revision; a failed commit drops the revision made for it (the whole
        secret when it was a create); a successful one drops the revision it replaced (and the whole secret when no
        value is left)."""
        values = {key: value for key, value in values.items() if value}
        name = self.name(org_id, kind, owner_id)
        mine = before if before and before.get("name") == name else None  # a copy's record may name its source's
        if not values:
            result = commit(None)
            if mine:
                self._quietly(self._store.delete, name)
            return result
        if mine and self._unchanged(mine, values):
            return commit(mine)
        reference = {"name": name, "revision": uuid.uuid4().hex}
        self._store.put(name, reference["revision"], json.dumps(values, sort_keys=True))
        try:
            result = commit(reference)
        except BaseException:
            if creating:
                self._quietly(self._store.delete, name)
            else:  # a concurrent writer of the same record may have put a revision the table now names
                self._quietly(self._store.delete_revision, name, reference["revision"])
            raise
        if mine:
            self._quietly(self._store.delete_revision, name, mine["revision"])
        return result

    def forget(self, org_id: str, kind: str, owner_id: str) -> None:
        """The owner is gone: its secret goes too."""
        self._store.delete(self.name(org_id, kind, owner_id))

    def _unchanged(self, reference: Reference, values: dict[str, str]) -> bool:
        try:
            return self.reveal(reference) == values
        except Exception:  # unreadable: write a fresh revision instead
            return False

    @staticmethod
    def _quietly(action: Callable[..., Any], *args: Any) -> None:
        """Clean-up after the table already answered: a failure leaves an unreferenced revision behind, no more."""
        try:
            action(*args)
        except Exception:
            pass


def revealed(vault: SecretVault | None, record: Holder) -> Holder:
    """`record` with the values its reference names. Without a vault (jobs that never touch secrets), or for a record
    an older version wrote with its secrets in plaintext, the record as read."""
    if vault is None or record.secret_reference is None:
        return record
    return record.with_secret_values(vault.reveal(record.secret_reference))


def sealed(vault: SecretVault | None, kind: str, owner_id: str, record: Holder, before: Reference | None,
           commit: Callable[[Holder], Result], *, creating: bool = False) -> Result:
    """Run the table write `commit` with `record` as the table may hold it: its secret values in the vault, only
    their reference in the record (SecretVault.write). Without a vault, the record is written as it is."""
    if vault is None:
        return commit(record)
    return vault.write(record.org_id, kind, owner_id, record.secret_values(), before,
                       lambda reference: commit(replace(record.with_secret_values({}), secret_reference=reference)),
                       creating=creating)
