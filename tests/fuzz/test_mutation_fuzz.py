"""The fuzz tier's bounded run: a few thousand mutated requests of every route against a live `openpeek serve`. No
answer is a 5xx, health answers after every case, and the keep-alive connection survives every answer. `make fuzz`
runs the same fuzzer for tens of thousands of cases."""

from __future__ import annotations

import os

import pytest

from .mutation import run

pytestmark = pytest.mark.slow

BOUNDED_CASES = int(os.environ.get("OPENPEEK_FUZZ_CASES", "2500"))


def test_mutated_requests_of_every_route_never_break_the_server(server, seeded_ids):
    base, key, _ = server
    report = run(base, key, BOUNDED_CASES, seed_value=int(os.environ.get("OPENPEEK_FUZZ_SEED", "7")), ids=seeded_ids)
    details = "\n".join(f"{f.case}: {f.status} {f.detail[:200]}" for f in report.failures[:40])
    assert report.cases == BOUNDED_CASES
    assert not report.server_errors, report.summary() + "\n" + details
    assert not report.health_failures, report.summary() + "\n" + details
    assert not report.dropped_connections, report.summary() + "\n" + details
