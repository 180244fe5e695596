"""The cluster map's points in the packed binary form (domain.packed_map), beside the JSON of
`GET /v1/clusters/{id}/visualization`: what the studio's WebGL map reads. Thin: validate, call MapPoints, present."""

from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from openpeek.api.auth import current_namespace, services
from openpeek.domain.namespace import Namespace
from openpeek.services.map_points import MAX_PAGE

router = APIRouter(prefix="/v1/clusters", tags=["Clusters"])

PACKED_MAP_TYPE = "application/vnd.openpeek.map"


@router.get("/{cluster_id}/visualization/points", response_class=Response, responses={
    200: {"description": "A page of the map's points, packed (see openpeek.domain.packed_map)",
          "content": {PACKED_MAP_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    202: {"description": "The map of this execution is being computed; poll the task named in the body"}})
def get_packed_points(request: Request, cluster_id: str, run_id: Optional[str] = Query(None, max_length=128),
                      offset: int = Query(0, ge=0), limit: Optional[int] = Query(None, ge=1, le=MAX_PAGE),
                      include: Literal["positions", "document_ids"] = Query("positions"),
                      namespace: Namespace = Depends(current_namespace)) -> Response:
    """Points `offset` to `offset + limit` (at most 200,000 a page) of the named run, or of the newest completed one.
    `include=positions` gives x, y (z) as float32 and the cluster index as int32, with the centroids and labels in
    the header; `include=document_ids` gives the same page's document ids."""
    packed, pending = services(request).map_points.packed(namespace, cluster_id, run_id=run_id, offset=offset,
                                                          limit=limit, include=include)
    if pending is not None:
        return JSONResponse(pending, status_code=202)
    return Response(packed, media_type=PACKED_MAP_TYPE)
