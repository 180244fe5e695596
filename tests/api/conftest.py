"""A live `openpeek serve` for the tests that drive it through the official SDK, as a user would."""

from __future__ import annotations

import pytest

from tests.live_server import free_port, live_server  # noqa: F401  (free_port: tests here import it from conftest)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`openpeek serve` on a free port with an empty data dir; yields (base_url, first-run key, data dir)."""
    with live_server(tmp_path_factory.mktemp("serve")) as running:
        yield running
