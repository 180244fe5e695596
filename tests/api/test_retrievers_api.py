"""Retrievers over HTTP: definitions, input checks, templates, every stage, fusion, filters, text mode."""

from __future__ import annotations

import math

import pytest

# Unit vectors at known angles, so the order of neighbours is known exactly.
ANGLES = {"d0": 0, "d1": 10, "d2": 20, "d3": 30, "d4": 40, "d5": 50, "d6": 60, "d7": 70}


def vec(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees)), 0.0]


@pytest.fixture
def ns(client, tenant):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 3}, {"name": "alt", "dimension": 3}]})
    documents = [{
        "document_id": doc_id,
        "vectors": {"emb": vec(angle), "alt": vec(90 - angle)},
        "payload": {"category": "audio" if int(doc_id[1]) % 2 == 0 else "video", "price": int(doc_id[1]) * 10,
                    "title": f"item {doc_id}"},
    } for doc_id, angle in ANGLES.items()]
    response = client.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers,
                           json={"documents": documents})
    assert response.status_code == 200, response.text
    return {**tenant.headers, "X-Namespace": "shop"}


def search_stage(filters=None, top_k=3, feature_uri="emb", mode="vector", value="{{INPUT.query_vector}}", **more):
    search = {"feature_uri": feature_uri, "query": {"input_mode": mode, "value": value}, "top_k": top_k}
    if filters is not None:
        search["filters"] = filters
    return {"stage_name": "search", "stage_type": "filter",
            "config": {"stage_id": "feature_search", "parameters": {"searches": [search], **more}}}


VECTOR_INPUT = {"query_vector": {"type": "array", "required": True}}


def create(client, headers, stages, name="r", input_schema=None):
    return client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": name, "input_schema": VECTOR_INPUT if input_schema is None else input_schema,
        "stages": stages})


def execute(client, headers, retriever_id, inputs=None, **body):
    return client.post(f"/v1/retrievers/{retriever_id}/execute", headers=headers, json={"inputs": inputs or {}, **body})


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["document_id"] for d in response.json()["documents"]]


def test_vector_mode_returns_the_exact_nearest_neighbours_in_order(client, ns):
    retriever = create(client, ns, [search_stage(top_k=4)]).json()
    response = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(22)})
    assert ids(response) == ["d2", "d3", "d1", "d4"]
    hit = response.json()["documents"][0]
    assert hit["score"] == pytest.approx(math.cos(math.radians(2)), abs=1e-4)
    assert hit["category"] == "audio" and hit["title"] == "item d2"
    stats = response.json()["stage_statistics"]["stages"]["search"]
    assert stats["output_count"] == 4 and stats["duration_ms"] >= 0


def test_filters_in_both_languages_give_the_same_results(client, ns):
    qdrant = create(client, ns, [search_stage({"must": [{"key": "category", "match": {"value": "video"}}]})],
                    name="q").json()
    logical = create(client, ns, [search_stage({"AND": [{"field": "category", "operator": "eq",
                                                         "value": "video"}]})], name="l").json()
    inputs = {"query_vector": vec(22)}
    assert ids(execute(client, ns, qdrant["retriever_id"], inputs)) == ["d3", "d1", "d5"]
    assert ids(execute(client, ns, logical["retriever_id"], inputs)) == ["d3", "d1", "d5"]


def test_templates_fill_filters_and_keep_types(client, ns):
    retriever = create(client, ns, [search_stage(
        {"AND": [{"field": "price", "operator": "gte", "value": "{{INPUT.min_price}}"}]}, top_k="{{INPUT.k}}")],
        input_schema={**VECTOR_INPUT, "min_price": {"type": "integer", "required": True},
                      "k": {"type": "integer", "default": 2}}).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0), "min_price": 50})) == \
        ["d5", "d6"]


def test_input_schema_is_checked_and_names_the_key(client, ns):
    retriever = create(client, ns, [search_stage()]).json()
    missing = execute(client, ns, retriever["retriever_id"], {})
    assert missing.status_code == 400 and missing.json()["error"]["details"]["input"] == "query_vector"
    wrong = execute(client, ns, retriever["retriever_id"], {"query_vector": "not a list"})
    assert wrong.status_code == 400 and "query_vector" in wrong.json()["error"]["message"]
    unknown = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0), "qurey": 1})
    assert unknown.status_code == 400 and unknown.json()["error"]["details"]["input"] == "qurey"
    dims = execute(client, ns, retriever["retriever_id"], {"query_vector": [1.0, 0.0]})
    assert dims.status_code == 400 and dims.json()["error"]["details"]["expected_dimension"] == 3


