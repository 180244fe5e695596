"""The cluster triggers Lambda (EventBridge rate(1 minute)): runs the check once, answers its counts, and logs them
as JSON (Powertools) with the EventBridge event's id as correlation id, the started runs as an EMF metric."""

from __future__ import annotations

from types import SimpleNamespace

from openpeek.services.clustering.triggers import FiringReport
from tests.aws.test_lambda_observability import emf_and_log_lines, emf_metrics, log_lines, stdout  # noqa: F401

EVENT = {"version": "0", "id": "0d9e1c3a-6a51-4d2f-9a5e-2f1b7d2c9e10", "detail-type": "Scheduled Event",
         "source": "aws.events", "account": "123456789012", "time": "2026-11-30T10:00:00Z", "region": "eu-west-1",
         "resources": ["arn:aws:events:eu-west-1:123456789012:rule/openpeek-test-cluster-triggers"], "detail": {}}


def test_the_lambda_fires_due_triggers_once_and_logs_the_counts(stdout, monkeypatch):  # noqa: F811
    from openpeek.handlers import cluster_triggers

    calls = []

    def fire_due() -> FiringReport:
        calls.append(1)
        return FiringReport(checked=3, started=2, skipped=1, failed=0)

    monkeypatch.setattr(cluster_triggers, "services", SimpleNamespace(
        cluster_triggers=SimpleNamespace(fire_due=fire_due)))

    assert cluster_triggers.handler(EVENT, None) == {"checked": 3, "started": 2, "skipped": 1, "failed": 0}
    assert calls == [1]
    lines = emf_and_log_lines(stdout.readouterr().out)
    (checked,) = [line for line in log_lines(lines) if line["message"] == "cluster triggers checked"]
    assert checked["correlation_id"] == EVENT["id"] and checked["started"] == 2 and checked["skipped"] == 1
    assert emf_metrics(lines)["ClusterTriggersFired"][1] == 2
