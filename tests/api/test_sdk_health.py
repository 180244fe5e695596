"""The SDK's HealthApi against a live `openpeek serve`: its scheduler beats (the heartbeat job of the maintenance
thread), and the deep check of its stores parses as HealthCheckResponse."""

from __future__ import annotations

import time

import mixpeek
import pytest
from mixpeek.exceptions import ApiException

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow


def test_the_served_scheduler_beats_and_the_deep_check_parses(server):
    health = mixpeek.HealthApi(sdk_client(server).api_client)
    deadline = time.monotonic() + 60  # the scheduler's first tick comes a few seconds after start
    while True:
        try:
            beat = health.celery_beat_health()
            break
        except ApiException as error:
            assert error.status == 503, error.body
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert beat["beat_running"] is True and beat["expected_every_seconds"] == 60

    report = health.healthcheck_deep_health(deep=True)
    assert report.data.metadata and report.data.vector_store and report.data.object_storage
    assert report.meta["runtime"] == "embedded"