def test_definitions_are_validated_at_create(client, ns):
    assert create(client, ns, [search_stage(feature_uri="nope")]).json()["error"]["code"] == "unknown_feature_uri"
    unknown_stage = create(client, ns, [{"stage_name": "x", "config": {"stage_id": "teleport", "parameters": {}}}])
    assert unknown_stage.status_code == 400 and "feature_search" in unknown_stage.json()["error"]["message"]
    undeclared = create(client, ns, [search_stage(value="{{INPUT.q}}")])
    assert undeclared.status_code == 400 and undeclared.json()["error"]["code"] == "unknown_input"
    bad_filter = create(client, ns, [search_stage({"must": [{"key": "x", "match": {"like": 1}}]})])
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["code"] == "invalid_filter"
    assert create(client, ns, [search_stage(top_k=0)]).status_code == 400
    assert create(client, ns, [search_stage(fusion="magic")]).status_code == 400
    assert create(client, ns, []).status_code == 422
    assert client.get("/v1/retrievers", headers=ns).json()["total"] == 0


def test_two_searches_are_fused(client, ns):
    stage = search_stage(top_k=3)
    stage["config"]["parameters"]["searches"].append(
        {"feature_uri": "alt", "query": {"input_mode": "vector", "value": "{{INPUT.query_vector}}"}, "top_k": 3})
    stage["config"]["parameters"]["final_top_k"] = 6
    rrf = create(client, ns, [stage], name="rrf").json()
    # emb ranks d0,d1,d2 for 0°; alt (90°-angle) ranks d7,d6,d5 for 0°: rrf interleaves both lists by rank.
    fused = ids(execute(client, ns, rrf["retriever_id"], {"query_vector": vec(0)}))
    assert set(fused) == {"d0", "d1", "d2", "d7", "d6", "d5"}
    assert set(fused[:2]) == {"d0", "d7"}
    stage["config"]["parameters"].update(fusion="weighted", weights=[1.0, 0.0])
    weighted = create(client, ns, [stage], name="weighted").json()
    assert ids(execute(client, ns, weighted["retriever_id"], {"query_vector": vec(0)}))[:3] == ["d0", "d1", "d2"]
    stage["config"]["parameters"].update(fusion="dbsf", weights=None)
    del stage["config"]["parameters"]["weights"]
    dbsf = create(client, ns, [stage], name="dbsf").json()
    assert len(ids(execute(client, ns, dbsf["retriever_id"], {"query_vector": vec(0)}))) == 6


def test_attribute_filter_sort_and_limit_stages(client, ns):
    stages = [
        search_stage(top_k=8),
        {"stage_name": "only-audio", "config": {"stage_id": "attribute_filter", "parameters": {
            "filters": {"AND": [{"field": "title", "operator": "starts_with", "value": "item"},
                                {"field": "category", "operator": "eq", "value": "audio"}]}}}},
        {"stage_name": "by-price", "config": {"stage_id": "sort", "parameters": {"field": "price",
                                                                                 "direction": "desc"}}},
        {"stage_name": "page", "config": {"stage_id": "limit", "parameters": {"limit": 2, "offset": 1}}},
    ]
    retriever = create(client, ns, stages).json()
    response = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})
    assert ids(response) == ["d4", "d2"]  # audio = d0,d2,d4,d6; by price desc d6,d4,d2,d0; skip 1, take 2
    stats = response.json()["stage_statistics"]["stages"]
    assert [stats[name]["output_count"] for name in ("search", "only-audio", "by-price", "page")] == [8, 4, 4, 2]


def test_python_only_operators_work_inside_feature_search(client, ns):
    retriever = create(client, ns, [search_stage({"AND": [{"field": "title", "operator": "ends_with",
                                                           "value": "d5"}]})]).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})) == ["d5"]


def test_ad_hoc_filters_and_pagination_at_execute(client, ns):
    retriever = create(client, ns, [search_stage(top_k=8)]).json()
    filtered = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                       filters={"AND": [{"field": "price", "operator": "lt", "value": 30}]})
    assert ids(filtered) == ["d0", "d1", "d2"]
    page2 = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                    pagination={"method": "offset", "page_size": 3, "page_number": 2})
    assert ids(page2) == ["d3", "d4", "d5"]
    assert page2.json()["pagination"]["total_pages"] == 3
    first = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                    pagination={"method": "cursor", "limit": 5})
    cursor = first.json()["pagination"]["next_cursor"]
    rest = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                   pagination={"method": "cursor", "limit": 5, "cursor": cursor})
    assert ids(first) + ids(rest) == [f"d{i}" for i in range(8)]
    bad = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                  pagination={"method": "cursor", "cursor": "garbage!"})
    assert bad.status_code == 400


