"""Organisations and their API keys: create, list, revoke, and authenticate a presented key."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound, Unauthorized
from openpeek.domain.ids import new_id
from openpeek.domain.failures import ConditionFailed
from openpeek.repositories.organizations import OrganizationRepository

KEY_PATTERN = re.compile(r"^sk_[A-Za-z0-9_-]{20,128}$")
ORG_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hash_key(plain_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough; a slow KDF would only slow every request.
    return hashlib.sha256(plain_key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organisation a key belongs to."""

    org_id: str
    key_id: str


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    org_id: str
    plain_key: str  # shown once, never stored


class OrganizationService:
    def __init__(self, repository: OrganizationRepository) -> None:
        self._repository = repository

    def create_org(self, name: str, *, enterprise: bool = False) -> dict:
        if not ORG_NAME_PATTERN.match(name):
            raise BadRequest("organisation name must be 1-64 letters, digits, '_', '-' or '.'", code="invalid_org_name")
        org = {"org_id": new_id("org"), "name": name, "enterprise": enterprise, "created_at": isoformat(utcnow())}
        try:
            self._repository.create_org(org)
        except ConditionFailed:
            raise Conflict(f"Organisation '{name}' exists already", code="org_name_taken") from None
        return org

    def ensure_org(self, name: str, *, enterprise: bool = False) -> dict:
        """The organisation of this name, created when missing; `enterprise` upgrades an existing one."""
        org = self._repository.get_org_by_name(name)
        if org is None:
            try:
                return self.create_org(name, enterprise=enterprise)
            except Conflict:
                org = self._repository.get_org_by_name(name)
                assert org is not None
        if enterprise and not org.get("enterprise"):
            org["enterprise"] = True
            self._repository.save_org(org)
        return org

    def find_org(self, name: str) -> dict | None:
        return self._repository.get_org_by_name(name)

    def bootstrap(self, name: str) -> IssuedKey | None:
        """First start of an empty deployment: create the organisation and one key, exactly once (a second
        process starting at the same moment gets None and prints nothing)."""
        if self._repository.has_any_org():
            return None
        org = self.ensure_org(name)
        if not self._repository.mark_first_org(org["org_id"]):
            return None
        return self.issue_key(org["org_id"], name="first-run")

    def get_org(self, org_id: str) -> dict:
        org = self._repository.get_org(org_id)
        if org is None:
            raise NotFound("organization", org_id)
        return org

    def is_enterprise(self, org_id: str) -> bool:
        return bool(self.get_org(org_id).get("enterprise"))

    def issue_key(self, org_id: str, name: str = "default") -> IssuedKey:
        plain = "sk_" + secrets.token_urlsafe(32)
        key = {
            "key_id": new_id("key"),
            "org_id": org_id,
            "name": name,
            "key_hash": hash_key(plain),
            "prefix": plain[:7],
            "created_at": isoformat(utcnow()),
            "revoked_at": None,
        }
        self._repository.add_key(key)
        return IssuedKey(key["key_id"], org_id, plain)

    def list_keys(self, org_id: str) -> list[dict]:
        return [
            {name: key.get(name) for name in ("key_id", "org_id", "name", "prefix", "created_at", "revoked_at")}
            for key in self._repository.list_keys(org_id)
        ]

    def revoke_key(self, org_id: str, key_id: str) -> dict:
        for key in self._repository.list_keys(org_id):
            if key["key_id"] == key_id:
                if key.get("revoked_at") is None:
                    key["revoked_at"] = isoformat(utcnow())
                    self._repository.save_key(key)
                return key
        raise NotFound("api_key", key_id)

    def authenticate(self, authorization: str | None) -> Principal:
        """`Authorization: Bearer sk_...` → the key's organisation. Missing, malformed, unknown or revoked → 401."""
        if not authorization:
            raise Unauthorized(
                "Missing Authorization header; send 'Authorization: Bearer sk_...'", code="missing_api_key"
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not KEY_PATTERN.match(token):
            raise Unauthorized(
                "Malformed Authorization header; expected 'Bearer sk_...'", code="invalid_api_key"
            )
        key = self._repository.key_by_hash(hash_key(token))
        if key is None:
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        if key.get("revoked_at"):
            raise Unauthorized("This API key has been revoked", code="revoked_api_key")
        return Principal(org_id=key["org_id"], key_id=key["key_id"])
