"""One list of event types: every event the services publish can be subscribed to by a webhook."""

from __future__ import annotations

import re
from pathlib import Path

import openpeek
from openpeek.domain.webhooks import EVENT_TYPES, check_event_types
from openpeek.services.clustering.ledger import _EVENTS as CLUSTER_EXECUTION_EVENTS

SOURCE = Path(openpeek.__file__).parent
# How services name the event they publish: `_publish("x.y", ...)`, `publish(events, "x.y", ...)` or
# `DomainEvent(type="x.y", ...)`.
PUBLISHED = re.compile(r'(?:_publish\(\s*|publish\([\w.]+,\s*|type=|\(\s*)"([a-z_]+\.[a-z_.]+)"')
RESOURCES = {"namespace", "document", "retriever", "cluster", "webhook", "bucket", "object", "objects", "collection",
             "batch"}


def published_event_types() -> set[str]:
    found = set(CLUSTER_EXECUTION_EVENTS.values())
    for path in [*SOURCE.joinpath("services").rglob("*.py"), *SOURCE.joinpath("api").rglob("*.py")]:
        found.update(name for name in PUBLISHED.findall(path.read_text())
                     if name.split(".")[0] in RESOURCES)
    return found


def test_every_published_event_type_is_subscribable():
    published = published_event_types()
    assert {"retriever.created", "namespace.promoted", "cluster.execution.canceled", "document.created"} <= published
    assert {"object.created", "object.updated", "object.deleted", "objects.created.batch", "bucket.created",
            "collection.documents.written", "collection.documents.batch_completed"} <= published
    assert published - EVENT_TYPES == set()
    assert check_event_types(sorted(published)) == tuple(sorted(published))
