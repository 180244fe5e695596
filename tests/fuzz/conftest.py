"""One live `openpeek serve` for the whole fuzz tier (the mutation fuzzer, schemathesis and the ReDoS check)."""

from __future__ import annotations

import random

import pytest

from tests.live_server import live_server

from .mutation import seed

# A fuzz run sends vectors: loading the bundled text model (torch) would only slow the server's start.
FUZZ_SERVER_ENV = {"OPENPEEK_LOCAL_INFERENCE": "false"}


@pytest.fixture(scope="package")
def server():
    with live_server(env=FUZZ_SERVER_ENV) as running:
        yield running


@pytest.fixture(scope="package")
def seeded_ids(server) -> dict[str, str]:
    """The resources both fuzzers start from, created once on the tier's server."""
    base, key, _ = server
    return seed(base, key, random.Random(0))
