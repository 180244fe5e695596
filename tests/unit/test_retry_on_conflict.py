"""Optimistic concurrency written once: a conflicting write is retried on a fresh read, with a pause between tries
when asked, and gives up with the caller's error after the last try."""

from __future__ import annotations

import pytest

from openpeek.domain.errors import Conflict
from openpeek.domain.failures import ConditionFailed
from openpeek.repositories.optimistic import retry_on_conflict


def conflicting(times: int):
    calls = []

    def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise ConditionFailed("another writer got there first")
        return "saved"

    return attempt, calls


def test_a_conflict_is_retried_and_the_pause_grows_with_each_retry():
    attempt, calls = conflicting(2)
    pauses: list[int] = []
    assert retry_on_conflict(attempt, attempts=5, backoff=pauses.append) == "saved"
    assert len(calls) == 3 and pauses == [1, 2]


def test_after_the_last_conflict_the_callers_error_is_raised():
    attempt, calls = conflicting(10)
    pauses: list[int] = []
    with pytest.raises(Conflict):
        retry_on_conflict(attempt, attempts=3, backoff=pauses.append,
                          gave_up=lambda: Conflict("changed too often", code="concurrent_modification"))
    assert len(calls) == 3 and pauses == [1, 2]  # no pause after the last try


def test_without_a_gave_up_error_the_last_conflict_is_raised():
    attempt, _ = conflicting(10)
    with pytest.raises(ConditionFailed):
        retry_on_conflict(attempt, attempts=2)
