"""Tiering Lambda: the hourly sweeper (EventBridge rate(1 hour)), and the runner of one collection's lifecycle
transition when the API asks for it (the `collection.lifecycle.requested` event on the environment's bus)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from openpeek.runtime import LazyServices, build_services
from openpeek.services.tiering.lifecycle import TRANSITION_REQUESTED
from openpeek.settings import Settings

logger = Logger(service="openpeek-tiering")
services = LazyServices(lambda: build_services(Settings()))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("detail-type") == TRANSITION_REQUESTED:
        detail = event.get("detail") or {}
        collection_id = (detail.get("data") or {}).get("collection_id")
        logger.info("running lifecycle transition", extra={"collection_id": collection_id})
        services.lifecycle.run(detail["namespace_id"], collection_id)
        return {"ran": collection_id}
    report = services.tiering_sweeper.sweep().public()
    logger.info("tiering sweep", extra=report)
    return report
