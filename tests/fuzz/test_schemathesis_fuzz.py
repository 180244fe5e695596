"""The fuzz tier's schemathesis run: requests generated from the live server's OpenAPI document, fitting it and
breaking it, with the seeded ids and without. No answer is a 5xx, every answer's status is one the document declares
for its operation, and health answers after every case. A few hundred cases here; `make fuzz` runs thousands
(OPENPEEK_SCHEMA_FUZZ_CASES)."""

from __future__ import annotations

import os

import pytest

from .schema_fuzz import run

pytestmark = pytest.mark.slow

BOUNDED_CASES = int(os.environ.get("OPENPEEK_SCHEMA_FUZZ_CASES", "450"))


def test_schema_generated_requests_of_every_operation_never_break_the_server(server, seeded_ids):
    base, key, _ = server
    report = run(base, key, BOUNDED_CASES, seed_value=int(os.environ.get("OPENPEEK_FUZZ_SEED", "7")), ids=seeded_ids)
    details = "\n".join((report.server_errors + report.health_failures)[:40])
    assert report.operations >= 100 and report.cases >= report.operations, report.summary()
    assert not report.server_errors, report.summary() + "\n" + details
    assert not report.health_failures, report.summary() + "\n" + details
    assert not report.undeclared_statuses, report.summary() + "\n" + "\n".join(
        f"{count} x {kind}" for kind, count in sorted(report.undeclared_statuses.items()))
