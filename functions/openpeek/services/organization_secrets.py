"""Organisation secrets (the SDK's OrganizationSecretsApi): named values an organisation stores once and its
retriever stages use by name (api_call's `auth.secret_ref`). Values are sealed in the secret store (Secrets Manager
deployed, an encrypted folder embedded) and never come back out of the API: create, update and delete answer with the
name only, and a list shows names only."""

from __future__ import annotations

import re
from typing import Callable

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound
from openpeek.domain.failures import ConditionFailed
from openpeek.domain.ids import new_id
from openpeek.repositories.organization_secrets import OrganizationSecretRepository, StoredSecret
from openpeek.services.organizations import Principal

# Secrets Manager names allow letters, digits and /_+=.@-; a secret's name is one segment of its stored name.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_VALUE_LENGTH = 32_768  # Secrets Manager's limit on a secret's value is 64 KiB, and the value is stored as JSON


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise BadRequest("secret_name must be 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit",
                         code="invalid_secret_name", details={"secret_name": name[:200]})
    return name


class OrganizationSecrets:
    def __init__(self, repository: OrganizationSecretRepository) -> None:
        self._repository = repository

    def create(self, principal: Principal, name: str, value: str) -> str:
        check_name(name)
        if self._repository.get(principal.org_id, name) is not None:
            raise _taken(name)
        now = isoformat(utcnow())
        try:
            self._repository.create(principal.org_id, name, new_id("sec"), value, now)
        except ConditionFailed:
            raise _taken(name) from None
        return name

    def names(self, principal: Principal) -> list[str]:
        return self._repository.names(principal.org_id)

    def update(self, principal: Principal, name: str, value: str) -> str:
        secret = self._existing(principal, name)
        try:
            self._repository.replace_value(secret, value, isoformat(utcnow()))
        except ConditionFailed:
            raise _changed(name) from None
        return name

    def delete(self, principal: Principal, name: str) -> str:
        secret = self._existing(principal, name)
        try:
            self._repository.delete(secret)
        except ConditionFailed:
            raise _changed(name) from None
        return name

    def value_of(self, org_id: str, name: str) -> str | None:
        """The organisation's secret of this name in plaintext, or None when it has none (a stage then falls back to
        the operator's secrets). A stored secret whose value cannot be read raises SecretNotFound (503)."""
        if not NAME_PATTERN.match(name or ""):
            return None
        secret = self._repository.get(org_id, name)
        return None if secret is None else self._repository.value(secret)

    def _existing(self, principal: Principal, name: str) -> StoredSecret:
        check_name(name)
        secret = self._repository.get(principal.org_id, name)
        if secret is None:
            raise NotFound("secret", name)
        return secret


class TenantSecrets:
    """(organisation id, name) → the value of a secret a tenant's configuration names (an api_call stage's
    auth.secret_ref, an OpenFGA api_token_secret_ref, a published retriever's password), or None: the organisation's
    own secret of that name, else the one its operator provides (`operator`, wired by the runtime: deployed, the
    Secrets Manager secret openpeek/<env>/<org>/secrets/<name>; embedded, OPENPEEK_SECRET_<NAME>).

    A name is one segment, never a path or an ARN: the API function may read every organisation's vault secrets
    and the Qdrant key, and a reference read as given would hand any of them to whichever tenant named it."""

    def __init__(self, own: OrganizationSecrets, operator: Callable[[str, str], str | None] | None = None) -> None:
        self._own = own
        self._operator = operator

    def __call__(self, org_id: str, name: str) -> str | None:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            return None
        return self._own.value_of(org_id, name) or (self._operator(org_id, name) if self._operator else None)


def _taken(name: str) -> Conflict:
    return Conflict(f"A secret named '{name}' exists already; update it with PUT /v1/organizations/secrets/{name}",
                    code="secret_exists", details={"secret_name": name})


def _changed(name: str) -> Conflict:
    return Conflict(f"Secret '{name}' changed while this request was applied; try again",
                    code="concurrent_modification", details={"secret_name": name})