def test_input_mode_document_searches_with_a_stored_vector(client, ns):
    retriever = create(client, ns, [search_stage(value="{{INPUT.doc}}", mode="document", top_k=2)],
                       input_schema={"doc": {"type": "string", "required": True}}).json()
    found = ids(execute(client, ns, retriever["retriever_id"], {"doc": "d4"}))
    assert found[0] == "d4" and found[1] in ("d3", "d5")  # both 10° away
    assert execute(client, ns, retriever["retriever_id"], {"doc": "missing"}).status_code == 404


def test_crud_name_uniqueness_and_patch(client, ns):
    created = create(client, ns, [search_stage()], name="main").json()
    assert created["retriever_id"].startswith("ret_") and created["fusion"] == "rrf"
    assert create(client, ns, [search_stage()], name="main").json()["error"]["code"] == "retriever_name_taken"
    by_name = client.get("/v1/retrievers/main", headers=ns).json()
    assert by_name["retriever_id"] == created["retriever_id"]
    patched = client.patch(f"/v1/retrievers/{created['retriever_id']}", headers=ns,
                           json={"description": "tuned", "retriever_name": "renamed"}).json()["retriever"]
    assert patched["description"] == "tuned" and patched["version"] == 2 and patched["stages"] == created["stages"]
    assert client.get("/v1/retrievers/main", headers=ns).status_code == 404
    listed = client.post("/v1/retrievers/list", headers=ns, json={"search": "renam"}).json()
    assert [r["retriever_name"] for r in listed["results"]] == ["renamed"]
    assert client.delete(f"/v1/retrievers/{created['retriever_id']}", headers=ns).status_code == 200
    assert client.get(f"/v1/retrievers/{created['retriever_id']}", headers=ns).status_code == 404


def test_patching_stages_revalidates_them(client, ns):
    created = create(client, ns, [search_stage()]).json()
    bad = client.patch(f"/v1/retrievers/{created['retriever_id']}", headers=ns,
                       json={"stages": [search_stage(feature_uri="nope")]})
    assert bad.status_code == 400
    assert client.get(f"/v1/retrievers/{created['retriever_id']}", headers=ns).json()["version"] == 1


def test_retrievers_of_another_namespace_or_organisation_are_404(client, tenant, other_tenant, ns):
    created = create(client, ns, [search_stage()]).json()
    client.post("/v1/namespaces/standalone", headers=tenant.headers,
                json={"namespace_id": "other-ns", "vector_configs": [{"name": "emb", "dimension": 3}]})
    elsewhere = {**tenant.headers, "X-Namespace": "other-ns"}
    assert client.get(f"/v1/retrievers/{created['retriever_id']}", headers=elsewhere).status_code == 404
    stranger = {**other_tenant.headers, "X-Namespace": "shop"}
    assert client.get(f"/v1/retrievers/{created['retriever_id']}", headers=stranger).status_code == 404
    assert execute(client, stranger, created["retriever_id"], {"query_vector": vec(0)}).status_code == 404
    assert client.get("/v1/retrievers", headers=tenant.headers).status_code == 400  # no X-Namespace


def test_deleting_the_namespace_deletes_its_retrievers(client, tenant, ns):
    created = create(client, ns, [search_stage()]).json()
    assert client.delete("/v1/namespaces/shop", headers=tenant.headers).status_code == 200
    client.post("/v1/namespaces/standalone", headers=tenant.headers,
                json={"namespace_id": "shop2", "vector_configs": [{"name": "emb", "dimension": 3}]})
    assert client.get(f"/v1/retrievers/{created['retriever_id']}",
                      headers={**tenant.headers, "X-Namespace": "shop2"}).status_code == 404


