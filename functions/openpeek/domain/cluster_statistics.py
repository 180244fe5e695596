"""The `stats` blocks of the cluster listings (the SDK's ListClustersResponse and ListClusterExecutionsResponse),
computed over the whole filtered list, not the page."""

from __future__ import annotations

from typing import Any, Sequence

from openpeek.domain.clusters import Cluster


def cluster_stats(clusters: Sequence[Cluster]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for cluster in clusters:
        by_status[cluster.status or "DRAFT"] = by_status.get(cluster.status or "DRAFT", 0) + 1
    documents = sum(c.num_clusters or 0 for c in clusters)
    return {"total_clusters": len(clusters), "total_documents": documents,
            "avg_documents_per_cluster": documents / len(clusters) if clusters else 0.0,
            "clusters_by_status": by_status}


def execution_stats(executions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for execution in executions:
        by_status[execution["status"]] = by_status.get(execution["status"], 0) + 1
    completed = [execution for execution in executions if execution["status"] == "completed"]
    return {"total_executions": len(executions), "executions_by_status": by_status,
            "total_documents_clustered": sum(execution["num_points"] for execution in completed),
            "avg_num_clusters": (sum(execution["num_clusters"] for execution in completed) / len(completed))
            if completed else 0.0}
