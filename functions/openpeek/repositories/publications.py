"""Published retrievers on the Table port.

- `NS#<namespace_id>` / `PUB#<retriever_id>`: the publication, in the partition its namespace owns (deleting the
  namespace deletes it);
- `PUBNAME#<public_name>` / `PUBNAME`: the public name's reservation, global because public names are unique across
  all organisations; it points at the publication (org, namespace, retriever, public id). It is written and deleted in
  the same transaction as the publication, so a reservation whose publication is gone (its namespace was deleted) is
  stale: the next publisher of that name takes it over, conditional on the version read;
- `NS#<namespace_id>` / `PUBCOUNT`: how many publications the namespace has, moved in the same transactions, so the
  publish limit holds under concurrent publishes;
- `NS#<namespace_id>` / `PUBUSE#<public_id>`: the public execution counts of one publication;
- `NS#<namespace_id>` / `PUBRATE#<public_id>#<window>#<start>[#<client>]`: admitted requests in one rate-limit
  window, with `expires_at` (the table's TTL) a window after it ends.

Every publication is also in the secondary index `gsi1` under `PUBLISHED`, by creation time: the public catalogue
lists them across organisations without a scan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openpeek.domain.failures import ConditionFailed
from openpeek.domain.publications import Publication
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition

COUNT_SK = "PUBCOUNT"
_NO_USAGE: dict[str, Any] = {"requests": 0, "executions": 0, "rate_limited": 0, "last_execution_at": None}
RESERVATION_SK = "PUBNAME"
CATALOGUE_INDEX, CATALOGUE_PARTITION = "gsi1", "PUBLISHED"


class PublicNameTaken(Exception):
    pass


class AlreadyPublished(Exception):
    pass


def _sk(retriever_id: str) -> str:
    return f"PUB#{retriever_id}"


def _reservation_pk(public_name: str) -> str:
    return f"PUBNAME#{public_name}"


def _usage_sk(public_id: str) -> str:
    return f"PUBUSE#{public_id}"


def _versioned_put(item: dict[str, Any], previous: dict[str, Any] | None) -> Put:
    """Put `item` as the next version of `previous` (conditional on it), or as a new item."""
    if previous is None:
        return Put({**item, "version": 1}, if_absent=True)
    return Put({**item, "version": previous["version"] + 1}, if_version=previous["version"])


class PublicationRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- publications ---------------------------------------------------------------------------------------------

    def _item(self, publication: Publication) -> dict[str, Any]:
        return {"pk": owned_partition(publication.namespace_id), "sk": _sk(publication.retriever_id),
                "version": publication.version, **publication.to_record(), "gsi1pk": CATALOGUE_PARTITION,
                "gsi1sk": f"{publication.created_at}#{publication.public_id}"}

    def _reservation_item(self, publication: Publication) -> dict[str, Any]:
        return {"pk": _reservation_pk(publication.public_name), "sk": RESERVATION_SK, "org_id": publication.org_id,
                "namespace_id": publication.namespace_id, "retriever_id": publication.retriever_id,
                "public_id": publication.public_id}

    def get(self, namespace_id: str, retriever_id: str) -> Publication | None:
        item = self._table.get(owned_partition(namespace_id), _sk(retriever_id))
        return None if item is None else Publication.from_record(item, item["version"])

    def list(self, namespace_id: str) -> list[Publication]:
        return [Publication.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "PUB#")]

    def catalogue(self) -> list[Publication]:
        """Every organisation's publications, oldest first, as the index has them (eventually consistent: check a
        name's reservation before serving one)."""
        return [Publication.from_record(item, item["version"])
                for item in self._table.query_index(CATALOGUE_INDEX, CATALOGUE_PARTITION)]

    def reservation(self, public_name: str) -> dict[str, Any] | None:
        """{org_id, namespace_id, retriever_id, public_id, version} of the name's holder, or None."""
        return self._table.get(_reservation_pk(public_name), RESERVATION_SK)

    def holder(self, reservation: dict[str, Any]) -> Publication | None:
        """The publication a reservation points at, when it still exists and still holds that name."""
        found = self.get(reservation["namespace_id"], reservation["retriever_id"])
        if found is None or found.public_id != reservation["public_id"]:
            return None
        return found

    def count(self, namespace_id: str) -> dict[str, Any] | None:
        return self._table.get(owned_partition(namespace_id), COUNT_SK)

    def create(self, publication: Publication, *, stale_reservation: dict[str, Any] | None,
               count: dict[str, Any] | None) -> None:
        """Publication, name reservation and the namespace's count in one transaction. `stale_reservation`: the
        reservation read for this name whose publication is gone (taken over on its version); `count`: the count item
        read. Raises PublicNameTaken, AlreadyPublished, or ConditionFailed (something read changed: read again)."""
        partition = owned_partition(publication.namespace_id)
        operations = [
            Put(self._item(publication), if_absent=True),
            _versioned_put(self._reservation_item(publication), stale_reservation),
            _versioned_put({"pk": partition, "sk": COUNT_SK, "count": (count or {}).get("count", 0) + 1}, count),
        ]
        try:
            self._table.transact_write(operations)
        except ConditionFailed:
            if self.get(publication.namespace_id, publication.retriever_id) is not None:
                raise AlreadyPublished(publication.retriever_id) from None
            now = self.reservation(publication.public_name)
            if now is not None and (stale_reservation is None or now["version"] != stale_reservation["version"]):
                raise PublicNameTaken(publication.public_name) from None
            raise

    def save(self, publication: Publication, previous: Publication) -> Publication:
        """Conditional on the version read; raises ConditionFailed, and then nothing was written."""
        saved = replace(publication, version=previous.version + 1)
        self._table.put(self._item(saved), if_version=previous.version)
        return saved

    def delete(self, publication: Publication) -> None:
        """Publication, its reservation (when it still points here), its usage and one off the count, together.
        Raises ConditionFailed when something read changed (read again)."""
        partition = owned_partition(publication.namespace_id)
        count = self.count(publication.namespace_id)
        operations: list[Put | Delete] = [
            Delete(partition, _sk(publication.retriever_id), if_version=publication.version),
            Delete(partition, _usage_sk(publication.public_id)),
        ]
        reservation = self.reservation(publication.public_name)
        if reservation is not None and reservation["public_id"] == publication.public_id:
            operations.append(Delete(_reservation_pk(publication.public_name), RESERVATION_SK,
                                     if_version=reservation["version"]))
        if count is not None:
            operations.append(_versioned_put({"pk": partition, "sk": COUNT_SK,
                                              "count": max(0, count["count"] - 1)}, count))
        self._table.transact_write(operations)

    # -- repairs (reconcile) --------------------------------------------------------------------------------------

    def restore_reservation(self, publication: Publication, stale: dict[str, Any] | None) -> None:
        """Point the name at this publication again (its reservation is missing or stale). Raises ConditionFailed."""
        self._table.transact_write([_versioned_put(self._reservation_item(publication), stale)])

    def set_count(self, namespace_id: str, value: int, previous: dict[str, Any] | None) -> None:
        self._table.transact_write([_versioned_put({"pk": owned_partition(namespace_id), "sk": COUNT_SK,
                                                    "count": value}, previous)])

    # -- public use: rate-limit windows and counts ----------------------------------------------------------------

    def usage(self, publication: Publication) -> dict[str, Any]:
        """{requests (admitted by the rate limits), executions (completed), rate_limited, last_execution_at}."""
        item = self._table.get(owned_partition(publication.namespace_id), _usage_sk(publication.public_id)) or {}
        return {**_NO_USAGE, **{key: item[key] for key in _NO_USAGE if key in item}}

    def window_counts(self, publication: Publication, windows: list[tuple[str, int, int, str]]
                      ) -> dict[str, dict[str, Any] | None]:
        """Window name → its counter item for the current windows ((name, start, length, client) each)."""
        partition = owned_partition(publication.namespace_id)
        return {name: self._table.get(partition, self._window_sk(publication, name, start, client))
                for name, start, _, client in windows}

    def admit(self, publication: Publication, windows: list[tuple[str, int, int, str]],
              read: dict[str, dict[str, Any] | None], at: str) -> None:
        """One more admitted request in every window and in the publication's usage, all conditional on the items
        read. Raises ConditionFailed when another request got there first."""
        partition = owned_partition(publication.namespace_id)
        operations = []
        for name, start, length, client in windows:
            previous = read[name]
            operations.append(_versioned_put({
                "pk": partition, "sk": self._window_sk(publication, name, start, client),
                "count": (previous or {}).get("count", 0) + 1, "expires_at": start + 2 * length}, previous))
        operations.append(self._usage_put(publication, {"requests": 1}, at=at))
        self._table.transact_write(operations)

    def record_refusal(self, publication: Publication) -> None:
        """One more request refused by the rate limits. Raises ConditionFailed on a concurrent write."""
        self._table.transact_write([self._usage_put(publication, {"rate_limited": 1})])

    def record_execution(self, publication: Publication) -> None:
        """One more completed public execution. Raises ConditionFailed on a concurrent write."""
        self._table.transact_write([self._usage_put(publication, {"executions": 1}, at=None)])

    def _usage_put(self, publication: Publication, increments: dict[str, int], *, at: str | None = None) -> Put:
        partition, sk = owned_partition(publication.namespace_id), _usage_sk(publication.public_id)
        previous = self._table.get(partition, sk)
        current = {**_NO_USAGE, **{key: value for key, value in (previous or {}).items() if key in _NO_USAGE}}
        counts = {key: current[key] + increments.get(key, 0) for key in ("requests", "executions", "rate_limited")}
        return _versioned_put({"pk": partition, "sk": sk, **counts,
                               "last_execution_at": at or current["last_execution_at"]}, previous)

    @staticmethod
    def _window_sk(publication: Publication, name: str, start: int, client: str) -> str:
        return f"PUBRATE#{publication.public_id}#{name}#{start}" + (f"#{client}" if client else "")
