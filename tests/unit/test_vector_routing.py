"""The vector-store router's placement rules: what it learns from the namespace records, for how long, and when a
dedicated server's client is made and closed."""

from __future__ import annotations

from typing import Any

from openpeek.adapters.vector_routing import VectorStoreRouter
from openpeek.domain.infrastructure import NO_NAMESPACE, DedicatedVectorStore

A = DedicatedVectorStore("http://qdrant-a:6333", "key-a")
B = DedicatedVectorStore("http://qdrant-b:6333", "key-b")


class RecordingStore:
    """A store that answers count() with its own name, so a test sees where a call went."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def count(self, collection: str, filter: Any = None) -> Any:
        return (self.name, collection)

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def router(records: dict[str, Any], clock: Clock) -> tuple[VectorStoreRouter, list[Any], list[RecordingStore]]:
    lookups: list[str] = []
    made: list[RecordingStore] = []

    def locate(collection: str) -> Any:
        lookups.append(collection)
        return records.get(collection, NO_NAMESPACE)

    def connect(url: str, key: str | None) -> RecordingStore:
        made.append(RecordingStore(f"{url}|{key}"))
        return made[-1]

    return VectorStoreRouter(RecordingStore("shared"), locate, connect, ttl_s=5, clock=clock), lookups, made


def test_a_namespace_record_is_read_once_per_interval_and_a_re_point_made_elsewhere_is_seen_after_it():
    records: dict[str, Any] = {"ns_a": A, "ns_s": None}
    clock = Clock()
    routed, lookups, made = router(records, clock)
    assert routed.count("ns_a") == ("http://qdrant-a:6333|key-a", "ns_a")
    assert routed.count("ns_s") == ("shared", "ns_s")
    routed.count("ns_a")
    assert lookups == ["ns_a", "ns_s"] and len(made) == 1

    records["ns_a"] = B  # another process re-pointed the namespace
    clock.now += 4
    assert routed.count("ns_a")[0] == "http://qdrant-a:6333|key-a"
    clock.now += 2
    assert routed.count("ns_a")[0] == "http://qdrant-b:6333|key-b"
    assert made[0].closed  # nothing uses server A's client any more


def test_a_collection_without_a_namespace_is_shared_and_not_remembered():
    clock = Clock()
    routed, lookups, _ = router({}, clock)
    assert routed.count("ns_new")[0] == "shared"
    assert routed.count("ns_new")[0] == "shared"
    assert lookups == ["ns_new", "ns_new"]  # it may be a namespace being created elsewhere


def test_placing_routes_before_any_record_exists_and_forgetting_closes_an_unused_client():
    clock = Clock()
    routed, lookups, made = router({}, clock)
    routed.place("ns_x", A)
    routed.place("ns_y", A)
    assert routed.count("ns_x")[0] == routed.count("ns_y")[0] == "http://qdrant-a:6333|key-a"
    assert lookups == [] and len(made) == 1  # one client per URL and key
    routed.forget("ns_x")
    assert not made[0].closed  # ns_y still uses it
    routed.forget("ns_y")
    assert made[0].closed


def test_close_closes_every_client_and_the_shared_store():
    routed, _, made = router({"ns_a": A, "ns_b": B}, Clock())
    routed.count("ns_a"), routed.count("ns_b")
    routed.close()
    assert all(store.closed for store in made) and routed.store_for(None).closed


def test_a_namespace_deleted_elsewhere_is_forgotten_and_its_client_closed_but_a_create_under_way_here_is_kept():
    records: dict[str, Any] = {"ns_a": A}
    clock = Clock()
    routed, _, made = router(records, clock)
    routed.count("ns_a")
    del records["ns_a"]  # another process deleted it
    clock.now += 6
    assert routed.count("ns_a")[0] == "shared"
    assert made[0].closed

    routed.place("ns_new", B)  # being created here; its record is written after its collection
    clock.now += 60
    assert routed.count("ns_new")[0] == "http://qdrant-b:6333|key-b"
