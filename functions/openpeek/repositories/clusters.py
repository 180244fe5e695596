"""Clusters and their executions on the Table port, in the partition their namespace owns (`NS#<namespace_id>`):
`CLU#<cluster_id>` holds a definition, `RUN#<cluster_id>#<run_id>` one execution's record. Large artefacts (centroid
vectors, per-document map points) live in the blob store under `namespaces/<ns>/clusters/<cluster>/runs/<run>/`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openpeek.domain.cluster_runs import ClusterRun
from openpeek.domain.clusters import Cluster
from openpeek.domain.records import Delete, Put
from openpeek.ports import Table
from openpeek.repositories.namespaces import owned_partition


def run_prefix(namespace_id: str, cluster_id: str, run_id: str) -> str:
    """Blob key prefix of one run's files."""
    return f"namespaces/{namespace_id}/clusters/{cluster_id}/runs/{run_id}/"


def cluster_prefix(namespace_id: str, cluster_id: str) -> str:
    return f"namespaces/{namespace_id}/clusters/{cluster_id}/"


class ClusterRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # -- definitions -------------------------------------------------------------------------------------------------

    def item(self, cluster: Cluster) -> dict:
        return {"pk": owned_partition(cluster.namespace_id), "sk": f"CLU#{cluster.cluster_id}",
                "version": cluster.version, **cluster.to_record()}

    def get(self, namespace_id: str, cluster_id: str) -> Cluster | None:
        item = self._table.get(owned_partition(namespace_id), f"CLU#{cluster_id}")
        return None if item is None else Cluster.from_record(item, item["version"])

    def list(self, namespace_id: str) -> list[Cluster]:
        return [Cluster.from_record(item, item["version"])
                for item in self._table.query(owned_partition(namespace_id), "CLU#")]

    def create(self, cluster: Cluster) -> None:
        self._table.put(self.item(cluster), if_absent=True)

    def update(self, cluster: Cluster, previous: Cluster) -> Put:
        """The conditional write storing `cluster` over the version read."""
        return Put(self.item(replace(cluster, version=previous.version + 1)), if_version=previous.version)

    def save(self, cluster: Cluster, previous: Cluster) -> Cluster:
        saved = replace(cluster, version=previous.version + 1)
        self._table.put(self.item(saved), if_version=previous.version)
        return saved

    def delete_all(self, cluster: Cluster) -> None:
        """The definition and every execution record of it."""
        partition = owned_partition(cluster.namespace_id)
        keys = [(partition, f"CLU#{cluster.cluster_id}")] + [
            (item["pk"], item["sk"]) for item in self._table.query(partition, f"RUN#{cluster.cluster_id}#")]
        for start in range(0, len(keys), 100):
            self._table.transact_write([Delete(pk, sk) for pk, sk in keys[start:start + 100]])

    # -- executions --------------------------------------------------------------------------------------------------

    def run_item(self, run: ClusterRun) -> dict:
        return {"pk": owned_partition(run.namespace_id), "sk": f"RUN#{run.cluster_id}#{run.run_id}",
                **run.to_record()}

    def get_run(self, namespace_id: str, cluster_id: str, run_id: str) -> ClusterRun | None:
        item = self._table.get(owned_partition(namespace_id), f"RUN#{cluster_id}#{run_id}")
        return None if item is None else ClusterRun.from_record(item)

    def runs_in_namespace(self, namespace_id: str) -> list[ClusterRun]:
        """Every execution of every cluster of the namespace."""
        return [ClusterRun.from_record(item) for item in self._table.query(owned_partition(namespace_id), "RUN#")]

    def run_deletion(self, namespace_id: str, cluster_id: str, run_id: str) -> Delete:
        return Delete(owned_partition(namespace_id), f"RUN#{cluster_id}#{run_id}")

    def runs(self, namespace_id: str, cluster_id: str) -> list[ClusterRun]:
        """Newest first."""
        found = [ClusterRun.from_record(item)
                 for item in self._table.query(owned_partition(namespace_id), f"RUN#{cluster_id}#")]
        return sorted(found, key=lambda run: (run.created_at, run.run_id), reverse=True)

    def create_run(self, run: ClusterRun) -> Put:
        """The write that records a new run; the caller adds it to its own transaction."""
        return Put(self.run_item(run), if_absent=True)

    def save_run(self, namespace_id: str, run: ClusterRun, changes: dict[str, Any]) -> None:
        """Write update_run's Put now (ConditionFailed when another writer changed the run since it was read)."""
        write = self.update_run(namespace_id, run, changes)
        self._table.put(write.item, if_version=write.if_version)

    def update_run(self, namespace_id: str, run: ClusterRun, changes: dict[str, Any]) -> Put:
        """Conditional on the version read, like every other mutable item."""
        return Put(self.run_item(run.with_changes({**changes, "version": run.version + 1})), if_version=run.version)
