"""The stage library over HTTP: discovery, parameter checks at creation, every stage that needs no external service,
execution history with per-stage profiles, batch, explain, ad-hoc execution, clone, typeahead and published."""

from __future__ import annotations

import itertools
import math

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import (
    AdhocExecutionDetail,
    CloneRetrieverResponse,
    ExecuteRetrieverResponse,
    ExecutionDetail,
    ExplainRetrieverResponse,
    ListAdhocExecutionsResponse,
    ListExecutionsResponse,
    RetrieverStageDefinition,
    StageDiscovery,
    TypeaheadResponse,
)

from openpeek.api.app import create_app
from openpeek.domain.failures import DependencyUnavailable
from tests.conftest import make_tenant

# Unit vectors at known angles: d0..d3 near 0-15°, d4..d7 near 90-105°, so two clear groups.
ANGLES = {"d0": 0, "d1": 5, "d2": 10, "d3": 15, "d4": 90, "d5": 95, "d6": 100, "d7": 105}
TEXTS = {"d0": "red apples and green apples", "d1": "apples in the orchard", "d2": "apple pie recipe",
         "d3": "fresh apples harvest", "d4": "electric guitars and amplifiers", "d5": "guitar strings",
         "d6": "bass guitar lessons", "d7": "guitar pedals and amplifiers"}


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


# One namespace for the module (module_services, tests/api/conftest.py: one runtime per module): each test names its
# own retrievers.
@pytest.fixture(scope="module")
def client(module_services) -> TestClient:
    return TestClient(create_app(module_services))


@pytest.fixture(scope="module")
def tenant(module_services):
    return make_tenant(module_services, "acme")


@pytest.fixture(scope="module")
def other_tenant(module_services):
    return make_tenant(module_services, "globex")


@pytest.fixture(scope="module")
def ns(client, tenant):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 3}]})
    documents = [{
        "document_id": doc_id, "vectors": {"emb": vec(angle)},
        "payload": {"category": "fruit" if angle < 45 else "music", "price": index * 10, "content": TEXTS[doc_id],
                    "title": f"Item {doc_id}", "brand": "acme" if index % 2 else "zenith", "product_id": f"p{index % 3}"},
    } for index, (doc_id, angle) in enumerate(ANGLES.items())]
    documents += [{"document_id": f"p{i}", "vectors": {"emb": vec(200 + i)},
                   "payload": {"kind": "product", "label": f"Product {i}", "stock": i * 5}} for i in range(3)]
    response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers,
                           json={"documents": documents})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "shop"}


def search(top_k=8, **more) -> dict:
    return {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
        {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"},
         "top_k": top_k, "filters": {"AND": [{"field": "kind", "operator": "ne", "value": "product"}]}}], **more}}}


def stage(name: str, stage_id: str, **parameters) -> dict:
    return {"stage_name": name, "config": {"stage_id": stage_id, "parameters": parameters}}


SCHEMA = {"query_vector": {"type": "array", "required": True}, "query": {"type": "string"}}


def create(client, headers, stages, name="r", **more):
    return client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": name, "input_schema": SCHEMA, "stages": stages, **more})


_names = itertools.count()


def run(client, headers, stages, inputs=None, **body):
    created = create(client, headers, stages, name=f"run{next(_names)}")
    assert created.status_code == 200, created.text
    response = client.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers,
                           json={"inputs": inputs or {"query_vector": vec(7)}, **body})
    assert response.status_code == 200, response.text
    ExecuteRetrieverResponse.from_dict(response.json())
    return response.json()


def ids(result) -> list[str]:
    return [d["document_id"] for d in result["documents"]]


# -- discovery and checks at creation ----------------------------------------------------------------------------------


def test_discovery_lists_every_stage_with_a_parameter_schema_the_sdk_reads(client, ns):
    response = client.get("/v1/retrievers/stages", headers=ns)
    assert response.status_code == 200, response.text
    stages = {entry["stage_id"]: entry for entry in response.json()}
    for stage_id in ("feature_search", "attribute_filter", "sort", "limit", "sort_relevance", "sort_attribute",
                     "sample", "group_by", "aggregate", "mmr", "json_transform", "document_enrich", "cluster",
                     "rag_prepare", "rerank", "code_execution", "api_call", "web_scrape", "external_web_search",
                     "sql_lookup"):
        assert stage_id in stages, stage_id
        RetrieverStageDefinition.from_dict(stages[stage_id])
        StageDiscovery.from_dict(stages[stage_id])
    assert "lambda" in stages["mmr"]["parameter_schema"]["properties"]
    assert "Not available in this deployment" in stages["rerank"]["description"]
    assert "sandbox" in stages["code_execution"]["description"]


