"""Expiry: namespaces whose `expires_at` has passed are deleted with everything in them, then `namespace.expired` is
published.

The candidates come from the expiry index the namespace repository keeps (no table scan). The index lags the table and
a namespace's TTL may have been extended since it was written, so every candidate is re-read before it is deleted.
Deletion is NamespaceService.delete, whose steps are each idempotent and whose record goes last: a run that dies half
way leaves the namespace in the index, and the next run finishes it. DynamoDB's own TTL on `expires_at` is only a
backstop for records this reaper somehow never reached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.errors import NotFound
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import EventBus
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal

REAPER_KEY_ID = "system:expiry-reaper"  # who deleted it, as the namespace service sees the caller
MAX_PER_RUN = 500  # bounds one run's duration (an hourly Lambda); what is left is found by the next run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReapResult:
    found: int
    """Expired namespaces the index listed."""
    deleted: int
    kept: int
    """Listed, but their expiry was extended or removed since: left alone."""
    already_gone: int
    failed: int
    """A dependency failed while deleting: left for the next run."""


class ExpiryReaper:
    def __init__(
        self,
        namespaces: NamespaceService,
        repository: NamespaceRepository,
        events: EventBus,
        max_per_run: int = MAX_PER_RUN,
    ) -> None:
        self._namespaces = namespaces
        self._repository = repository
        self._events = events
        self._max_per_run = max_per_run

    def reap(self, now: datetime | None = None) -> ReapResult:
        now = now or utcnow()
        candidates = self._repository.expired(isoformat(now), limit=self._max_per_run)
        deleted = kept = already_gone = failed = 0
        for listed in candidates:
            current = self._repository.get(listed.org_id, listed.namespace_id)
            if current is None:
                already_gone += 1
                continue
            if not current.is_expired(now):
                kept += 1
                continue
            try:
                self._namespaces.delete(Principal(current.org_id, REAPER_KEY_ID), current.public_id)
            except NotFound:
                already_gone += 1  # deleted by its owner between the re-read and now
                continue
            except DependencyUnavailable as error:
                logger.warning("expiry: deleting %s failed, next run retries: %s", current.namespace_id, error)
                failed += 1
                continue
            deleted += 1
            event = DomainEvent(
                type="namespace.expired",
                org_id=current.org_id,
                namespace_id=current.namespace_id,
                data={"namespace_name": current.namespace_name, "expires_at": current.expires_at},
                occurred_at=isoformat(utcnow()),
            )
            try:
                self._events.publish(event)
            except DependencyUnavailable as error:
                # The namespace is gone either way; stopping here would only leave the rest of the run undone.
                logger.error("expiry: %s deleted but namespace.expired not published: %s", current.namespace_id, error)
        return ReapResult(len(candidates), deleted, kept, already_gone, failed)
