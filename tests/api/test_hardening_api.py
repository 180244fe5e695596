"""Hostile input meets a 4xx that names the problem and changes nothing: bodies nested or sized past the limits,
payloads the vector store could not decode, regular expressions that would backtrack, field paths the store
rejects, mistyped manifests and sorts, and 422s that would echo megabytes back."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.api.limits import MAX_JSON_DEPTH, RequestLimits, nesting_exceeds
from openpeek.domain.documents import MAX_PAYLOAD_DEPTH
from openpeek.domain.tasks import Task
from openpeek.repositories.tasks import TaskRepository
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.api.test_namespaces_api import assert_error
from tests.conftest import make_tenant


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


# Every test here is refused before it changes anything, so one runtime, namespace and retriever serve them all.
@pytest.fixture(scope="module")
def services(tmp_path_factory):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("hardening") / "data"))
    yield built
    built.close()


@pytest.fixture(scope="module")
def tenant(services):
    return make_tenant(services, "acme")


@pytest.fixture(scope="module")
def client(services):
    return TestClient(create_app(services), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def ns(client, tenant):
    response = client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 3}]})
    assert response.status_code == 200, response.text
    upsert = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "a", "vectors": {"emb": [1, 0, 0]}, "payload": {"title": "a" * 30 + "b"}},
        {"document_id": "b", "vectors": {"emb": [0, 1, 0]}, "payload": {"title": "item 12"}}]})
    assert upsert.status_code == 200, upsert.text
    return {**tenant.headers, "X-Namespace": "shop"}


@pytest.fixture(scope="module")
def retriever_id(client, ns):
    response = client.post("/v1/retrievers", headers=ns, json={
        "retriever_name": "nearest", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search",
                    "parameters": {"searches": [{"feature_uri": "emb", "query": {
                        "input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 5}]}}}]})
    assert response.status_code == 200, response.text
    return response.json()["retriever_id"]


def execute(client, headers, retriever_id, filters):
    return client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers,
                       json={"inputs": {"v": [1, 0, 0]}, "filters": filters})


def found(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(document["document_id"] for document in response.json()["documents"])


# -- payloads the vector store could not decode ------------------------------------------------------------------------


def test_a_payload_nested_past_the_limit_is_refused_naming_its_path_and_the_namespace_keeps_working(
        client, ns, retriever_id, tenant):
    response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "deep", "vectors": {"emb": [0, 0, 1]}, "payload": {"spec": nested(MAX_PAYLOAD_DEPTH + 4)}}]})
    body = assert_error(response, 400, "invalid_document")
    assert body["error"]["details"]["path"].startswith("payload.spec.a.a")
    assert body["error"]["details"]["max_depth"] == MAX_PAYLOAD_DEPTH
    assert client.get("/v1/namespaces/shop/documents/deep", headers=tenant.headers).status_code == 404
    assert found(execute(client, ns, retriever_id, None)) == ["a", "b"]


def test_a_body_nested_127_levels_is_refused_at_the_door_and_nothing_is_written(client, ns, retriever_id, tenant):
    response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "poison", "vectors": {"emb": [0, 0, 1]}, "payload": {"spec": nested(130)}}]})
    body = assert_error(response, 400, "request_too_deep")
    assert body["error"]["details"] == {"max_depth": MAX_JSON_DEPTH}
    assert client.get("/v1/namespaces/shop/documents/poison", headers=tenant.headers).status_code == 404
    assert found(execute(client, ns, retriever_id, None)) == ["a", "b"]


def test_vectors_beyond_float32_are_refused_like_nan(client, ns, tenant):
    for vector in ([1e308, 0, 0], [-3.5e38, 1, 0]):
        response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
            {"document_id": "huge", "vectors": {"emb": vector}}]})
        assert "float32" in assert_error(response, 400, "invalid_document")["error"]["message"]


def test_metadata_and_lineage_count_towards_the_payload_limits(client, ns, tenant):
    response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": "m", "vectors": {"emb": [0, 0, 1]}, "metadata": {"x": "y" * 1_100_000}}]})
    assert assert_error(response, 400, "invalid_document")["error"]["details"]["max_bytes"] == 1_048_576


# -- regular expressions -----------------------------------------------------------------------------------------------


def test_regex_filters_match_with_a_linear_time_engine(client, ns, retriever_id):
    hostile = {"AND": [{"field": "title", "operator": "regex", "value": "^(a+)+$"}]}
    assert found(execute(client, ns, retriever_id, hostile)) == []
    plain = {"AND": [{"field": "title", "operator": "regex", "value": "^item [0-9]+$"}]}
    assert found(execute(client, ns, retriever_id, plain)) == ["b"]


def test_patterns_only_a_backtracking_engine_runs_are_refused(client, ns, retriever_id):
    for pattern in ("(a)\\1", "(?=a)a", "(?<!x)a"):
        response = execute(client, ns, retriever_id, {"AND": [{"field": "title", "operator": "regex",
                                                                "value": pattern}]})
        assert "regular expression" in assert_error(response, 400, "invalid_filter")["error"]["message"]


# -- field paths the store rejects -------------------------------------------------------------------------------------


def test_a_filter_key_that_is_not_a_field_path_is_a_400(client, ns, retriever_id):
    for key in ("[", "*", "a..b", "a b", "metadata.", "$x"):
        qdrant = execute(client, ns, retriever_id, {"must": [{"key": key, "match": {"value": "x"}}]})
        assert_error(qdrant, 400, "invalid_filter")
        logical = execute(client, ns, retriever_id, {"AND": [{"field": key, "operator": "eq", "value": "x"}]})
        assert_error(logical, 400, "invalid_filter")


def test_field_paths_with_arrays_and_metadata_still_filter(client, ns, retriever_id):
    assert found(execute(client, ns, retriever_id, {"must": [{"key": "title", "match": {"value": "item 12"}}]})) \
        == ["b"]
    assert found(execute(client, ns, retriever_id, {"must": [{"key": "tags[]", "match": {"value": "x"}}]})) == []


def test_a_payload_index_on_something_that_is_not_a_field_path_is_a_400_and_changes_nothing(client, ns, tenant):
    for field_name in ("*", "[", "a b", "a..b"):
        response = client.patch("/v1/namespaces/shop", headers=tenant.headers, json={"payload_indexes": [
            {"field_name": field_name, "type": "keyword"}]})
        assert_error(response, 400, "invalid_field_name")
        indexes = client.get("/v1/namespaces/shop", headers=tenant.headers).json().get("payload_indexes") or []
        assert field_name not in [index["field_name"] for index in indexes]


# -- deep bodies and free-form fields ----------------------------------------------------------------------------------


def test_bodies_nested_hundreds_deep_are_a_400_on_every_route(client, ns):
    for path, method in [("/v1/namespaces", "post"), ("/v1/clusters", "post"), ("/v1/webhooks/list", "post"),
                         ("/v1/manifest/validate", "post"), ("/v1/namespaces/shop", "patch")]:
        response = getattr(client, method)(path, headers={**ns, "Content-Type": "application/json"},
                                           content=b"[" * 600 + b"]" * 600)
        assert_error(response, 400, "request_too_deep")
        keeps_keys = getattr(client, method)(path, headers=ns, json={"description": nested(500)})
        assert_error(keeps_keys, 400, "request_too_deep")


def test_deep_execute_filters_are_refused_before_any_template_is_substituted(client, ns, retriever_id):
    deep = {"AND": [{"field": "title", "operator": "eq", "value": "{{INPUT.v}}"}]}
    for _ in range(40):
        deep = {"AND": [deep]}
    assert_error(execute(client, ns, retriever_id, deep), 400)


def test_a_deep_cluster_metadata_is_refused_and_lists_keep_working(client, ns):
    response = client.post("/v1/clusters", headers=ns, json={
        "cluster_name": "c", "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans"},
        "metadata": nested(300)})
    assert_error(response, 400, "request_too_deep")
    assert client.post("/v1/clusters/list", headers=ns, json={}).json()["results"] == []
    assert client.get("/v1/manifest/export", headers=ns, params={"format": "yaml"}).status_code == 200


def test_a_cluster_sort_with_a_mistyped_direction_is_a_4xx(client, ns):
    for direction in (5, None, ["asc"], "sideways"):
        response = client.post("/v1/clusters/list", headers=ns, json={"sort": {"field": "created_at",
                                                                               "direction": direction}})
        assert response.status_code == 422, response.text
    assert client.post("/v1/clusters/list", headers=ns, json={"sort": {"field": "created_at",
                                                                       "direction": "desc"}}).status_code == 200


MISTYPED_MANIFESTS = [
    {"retrievers": [{"retriever_name": "r", "stages": "search"}]},
    {"retrievers": [{"retriever_name": None, "stages": [{"stage_name": "s", "config": {}}]}]},
    {"retrievers": [{"retriever_name": "r", "input_schema": "v", "stages": [{"stage_name": "s", "config": {}}]}]},
    {"clusters": [{"cluster_name": "c", "vector_config": {"feature_uris": [{"a": 1}]}}]},
    {"namespace": {"payload_indexes": [{"field_name": "brand", "type": "💥"}]}},
    {"namespace": {"payload_indexes": "brand"}},
    {"clusters": [17]},
]


def test_a_mistyped_manifest_is_a_400_naming_the_place(client, ns):
    for manifest in MISTYPED_MANIFESTS:
        for route in ("validate", "diff", "apply"):
            response = client.post(f"/v1/manifest/{route}", headers=ns, json={"version": 1, **manifest})
            body = assert_error(response, 400, "invalid_manifest")
            assert body["error"]["details"]["errors"]
    assert client.post("/v1/clusters/list", headers=ns, json={}).json()["results"] == []


def test_a_manifest_nested_deep_in_yaml_block_style_is_a_400(client, ns):
    text = "version: 1\nnamespace:\n" + "".join("  " * (level + 1) + f"k{level}:\n" for level in range(1200))
    response = client.post("/v1/manifest/validate", headers={**ns, "Content-Type": "application/x-yaml"},
                           content=text.encode())
    assert response.status_code == 400, response.text


# -- sizes -------------------------------------------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_a_413_in_the_envelope(services, tenant):
    small = TestClient(RequestLimits(create_app(services), max_body_bytes=4096), raise_server_exceptions=False)
    response = small.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "x" * 5000})
    body = assert_error(response, 413, "request_too_large")
    assert body["error"]["details"] == {"max_bytes": 4096}
    assert small.post("/v1/namespaces/list", headers=tenant.headers, json={"search": "x" * 200}).status_code == 200


def test_a_422_does_not_echo_a_megabyte_back(client, ns):
    response = client.post("/v1/clusters/list", headers=ns, json={"limit": "x" * 1_000_000,
                                                                  "search": ["y" * 1_000_000]})
    assert response.status_code == 422
    assert len(response.content) < 5_000


def test_depth_is_measured_on_the_raw_text_ignoring_brackets_inside_strings():
    assert not nesting_exceeds(json.dumps({"a": "[" * 5000, "b": ["]" * 10, "\\\"[[["]}).encode(), 8)
    assert nesting_exceeds(json.dumps(nested(9)).encode(), 8)
    assert not nesting_exceeds(json.dumps(nested(8)).encode(), 8)
    assert nesting_exceeds(b"[" * 100, 8)  # malformed, but a parser would recurse 100 deep
    assert not nesting_exceeds(b"]]]]]]]]]]]]]]]]", 8)


# -- tasks -------------------------------------------------------------------------------------------------------------


def test_cancelling_a_running_clone_task_is_a_409_not_a_500(client, services, ns, tenant):
    from datetime import datetime, timezone

    task = Task.new("task_clonerunning", "shop", "api_namespaces_create", datetime.now(timezone.utc), 3600,
                    inputs=[], additional_data={"clone": True})
    services.table.transact_write(TaskRepository(services.table).creation(task, tenant.org_id))
    response = client.delete("/v1/tasks/task_clonerunning", headers=ns)
    assert_error(response, 409, "task_not_cancelable")


def test_an_unexpected_error_is_answered_as_the_envelopes_500_without_breaking_the_connection(services):
    app = create_app(services)

    @app.get("/v1/test-only/boom")
    def boom() -> dict:
        raise RuntimeError("an unforeseen failure")

    # raise_server_exceptions=True: a re-raised exception (which makes the server drop the connection) would surface.
    response = TestClient(app, raise_server_exceptions=True).get("/v1/test-only/boom")
    assert_error(response, 500, "internal_error")
