"""Optimistic concurrency, written once: read, decide, write conditionally on the version read; when another writer got
there first (ConditionFailed), read again and decide again."""

from __future__ import annotations

from typing import Callable, TypeVar

from openpeek.domain.failures import ConditionFailed

T = TypeVar("T")


def retry_on_conflict(attempt: Callable[[], T], *, attempts: int, gave_up: Callable[[], Exception] | None = None,
                      backoff: Callable[[int], None] | None = None) -> T:
    """`attempt()` until it returns without ConditionFailed, at most `attempts` times. After the last conflict it raises
    `gave_up()` when given, else the last ConditionFailed. `backoff(n)` (when given) runs before retry n (1-based), so
    writers that collided spread out instead of colliding again."""
    for remaining in range(attempts - 1, -1, -1):
        try:
            return attempt()
        except ConditionFailed:
            if remaining:
                if backoff is not None:
                    backoff(attempts - remaining)
                continue
            if gave_up is not None:
                raise gave_up() from None
            raise
    raise ValueError("attempts must be at least 1")
