"""Clusters API (namespace from X-Namespace): definitions, execute, executions, the map and the groups (seed 004 and
the SDK's clusters / cluster executions APIs). Thin: validate, call the services, present."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from openpeek.api.auth import current_namespace, services
from openpeek.api.fast_json import OrjsonRoute
from openpeek.api.models.clusters import (
    CreateClusterRequest,
    ExecuteClusterRequest,
    ListExecutionsRequest,
    ListRequest,
    PatchClusterRequest,
    PatchLabelsRequest,
    PatchRunNameRequest,
)
from openpeek.domain.clusters import Cluster
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/clusters", tags=["Clusters"])


def cluster_model(cluster: Cluster) -> dict[str, Any]:
    """ClusterModel (create / get) — also a valid ClusterMetadata for listings."""
    config = cluster.vector_config
    return {
        "cluster_id": cluster.cluster_id, "cluster_name": cluster.cluster_name, "description": cluster.description,
        "metadata": cluster.metadata, "namespace_id": cluster.namespace_id, "cluster_type": "vector",
        "collection_ids": list(cluster.collection_ids) or None, "input_collections": list(cluster.collection_ids),
        "source_cluster_ids": list(cluster.source_cluster_ids) or None, "filters": cluster.filters,
        "vector_config": {key: value for key, value in config.items() if key != "method_params"},
        "feature_uris": config["feature_uris"], "multi_feature_strategy": config.get("multi_feature_strategy"),
        "algorithm": config["clustering_method"], "algorithm_params": config.get("method_params") or None,
        "sample_size": config.get("sample_size"), "vis_n_components": config.get("vis_n_components"),
        "layout_stability": config.get("layout_stability"),
        "llm_labeling": cluster.llm_labeling, "enrich_source_collection": cluster.enrich_source_collection,
        "enrich_source": cluster.enrich_source_collection, "source_enrichment_config": cluster.source_enrichment_config,
        "status": cluster.status, "task_id": cluster.task_id, "last_execution_task_id": cluster.task_id,
        "last_run_id": cluster.last_run_id, "num_clusters": cluster.num_clusters,
        "created_at": cluster.created_at, "updated_at": cluster.updated_at,
    }


def _page(items: list, limit: int, page_size: int | None, offset: int, page: int | None,
          body: ListRequest | None) -> tuple[list, dict[str, Any]]:
    size = (body.limit or body.page_size if body else None) or page_size or limit
    start = body.offset if body and body.offset is not None else (
        ((body.page if body and body.page else page) - 1) * size if (body and body.page) or page else offset)
    window = items[start:start + size]
    return window, {"total": len(items), "page": start // size + 1, "page_size": size,
                    "total_pages": max(1, -(-len(items) // size)), "next_page": None, "previous_page": None,
                    "next_cursor": None}


@router.post("")
def create_cluster(request: Request, body: CreateClusterRequest,
                   namespace: Namespace = Depends(current_namespace)) -> dict:
    return cluster_model(services(request).clusters.create(namespace, body.model_dump(exclude_none=True)))


def _list(request: Request, namespace: Namespace, body: ListRequest | None, limit: int, page_size: int | None,
          offset: int, page: int | None) -> dict:
    sorts = [order.model_dump() for order in body.sorts or []] if body else []
    if body and body.sort:
        sorts.insert(0, body.sort.model_dump())
    found = services(request).clusters.list(namespace, search=body.search if body else None,
                                            filters=body.filters if body else None, sorts=sorts)
    window, pagination = _page(found, limit, page_size, offset, page, body)
    by_status: dict[str, int] = {}
    for cluster in found:
        by_status[cluster.status or "DRAFT"] = by_status.get(cluster.status or "DRAFT", 0) + 1
    documents = sum(c.num_clusters or 0 for c in found)
    return {"results": [cluster_model(c) for c in window], "pagination": pagination, "total_count": len(found),
            "stats": {"total_clusters": len(found), "total_documents": documents,
                      "avg_documents_per_cluster": documents / len(found) if found else 0.0,
                      "clusters_by_status": by_status}}


@router.get("")
def list_clusters(request: Request, limit: int = Query(100, ge=1, le=1000),
                  page_size: Optional[int] = Query(None, ge=1, le=1000), offset: int = Query(0, ge=0, le=10000),
                  page: Optional[int] = Query(None, ge=1), search: Optional[str] = Query(None, max_length=256),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, ListRequest(search=search) if search else None, limit, page_size, offset, page)


@router.post("/list")
def search_clusters(request: Request, body: Optional[ListRequest] = Body(default=None),
                    limit: int = Query(100, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                    offset: int = Query(0, ge=0, le=10000), page: Optional[int] = Query(None, ge=1),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    return _list(request, namespace, body, limit, page_size, offset, page)


@router.get("/{cluster_id}")
def get_cluster(request: Request, cluster_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    return cluster_model(services(request).clusters.get(namespace, cluster_id))


@router.patch("/{cluster_id}")
def patch_cluster(request: Request, cluster_id: str, body: PatchClusterRequest,
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    if body.face_cluster_merge is not None:
        raise BadRequest("face_cluster_merge is not supported by this deployment; omit it",
                         code="unsupported_field", details={"field": "face_cluster_merge"})
    return cluster_model(services(request).clusters.patch(namespace, cluster_id, body.model_dump(exclude_unset=True)))


@router.delete("/{cluster_id}")
def delete_cluster(request: Request, cluster_id: str, namespace: Namespace = Depends(current_namespace)) -> dict:
    deleted = services(request).clusters.delete(namespace, cluster_id)
    return {"success": True, "cluster_id": deleted.cluster_id, "message": "Cluster deleted"}


@router.post("/{cluster_id}/execute")
def execute_cluster(request: Request, cluster_id: str, body: Optional[ExecuteClusterRequest] = Body(default=None),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    overrides = body.model_dump(exclude_none=True) if body else {}
    return services(request).cluster_runs.execute(namespace, cluster_id, overrides).public()


# -- executions ----------------------------------------------------------------------------------------------------


@router.get("/{cluster_id}/executions")
def latest_execution(request: Request, cluster_id: str, include_vectors: bool = Query(False),
                     namespace: Namespace = Depends(current_namespace)) -> Any:
    """The newest execution (a single object, null when the cluster never ran), as the SDK documents."""
    return services(request).cluster_results.latest(namespace, cluster_id, include_vectors=include_vectors)


@router.post("/{cluster_id}/executions/list")
def list_executions(request: Request, cluster_id: str, body: Optional[ListExecutionsRequest] = Body(default=None),
                    limit: int = Query(10, ge=1, le=1000), page_size: Optional[int] = Query(None, ge=1, le=1000),
                    offset: int = Query(0, ge=0), page: Optional[int] = Query(None, ge=1),
                    namespace: Namespace = Depends(current_namespace)) -> dict:
    sort = body.sort.model_dump() if body and body.sort else {}
    runs = services(request).cluster_results.executions(
        namespace, cluster_id, search=body.search if body else None,
        ascending=str(sort.get("direction", "desc")).lower() == "asc")
    window, pagination = _page(runs, limit, page_size, offset, page, None)
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run["status"]] = by_status.get(run["status"], 0) + 1
    completed = [run for run in runs if run["status"] == "completed"]
    return {"results": window, "pagination": pagination, "total_count": len(runs),
            "stats": {"total_executions": len(runs), "executions_by_status": by_status,
                      "total_documents_clustered": sum(run["num_points"] for run in completed),
                      "avg_num_clusters": (sum(run["num_clusters"] for run in completed) / len(completed))
                      if completed else 0.0}}


@router.get("/{cluster_id}/executions/{run_id}")
def get_execution(request: Request, cluster_id: str, run_id: str, include_vectors: bool = Query(False),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).cluster_results.execution(namespace, cluster_id, run_id, include_vectors=include_vectors)


@router.patch("/{cluster_id}/executions/{run_id}/labels")
def patch_execution_labels(request: Request, cluster_id: str, run_id: str, body: PatchLabelsRequest,
                           namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).cluster_results.patch_labels(namespace, cluster_id, run_id, body.labels)


@router.patch("/{cluster_id}/executions/{run_id}/name")
def patch_execution_name(request: Request, cluster_id: str, run_id: str, body: PatchRunNameRequest,
                         namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).cluster_results.rename(namespace, cluster_id, run_id, body.run_name)


@router.post("/{cluster_id}/executions/{run_id}/cancel")
def cancel_execution(request: Request, cluster_id: str, run_id: str,
                     namespace: Namespace = Depends(current_namespace)) -> dict:
    services_ = services(request)
    execution = services_.cluster_results.execution(namespace, cluster_id, run_id)
    task = services_.tasks.get(namespace, services_.cluster_results.task_id_of(namespace, cluster_id, run_id))
    services_.cluster_runs.cancel(namespace, task)
    return {"cluster_id": execution["cluster_id"], "run_id": run_id,
            "status": services_.cluster_results.execution(namespace, cluster_id, run_id)["status"]}


# -- map and groups ------------------------------------------------------------------------------------------------


@router.get("/{cluster_id}/visualization")
def get_visualization(request: Request, cluster_id: str, max_points: Optional[int] = Query(None, ge=1, le=1_000_000),
                      centroids_only: bool = Query(False), compact: bool = Query(False),
                      run_id: Optional[str] = Query(None), namespace: Namespace = Depends(current_namespace)) -> Any:
    body, ready = services(request).cluster_results.visualization(
        namespace, cluster_id, run_id=run_id, max_points=max_points, centroids_only=centroids_only, compact=compact)
    return body if ready else JSONResponse(body, status_code=202)


@router.get("/{cluster_id}/groups")
def get_groups(request: Request, cluster_id: str, run_id: Optional[str] = Query(None),
               namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).cluster_results.groups(namespace, cluster_id, run_id)
