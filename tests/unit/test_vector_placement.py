"""Shards and replicas of a namespace's collection by its infrastructure tier and the cluster's size, and the server
adapter creating collections with them: through a recording double of qdrant-client that reports a cluster of N peers
(the server binary is not built here) and otherwise runs qdrant-client's in-process engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from qdrant_client import QdrantClient

from openpeek.adapters.qdrant.server import QdrantServerStore
from openpeek.domain.vector_placement import SINGLE_NODE, ShardPlacement, placement_for, tier_of
from openpeek.domain.vectors import VectorIndexSpec


@pytest.mark.parametrize("tier", ["shared", "dedicated_cpu", "dedicated_gpu", None])
def test_one_node_keeps_the_defaults(tier):
    assert placement_for(tier, 1) == SINGLE_NODE == ShardPlacement(1, 1, 1)


def test_the_shared_tier_gets_one_shard_and_two_replicas():
    assert placement_for("shared", 3) == ShardPlacement(shard_number=1, replication_factor=2,
                                                        write_consistency_factor=1)
    assert placement_for(None, 5) == placement_for("shared", 5)


def test_dedicated_tiers_get_two_shards_per_node_and_up_to_three_replicas():
    assert placement_for("dedicated_cpu", 2) == ShardPlacement(4, 2, 1)
    assert placement_for("dedicated_cpu", 3) == ShardPlacement(6, 3, 2)
    assert placement_for("dedicated_gpu", 6) == ShardPlacement(12, 3, 2)


@pytest.mark.parametrize("tier", ["shared", "dedicated_cpu"])
@pytest.mark.parametrize("nodes", [2, 3, 7])
def test_any_one_node_can_be_lost_without_stopping_writes(tier, nodes):
    placement = placement_for(tier, nodes)

    assert placement.replication_factor >= 2
    assert placement.replication_factor - placement.write_consistency_factor >= 1


def test_a_namespace_without_infrastructure_is_shared():
    assert tier_of(None) == tier_of({}) == "shared"
    assert tier_of({"compute_tier": "dedicated_gpu"}) == "dedicated_gpu"


class ClusterReportingClientDouble:
    """qdrant-client's in-process engine, reporting a distributed cluster of `peers` nodes and recording the
    arguments of every create_collection (which the in-process engine accepts and ignores)."""

    def __init__(self, peers: int) -> None:
        self._engine = QdrantClient(location=":memory:")
        self._peers = peers
        self.created: list[dict] = []

    def cluster_status(self):
        if not self._peers:
            return SimpleNamespace(status="disabled")
        return SimpleNamespace(status="enabled", peers={str(i): {"uri": f"http://qdrant-{i}:6335"}
                                                        for i in range(self._peers)})

    def create_collection(self, name, **arguments):
        self.created.append({"name": name, **{k: v for k, v in arguments.items() if k.endswith(("_number", "_factor"))}})
        return self._engine.create_collection(name, **arguments)

    def __getattr__(self, name):
        return getattr(self._engine, name)


def _store(peers: int) -> tuple[QdrantServerStore, ClusterReportingClientDouble]:
    client = ClusterReportingClientDouble(peers)
    store = QdrantServerStore(client)  # type: ignore[arg-type]
    store._local = False  # the double stands for a server: the adapter must ask it for its cluster
    return store, client


VECTORS = [VectorIndexSpec(name="emb", dimension=4)]


@pytest.mark.parametrize("tier, expected", [
    ("shared", {"shard_number": 1, "replication_factor": 2, "write_consistency_factor": 1}),
    ("dedicated_cpu", {"shard_number": 6, "replication_factor": 3, "write_consistency_factor": 2}),
])
def test_the_server_adapter_creates_the_tiers_collection_on_a_three_node_cluster(tier, expected):
    store, client = _store(peers=3)

    store.create_collection("ns_a", VECTORS, tier=tier)

    (created,) = client.created
    assert {k: v for k, v in created.items() if k != "name"} == expected
    assert store.collection_exists("ns_a")


@pytest.mark.parametrize("peers", [0, 1])
def test_on_one_node_or_without_distributed_mode_the_defaults_are_left_to_qdrant(peers):
    store, client = _store(peers=peers)

    store.create_collection("ns_b", VECTORS, tier="dedicated_cpu")

    assert client.created == [{"name": client.created[0]["name"]}]
