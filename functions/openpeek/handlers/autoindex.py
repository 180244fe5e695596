"""Auto-index Lambda (EventBridge rate(6 hours)): payload indexes for the fields filters use often."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from openpeek.handlers.bootstrap import container_services, entry_point, logger, metrics

services = container_services()


@entry_point(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: Any) -> Any:
    result = services.auto_index.run()
    metrics.add_metric(name="PayloadIndexesCreated", unit=MetricUnit.Count, value=len(result.created))
    logger.info("auto-index run", extra={"schedule": event.detail_type, "created": result.created,
                                         "skipped": len(result.skipped)})
    return {"created": result.created, "skipped": result.skipped}
