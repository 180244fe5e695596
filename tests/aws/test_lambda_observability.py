"""Every Lambda writes JSON log lines carrying its invocation's correlation id and emits its metrics as CloudWatch EMF
lines (read back from stdout here, as CloudWatch Logs reads them). The API Lambda's are in test_api_handler.py."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from openpeek.services.expiry import ReapResult
from openpeek.services.webhook_delivery import AttemptResult, WebhookDeliveryFailed


class _CurrentStdout:
    """Whatever sys.stdout is when a line is written: pytest swaps it per test phase."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def stdout(capfd):
    """This test's captured stdout, with the Lambda logger's handler writing to it (the handler keeps the stream it
    was created with, which belongs to whichever test first imported a handler)."""
    from openpeek.handlers.bootstrap import logger

    logger.registered_handler.stream = _CurrentStdout()  # not setStream: it flushes the old one, maybe closed
    capfd.readouterr()
    return capfd


def emf_and_log_lines(captured: str) -> list[dict]:
    lines = []
    for line in captured.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def log_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "level" in line and "message" in line]


def emf_metrics(lines: list[dict]) -> dict[str, tuple[str, float]]:
    """metric name → (namespace, summed value) over every EMF line."""
    found: dict[str, tuple[str, float]] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                values = line[metric["Name"]]
                total = sum(values) if isinstance(values, list) else values
                previous = found.get(metric["Name"], (directive["Namespace"], 0.0))[1]
                found[metric["Name"]] = (directive["Namespace"], previous + total)
    return found


def _attempt(ok: bool) -> AttemptResult:
    return AttemptResult(webhook_id="wh_1", delivery_id="dlv_1", attempt=1, ok=ok,
                         status_code=200 if ok else 503, error=None if ok else "503")


def test_the_sqs_lambda_reports_failed_records_logs_their_message_ids_and_counts_deliveries(stdout, monkeypatch):
    from openpeek.handlers import webhook_delivery as lambda_handler

    def deliver(body: dict) -> list[AttemptResult]:
        if body["detail-type"] == "document.deleted":
            raise WebhookDeliveryFailed([_attempt(False)])
        return [_attempt(True), _attempt(True)]

    monkeypatch.setattr(lambda_handler, "services", SimpleNamespace(webhook_delivery=SimpleNamespace(deliver=deliver)))
    records = [{"messageId": "m1", "body": json.dumps({"detail-type": "document.created"})},
               {"messageId": "m2", "body": json.dumps({"detail-type": "document.deleted"})},
               {"messageId": "m3", "body": "not json"}]

    answer = lambda_handler.handler({"Records": records}, None)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    lines = emf_and_log_lines(stdout.readouterr().out)
    failed = [line for line in log_lines(lines) if line["message"] == "webhook delivery failed"]
    assert [line["correlation_id"] for line in failed] == ["m2", "m3"]
    metrics = emf_metrics(lines)
    assert metrics["WebhookDeliveries"][1] == 2 and metrics["WebhookDeliveryFailures"][1] == 1


def test_a_batch_whose_every_record_failed_is_reported_not_raised(monkeypatch):
    from openpeek.handlers import webhook_delivery as lambda_handler

    def deliver(body: dict) -> list[AttemptResult]:
        raise WebhookDeliveryFailed([_attempt(False)])

    monkeypatch.setattr(lambda_handler, "services", SimpleNamespace(webhook_delivery=SimpleNamespace(deliver=deliver)))

    answer = lambda_handler.handler({"Records": [{"messageId": "m1", "body": "{}"}]}, None)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_the_reaper_logs_the_eventbridge_event_id_and_counts_what_it_deleted(stdout, monkeypatch):
    from openpeek.handlers import reaper

    result = ReapResult(found=3, deleted=2, kept=1, already_gone=0, failed=0)
    beats = []
    monkeypatch.setattr(reaper, "services", SimpleNamespace(expiry=SimpleNamespace(reap=lambda: result),
                                                            health=SimpleNamespace(record_beat=beats.append)))
    event = {"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-11-30T01:00:00Z", "region": "eu-west-1",
             "resources": ["arn:aws:events:eu-west-1:123456789012:rule/openpeek-test-reaper"], "detail": {}}

    assert reaper.handler(event, None) == {"found": 3, "deleted": 2, "kept": 1, "already_gone": 0, "failed": 0}
    assert beats == [3600]  # the hourly schedule's heartbeat (GET /v1/health/beat)

    lines = emf_and_log_lines(stdout.readouterr().out)
    (reaped,) = [line for line in log_lines(lines) if line["message"] == "expired namespaces reaped"]
    assert reaped["correlation_id"] == event["id"] and reaped["deleted"] == 2
    assert emf_metrics(lines)["NamespacesReaped"][1] == 2


def test_a_step_lambda_refuses_a_state_without_the_job_and_logs_the_failure(stdout):
    from aws_lambda_powertools.utilities.parser import ValidationError

    from openpeek.handlers import cluster_prepare

    with pytest.raises(ValidationError):
        cluster_prepare.handler({"org_id": "org_1", "task_id": "task_x"}, None)

    lines = emf_and_log_lines(stdout.readouterr().out)
    (failed,) = [line for line in log_lines(lines) if line["message"] == "invocation failed"]
    assert failed["correlation_id"] == "task_x" and failed["level"] == "ERROR"
