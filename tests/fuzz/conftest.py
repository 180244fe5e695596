"""One live `openpeek serve` for the whole fuzz tier (the mutation fuzzer and the ReDoS check)."""

from __future__ import annotations

import pytest

from .live_server import live_server


@pytest.fixture(scope="package")
def server():
    with live_server() as running:
        yield running