BAD_STAGES = [
    (stage("x", "no_such_stage"), "stage_id"),
    (stage("x", "mmr", top_k="many"), "top_k"),
    (stage("x", "mmr", **{"lambda": 3}), "lambda"),
    (stage("x", "mmr", diversity_feature_uri="nope"), "diversity_feature_uri"),
    (stage("x", "group_by", max_per_group=0), "max_per_group"),
    (stage("x", "aggregate"), "aggregations"),
    (stage("x", "aggregate", aggregations=[{"function": "sum", "alias": "s"}]), "aggregations[0].field"),
    (stage("x", "aggregate", aggregations=[{"function": "median", "alias": "s"}]), "aggregations.0.function"),
    (stage("x", "sample", strategy="stratified"), "stratify_by"),
    (stage("x", "json_transform", template="{{ DOC.x "), "template"),
    (stage("x", "sort_attribute", field="price", colour="red"), "colour"),
    (stage("x", "cluster", algorithm="hdbscan"), "algorithm"),
    (stage("x", "cluster", feature_uri="missing_index"), "feature_uri"),
    (stage("x", "rag_prepare", max_tokens=5), "max_tokens"),
    (stage("x", "document_enrich", retriever_id="ret_x"), "retriever_id"),
]


def test_bad_stage_parameters_are_400_naming_stage_and_field_and_nothing_is_stored(client, ns):
    for bad, field in BAD_STAGES:  # one namespace for all cases: each is refused before anything is written
        response = create(client, ns, [search(), bad], name="bad")
        assert response.status_code == 400, (bad, response.text)
        error = response.json()["error"]
        assert error["details"]["stage"] == "x", bad
        assert error["details"]["field"] == field, (bad, error)
        assert "'x'" in error["message"]
        assert client.get("/v1/retrievers/bad", headers=ns).status_code == 404


def test_stages_needing_a_missing_service_are_refused_at_creation(client, ns):
    for stage_id, parameters in (("rerank", {}), ("code_execution", {"code": "result = docs"})):
        response = create(client, ns, [search(), stage("x", stage_id, **parameters)], name="svc")
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "stage_unavailable"


def test_a_templated_parameter_is_checked_when_it_is_known(client, ns):
    schema = {**SCHEMA, "k": {"type": "integer", "default": 2}, "word": {"type": "string", "default": "x"}}
    created = client.post("/v1/retrievers", headers=ns, json={
        "retriever_name": "tpl", "input_schema": schema,
        "stages": [search(), stage("div", "mmr", top_k="{{INPUT.k}}")]})
    assert created.status_code == 200, created.text
    url = f"/v1/retrievers/{created.json()['retriever_id']}/execute"
    ok = client.post(url, headers=ns, json={"inputs": {"query_vector": vec(7), "k": 3}})
    assert ok.status_code == 200 and len(ok.json()["documents"]) == 3
    bad = client.post(url, headers=ns, json={"inputs": {"query_vector": vec(7), "k": 0}})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "top_k"


def test_patching_in_a_bad_stage_is_400_and_keeps_the_old_stages(client, ns):
    created = create(client, ns, [search()], name="keep").json()
    response = client.patch(f"/v1/retrievers/{created['retriever_id']}", headers=ns,
                            json={"stages": [search(), stage("s", "sample", count=0)]})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"stage": "s", "stage_id": "sample", "field": "count"}
    assert len(client.get(f"/v1/retrievers/{created['retriever_id']}", headers=ns).json()["stages"]) == 1


# -- the stages ------------------------------------------------------------------------------------------------------


