"""How often each payload field is filtered on, per namespace, in hourly windows: what the auto-indexer reads.

Cheap on the hot path: an execution adds to counters in memory; they are written at most every `flush_every_s`
(and when the auto-indexer runs), as one item per namespace and hour (repositories/filter_usage.py: an hour's items in
one partition the indexer can read without a scan), merged with a conditional write so concurrent writers (several
Lambda instances) lose nothing; a merge that keeps losing the race is dropped (statistics, not data). Counts held in memory by a process that dies unflushed are lost: statistics, not data.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Callable, Iterable

from openpeek.domain.clock import utcnow
from openpeek.domain.failures import ConditionFailed
from openpeek.repositories.filter_usage import FilterUsageRepository
from openpeek.repositories.optimistic import retry_on_conflict

RETENTION = timedelta(days=2)
FLUSH_ATTEMPTS = 8


def hour_of(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H")


class FilterUsage:
    def __init__(self, repository: FilterUsageRepository, *, flush_every_s: float = 30.0, clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._repository = repository
        self._flush_every_s = flush_every_s
        self._clock = clock
        self._monotonic = monotonic
        self._pending: dict[tuple[str, str], Counter] = {}
        self._lock = threading.Lock()
        self._last_flush = monotonic()

    def record(self, namespace_id: str, fields: Iterable[str]) -> None:
        fields = list(fields)
        if not fields:
            return
        key = (hour_of(self._clock()), namespace_id)
        with self._lock:
            self._pending.setdefault(key, Counter()).update(fields)
            due = self._monotonic() - self._last_flush >= self._flush_every_s
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = self._monotonic()
        for (hour, namespace_id), counts in pending.items():
            self._merge(hour, namespace_id, counts)

    def _merge(self, hour: str, namespace_id: str, counts: Counter) -> None:
        def attempt() -> None:
            current = self._repository.get(hour, namespace_id)
            merged = Counter(current["counts"] if current else {})
            merged.update(counts)
            self._repository.save(hour, namespace_id, merged, previous=current,
                                  expires_at=int((self._clock() + RETENTION).timestamp()))

        try:
            retry_on_conflict(attempt, attempts=FLUSH_ATTEMPTS)
        except ConditionFailed:
            pass

    def last_day(self, now: datetime | None = None) -> dict[str, Counter]:
        """Per namespace, how often each field was filtered in the 24 hours before `now`."""
        now = now or self._clock()
        totals: dict[str, Counter] = {}
        for hours_back in range(24):
            for namespace_id, counts in self._repository.hour(hour_of(now - timedelta(hours=hours_back))).items():
                totals.setdefault(namespace_id, Counter()).update(counts)
        return totals
