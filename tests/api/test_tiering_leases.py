"""Two runners of one transition (deployed: the tiering Lambda and the hourly sweeper): only the holder of an
unexpired lease moves data; a runner that died is taken over once its lease expires; a runner whose lease was taken
over stops without undoing the copy the other now owns. Every document ends in the cold store exactly once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from openpeek.domain.clock import isoformat, utcnow
from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.repositories.tiering import TierStateRepository
from openpeek.services.tiering.lifecycle import LEASE_S, LifecycleService
from tests.api.test_tiering_sweeper_and_resume import Crash, collection, setup_namespace, state


class HookedCold:
    """The real cold store, with a hook run before each part is written."""

    def __init__(self, real, hook) -> None:
        self._real, self._hook = real, hook

    def __getattr__(self, name):
        return getattr(self._real, name)

    def write_part(self, target, part, points) -> None:
        self._hook(part)
        self._real.write_part(target, part, points)


def runner(services, cold=None) -> LifecycleService:
    """A second process's lifecycle service over the same table and stores, with leases on (as deployed)."""
    return LifecycleService(services.table, services.vectors, cold or services.lifecycle._cold, services.blobs,
                            services.events, lambda *_: None, lease_s=LEASE_S)


def stored_ids(services, namespace, name) -> list[str]:
    target = services.lifecycle.cold_target(namespace, services.collections.get(namespace, name))
    return sorted(point.id for _, part in services.lifecycle._cold.read_parts(target) for point in part)


@pytest.fixture
def books(client, services, tenant, monkeypatch):
    from openpeek.services.tiering import lifecycle as lifecycle_module

    monkeypatch.setattr(lifecycle_module, "PAGE", 2)  # several parts, so a runner can stop between them
    headers = setup_namespace(client, services, tenant, "leased")
    ids = collection(client, headers, "books", 7)
    namespace = NamespaceRepository(services.table).get_by_name(tenant.org_id, "leased")
    return headers, ids, namespace


def test_a_lease_held_by_a_runner_that_died_blocks_others_until_it_expires(client, services, books):
    headers, ids, namespace = books
    writes = []

    def dies_on_the_second_part(part):
        writes.append(part)
        if len(writes) == 2:
            raise Crash()

    collection_id = services.collections.get(namespace, "books").collection_id
    first = runner(services, HookedCold(services.lifecycle._cold, dies_on_the_second_part))
    first.transition(namespace, "books", "cold")  # recorded; its background start is a no-op here
    with pytest.raises(Crash):
        first.run(namespace.namespace_id, collection_id)
    tiers = TierStateRepository(services.table)
    held = tiers.get(namespace.namespace_id, collection_id)
    assert held.transition.lease_owner is not None and held.transition.lease_until > isoformat(utcnow())

    second = runner(services)
    second.run(namespace.namespace_id, collection_id)  # the sweeper's resume, while the lease still runs
    assert state(client, headers, "books")["lifecycle_state"] == "active"
    assert tiers.get(namespace.namespace_id, collection_id).transition.lease_owner == held.transition.lease_owner

    # The dead runner's lease runs out: the next resume takes the transition over and finishes it.
    expired = replace(held.transition, lease_until=isoformat(utcnow().replace(year=2000)))
    tiers.save(namespace.namespace_id, replace(held, transition=expired), held)
    second.run(namespace.namespace_id, collection_id)
    done = state(client, headers, "books")
    assert done["lifecycle_state"] == "cold" and done["s3_vector_count"] == 7 and done["vector_document_count"] == 0
    assert stored_ids(services, namespace, "books") == sorted(ids)  # each document exactly once


def test_a_runner_whose_lease_was_taken_over_stops_without_undoing_the_copy(client, services, books):
    headers, ids, namespace = books
    collection_id = services.collections.get(namespace, "books").collection_id
    tiers = TierStateRepository(services.table)
    successor = runner(services)

    def taken_over_at_the_third_part(part):
        if part == 2:  # the successor claims the transition (as after this runner's lease had run out)
            current = tiers.get(namespace.namespace_id, collection_id)
            until = isoformat(utcnow().replace(year=utcnow().year + 1))
            tiers.save(namespace.namespace_id, replace(current, transition=replace(
                current.transition, lease_owner=successor._owner, lease_until=until)), current)

    first = runner(services, HookedCold(services.lifecycle._cold, taken_over_at_the_third_part))
    view = first.transition(namespace, "books", "cold")
    first.run(namespace.namespace_id, collection_id)  # stops at its next saved step: the transition is not its own

    after = state(client, headers, "books")
    assert after["lifecycle_state"] == "active"
    assert tiers.get(namespace.namespace_id, collection_id).transition.lease_owner == successor._owner
    assert stored_ids(services, namespace, "books")  # its parts are kept for the successor, not dropped
    task = client.get(f"/v1/tasks/{view.task_id}", headers=headers).json()
    assert task["status"] != "FAILED"  # the successor owns the task now

    successor.run(namespace.namespace_id, collection_id)
    done = state(client, headers, "books")
    assert done["lifecycle_state"] == "cold" and done["s3_vector_count"] == 7
    assert stored_ids(services, namespace, "books") == sorted(ids)
    assert client.get(f"/v1/tasks/{view.task_id}", headers=headers).json()["status"] == "COMPLETED"