def test_sort_relevance_and_sort_attribute(client, ns):
    by_price = run(client, ns, [search(), stage("p", "sort_attribute", field="price", direction="asc")])
    assert [d["price"] for d in by_price["documents"]] == sorted(d["price"] for d in by_price["documents"])
    back = run(client, ns, [search(), stage("p", "sort_attribute", field="price", direction="asc"),
                            stage("r", "sort_relevance")])
    scores = [d["score"] for d in back["documents"]]
    assert scores == sorted(scores, reverse=True)
    assert ids(back)[:2] == ["d1", "d2"]  # 7° lies between 5° and 10°


def test_sample_is_repeatable_with_a_seed_and_stratifies(client, ns):
    one = run(client, ns, [search(), stage("s", "sample", count=3, seed=11)])
    two = run(client, ns, [search(), stage("s", "sample", count=3, seed=11)])
    assert ids(one) == ids(two) and len(ids(one)) == 3
    strata = run(client, ns, [search(), stage("s", "sample", count=2, strategy="stratified",
                                              stratify_by="category", seed=3)])
    assert sorted(d["category"] for d in strata["documents"]) == ["fruit", "music"]
    top = run(client, ns, [search(), stage("s", "sample", count=3, preserve_top_k=1, seed=5)])
    assert ids(top)[0] == "d1"


def test_group_by_keeps_the_best_per_group(client, ns):
    first = run(client, ns, [search(), stage("g", "group_by", group_by_field="category", max_per_group=1,
                                             output_mode="first")])
    assert ids(first) == ["d1", "d7"] or ids(first)[0] == "d1"
    assert sorted(d["category"] for d in first["documents"]) == ["fruit", "music"]
    grouped = run(client, ns, [search(), stage("g", "group_by", group_by_field="category", max_per_group=2)])
    groups = {d["group_key"]: d for d in grouped["documents"]}
    assert set(groups) == {"fruit", "music"}
    assert [m["document_id"] for m in groups["fruit"]["documents"]] == ["d1", "d2"]
    assert groups["fruit"]["count"] == 2


def test_aggregate_per_group_and_globally(client, ns):
    result = run(client, ns, [search(), stage("a", "aggregate", group_by=[{"field": "category"}], aggregations=[
        {"function": "count", "alias": "n"}, {"function": "avg", "field": "price", "alias": "mean_price"},
        {"function": "frequency", "field": "brand", "alias": "brands", "top_k": 1}], sort_by="mean_price",
        sort_order="desc")])
    rows = [d["aggregation"] for d in result["documents"]]
    assert rows[0] == {"category": "music", "n": 4, "mean_price": 55.0, "brands": [{"value": "zenith", "count": 2}]}
    assert rows[1]["category"] == "fruit" and rows[1]["mean_price"] == 15.0
    total = run(client, ns, [search(), stage("a", "aggregate", aggregations=[
        {"function": "sum", "field": "price", "alias": "s"}, {"function": "percentile", "field": "price",
                                                                "alias": "p50", "percentile_value": 50}])])
    assert total["documents"][0]["aggregation"] == {"s": 280.0, "p50": 35.0}


def test_mmr_prefers_diverse_documents_on_vectors_and_fields(client, ns):
    relevance_only = run(client, ns, [search(), stage("m", "mmr", top_k=2, **{"lambda": 1.0})])
    assert ids(relevance_only) == ["d1", "d2"]
    diverse = run(client, ns, [search(), stage("m", "mmr", top_k=2, **{"lambda": 0.3})])
    assert ids(diverse)[0] == "d1" and ids(diverse)[1] in {"d4", "d5", "d6", "d7"}
    assert "mmr" in diverse["documents"][0]["scores"]
    assert "vectors" not in diverse["documents"][0]  # fetched for mmr, not returned unasked
    by_field = run(client, ns, [search(), stage("m", "mmr", top_k=2, diversity_fields=["category"],
                                                **{"lambda": 0.5})])
    assert sorted(d["category"] for d in by_field["documents"]) == ["fruit", "music"]


def test_json_transform_reshapes_documents_in_a_sandbox(client, ns):
    result = run(client, ns, [search(top_k=2), stage("j", "json_transform", template=(
        '{"name": {{ DOC.title | tojson }}, "cents": {{ DOC.price * 100 }}, "q": {{ INPUT.query | tojson }}}'))],
        inputs={"query_vector": vec(7), "query": "apples"})
    assert result["documents"][0]["name"] == "Item d1" and result["documents"][0]["cents"] == 1000
    assert result["documents"][0]["q"] == "apples"
    escaped = run(client, ns, [search(top_k=2), stage("j", "json_transform",
                                                      template='{"x": "{{ DOC.__class__.__mro__ }}"}')])
    assert all("object" not in d["x"] for d in escaped["documents"])
    dropped = run(client, ns, [search(top_k=2), stage("j", "json_transform", template="not json")])
    assert dropped["documents"] == [] and dropped["warnings"]


