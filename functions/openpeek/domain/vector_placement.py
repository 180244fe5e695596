"""How a namespace's collection is laid out on a Qdrant cluster, by its infrastructure tier (seed 000: shared,
dedicated_cpu, dedicated_gpu) and the number of nodes the cluster has.

- one node: one shard, no replica (all the defaults);
- shared tier: one shard (many small namespaces share the cluster; Qdrant places each collection's shard on some node,
  so they spread) with a second replica;
- dedicated tiers: two shards per node (room to move shards onto nodes added later without resharding) and up to three
  replicas.

The write consistency factor is the replicas less one (at least one): a write is acknowledged once all but one of a
shard's replicas have it, so losing any one node keeps reads and writes working whenever there are two replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

DEDICATED_TIERS = ("dedicated_cpu", "dedicated_gpu")


@dataclass(frozen=True)
class ShardPlacement:
    shard_number: int
    replication_factor: int
    write_consistency_factor: int


SINGLE_NODE = ShardPlacement(shard_number=1, replication_factor=1, write_consistency_factor=1)


def placement_for(tier: str | None, nodes: int) -> ShardPlacement:
    if nodes <= 1:
        return SINGLE_NODE
    if tier in DEDICATED_TIERS:
        replicas = min(3, nodes)
        shards = 2 * nodes
    else:
        replicas = 2
        shards = 1
    return ShardPlacement(shard_number=shards, replication_factor=replicas,
                          write_consistency_factor=max(1, replicas - 1))


def tier_of(infrastructure: dict | None) -> str:
    """A namespace's compute tier (its infrastructure block's, "shared" when none)."""
    return (infrastructure or {}).get("compute_tier") or "shared"
