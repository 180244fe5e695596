"""Wire models of the Clusters, Cluster executions and Tasks APIs (the SDK's CreateClusterRequest, PatchClusterRequest,
ExecuteClusterByIdRequest, ListClustersRequest, ListClusterExecutionsRequest, PatchExecutionLabelsRequest,
ListTasksRequest). Shapes only: vector_config and llm_labeling depend on the namespace and live in domain/clusters.py."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from openpeek.api.models.namespaces import Strict


class CreateClusterRequest(Strict):
    collection_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=64)
    source_cluster_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=64)
    cluster_name: Optional[StrictStr] = Field(default=None, max_length=256)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    metadata: Optional[dict[str, Any]] = None
    cluster_type: Optional[Literal["vector", "attribute"]] = None
    vector_config: Optional[dict[str, Any]] = None
    attribute_config: Optional[dict[str, Any]] = None
    filters: Optional[dict[str, Any]] = None
    llm_labeling: Optional[dict[str, Any]] = None
    enrich_source_collection: Optional[StrictBool] = False
    source_enrichment_config: Optional[dict[str, Any]] = None
    auto_execute_on_batch: Optional[StrictBool] = False
    auto_execute_min_documents: Optional[StrictInt] = None
    auto_execute_cooldown_seconds: Optional[StrictInt] = 3600


class PatchClusterRequest(Strict):
    cluster_name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=256)
    description: Optional[StrictStr] = Field(default=None, max_length=4096)
    metadata: Optional[dict[str, Any]] = None
    llm_labeling: Optional[dict[str, Any]] = None
    filters: Optional[dict[str, Any]] = None
    face_cluster_merge: Optional[dict[str, Any]] = None
    sample_size: Optional[StrictInt] = Field(default=None, le=1_000_000)
    algorithm_params: Optional[dict[str, Any]] = None
    source_cluster_ids: Optional[list[StrictStr]] = Field(default=None, min_length=1, max_length=64)
    layout_stability: Optional[StrictStr] = None


class ComputeRequest(Strict):
    """openpeek's extension to ExecuteClusterByIdRequest (the SDK's model does not declare it; send the body as a
    dict): where this execution's engine step runs. `local` is this server's engine worker; `sagemaker` a SageMaker
    Processing job on `instance_type` (default: the server's OPENPEEK_SAGEMAKER_INSTANCE_TYPE)."""

    backend: Literal["local", "sagemaker"]
    instance_type: Optional[StrictStr] = Field(default=None, max_length=64, pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    # The engine's device: auto (the GPU when the machine has one and RAPIDS cuML), cpu, or gpu (else the run fails
    # naming what is missing). Default: auto.
    device: Optional[Literal["auto", "cpu", "gpu"]] = None


class ExecuteClusterRequest(Strict):
    mode: Optional[Literal["full", "assign", "composite"]] = None
    source_execution_ids: Optional[list[StrictStr]] = Field(default=None, max_length=100)
    assignment_threshold: Optional[Union[StrictFloat, StrictInt]] = Field(default=None, ge=0, le=1)
    filters: Optional[dict[str, Any]] = None
    sample_size: Optional[StrictInt] = Field(default=None, le=1_000_000)
    vis_n_components: Optional[Literal[2, 3]] = None
    defer_visualization: Optional[StrictBool] = None
    layout_stability: Optional[Literal["none", "transform", "align"]] = None
    llm_labeling: Optional[dict[str, Any]] = None
    compute: Optional[ComputeRequest] = None  # openpeek extension, see ComputeRequest


class SortOrder(Strict):
    field: StrictStr = Field(min_length=1, max_length=128)
    direction: Literal["asc", "desc", "ASC", "DESC"] = "asc"


class ListRequest(Strict):
    """ListClustersRequest (the paging fields are also query parameters)."""

    limit: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    page_size: Optional[StrictInt] = Field(default=None, ge=1, le=1000)
    offset: Optional[StrictInt] = Field(default=None, ge=0, le=10000)
    page: Optional[StrictInt] = Field(default=None, ge=1)
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortOrder] = None
    sorts: Optional[list[SortOrder]] = Field(default=None, max_length=8)
    search: Optional[StrictStr] = Field(default=None, max_length=256)
    include_total: Optional[StrictBool] = None


class ListExecutionsRequest(Strict):
    filters: Optional[dict[str, Any]] = None
    sort: Optional[SortOrder] = None
    search: Optional[StrictStr] = Field(default=None, max_length=256)


class PatchLabelsRequest(Strict):
    labels: dict[str, StrictStr]


class PatchRunNameRequest(Strict):
    run_name: StrictStr = Field(min_length=1, max_length=120)


class ListTasksRequest(Strict):
    status: Optional[StrictStr] = None
    task_type: Optional[StrictStr] = None
    filters: Optional[dict[str, Any]] = None
    sort: Optional[dict[str, Any]] = None
    search: Optional[StrictStr] = Field(default=None, max_length=256)