def test_document_enrich_joins_other_documents(client, ns):
    result = run(client, ns, [search(top_k=3), stage("e", "document_enrich", source_field="product_id",
                                                     target_field="document_id", output_field="product",
                                                     fields_to_merge=["label", "stock"])])
    by_id = {d["document_id"]: d for d in result["documents"]}
    assert by_id["d1"]["product"] == {"label": "Product 1", "stock": 5}
    assert by_id["d2"]["product"] == {"label": "Product 2", "stock": 10}
    missing = run(client, ns, [search(top_k=3), stage("e", "document_enrich", source_field="brand",
                                                      allow_missing=False)])
    assert missing["documents"] == []


def test_cluster_finds_the_two_groups_and_labels_them(client, ns):
    result = run(client, ns, [search(), stage("c", "cluster", n_clusters=2, include_centroids=False)])
    clusters = result["documents"]
    assert len(clusters) == 2
    members = [sorted(m["document_id"] for m in c["members"]) for c in clusters]
    assert sorted(members) == [["d0", "d1", "d2", "d3"], ["d4", "d5", "d6", "d7"]]
    labels = " ".join((c["label"] or "") for c in clusters).lower()
    assert "apple" in labels and "guitar" in labels
    labeled = run(client, ns, [search(), stage("c", "cluster", n_clusters=2, output_mode="labeled")])
    assert len({d["cluster_id"] for d in labeled["documents"]}) == 2


def test_rag_prepare_fits_a_budget_and_cites(client, ns):
    result = run(client, ns, [search(top_k=3), stage("rag", "rag_prepare", max_tokens=100,
                                                     document_template="[{{CONTEXT.INDEX}}] {{DOC.content}}\n")])
    context = result["documents"][0]
    assert context["rag_context"].startswith("[1] apples in the orchard\n[2] apple pie recipe")
    assert [c["document_id"] for c in context["citations"]] == ["d1", "d2", "d0"]
    tight = run(client, ns, [search(top_k=8), stage("rag", "rag_prepare", max_tokens=100, truncation_strategy=
                                                    "drop_last", document_template="{{DOC.content}} " * 8)])
    assert tight["documents"][0]["document_count"] < 8


# -- execution history, batch, explain, ad-hoc, clone -----------------------------------------------------------------


SIX_STAGES = [search(), stage("cheap", "attribute_filter", filters={"AND": [{"field": "price", "operator": "lte",
                                                                            "value": 60}]}),
              stage("diverse", "mmr", top_k=5, **{"lambda": 0.8}), stage("newest", "sort_attribute", field="price"),
              stage("by_score", "sort_relevance"), stage("keep", "limit", limit=3)]


def test_executions_are_recorded_with_a_per_stage_profile(client, ns):
    created = create(client, ns, SIX_STAGES, name="six").json()
    rid = created["retriever_id"]
    executed = client.post(f"/v1/retrievers/{rid}/execute", headers=ns, json={"inputs": {"query_vector": vec(7)}})
    assert executed.status_code == 200
    execution_id = executed.json()["execution_id"]
    listing = client.post(f"/v1/retrievers/{rid}/executions/list", headers=ns, json={})
    assert listing.status_code == 200, listing.text
    parsed = ListExecutionsResponse.from_dict(listing.json())
    assert [r.execution_id for r in parsed.results] == [execution_id]
    assert parsed.results[0].total_returned == 3
    detail = client.get(f"/v1/retrievers/{rid}/executions/{execution_id}", headers=ns)
    ExecutionDetail.from_dict(detail.json())
    assert detail.json()["stage_statistics"]["stages"]["diverse"]["output_count"] == 5
    profile = client.get(f"/v1/retrievers/{rid}/executions/{execution_id}/profile", headers=ns).json()
    assert [s["stage_name"] for s in profile["stages"]] == ["search", "cheap", "diverse", "newest", "by_score", "keep"]
    assert [s["output_count"] for s in profile["stages"]] == [8, 7, 5, 5, 5, 3]
    assert all(s["duration_ms"] >= 0 for s in profile["stages"])
    status = client.get(f"/v1/retrievers/{rid}/executions/{execution_id}/status", headers=ns).json()
    assert status["status"] == "completed" and status["stages_completed"] == 6
    assert client.get(f"/v1/retrievers/{rid}/executions/exec_nope", headers=ns).status_code == 404
    second = client.post(f"/v1/retrievers/{rid}/execute", headers=ns, json={"inputs": {"query_vector": vec(95)}})
    by_age = client.post(f"/v1/retrievers/{rid}/executions/list", headers=ns,
                         json={"sorts": [{"field": "created_at", "direction": "asc"}]}).json()["results"]
    assert [r["execution_id"] for r in by_age] == [execution_id, second.json()["execution_id"]]
    completed = client.post(f"/v1/retrievers/{rid}/executions/list", headers=ns, json={"status": "failed"}).json()
    assert completed["results"] == [] and completed["pagination"]["total"] == 0


