"""What a cold collection still is besides a search target: the vector store gives its memory back after a demotion,
its documents can be listed, read and counted (from the cold copy, marked cold), the namespace's storage tier follows
its collections, and deleting a collection or a namespace leaves nothing in the cold store."""

from __future__ import annotations

from openpeek.repositories.namespaces import NamespaceRepository
from openpeek.services.tiering import lifecycle as lifecycle_module
from tests.api.test_collection_lifecycle_api import add, headers, lifecycle  # noqa: F401 - `headers` is a fixture


def test_a_demotion_compacts_the_vector_store_so_its_memory_goes(client, headers, services, monkeypatch):
    monkeypatch.setattr(lifecycle_module, "RECLAIM_MIN_POINTS", 3)
    kept = add(client, headers, "hotbooks", 1, genre="sf", year=2001)
    for n in range(4):
        add(client, headers, "coldbooks", 10 + n, genre="sf", year=2010 + n)
    namespace = client.get("/v1/namespaces/tiers", headers=headers).json()
    store_collection = NamespaceRepository(services.table).get_by_id(namespace["namespace_id"]).collection
    builds_before = services.vectors.index_state(store_collection)["builds"]

    assert lifecycle(client, headers, "coldbooks", "cold").json()["lifecycle_state"] == "cold"
    # the namespace's shard was rebuilt without the dropped points: they no longer sit in its segments
    assert services.vectors.index_state(store_collection)["builds"] == builds_before + 1
    info = services.vectors.info(store_collection)
    assert info.points_count == 1 and info.indexed_vectors_count <= 1
    assert [p.id for p in services.vectors.retrieve(store_collection, [kept])] == [kept]
