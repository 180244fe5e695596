"""The tiering sweeper: hourly (an EventBridge rule when deployed, the scheduler thread embedded, `openpeek tier` by
hand) it resumes transitions a crash left half-done, demotes collections unqueried for `idle_days.cold`, freezes
those unqueried for `idle_days.frozen`, and promotes a cold collection back after sustained queries — never an
exempt one, never one that moved too recently (hysteresis), and at most MAX_REHYDRATIONS rehydrations per sweep (each
one loads a collection back into memory)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from openpeek.domain import tiering as rules
from openpeek.domain.clock import parse, utcnow
from openpeek.domain.errors import DomainError
from openpeek.domain.tiering import TieringPolicy
from openpeek.ports import Table
from openpeek.repositories.collections import CollectionRepository
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.tiering.lifecycle import LifecycleService

logger = logging.getLogger(__name__)

MAX_REHYDRATIONS = 2


@dataclass
class SweepReport:
    resumed: list[str] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    skipped_rehydrations: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"resumed": self.resumed, "moved": self.moved, "skipped_rehydrations": self.skipped_rehydrations}


def namespace_policy(namespace: Any) -> TieringPolicy | None:
    """The namespace's own `tiering` override, kept with its record."""
    return TieringPolicy.parse((namespace.extra or {}).get("tiering"))


class TieringSweeper:
    def __init__(self, table: Table, lifecycle: LifecycleService,
                 policy_of: Callable[[Any], TieringPolicy | None] | None = None,
                 clock: Callable[[], datetime] = utcnow, day: timedelta = timedelta(days=1)) -> None:
        self._namespaces = NamespaceRepository(table)
        self._collections = CollectionRepository(table)
        self._tiers = TierStateRepository(table)
        self._lifecycle = lifecycle
        self._policy_of = policy_of or namespace_policy
        self._clock = clock
        self._day = day

    def sweep(self) -> SweepReport:
        """One pass over every namespace on the sweeper's list. Transitions run here, one after another (the
        sweeper is itself the background job), so a sweep ends with every move it started finished."""
        report = SweepReport()
        rehydrations = 0
        now = self._clock()
        for namespace_id in self._tiers.registered():
            namespace = self._namespaces.get_by_id(namespace_id)
            if namespace is None:
                self._tiers.unregister(namespace_id)
                continue
            for collection_id in self._lifecycle.pending(namespace_id):
                self._lifecycle.run(namespace_id, collection_id)
                report.resumed.append(collection_id)
            parent = self._policy_of(namespace)
            tiers = self._tiers.list_in(namespace_id)
            for collection in self._collections.list_in(namespace_id):
                tier = tiers.get(collection.collection_id)
                own = tier.policy if tier is not None else None
                policy = (own.over(parent) if own else (parent or TieringPolicy())).effective()
                decision = rules.sweep_decision(collection.collection_id, collection.lifecycle_state, policy, tier,
                                                collection.created_at, now, parse, self._day)
                if decision is None:
                    continue
                if decision.target == rules.ACTIVE:
                    if rehydrations >= MAX_REHYDRATIONS:
                        report.skipped_rehydrations.append(collection.collection_id)
                        continue
                    rehydrations += 1
                try:
                    self._lifecycle.transition(namespace, collection.collection_id, decision.target,
                                               async_transition=False)
                except DomainError as refused:  # e.g. nothing to demote: leave it where it is
                    logger.info("sweeper left %s %s: %s", collection.collection_id, collection.lifecycle_state,
                                refused.message)
                    continue
                report.moved.append({"collection_id": collection.collection_id, "namespace_id": namespace_id,
                                     "from": collection.lifecycle_state, "to": decision.target,
                                     "reason": decision.reason})
        return report
