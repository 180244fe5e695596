"""Namespaces on the Table port (single-table keys of DESIGN.md).

A namespace has a public id (what the API shows, unique within its organisation) and a storage id (unique across all
organisations: domain/namespace.py); they differ only when a caller chose an id whose storage id was taken.
`ORG#<org>` / `NS#<public id>` holds the namespace, so a public id is unique within an organisation by its key;
`ORG#<org>` / `NSNAME#<name>` reserves its name in the same transaction, so names are unique within an organisation
without a scan; `NSID#<storage id>` / `NS` reserves the storage id across all organisations (it names the vector
collection) and points at the owner's organisation and public id. Items a namespace owns elsewhere live in the
partition `NS#<storage id>` so that deleting a namespace is one query away. A namespace's secrets (vector-store key,
OpenFGA token) are not in its item: the item names them in the secret store (`secrets`, repositories/secrets.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Callable, Iterator

from openpeek.domain.clock import parse
from openpeek.domain.namespace import Namespace
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories import secrets
from openpeek.repositories.secrets import SecretVault


EXPIRY_PARTITION = "NSEXP"  # gsi1pk of namespaces with an expiry, so the reaper finds them without a scan
EXPIRY_INDEX = "gsi1"  # the table's secondary index keyed by gsi1pk / gsi1sk (stacks/data.py creates it)


def _org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def _name_sk(name: str) -> str:
    return f"NSNAME#{name}"


def _public_sk(public_id: str) -> str:
    return f"NS#{public_id}"


def _storage_pk(storage_id: str) -> str:
    return f"NSID#{storage_id}"


STORAGE_SK = "NS"


def owned_partition(namespace_id: str) -> str:
    """`namespace_id`: the storage id."""
    return f"NS#{namespace_id}"


class NameTaken(Exception):
    pass


class IdTaken(Exception):
    """The organisation already has a namespace with this public id."""


class StorageIdTaken(Exception):
    """Another namespace (of any organisation) is stored under this id: store the new one under a fresh id."""


SECRET_KIND = "namespace"


class NamespaceRepository:
    def __init__(self, table: Table, vault: SecretVault | None = None) -> None:
        """`vault`: where the namespaces' secrets are kept; without one (jobs that never touch them) a namespace is
        read with its secrets left out and written back with its stored reference unchanged."""
        self._table = table
        self._vault = vault

    def _namespace(self, item: dict) -> Namespace:
        return secrets.revealed(self._vault, Namespace.from_record(item, item["version"]))

    def _sealed(self, namespace: Namespace, before: dict[str, str] | None, commit: Callable[[Namespace], Any],
                *, creating: bool = False) -> Any:
        """Run the table write `commit` with the namespace as the table may hold it: its secrets in the vault."""
        return secrets.sealed(self._vault, SECRET_KIND, namespace.namespace_id, namespace, before, commit,
                              creating=creating)

    def _item(self, namespace: Namespace) -> dict:
        item = {"pk": _org_pk(namespace.org_id), "sk": _public_sk(namespace.public_id), "version": namespace.version}
        item.update(namespace.to_record())
        if namespace.expires_at:
            expires = parse(namespace.expires_at)
            item["expires_at"] = int(expires.timestamp())
            item["gsi1pk"] = EXPIRY_PARTITION
            item["gsi1sk"] = f"{namespace.expires_at}#{namespace.org_id}#{namespace.namespace_id}"
        return item

    def _name_item(self, namespace: Namespace) -> dict:
        return {
            "pk": _org_pk(namespace.org_id),
            "sk": _name_sk(namespace.namespace_name),
            "namespace_id": namespace.public_id,
        }

    def _storage_item(self, namespace: Namespace) -> dict:
        return {"pk": _storage_pk(namespace.namespace_id), "sk": STORAGE_SK, "org_id": namespace.org_id,
                "namespace_id": namespace.public_id}

    def _by_pointer(self, pointer: dict | None, storage_id: str) -> Namespace | None:
        if pointer is None:
            return None
        # A pointer written before public and storage ids could differ names the organisation only.
        found = self.get_public(pointer["org_id"], pointer.get("namespace_id") or storage_id)
        return found if found is not None and found.namespace_id == storage_id else None

    def get_by_id(self, namespace_id: str) -> Namespace | None:
        """By storage id alone (jobs that run for every organisation, like the auto-indexer and the tiering
        sweeper, know a namespace by its storage)."""
        return self._by_pointer(self._table.get(_storage_pk(namespace_id), STORAGE_SK), namespace_id)

    def public_id_of(self, org_id: str, namespace_id: str) -> str | None:
        """The public id of the organisation's namespace stored under `namespace_id` (None: it has none)."""
        pointer = self._table.get(_storage_pk(namespace_id), STORAGE_SK)
        if pointer is None or pointer["org_id"] != org_id:
            return None
        return pointer.get("namespace_id") or namespace_id

    def id_in_use(self, org_id: str, public_id: str) -> bool:
        """Whether the organisation has a namespace with this public id."""
        return self._table.get(_org_pk(org_id), _public_sk(public_id)) is not None

    def storage_id_in_use(self, namespace_id: str) -> bool:
        return self._table.get(_storage_pk(namespace_id), STORAGE_SK) is not None

    def create(self, namespace: Namespace) -> None:
        """Raises NameTaken, IdTaken (the organisation has this public id) or StorageIdTaken; then nothing was
        written."""
        try:
            self._sealed(namespace, None, lambda sealed: self._table.transact_write(
                [
                    Put(self._item(sealed), if_absent=True),
                    Put(self._name_item(namespace), if_absent=True),
                    Put(self._storage_item(namespace), if_absent=True),
                ]
            ), creating=True)
        except ConditionFailed:
            if self._table.get(_org_pk(namespace.org_id), _name_sk(namespace.namespace_name)) is not None:
                raise NameTaken(namespace.namespace_name) from None
            if self.id_in_use(namespace.org_id, namespace.public_id):
                raise IdTaken(namespace.public_id) from None
            raise StorageIdTaken(namespace.namespace_id) from None

    def get(self, org_id: str, namespace_id: str) -> Namespace | None:
        """The organisation's namespace stored under `namespace_id` (what the records it owns refer to)."""
        found = self.get_public(org_id, namespace_id)
        if found is not None and found.namespace_id == namespace_id:
            return found  # every namespace whose public id is its storage id: one read
        pointer = self._table.get(_storage_pk(namespace_id), STORAGE_SK)
        if pointer is None or pointer["org_id"] != org_id:
            return None
        return self._by_pointer(pointer, namespace_id)

    def get_public(self, org_id: str, public_id: str) -> Namespace | None:
        """By the id the API shows."""
        item = self._table.get(_org_pk(org_id), _public_sk(public_id))
        return self._namespace(item) if item else None

    def get_by_name(self, org_id: str, name: str) -> Namespace | None:
        reservation = self._table.get(_org_pk(org_id), _name_sk(name))
        return self.get_public(org_id, reservation["namespace_id"]) if reservation else None

    def find(self, org_id: str, identifier: str) -> Namespace | None:
        """By public id or by name, as a caller names it (seed 001: `namespace_identifier` is either); an id wins
        over a name."""
        return self.get_public(org_id, identifier) or self.get_by_name(org_id, identifier)

    def list(self, org_id: str) -> list[Namespace]:
        return [self._namespace(item) for item in self._table.query(_org_pk(org_id), "NS#")]

    def save(self, namespace: Namespace, previous: Namespace) -> Namespace:
        """Write `namespace` over `previous` if nobody changed it in between (version check); moves the name
        reservation when the name changed. Raises ConditionFailed (someone else wrote first) or NameTaken."""
        saved = replace(namespace, version=previous.version + 1)
        renamed = saved.namespace_name != previous.namespace_name

        def commit(sealed: Namespace) -> Namespace:
            operations: list[Put | Delete] = [Put(self._item(sealed), if_version=previous.version)]
            if renamed:
                operations.append(Delete(_org_pk(previous.org_id), _name_sk(previous.namespace_name)))
                operations.append(Put(self._name_item(saved), if_absent=True))
            self._table.transact_write(operations)
            return replace(saved, secret_reference=sealed.secret_reference)

        try:
            saved = self._sealed(saved, previous.secret_reference, commit)
        except ConditionFailed:
            if renamed and self._table.get(_org_pk(saved.org_id), _name_sk(saved.namespace_name)) is not None:
                raise NameTaken(saved.namespace_name) from None
            raise
        return saved

    def delete(self, namespace: Namespace) -> None:
        self._table.transact_write(
            [
                Delete(_org_pk(namespace.org_id), _public_sk(namespace.public_id)),
                Delete(_org_pk(namespace.org_id), _name_sk(namespace.namespace_name)),
                Delete(_storage_pk(namespace.namespace_id), STORAGE_SK),
            ]
        )
        if self._vault is not None:
            try:
                self._vault.forget(namespace.org_id, SECRET_KIND, namespace.namespace_id)
            except Exception as error:  # the namespace is gone; what is left is an unreferenced secret
                logging.getLogger(__name__).warning("the secret of deleted namespace %s stays behind: %s",
                                                    namespace.namespace_id, error)

    def expired(self, now: str, limit: int | None = None) -> list[Namespace]:
        """Namespaces whose expires_at is before `now` (RFC 3339 as clock.isoformat writes it), soonest first, read
        through the expiry index without a scan. The index lags the table: re-read one with `get` before acting."""
        items = self._table.query_index(EXPIRY_INDEX, EXPIRY_PARTITION, sk_below=now, limit=limit)
        return [self._namespace(item) for item in items]

    def owned_items(self, namespace_id: str) -> Iterator[tuple[str, str]]:
        """Keys of every item in the namespace's own partition (retrievers, clusters, tasks, ...)."""
        for item in self._table.query(owned_partition(namespace_id)):
            yield item["pk"], item["sk"]

    def delete_owned_items(self, namespace_id: str) -> int:
        keys = list(self.owned_items(namespace_id))
        # A task is also reachable by id alone through its TASKID# pointer (repositories/tasks.py): pointers go first,
        # so a run that dies half way never leaves a pointer whose task is already gone unnoticed by the next run.
        keys = [(f"TASKID#{sk[len('TASK#'):]}", "TASK") for _, sk in keys if sk.startswith("TASK#")] + keys
        for start in range(0, len(keys), 25):
            self._table.transact_write([Delete(pk, sk) for pk, sk in keys[start : start + 25]])
        return len(keys)
