"""Organisations and their API keys: create, list, revoke, and authenticate a presented key."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import BadRequest, Conflict, NotFound, Unauthorized
from openpeek.domain.ids import new_id
from openpeek.domain.failures import ConditionFailed
from openpeek.repositories.organizations import OrganizationRepository

# Every key of an organisation may do everything in it: keys carry no scopes here, so each holds all of the
# permissions the SDK names.
KEY_PERMISSIONS = ("READ", "WRITE", "DELETE", "ADMIN")
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


ORG_CHECK_TTL_S = 60.0
"""How long an organisation found to exist is trusted without reading it again (one table read per minute per
organisation instead of one per request); a deleted organisation's keys stop working within this time."""


class OrganizationService:
    def __init__(self, repository: OrganizationRepository, monotonic=time.monotonic) -> None:
        self._repository = repository
        self._monotonic = monotonic
        self._org_seen_until: dict[str, float] = {}

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

    def whoami(self, principal: Principal) -> dict:
        """The caller's organisation and the key it called with (its metadata, never its hash): the SDK's
        MeResponse. Keys here are secret keys of the whole organisation, with no expiry and no per-key limits."""
        org = self.get_org(principal.org_id)
        key = self._repository.get_key(principal.org_id, principal.key_id) or {}
        return {
            "organization_id": org["org_id"],
            "organization_name": org.get("name"),
            "account_type": "ENTERPRISE" if org.get("enterprise") else "STANDARD",
            "key": {"key_id": principal.key_id, "name": key.get("name"), "prefix": key.get("prefix"),
                    "created_at": key.get("created_at"), "key_type": "SECRET",
                    "permissions": list(KEY_PERMISSIONS), "expires_at": None},
            "principal_scoped": False,
        }

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
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "Malformed Authorization header; expected 'Bearer sk_...'", code="invalid_api_key"
            )
        # A well-formed header with a key that is too short, too long or unknown: the key is what is wrong.
        key = self._repository.key_by_hash(hash_key(token)) if KEY_PATTERN.match(token) else None
        if key is None:
            raise Unauthorized("Invalid API key", code="invalid_api_key")
        if key.get("revoked_at"):
            raise Unauthorized("This API key has been revoked", code="revoked_api_key")
        if not self._org_exists(key["org_id"]):
            raise Unauthorized("Invalid API key: its organisation no longer exists", code="invalid_api_key")
        return Principal(org_id=key["org_id"], key_id=key["key_id"])

    def _org_exists(self, org_id: str) -> bool:
        now = self._monotonic()
        if self._org_seen_until.get(org_id, 0.0) > now:
            return True
        if self._repository.get_org(org_id) is None:
            self._org_seen_until.pop(org_id, None)
            return False
        self._org_seen_until[org_id] = now + ORG_CHECK_TTL_S
        return True
