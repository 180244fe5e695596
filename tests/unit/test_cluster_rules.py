"""Cluster rules without I/O: what a definition may say, how an execution's overrides apply, what the engine gets."""

from __future__ import annotations

import pytest

from openpeek.domain import clusters as rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace, check_vector_configs


def namespace() -> Namespace:
    return Namespace(namespace_id="ns_1", org_id="org_1", namespace_name="maps", created_at="2026-01-01T00:00:00Z",
                     updated_at="2026-01-01T00:00:00Z", version=1, mode="standalone",
                     vector_configs=tuple(check_vector_configs([{"name": "emb", "dimension": 4},
                                                                {"name": "img", "dimension": 2},
                                                                {"name": "kw", "type": "sparse"}])))


def cluster(**config) -> rules.Cluster:
    stored, indexes = rules.check_vector_config(namespace(), {"feature_uris": ["emb"], "clustering_method": "kmeans",
                                                              **config})
    return rules.Cluster(cluster_id="clust_1", namespace_id="ns_1", cluster_name="c", vector_config=stored,
                         feature_indexes=indexes, created_at="t", updated_at="t")


def code_of(call) -> str:
    with pytest.raises(BadRequest) as raised:
        call()
    return raised.value.code


def test_vector_config_resolves_features_and_fills_defaults():
    stored, indexes = rules.check_vector_config(namespace(), {
        "feature_uris": ["emb", "img"], "clustering_method": "hdbscan",
        "hdbscan_parameters": {"min_cluster_size": 8, "metric": None}, "feature_weights": {"img": 0.5}})
    assert indexes == ("emb", "img")
    assert stored["method_params"] == {"min_cluster_size": 8}
    assert stored["vis_n_components"] == 2 and stored["normalize_features"] is True
    assert stored["multi_feature_strategy"] == "concatenate"


@pytest.mark.parametrize(("config", "code"), [
    ({"feature_uris": ["kw"], "clustering_method": "kmeans"}, "sparse_feature"),
    ({"feature_uris": ["emb", "emb"], "clustering_method": "kmeans"}, "duplicate_feature_uri"),
    ({"feature_uris": ["emb"], "clustering_method": "kmeans", "multi_feature_strategy": "independent"},
     "unsupported_multi_feature_strategy"),
    ({"feature_uris": ["emb"], "clustering_method": "kmeans", "feature_weights": {"img": 0.5}},
     "invalid_feature_weights"),
    ({"feature_uris": ["emb"], "clustering_method": "kmeans", "kmeans_parameters": {"n_clusters": 1}},
     "invalid_algorithm_params"),
    ({"feature_uris": ["emb"], "clustering_method": "kmeans", "sample_size": 1_000_001}, "invalid_sample_size"),
])
def test_vector_config_errors_name_the_problem(config, code):
    assert code_of(lambda: rules.check_vector_config(namespace(), config)) == code


def test_overrides_apply_to_one_run_and_modes_default_by_cluster_kind():
    stored = cluster(sample_size=500, vis_n_components=3)
    plan = rules.plan_execution(stored, {}, has_sources=False)
    assert (plan.mode, plan.sample_size, plan.vis_n_components, plan.assignment_threshold) == ("full", 500, 3, 0.5)
    assert rules.plan_execution(stored, {}, has_sources=True).mode == "composite"
    override = rules.plan_execution(stored, {"sample_size": 50, "vis_n_components": 2, "defer_visualization": True,
                                             "filters": {"AND": [{"field": "a", "operator": "eq", "value": 1}]}},
                                    has_sources=False)
    assert (override.sample_size, override.vis_n_components, override.defer_visualization) == (50, 2, True)
    assert override.filters and stored.filters is None
    assert code_of(lambda: rules.plan_execution(stored, {"mode": "assign", "source_execution_ids": ["run_1"]},
                                                has_sources=False)) == "invalid_execution_request"
    assert code_of(lambda: rules.plan_execution(stored, {"assignment_threshold": 1.5},
                                                has_sources=False)) == "invalid_assignment_threshold"


def test_engine_parameters_carry_weights_caps_and_centroids():
    stored = cluster(kmeans_parameters={"n_clusters": 4})
    plan = rules.plan_execution(stored, {"mode": "assign", "assignment_threshold": 0.7}, has_sources=False)
    parameters = rules.engine_parameters(stored, plan, centroids=[{"cluster_id": "cl_0", "centroid_vector": [1, 0]}])
    assert parameters["mode"] == "assign" and parameters["assignment_threshold"] == 0.7
    assert parameters["method_params"] == {"n_clusters": 4}
    assert parameters["centroids"] == [[1, 0]] and parameters["centroid_ids"] == ["cl_0"]
    assert parameters["features"] == [{"column": "feature_0", "weight": 1.0}]
    composite = rules.engine_parameters(cluster(), rules.plan_execution(cluster(), {"mode": "composite"},
                                                                        has_sources=False))
    assert composite["normalize_features"] is False


def test_labeling_text_follows_the_input_mappings_or_the_usual_fields():
    payload = {"title": "Red kettle", "body": {"text": "boils fast"}, "image": "http://x"}
    mapped = {"labeling_inputs": {"input_mappings": [
        {"input_key": "t", "path": "body.text", "source_type": "payload"},
        {"input_key": "image_url", "path": "image", "source_type": "payload"}]}}
    assert rules.labeling_texts(payload, mapped) == "boils fast"
    assert rules.labeling_texts(payload, None) == "Red kettle"
    assert rules.labeling_texts({"n": 1}, None) is None


def test_reconciliation_separates_index_gaps_from_expected_noise():
    gap = rules.Reconciliation(10, 8, 8, expects_noise=False).fields()
    assert gap["index_gap"] == 2 and gap["input_reconciliation_ok"] is False
    noise = rules.Reconciliation(10, 10, 7, expects_noise=True).fields()
    assert noise["pipeline_drop"] == 3 and noise["input_reconciliation_ok"] is True
    drop = rules.Reconciliation(10, 10, 7, expects_noise=False).fields()
    assert drop["input_reconciliation_ok"] is False and drop["input_reconciliation_reasons"]
