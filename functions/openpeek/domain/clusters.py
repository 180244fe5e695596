"""Clusters: what a cluster definition may say, what one execution may override, and the parameters the engine gets.

Seed 004 and the SDK's CreateClusterRequest / ExecuteClusterByIdRequest are the specification. Everything is checked
here, before anything is stored or started, so a bad request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

from openpeek.domain import filters as filter_rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.domain.retrievers import resolve_feature_uri

METHODS = ("kmeans", "dbscan", "hdbscan", "agglomerative", "spectral", "gaussian_mixture", "mean_shift", "optics",
           "auto")
# Methods whose cost grows with N² or that need neighbourhood queries: the engine clusters at most this many points
# (sampled) and assigns the rest to the nearest centroid.
DENSITY_OR_QUADRATIC = frozenset({"dbscan", "hdbscan", "agglomerative", "spectral", "mean_shift", "optics"})
QUADRATIC_CAP = 50_000
MAX_POINTS = 1_000_000
MODES = ("full", "assign", "composite")
LAYOUT_STABILITY = ("align", "transform", "none")
DEFAULT_LAYOUT_STABILITY = "align"  # the SDK's default when neither the cluster nor the run names one
DEFAULT_COMPUTE_DEVICE = "auto"  # the engine picks the GPU when its machine has one (engine/devices.py)
COMPUTE_DEVICES = ("auto", "cpu", "gpu")
MULTI_FEATURE_STRATEGIES = ("concatenate", "weighted")
DEFAULT_ASSIGNMENT_THRESHOLD = 0.5
NAME_MAX = 256
DESCRIPTION_MAX = 4096


def _bad(message: str, code: str, **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    namespace_id: str
    cluster_name: str
    vector_config: dict[str, Any]
    feature_indexes: tuple[str, ...]  # the namespace's vector index per feature URI, in order
    created_at: str
    updated_at: str
    description: str | None = None
    metadata: dict[str, Any] | None = None
    collection_ids: tuple[str, ...] = ()
    source_cluster_ids: tuple[str, ...] = ()
    filters: dict[str, Any] | None = None
    llm_labeling: dict[str, Any] | None = None
    enrich_source_collection: bool = False
    source_enrichment_config: dict[str, Any] | None = None
    status: str | None = None  # the last execution's task status
    task_id: str | None = None
    last_run_id: str | None = None  # the newest completed run
    num_clusters: int | None = None
    version: int = 1

    @property
    def method(self) -> str:
        return self.vector_config["clustering_method"]

    def to_record(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}
        for name in ("feature_indexes", "collection_ids", "source_cluster_ids"):
            record[name] = list(record[name])
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Cluster":
        known = {f.name for f in fields(cls)} - {"version"}
        values = {key: value for key, value in record.items() if key in known}
        for name in ("feature_indexes", "collection_ids", "source_cluster_ids"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values, version=version)

    def with_changes(self, changes: dict[str, Any]) -> "Cluster":
        return replace(self, **changes)


@dataclass(frozen=True)
class ExecutionPlan:
    """What one execution runs: the cluster's stored settings with this run's overrides applied (not persisted)."""

    mode: str
    filters: dict[str, Any] | None
    sample_size: int | None
    vis_n_components: int
    defer_visualization: bool
    llm_labeling: dict[str, Any] | None
    assignment_threshold: float
    source_execution_ids: tuple[str, ...] = ()
    base_run_id: str | None = None  # assign: the run whose centroids are used
    layout_stability: str = DEFAULT_LAYOUT_STABILITY
    compute_device: str = DEFAULT_COMPUTE_DEVICE  # where the engine runs: auto | cpu | gpu

    def to_record(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record["source_execution_ids"] = list(self.source_execution_ids)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "ExecutionPlan":
        values = {f.name: record.get(f.name) for f in fields(cls)}
        values["source_execution_ids"] = tuple(values["source_execution_ids"] or ())
        values["layout_stability"] = values["layout_stability"] or DEFAULT_LAYOUT_STABILITY  # runs recorded before it
        values["compute_device"] = values["compute_device"] or DEFAULT_COMPUTE_DEVICE  # likewise
        return cls(**values)


# -- create / patch ----------------------------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _bad("cluster_name must be a non-empty string", "invalid_cluster_name")
    if len(name) > NAME_MAX:
        raise _bad(f"cluster_name is at most {NAME_MAX} characters", "invalid_cluster_name")
    return name.strip()


def check_vector_config(namespace: Namespace, config: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The stored vector_config (defaults filled in) and the vector index of each feature, in order."""
    if not config:
        raise _bad("vector_config is required for a vector cluster (feature_uris and clustering_method)",
                   "missing_vector_config")
    config = {key: value for key, value in config.items() if value is not None}
    listed, single = config.get("feature_uris"), config.get("feature_uri")
    if (listed is not None and (not isinstance(listed, list) or not all(isinstance(uri, str) for uri in listed))) \
            or (single is not None and not isinstance(single, str)):
        raise _bad("vector_config.feature_uris is a list of feature URIs (strings), feature_uri one of them",
                   "invalid_feature_uri")
    uris = list(listed or ([single] if single else []))
    if not uris:
        raise _bad("vector_config needs feature_uris (or feature_uri): the vector index(es) to cluster",
                   "missing_feature_uri")
    if len(set(uris)) != len(uris):
        raise _bad("feature_uris must not repeat a feature", "duplicate_feature_uri", feature_uris=uris)
    indexes = tuple(resolve_feature_uri(namespace, uri) for uri in uris)
    specs = {spec.name: spec for spec in namespace.vector_indexes()}
    sparse = [name for name in indexes if specs[name].sparse]
    if sparse:
        raise _bad(f"sparse indexes cannot be clustered: {', '.join(sparse)}", "sparse_feature", indexes=sparse)
    method = config.get("clustering_method")
    if method not in METHODS:
        raise _bad(f"clustering_method must be one of {', '.join(METHODS)}", "invalid_clustering_method",
                   clustering_method=method)
    strategy = config.get("multi_feature_strategy", "concatenate")
    if strategy not in MULTI_FEATURE_STRATEGIES:
        raise _bad(f"multi_feature_strategy must be one of {', '.join(MULTI_FEATURE_STRATEGIES)} here",
                   "unsupported_multi_feature_strategy", multi_feature_strategy=strategy)
    weights = config.get("feature_weights") or {}
    if not isinstance(weights, dict) or any(uri not in uris for uri in weights) or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1 for w in weights.values()):
        raise _bad("feature_weights maps feature_uris of this cluster to weights between 0 and 1",
                   "invalid_feature_weights", feature_weights=weights)
    config["sample_size"] = check_sample_size(config.get("sample_size"))
    config["vis_n_components"] = check_vis_components(config.get("vis_n_components", 2))
    if "layout_stability" in config:
        config["layout_stability"] = check_layout_stability(config["layout_stability"])
    config["feature_uris"] = uris
    config.pop("feature_uri", None)
    config["multi_feature_strategy"] = strategy
    config.setdefault("normalize_features", True)
    config["method_params"] = method_parameters(config)
    return config, indexes


