"""EventBridgeBus against moto (a real bus, a rule, a queue) and against botocore's Stubber (the exact request).

moto routes EventBridge → SQS only when its `events` extra (jsonpath_ng) is installed; the delivery test skips itself
otherwise, and the Stubber tests pin down the PutEvents request that such delivery depends on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from moto import mock_aws

from openpeek.adapters.aws.eventbridge_bus import EventBridgeBus
from openpeek.domain.events import DomainEvent
from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import EventBus

REGION = "us-east-1"
BUS = "openpeek-test"




EVENT = DomainEvent(
    type="cluster.execution.completed",
    org_id="org_acme",
    namespace_id="ns_1",
    data={"cluster_id": "clu_1", "run_id": "run_1", "num_clusters": 7, "labels": ["a", "ü"], "nested": {"ok": True}},
    occurred_at="2026-01-02T03:04:05Z",
)
EVENT_FIELDS = {
    "type": "cluster.execution.completed",
    "org_id": "org_acme",
    "namespace_id": "ns_1",
    "data": {
        "cluster_id": "clu_1",
        "run_id": "run_1",
        "num_clusters": 7,
        "labels": ["a", "ü"],
        "nested": {"ok": True},
    },
    "occurred_at": "2026-01-02T03:04:05Z",
}


def _stubbed_client() -> Any:
    return boto3.client("events", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def test_it_is_an_event_bus() -> None:
    assert isinstance(EventBridgeBus(BUS), EventBus)


def test_publish_sends_one_entry_with_the_type_as_detail_type_and_the_event_as_detail() -> None:
    client = _stubbed_client()
    sent: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.events.PutEvents", lambda params, **_: sent.append(params))
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "evt-1"}]},
            expected_params={
                "Entries": [
                    {
                        "Source": "openpeek.test",
                        "DetailType": "cluster.execution.completed",
                        "Detail": ANY,
                        "EventBusName": BUS,
                        "Time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                    }
                ]
            },
        )

        EventBridgeBus(BUS, source="openpeek.test", client=client).publish(EVENT)

        stubber.assert_no_pending_responses()
    assert json.loads(sent[0]["Entries"][0]["Detail"]) == EVENT_FIELDS


def test_a_refused_entry_is_a_dependency_failure_naming_the_reason() -> None:
    client = _stubbed_client()
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again later"}],
            },
        )

        with pytest.raises(DependencyUnavailable, match="InternalFailure"):
            EventBridgeBus(BUS, client=client).publish(EVENT)


def test_a_service_error_is_a_dependency_failure() -> None:
    client = _stubbed_client()
    with Stubber(client) as stubber:
        stubber.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=403)

        with pytest.raises(DependencyUnavailable, match="AccessDenied"):
            EventBridgeBus(BUS, client=client).publish(EVENT)


def test_an_unreachable_endpoint_is_a_dependency_failure() -> None:
    client = boto3.client(
        "events",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",  # the discard port: nothing listens there
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )

    with pytest.raises(DependencyUnavailable):
        EventBridgeBus(BUS, client=client).publish(EVENT)


def test_publish_to_an_existing_bus_is_accepted_and_a_missing_bus_is_refused(aws_credentials: None) -> None:
    with mock_aws():
        boto3.client("events", region_name=REGION).create_event_bus(Name=BUS)

        EventBridgeBus(BUS).publish(EVENT)  # moto validates Source, DetailType and that Detail is JSON

        with pytest.raises(DependencyUnavailable):
            EventBridgeBus("no-such-bus").publish(EVENT)


def test_a_rule_routes_the_event_to_sqs_with_its_detail_intact(aws_credentials: None) -> None:
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="completed-clusters",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": ["openpeek"], "detail-type": ["cluster.execution.completed"]}),
        )
        events.put_targets(Rule="completed-clusters", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])

        EventBridgeBus(BUS).publish(EVENT)
        EventBridgeBus(BUS).publish(DomainEvent("namespace.created", "org_acme", "ns_2", {}, "2026-01-02T03:04:06Z"))

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        assert len(messages) == 1  # the rule matched on detail-type, so the namespace event stayed out
        envelope = json.loads(messages[0]["Body"])
        assert envelope["source"] == "openpeek"
        assert envelope["detail-type"] == "cluster.execution.completed"
        assert envelope["detail"] == EVENT_FIELDS
