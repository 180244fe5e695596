"""Webhook delivery Lambda: SQS records (each an EventBridge event) delivered to the subscribed webhooks.

Powertools' batch processor reports a record whose delivery failed (ReportBatchItemFailures), so SQS retries only that
one and moves it to the dead-letter queue after the queue's last attempt. A batch whose every record failed is
reported the same way rather than raised: SQS then retries each record on its own schedule.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from openpeek.handlers.bootstrap import container_services, entry_point, logger, metrics
from openpeek.services.webhook_delivery import WebhookDeliveryFailed

services = container_services()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def deliver_record(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    try:
        delivered = services.webhook_delivery.deliver(json.loads(record.body))
    except WebhookDeliveryFailed as failure:
        metrics.add_metric(name="WebhookDeliveryFailures", unit=MetricUnit.Count, value=len(failure.results))
        logger.warning("webhook delivery failed", extra={"reason": str(failure)})
        raise
    except Exception as error:
        logger.warning("webhook delivery failed", extra={"reason": f"{type(error).__name__}: {error}"})
        raise
    metrics.add_metric(name="WebhookDeliveries", unit=MetricUnit.Count, value=len(delivered))


@entry_point(correlation_id_path="Records[0].messageId")
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return process_partial_response(event=event, record_handler=deliver_record, processor=processor, context=context)
