"""Webhook delivery Lambda: SQS records (each an EventBridge event) delivered to the subscribed webhooks (issue 6).

A record whose delivery fails is reported back (ReportBatchItemFailures) so SQS retries only that one and moves it to
the dead-letter queue after the queue's last attempt.
"""

from __future__ import annotations

import json
from typing import Any

from openpeek.runtime import LazyServices, build_services
from openpeek.settings import Settings

services = LazyServices(lambda: build_services(Settings()))


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in event.get("Records", []):
        try:
            services.webhook_delivery.deliver(json.loads(record["body"]))
        except Exception:  # noqa: BLE001 - any failure of one record must not fail its batch-mates
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
