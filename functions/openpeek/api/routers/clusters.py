"""Clusters API (namespace from X-Namespace): definitions, execute, executions, the map and the groups (seed 004 and
the SDK's clusters / cluster executions APIs). Each route parses its input, calls one service method and presents the
answer (api/presenters.py, the listings' stats from domain/cluster_statistics.py)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

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
from openpeek.api.presenters import cluster_model
from openpeek.domain.cluster_statistics import cluster_stats, execution_stats
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.paging import Window

router = APIRouter(route_class=OrjsonRoute, prefix="/v1/clusters", tags=["Clusters"])
LABEL_QUERY_MAX = 200  # a cluster id or label (labels are at most 200 characters)


def _window(limit: int, page_size: int | None, offset: int, page: int | None, body: ListRequest | None) -> Window:
    """Body values win over query parameters (the SDK's merge rule)."""
    size = (body.limit or body.page_size if body else None) or page_size or limit
    if body and body.offset is not None:
        return Window.of(size, offset=body.offset)
    page = (body.page if body and body.page else None) or page
    return Window.of(size, offset=None if page else offset, page=page)


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
    window = _window(limit, page_size, offset, page, body)
    return {"results": [cluster_model(c) for c in window.of_list(found)], "pagination": window.pagination(len(found)),
            "total_count": len(found), "stats": cluster_stats(found)}


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
    window = _window(limit, page_size, offset, page, None)
    return {"results": window.of_list(runs), "pagination": window.pagination(len(runs)), "total_count": len(runs),
            "stats": execution_stats(runs)}


@router.get("/{cluster_id}/executions/{run_id}")
def get_execution(request: Request, cluster_id: str, run_id: str, include_vectors: bool = Query(False),
                  namespace: Namespace = Depends(current_namespace)) -> dict:
    return services(request).cluster_results.execution(namespace, cluster_id, run_id, include_vectors=include_vectors)


@router.get("/{cluster_id}/executions/{run_id}/export")
def export_execution(request: Request, cluster_id: str, run_id: str,
                     format: str = Query("parquet", pattern="^(parquet|csv)$"),
                     cluster_label: Optional[str] = Query(None, min_length=1, max_length=LABEL_QUERY_MAX),
                     namespace: Namespace = Depends(current_namespace)) -> Any:
    """One run's rows behind its map. parquet: a short-lived download URL of the run's cluster_documents.parquet
    (members and centroids, centroid vectors included). csv: the rows streamed with the current labels, no vectors,
    at most 100,000 (413 beyond: ask for parquet or one cluster), `cluster_label` keeping one cluster."""
    results = services(request).cluster_results
    if format == "parquet":
        if cluster_label is not None:
            raise BadRequest("cluster_label applies to format=csv; the parquet file is the whole run",
                             code="invalid_export_option")
        return results.export_parquet(namespace, cluster_id, run_id, base_url=str(request.base_url))
    export = results.export_csv(namespace, cluster_id, run_id, cluster_label=cluster_label)
    return StreamingResponse(export.chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{export.filename}"',
                                      "X-Export-Rows": str(export.rows)})


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
    return services(request).cluster_results.cancel(namespace, cluster_id, run_id)


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
