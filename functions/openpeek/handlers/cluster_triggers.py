"""Cluster triggers Lambda (EventBridge rate(1 minute)): fires the cluster triggers that are due, each starting its
cluster's execution through the same service the API's execute route uses."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from openpeek.handlers.bootstrap import container_services, entry_point, logger, metrics

services = container_services()


@entry_point(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: Any) -> dict[str, int]:
    report = services.cluster_triggers.fire_due().public()
    metrics.add_metric(name="ClusterTriggersFired", unit=MetricUnit.Count, value=report["started"])
    logger.info("cluster triggers checked", extra={"schedule": event.detail_type, **report})
    return report
