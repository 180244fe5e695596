"""The EventBus contract for the embedded runtime's in-process bus.

(EventBridgeBus delivers through AWS, so its behaviour is checked against moto and botocore's Stubber in
tests/aws/test_eventbridge_bus.py.)
"""

from __future__ import annotations

import logging
import threading

import pytest

from openpeek.adapters.local.event_bus import InProcessEventBus
from openpeek.domain.events import DomainEvent
from openpeek.ports import EventBus


def make_event(type_: str = "namespace.created", index: int = 0) -> DomainEvent:
    return DomainEvent(
        type=type_,
        org_id="org_acme",
        namespace_id="ns_1",
        data={"index": index},
        occurred_at="2026-01-02T03:04:05Z",
    )


def test_it_is_an_event_bus() -> None:
    assert isinstance(InProcessEventBus(), EventBus)


def test_every_subscriber_gets_the_published_event_in_subscription_order() -> None:
    bus = InProcessEventBus()
    calls: list[tuple[str, DomainEvent]] = []
    bus.subscribe(lambda event: calls.append(("first", event)))
    bus.subscribe(lambda event: calls.append(("second", event)))
    event = make_event()

    bus.publish(event)

    assert calls == [("first", event), ("second", event)]


def test_a_type_filter_delivers_only_those_types() -> None:
    bus = InProcessEventBus()
    expired: list[str] = []
    everything: list[str] = []
    bus.subscribe(lambda event: expired.append(event.type), event_types={"namespace.expired", "document.created"})
    bus.subscribe(lambda event: everything.append(event.type))

    for type_ in ("namespace.created", "namespace.expired", "cluster.execution.completed", "document.created"):
        bus.publish(make_event(type_))

    assert expired == ["namespace.expired", "document.created"]
    assert everything == ["namespace.created", "namespace.expired", "cluster.execution.completed", "document.created"]


def test_an_empty_type_filter_is_refused_rather_than_silently_deaf() -> None:
    with pytest.raises(ValueError):
        InProcessEventBus().subscribe(lambda event: None, event_types=set())


def test_a_failing_subscriber_is_logged_and_does_not_stop_publish_or_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InProcessEventBus()
    received: list[DomainEvent] = []

    def broken(event: DomainEvent) -> None:
        raise RuntimeError("webhook target down")

    bus.subscribe(broken)
    bus.subscribe(received.append)
    event = make_event("cluster.execution.completed")

    with caplog.at_level(logging.ERROR):
        bus.publish(event)

    assert received == [event]
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "cluster.execution.completed" in failures[0].getMessage()
    assert failures[0].exc_info is not None and isinstance(failures[0].exc_info[1], RuntimeError)
    assert bus.recent() == [event]


def test_unsubscribe_stops_delivery_to_that_handler_only() -> None:
    bus = InProcessEventBus()
    kept: list[int] = []
    dropped: list[int] = []
    bus.subscribe(lambda event: kept.append(event.data["index"]))
    unsubscribe = bus.subscribe(lambda event: dropped.append(event.data["index"]))

    bus.publish(make_event(index=1))
    unsubscribe()
    bus.publish(make_event(index=2))

    assert kept == [1, 2]
    assert dropped == [1]


def test_recent_keeps_the_last_events_oldest_first() -> None:
    bus = InProcessEventBus(max_recent=3)

    for index in range(5):
        bus.publish(make_event(index=index))

    assert [event.data["index"] for event in bus.recent()] == [2, 3, 4]


def test_recent_keeps_a_thousand_events_by_default() -> None:
    bus = InProcessEventBus()

    for index in range(1_005):
        bus.publish(make_event(index=index))

    recent = bus.recent()
    assert len(recent) == 1_000
    assert recent[0].data["index"] == 5
    assert recent[-1].data["index"] == 1_004


def test_events_are_recorded_even_without_subscribers() -> None:
    bus = InProcessEventBus()
    event = make_event()

    bus.publish(event)

    assert bus.recent() == [event]


def test_a_subscriber_may_publish_and_subscribe_from_inside_delivery() -> None:
    bus = InProcessEventBus()
    follow_ups: list[str] = []

    def on_created(event: DomainEvent) -> None:
        bus.subscribe(lambda later: follow_ups.append(f"late:{later.type}"), event_types={"document.created"})
        bus.publish(make_event("document.created"))

    bus.subscribe(on_created, event_types={"namespace.created"})
    bus.subscribe(lambda event: follow_ups.append(event.type), event_types={"document.created"})

    # Delivering while holding a non-reentrant lock would hang here; run it aside and give it a deadline.
    worker = threading.Thread(target=bus.publish, args=(make_event("namespace.created"),), daemon=True)
    worker.start()
    worker.join(timeout=5)

    assert not worker.is_alive(), "publish deadlocked when a subscriber published"
    assert follow_ups == ["document.created", "late:document.created"]
    assert [event.type for event in bus.recent()] == ["namespace.created", "document.created"]


def test_publishing_from_many_threads_delivers_and_records_every_event() -> None:
    bus = InProcessEventBus(max_recent=10_000)
    received: list[int] = []
    received_lock = threading.Lock()

    def count(event: DomainEvent) -> None:
        with received_lock:
            received.append(event.data["index"])

    bus.subscribe(count)
    threads = [
        threading.Thread(target=lambda base=base: [bus.publish(make_event(index=base + n)) for n in range(250)])
        for base in range(0, 2_000, 250)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(received) == list(range(2_000))
    assert sorted(event.data["index"] for event in bus.recent()) == list(range(2_000))
