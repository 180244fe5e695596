"""How the operator commands (`openpeek tier`, `autoindex`, `optimize`) name a namespace, and how they take one.

A namespace has a public id, unique within its organisation, and a storage id, unique across all of them
(domain/namespace.py); the two differ only for a namespace stored under a relocated `nsr_` id. The jobs behind these
commands know namespaces by storage id; an operator knows one the way its organisation does. So a namespace is shown
as `<organisation>/<public id>`, with the storage id in brackets where it differs, and taken either as a public id
(or name) with `--org`, or as a storage id alone: the flag says which, so no value can mean two namespaces."""

from __future__ import annotations

from openpeek.domain.errors import NotFound
from openpeek.ports import Table
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.organizations import OrganizationRepository


class NamespaceNames:
    def __init__(self, table: Table) -> None:
        self._namespaces = NamespaceRepository(table)
        self._organizations = OrganizationRepository(table)
        self._labels: dict[str, str] = {}

    def label(self, storage_id: str) -> str:
        """`acme/products`, or `globex/products [nsr_…]` for a relocated one; the storage id itself when no
        namespace is stored under it (a collection that is not a namespace's, or one deleted meanwhile)."""
        if storage_id not in self._labels:
            namespace = self._namespaces.get_by_id(storage_id)
            if namespace is None:
                return storage_id
            org = self._organizations.get_org(namespace.org_id)
            shown = f"{org['name'] if org else namespace.org_id}/{namespace.public_id}"
            self._labels[storage_id] = shown if namespace.public_id == storage_id else f"{shown} [{storage_id}]"
        return self._labels[storage_id]

    def storage_id(self, identifier: str, org: str | None) -> str:
        """The storage id of the namespace `identifier` names: with `org` (an organisation's name, as `openpeek keys
        --org` takes it, or its id), that organisation's namespace of this public id or name; without, `identifier`
        is a storage id already. Raises NotFound naming what is missing."""
        if org is None:
            return identifier
        found = self._organizations.get_org_by_name(org) or self._organizations.get_org(org)
        if found is None:
            raise NotFound("organization", org)
        namespace = self._namespaces.find(found["org_id"], identifier)
        if namespace is None:
            raise NotFound("namespace", f"{org}/{identifier}")
        return namespace.namespace_id
