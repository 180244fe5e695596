"""Organisations and API keys on the Table port. Keys are stored only as SHA-256 hashes."""

from __future__ import annotations

from typing import Any

from openpeek.domain.failures import ConditionFailed
from openpeek.domain.records import Put
from openpeek.ports import Table


class OrganizationRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- organisations --------------------------------------------------------------------------------------------

    def create_org(self, org: dict[str, Any]) -> None:
        """Raises ConditionFailed when the name is taken."""
        self._table.transact_write(
            [
                Put({"pk": f"ORG#{org['org_id']}", "sk": "ORG", "version": 1, **org}, if_absent=True),
                Put({"pk": f"ORGNAME#{org['name']}", "sk": "ORG", "org_id": org["org_id"]}, if_absent=True),
            ]
        )

    def get_org(self, org_id: str) -> dict[str, Any] | None:
        return self._table.get(f"ORG#{org_id}", "ORG")

    def get_org_by_name(self, name: str) -> dict[str, Any] | None:
        reservation = self._table.get(f"ORGNAME#{name}", "ORG")
        return self.get_org(reservation["org_id"]) if reservation else None

    def save_org(self, org: dict[str, Any]) -> None:
        self._table.put({**org, "version": org["version"] + 1}, if_version=org["version"])

    def has_any_org(self) -> bool:
        return self._table.get("META", "FIRST_ORG") is not None

    def mark_first_org(self, org_id: str) -> bool:
        """True for the one caller that claims the first-run organisation (serve prints its key only once)."""
        try:
            self._table.put({"pk": "META", "sk": "FIRST_ORG", "org_id": org_id}, if_absent=True)
            return True
        except ConditionFailed:
            return False

    # -- API keys -------------------------------------------------------------------------------------------------

    def add_key(self, key: dict[str, Any]) -> None:
        self._table.transact_write(
            [
                Put({"pk": f"APIKEY#{key['key_hash']}", "sk": "KEY", "version": 1, **key}, if_absent=True),
                Put({"pk": f"ORG#{key['org_id']}", "sk": f"KEY#{key['key_id']}", "version": 1, **key}, if_absent=True),
            ]
        )

    def key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        return self._table.get(f"APIKEY#{key_hash}", "KEY")

    def get_key(self, org_id: str, key_id: str) -> dict[str, Any] | None:
        return self._table.get(f"ORG#{org_id}", f"KEY#{key_id}")

    def list_keys(self, org_id: str) -> list[dict[str, Any]]:
        return self._table.query(f"ORG#{org_id}", "KEY#")

    def save_key(self, key: dict[str, Any]) -> None:
        """Both copies of the key change together (the hash-addressed one is what authentication reads)."""
        by_hash = self._table.get(f"APIKEY#{key['key_hash']}", "KEY")
        by_org = self._table.get(f"ORG#{key['org_id']}", f"KEY#{key['key_id']}")
        if by_hash is None or by_org is None:
            raise ConditionFailed("key vanished")
        fields = {k: v for k, v in key.items() if k not in ("pk", "sk", "version")}
        self._table.transact_write(
            [
                Put({**by_hash, **fields, "version": by_hash["version"] + 1}, if_version=by_hash["version"]),
                Put({**by_org, **fields, "version": by_org["version"] + 1}, if_version=by_org["version"]),
            ]
        )