def test_text_mode_on_a_managed_namespace_uses_the_extractor_model(client, services, tenant):
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "articles"})
    texts = {"cake": "a recipe for chocolate cake with butter", "stocks": "stock markets fell sharply on Monday",
             "cat": "the cat slept on the warm windowsill"}
    vectors = services.inference_gateway.embed_texts("all_minilm_l6_v2", list(texts.values()))
    client.post("/v1/namespaces/articles/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": key, "vectors": {"text_extractor_v1_embedding": vector}}
        for key, vector in zip(texts, vectors)]})
    headers = {**tenant.headers, "X-Namespace": "articles"}
    retriever = create(client, headers, [search_stage(feature_uri="mixpeek://text_extractor@v1/embedding",
                                                      mode="text", value="{{INPUT.q}}", top_k=1)],
                       input_schema={"q": {"type": "string", "required": True}}).json()
    assert ids(execute(client, headers, retriever["retriever_id"], {"q": "baking desserts"})) == ["cake"]
    assert ids(execute(client, headers, retriever["retriever_id"], {"q": "equity prices dropped"})) == ["stocks"]


def test_text_mode_on_an_unmapped_index_is_400(client, ns):
    retriever = create(client, ns, [search_stage(mode="text", value="{{INPUT.q}}")],
                       input_schema={"q": {"type": "string", "required": True}}).json()
    response = execute(client, ns, retriever["retriever_id"], {"q": "hello"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_inference_service"


def test_unsupported_execute_options_are_refused_clearly(client, ns):
    retriever = create(client, ns, [search_stage()]).json()
    response = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)}, stream=True)
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "stream"


def test_dynamic_values_of_seed_004_read_the_execution_request(client, ns):
    dynamic = {"type": "dynamic", "field": "inputs.wanted_category"}
    retriever = create(client, ns, [search_stage({"AND": [{"field": "category", "operator": "eq", "value": dynamic}]},
                                                 top_k=8)],
                       input_schema={**VECTOR_INPUT, "wanted_category": {"type": "string", "default": "video"}}).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})) == ["d1", "d3", "d5", "d7"]
    audio = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0), "wanted_category": "audio"})
    assert ids(audio) == ["d0", "d2", "d4", "d6"]
    # A dynamic value naming an input the schema lacks is refused at create; one naming nothing at run time is 400.
    undeclared = create(client, ns, [search_stage({"AND": [{"field": "category", "operator": "eq",
                                                            "value": {"type": "dynamic", "field": "inputs.nope"}}]})],
                        name="undeclared")
    assert undeclared.status_code == 400 and undeclared.json()["error"]["code"] == "unknown_input"
    from_filters = create(client, ns, [search_stage({"AND": [{"field": "category", "operator": "eq", "value": {
        "type": "dynamic", "field": "filters.AND[0].value"}}]})], name="from-filters").json()
    nothing = execute(client, ns, from_filters["retriever_id"], {"query_vector": vec(0)})
    assert nothing.status_code == 400 and nothing.json()["error"]["details"]["path"] == "filters.AND[0].value"


def test_metadata_keys_filter_the_callers_metadata(client, ns):
    client.post("/v1/namespaces/shop/documents/upsert", headers=ns, json={"documents": [
        {"document_id": "m1", "vectors": {"emb": vec(1), "alt": vec(1)}, "metadata": {"lang": "fr"}},
        {"document_id": "m2", "vectors": {"emb": vec(2), "alt": vec(2)}, "metadata": {"lang": "en"}}]})
    french = {"must": [{"key": "metadata.lang", "match": {"value": "fr"}}]}
    retriever = create(client, ns, [search_stage(french)]).json()
    response = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})
    assert ids(response) == ["m1"]
    assert response.json()["documents"][0]["metadata"] == {"lang": "fr"}
    assert "_internal" not in response.json()["documents"][0]


def test_score_thresholds_drop_weak_hits(client, ns):
    retriever = create(client, ns, [search_stage(top_k=8, score_threshold=math.cos(math.radians(25)))]).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})) == ["d0", "d1", "d2"]
    assert create(client, ns, [search_stage(score_threshold="high")], name="bad").status_code == 400


def test_templated_values_of_the_wrong_kind_are_400_at_execute(client, ns):
    retriever = create(client, ns, [
        search_stage(top_k="{{INPUT.k}}"),
        {"stage_name": "order", "config": {"stage_id": "sort", "parameters": {"field": "price",
                                                                              "direction": "{{INPUT.direction}}"}}},
        {"stage_name": "cut", "config": {"stage_id": "limit", "parameters": {"limit": "{{INPUT.k}}"}}},
    ], input_schema={**VECTOR_INPUT, "k": {"type": "number", "default": 3},
                     "direction": {"type": "string", "default": "asc"}}).json()
    assert ids(execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)})) == ["d0", "d1", "d2"]
    fractional = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0), "k": 2.5})
    assert fractional.status_code == 400 and "top_k" in fractional.json()["error"]["message"]
    sideways = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0), "direction": "sideways"})
    assert sideways.status_code == 400 and "direction" in sideways.json()["error"]["message"]


