"""Batch step 'store' (Step Functions; openpeek.services.ingestion.steps describes the state it reads and returns)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

logger = Logger(service="openpeek-batches")
services = LazyServices(lambda: build_services(Settings()))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(batch_id=event.get("batch_id"), attempt=event.get("attempt"), tier=event.get("tier"))
    result = services.batch_steps.store(event)
    logger.info("batch step store done", extra=result)
    return result