def test_executions_are_404_to_another_organisation(client, ns, other_tenant):
    created = create(client, ns, [search()], name="mine").json()
    execution = client.post(f"/v1/retrievers/{created['retriever_id']}/execute", headers=ns,
                            json={"inputs": {"query_vector": vec(7)}}).json()
    foreign = {**other_tenant.headers, "X-Namespace": "shop"}
    response = client.get(f"/v1/retrievers/{created['retriever_id']}/executions/{execution['execution_id']}",
                          headers=foreign)
    assert response.status_code == 404


def test_batch_execute_answers_every_query_and_fails_one_bad_input_alone(client, ns):
    created = create(client, ns, SIX_STAGES, name="batch").json()
    rid = created["retriever_id"]
    single = [client.post(f"/v1/retrievers/{rid}/execute", headers=ns,
                          json={"inputs": {"query_vector": vec(angle)}}).json() for angle in (7, 97)]
    response = client.post(f"/v1/retrievers/{rid}/execute/batch", headers=ns, json={"queries": [
        {"inputs": {"query_vector": vec(7)}}, {"inputs": {"query_vector": "not a vector"}},
        {"inputs": {"query_vector": vec(97)}}]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["completed", "failed", "completed"]
    assert ids(results[0]) == ids(single[0]) and ids(results[2]) == ids(single[1])
    assert results[1]["error"]["message"]
    too_many = client.post(f"/v1/retrievers/{rid}/execute/batch", headers=ns,
                           json={"queries": [{"inputs": {"query_vector": vec(1)}}] * 17})
    assert too_many.status_code == 422


def test_a_batch_keeps_each_completed_query_in_the_history_with_its_profile(client, ns):
    rid = create(client, ns, SIX_STAGES, name="batch-history").json()["retriever_id"]
    response = client.post(f"/v1/retrievers/{rid}/execute/batch", headers=ns, json={"queries": [
        {"inputs": {"query_vector": vec(7)}}, {"inputs": {"query_vector": "not a vector"}},
        {"inputs": {"query_vector": vec(97)}}]})
    completed = [r["execution_id"] for r in response.json()["results"] if r["status"] == "completed"]
    listing = client.post(f"/v1/retrievers/{rid}/executions/list", headers=ns, json={}).json()
    assert sorted(r["execution_id"] for r in listing["results"]) == sorted(completed) and len(completed) == 2
    for execution_id in completed:
        profile = client.get(f"/v1/retrievers/{rid}/executions/{execution_id}/profile", headers=ns).json()
        assert [s["stage_name"] for s in profile["stages"]] == ["search", "cheap", "diverse", "newest", "by_score",
                                                                 "keep"]


def test_explain_uses_the_figures_of_recent_runs(client, ns):
    created = create(client, ns, SIX_STAGES, name="explain").json()
    rid = created["retriever_id"]
    before = client.post(f"/v1/retrievers/{rid}/execute/explain", headers=ns, json={}).json()
    ExplainRetrieverResponse.from_dict(before)
    assert before["execution_plan"][0]["estimated_output"] == 8
    client.post(f"/v1/retrievers/{rid}/execute", headers=ns, json={"inputs": {"query_vector": vec(7)}})
    after = client.post(f"/v1/retrievers/{rid}/execute/explain", headers=ns, json={}).json()
    assert [step["estimated_output"] for step in after["execution_plan"]] == [8, 7, 5, 5, 5, 3]
    assert after["total_estimated_stages"] == 6


def test_ad_hoc_execution_equals_the_stored_retriever_and_is_kept_in_its_history(client, ns):
    created = create(client, ns, SIX_STAGES, name="stored").json()
    stored = client.post(f"/v1/retrievers/{created['retriever_id']}/execute", headers=ns,
                         json={"inputs": {"query_vector": vec(7)}}).json()
    ad_hoc = client.post("/v1/retrievers/execute", headers=ns, json={
        "stages": SIX_STAGES, "input_schema": SCHEMA, "inputs": {"query_vector": vec(7)}})
    assert ad_hoc.status_code == 200, ad_hoc.text
    assert ids(ad_hoc.json()) == ids(stored)
    assert [d["score"] for d in ad_hoc.json()["documents"]] == [d["score"] for d in stored["documents"]]
    listing = client.post("/v1/retrievers/executions/list", headers=ns, json={})
    parsed = ListAdhocExecutionsResponse.from_dict(listing.json())
    assert [r.execution_id for r in parsed.results] == [ad_hoc.json()["execution_id"]]
    detail = client.get(f"/v1/retrievers/executions/{ad_hoc.json()['execution_id']}", headers=ns)
    AdhocExecutionDetail.from_dict(detail.json())
    bad = client.post("/v1/retrievers/execute", headers=ns, json={"stages": [stage("x", "sample", count=-1)]})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "count"


def test_clone_copies_stage_configs_unchanged(client, ns):
    created = create(client, ns, SIX_STAGES, name="source").json()
    response = client.post(f"/v1/retrievers/{created['retriever_id']}/clone", headers=ns,
                           json={"retriever_name": "copy"})
    assert response.status_code == 200, response.text
    cloned = CloneRetrieverResponse.from_dict(response.json())
    assert cloned.source_retriever_id == created["retriever_id"]
    copy = client.get("/v1/retrievers/copy", headers=ns).json()
    assert copy["stages"] == created["stages"] and copy["retriever_id"] != created["retriever_id"]
    assert client.post(f"/v1/retrievers/{created['retriever_id']}/clone", headers=ns,
                       json={"retriever_name": "copy"}).status_code == 409


def test_typeahead_and_published_are_not_taken_for_retriever_ids(client, ns):
    create(client, ns, [search()], name="public-one", visibility="PUBLIC")
    create(client, ns, [search()], name="private-one")
    published = client.get("/v1/retrievers/published", headers=ns)
    assert published.status_code == 200
    assert [r["retriever_name"] for r in published.json()["results"]] == ["public-one"]
    run(client, ns, [search()], inputs={"query_vector": vec(7), "query": "guitar pedals"})
    response = client.get("/v1/retrievers/typeahead", headers=ns, params={"q": "Gu", "fields": "content"})
    assert response.status_code == 200, response.text
    parsed = TypeaheadResponse.from_dict(response.json())
    assert "guitar pedals" in parsed.recent_searches
    values = client.get("/v1/retrievers/typeahead", headers=ns, params={"q": "guitar", "fields": "content"}).json()
    assert {v["value"] for v in values["values"]} == {"guitar strings", "guitar pedals and amplifiers"}


def test_manifest_export_carries_new_stage_configs_unchanged(client, ns):
    stages = [search(), stage("diverse", "mmr", top_k=4, **{"lambda": 0.5}),
              stage("per_kind", "group_by", group_by_field="category", max_per_group=2)]
    created = create(client, ns, stages, name="exported").json()
    response = client.get("/v1/manifest/export", headers=ns)
    assert response.status_code == 200, response.text
    exported = next(r for r in response.json()["retrievers"] if r["retriever_name"] == "exported")
    assert [s["config"] for s in exported["stages"]] == [s["config"] for s in created["stages"]]
    assert [s["config"] for s in exported["stages"]][1]["parameters"] == {"top_k": 4, "lambda": 0.5}


def test_documents_come_back_whole_when_the_search_fetched_only_the_fields_stages_read(
        client, ns, module_services, monkeypatch):
    """feature_search → attribute_filter → mmr → limit: the search asks the store for the one field the later stages
    read (price) for its candidates, and the documents returned carry every stored field, as a get shows them, with
    the mmr score on top. A later stage that reads whole documents (json_transform) gets whole payloads."""
    asked = []
    store_query = module_services.vectors.query

    def recording(collection, requests):
        asked.extend(requests)
        return store_query(collection, requests)

    monkeypatch.setattr(module_services.vectors, "query", recording)
    result = run(client, ns, [search(), stage("cheap", "attribute_filter", filters={
        "AND": [{"field": "price", "operator": "lt", "value": 60}]}), stage("m", "mmr", top_k=3, **{"lambda": 0.5}),
        stage("top", "limit", limit=2)])

    assert [request.payload_fields for request in asked] == [("price",)]
    assert len(result["documents"]) == 2
    for document in result["documents"]:
        stored = client.get(f"/v1/documents/{document['document_id']}", headers=ns)
        assert stored.status_code == 200, stored.text
        for field in ("title", "content", "category", "brand", "product_id", "price"):
            assert document[field] == stored.json()[field]
        assert document["price"] < 60 and isinstance(document["scores"]["mmr"], float)

    asked.clear()
    reshaped = run(client, ns, [search(top_k=2),
                                stage("j", "json_transform", template='{"t": {{ DOC.title | tojson }}}')])
    assert [request.payload_fields for request in asked] == [None]
    assert [d["t"] for d in reshaped["documents"]] == ["Item d1", "Item d2"]


PROJECTED = [search(), stage("cheap", "attribute_filter", filters={"AND": [{"field": "price", "operator": "lt",
                                                                            "value": 60}]}),
             stage("m", "mmr", top_k=3, **{"lambda": 0.5}), stage("top", "limit", limit=2)]


def test_a_batch_completes_every_query_page_with_one_read_and_each_matches_its_single_execution(
        client, ns, module_services, monkeypatch):
    """The pages of a batch whose search fetched only the fields its stages read are completed together: one read
    of the stored documents for the whole batch, and each query's documents are those its single execution returns,
    whole."""
    rid = create(client, ns, PROJECTED, name="batch-projected").json()["retriever_id"]
    angles = (7, 97, 12)
    single = [client.post(f"/v1/retrievers/{rid}/execute", headers=ns,
                          json={"inputs": {"query_vector": vec(angle)}}).json() for angle in angles]
    reads = []
    store_retrieve = module_services.vectors.retrieve

    def recording(collection, ids, *args, **kwargs):
        reads.append(list(ids))
        return store_retrieve(collection, ids, *args, **kwargs)

    monkeypatch.setattr(module_services.vectors, "retrieve", recording)
    response = client.post(f"/v1/retrievers/{rid}/execute/batch", headers=ns, json={"queries": [
        {"inputs": {"query_vector": vec(angle)}} for angle in angles]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(reads) == 1
    assert sorted(reads[0]) == sorted({d["document_id"] for r in results for d in r["documents"]})
    for batched, alone in zip(results, single):
        assert [d["document_id"] for d in batched["documents"]] == [d["document_id"] for d in alone["documents"]]
        for document, expected in zip(batched["documents"], alone["documents"]):
            assert {k: v for k, v in document.items() if k != "score"} == \
                   {k: v for k, v in expected.items() if k != "score"}
            assert document["title"].startswith("Item ")  # a field no stage read: the page was completed


def test_a_batch_whose_page_read_fails_answers_503_and_keeps_its_runs_as_failed(
        client, ns, module_services, monkeypatch):
    rid = create(client, ns, PROJECTED, name="batch-read-fails").json()["retriever_id"]

    def unavailable(*args, **kwargs):
        raise DependencyUnavailable("vector store down")

    monkeypatch.setattr(module_services.vectors, "retrieve", unavailable)
    response = client.post(f"/v1/retrievers/{rid}/execute/batch", headers=ns, json={"queries": [
        {"inputs": {"query_vector": vec(angle)}} for angle in (7, 97)]})
    assert response.status_code == 503, response.text
    listing = client.post(f"/v1/retrievers/{rid}/executions/list", headers=ns, json={}).json()["results"]
    assert len(listing) == 2 and {run["status"] for run in listing} == {"failed"}