def test_pagination_other_than_offset_or_cursor_is_refused(client, ns):
    retriever = create(client, ns, [search_stage()]).json()
    scroll = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                     pagination={"method": "scroll", "limit": 5})
    assert scroll.status_code == 400 and scroll.json()["error"]["code"] == "invalid_pagination"
    mixed = execute(client, ns, retriever["retriever_id"], {"query_vector": vec(0)},
                    pagination={"method": "offset", "limit": 5})
    assert mixed.status_code == 400 and "limit" in mixed.json()["error"]["message"]


@pytest.mark.parametrize("stage", [
    {"stage_name": "s", "config": {"stage_id": ["feature_search"], "parameters": {}}},
    {"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
        {"feature_uri": "emb", "query": {"input_mode": ["vector"], "value": [1, 0, 0]}}]}}},
    {"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
        {"feature_uri": {"name": "emb"}, "query": {"value": [1, 0, 0]}}]}}},
    {"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": "searches"}},
    {"stage_name": "s", "config": {"stage_id": "sort", "parameters": {"sort_by": [{"field": 1}]}}},
    {"stage_name": "s", "config": {"stage_id": "limit", "parameters": {"limit": {"n": 1}}}},
    {"stage_name": "s", "config": {"stage_id": "attribute_filter", "parameters": {"filters": [1]}}},
])
def test_malformed_stage_definitions_are_400_never_500(client, ns, stage):
    response = create(client, ns, [stage])
    assert response.status_code == 400, response.text


def test_concurrent_patches_are_all_applied(client, ns):
    from concurrent.futures import ThreadPoolExecutor

    created = create(client, ns, [search_stage()]).json()

    def tag(n: int) -> int:
        return client.patch(f"/v1/retrievers/{created['retriever_id']}", headers=ns,
                            json={"description": f"edit {n}"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(tag, range(16))) == {200}
    # Every patch was applied on top of the one before it: none was lost to a stale read.
    assert client.get(f"/v1/retrievers/{created['retriever_id']}", headers=ns).json()["version"] == 17


def test_renaming_onto_a_taken_name_is_409_and_changes_nothing(client, ns):
    first = create(client, ns, [search_stage()], name="first").json()
    create(client, ns, [search_stage()], name="second")
    clash = client.patch(f"/v1/retrievers/{first['retriever_id']}", headers=ns,
                         json={"retriever_name": "second", "description": "x"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "retriever_name_taken"
    kept = client.get(f"/v1/retrievers/{first['retriever_id']}", headers=ns).json()
    assert kept["retriever_name"] == "first" and kept["description"] is None and kept["version"] == 1
    assert client.get("/v1/retrievers/first", headers=ns).status_code == 200


def test_listing_searches_filters_sorts_and_pages(client, ns):
    for name, description in (("alpha", "fast"), ("beta", "slow"), ("gamma", "fast and wide")):
        client.post("/v1/retrievers", headers=ns, json={
            "retriever_name": name, "description": description, "input_schema": VECTOR_INPUT,
            "stages": [search_stage()], "tags": [description.split()[0]]})
    listed = client.post("/v1/retrievers/list", headers=ns, json={
        "filters": {"AND": [{"field": "tags", "operator": "contains", "value": "fast"}]},
        "sort": {"field": "retriever_name", "direction": "desc"}}).json()
    assert [r["retriever_name"] for r in listed["results"]] == ["gamma", "alpha"] and listed["total"] == 2
    assert [r["retriever_name"] for r in client.post("/v1/retrievers/list", headers=ns,
                                                     json={"search": "WIDE"}).json()["results"]] == ["gamma"]
    assert client.post("/v1/retrievers/list", headers=ns,
                       json={"search": "WIDE", "case_sensitive": True}).json()["results"] == []
    page = client.get("/v1/retrievers", headers=ns, params={"page_size": 2, "page": 2}).json()
    assert [r["retriever_name"] for r in page["results"]] == ["gamma"] and page["pagination"]["total_pages"] == 2
    bad_sort = client.post("/v1/retrievers/list", headers=ns, json={"sort": {"field": "x", "direction": "up"}})
    assert bad_sort.status_code == 400
