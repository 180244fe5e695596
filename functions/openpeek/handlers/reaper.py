"""TTL reaper Lambda (EventBridge rate(1 hour)): deletes every namespace whose expires_at has passed."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from openpeek.handlers.bootstrap import container_services, entry_point, logger, metrics

services = container_services()
REAP_EVERY_S = 3600  # the EventBridge rule's rate(1 hour) (stacks/automation.py)


@entry_point(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: Any) -> dict[str, int]:
    # The schedule's heartbeat (GET /v1/health/beat): this rule fires hourly, so a beat hours old means it stopped.
    services.health.record_beat(REAP_EVERY_S)
    result = services.expiry.reap()
    metrics.add_metric(name="NamespacesReaped", unit=MetricUnit.Count, value=result.deleted)
    logger.info("expired namespaces reaped", extra={"schedule": event.detail_type, **dataclasses.asdict(result)})
    if result.failed:
        # Failing the invocation makes the errors alarm fire and EventBridge retry; reaping is idempotent.
        raise RuntimeError(f"expiry reaper: {result.failed} namespace(s) could not be deleted: {result}")
    return dataclasses.asdict(result)