def method_parameters(config: dict[str, Any]) -> dict[str, Any]:
    """The method's parameters from wherever the request put them (the per-method objects or algorithm_params)."""
    merged: dict[str, Any] = {}
    for key in ("kmeans_parameters", "dbscan_parameters", "hdbscan_parameters", "algorithm_params"):
        value = config.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _bad(f"{key} must be an object", "invalid_algorithm_params")
        merged.update({name: item for name, item in value.items() if item is not None})
    n_clusters = merged.get("n_clusters")
    if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 2):
        raise _bad("n_clusters must be an integer of at least 2", "invalid_algorithm_params", n_clusters=n_clusters)
    return merged


def check_layout_stability(value: Any) -> str:
    if value not in LAYOUT_STABILITY:
        raise _bad(f"layout_stability must be one of {', '.join(LAYOUT_STABILITY)}", "invalid_layout_stability",
                   layout_stability=value)
    return value


def check_sample_size(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_POINTS:
        raise _bad(f"sample_size must be an integer from 2 to {MAX_POINTS:,}", "invalid_sample_size",
                   sample_size=value)
    return value


def check_vis_components(value: Any) -> int:
    if value not in (2, 3) or isinstance(value, bool):
        raise _bad("vis_n_components must be 2 or 3", "invalid_vis_n_components", vis_n_components=value)
    return value


def check_filters(spec: Any) -> dict[str, Any] | None:
    """Parsed now so a malformed filter is a 400 at create/execute time, stored as given."""
    filter_rules.parse_filter(spec)
    return spec or None


def check_llm_labeling(config: Any, validate: Any = None) -> dict[str, Any] | None:
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _bad("llm_labeling must be an object", "invalid_llm_labeling")
    config = {key: value for key, value in config.items() if value is not None}
    if validate is not None and config.get("enabled"):
        validate(config)
    return config


# -- execute -----------------------------------------------------------------------------------------------------------


def plan_execution(cluster: Cluster, overrides: dict[str, Any], *, has_sources: bool) -> ExecutionPlan:
    """The run's settings. `mode` defaults to full, or composite on a cluster made from source clusters."""
    mode = overrides.get("mode") or ("composite" if has_sources else "full")
    if mode not in MODES:
        raise _bad(f"mode must be one of {', '.join(MODES)}", "invalid_mode", mode=mode)
    threshold = overrides.get("assignment_threshold")
    if threshold is None:
        threshold = DEFAULT_ASSIGNMENT_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise _bad("assignment_threshold must be a number from 0 to 1", "invalid_assignment_threshold")
    sources = overrides.get("source_execution_ids")
    if sources is not None and mode != "composite":
        raise _bad("source_execution_ids is only used with mode 'composite'", "invalid_execution_request")
    filters = check_filters(overrides["filters"]) if overrides.get("filters") is not None else cluster.filters
    sample_size = check_sample_size(overrides.get("sample_size", cluster.vector_config.get("sample_size")))
    vis = overrides.get("vis_n_components")
    vis = check_vis_components(vis) if vis is not None else cluster.vector_config.get("vis_n_components", 2)
    labeling = overrides.get("llm_labeling") if overrides.get("llm_labeling") is not None else cluster.llm_labeling
    stability = overrides.get("layout_stability")
    stability = (check_layout_stability(stability) if stability is not None
                 else cluster.vector_config.get("layout_stability") or DEFAULT_LAYOUT_STABILITY)
    return ExecutionPlan(
        mode=mode, filters=filters, sample_size=sample_size, vis_n_components=vis,
        defer_visualization=bool(overrides.get("defer_visualization")), llm_labeling=labeling,
        assignment_threshold=float(threshold), source_execution_ids=tuple(sources or ()),
        layout_stability=stability,
        compute_device=check_compute_device((overrides.get("compute") or {}).get("device")),
    )


def check_compute_device(device: Any) -> str:
    if device is None:
        return DEFAULT_COMPUTE_DEVICE
    if device not in COMPUTE_DEVICES:
        raise _bad(f"compute.device must be one of {', '.join(COMPUTE_DEVICES)}", "invalid_compute_device")
    return device


def engine_parameters(cluster: Cluster, plan: ExecutionPlan, *, centroids: list[dict[str, Any]] | None = None,
                      seed: int = 42) -> dict[str, Any]:
    """job.json for the engine (openpeek.engine.processing.run_job)."""
    config = cluster.vector_config
    weights = config.get("feature_weights") or {}
    labeling = plan.llm_labeling or {}
    parameters: dict[str, Any] = {
        "mode": plan.mode,
        "method": cluster.method,
        "method_params": config.get("method_params") or {},
        "features": [{"column": f"feature_{position}", "weight": float(weights.get(uri, 1.0))}
                     for position, uri in enumerate(config["feature_uris"])],
        "normalize_features": bool(config.get("normalize_features", True)),
        "sample_size": plan.sample_size,
        "layout": not plan.defer_visualization,
        "vis_n_components": plan.vis_n_components,
        "assignment_threshold": plan.assignment_threshold,
        "labeling": {"max_samples_per_cluster": labeling.get("max_samples_per_cluster") or 5,
                     "sample_text_max_length": labeling.get("sample_text_max_length") or 200},
        "seed": seed,
        "compute_device": plan.compute_device,
    }
    if plan.mode == "composite":
        # The rows are earlier runs' centroids, already combined, L2-normalized vectors in one column.
        parameters["features"] = [{"column": "feature_0", "weight": 1.0}]
        parameters["normalize_features"] = False
        if cluster.method in DENSITY_OR_QUADRATIC:
            parameters["method"] = "auto"
    if centroids is not None:
        parameters["centroids"] = [c["centroid_vector"] for c in centroids]
        parameters["centroid_ids"] = [c["cluster_id"] for c in centroids]
    return parameters


TEXT_FIELDS = ("text", "title", "description", "content", "name")


def _mapped_paths(labeling: dict[str, Any] | None) -> list[str]:
    mappings = ((labeling or {}).get("labeling_inputs") or {}).get("input_mappings") or []
    return [m.get("path") for m in mappings
            if isinstance(m, dict) and isinstance(m.get("path"), str)
            and (m.get("source_type") in (None, "payload")) and "url" not in str(m.get("input_key", ""))]


def labeling_fields(labeling: dict[str, Any] | None) -> list[str]:
    """The top-level payload keys labeling_texts reads."""
    return sorted({path.split(".")[0] for path in _mapped_paths(labeling)} or set(TEXT_FIELDS))


def labeling_texts(payload: dict[str, Any], labeling: dict[str, Any] | None) -> str | None:
    """The text a document contributes to its cluster's label: the payload paths that labeling_inputs maps, else the
    usual text fields."""
    return labeling_text_reader(labeling)(payload)


def labeling_text_reader(labeling: dict[str, Any] | None) -> Callable[[dict[str, Any]], str | None]:
    """labeling_texts with the mapping read once: an export calls it for every document."""
    mapped = [path.split(".") for path in _mapped_paths(labeling)]

    def read(payload: dict[str, Any]) -> str | None:
        paths = mapped or [[name] for name in TEXT_FIELDS if name in payload]
        parts = []
        for path in paths:
            value = _lookup(payload, path)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                text = str(value).strip()
                if text:
                    parts.append(text)
        return " ".join(parts) or None

    return read


def _lookup(payload: dict[str, Any], path: list[str]) -> Any:
    found: Any = payload
    for part in path:
        if not isinstance(found, dict):
            return None
        found = found.get(part)
    return found


@dataclass
class Reconciliation:
    source_documents: int
    vectors_retrieved: int
    vectors_clustered: int
    expects_noise: bool
    reasons: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        index_gap = self.source_documents - self.vectors_retrieved
        pipeline_drop = self.vectors_retrieved - self.vectors_clustered
        reasons = list(self.reasons)
        if index_gap > 0:
            reasons.append(f"{index_gap} matching document(s) have no vector for the clustered feature(s)")
        if pipeline_drop > 0 and not self.expects_noise:
            reasons.append(f"{pipeline_drop} retrieved vector(s) left the engine without a cluster")
        return {
            "source_documents": self.source_documents, "vectors_retrieved": self.vectors_retrieved,
            "vectors_clustered": self.vectors_clustered, "index_gap": index_gap, "pipeline_drop": pipeline_drop,
            "pipeline_drop_expected_as_noise": self.expects_noise,
            "input_reconciliation_ok": index_gap <= 0 and (pipeline_drop <= 0 or self.expects_noise),
            "input_reconciliation_reasons": reasons,
        }
