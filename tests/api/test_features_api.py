"""The features menu (`GET /v1/collections/features`) and the one-off feature search (`POST /v1/features/search`)
over HTTP: the menu is public and parses as the SDK's FeatureDiscoveryResponse, with a key and X-Namespace it lists
what that namespace's collections can be searched by; a search runs one feature_search stage through the ad-hoc
execute path, restricted to the named collections, and bad input is a 4xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from mixpeek.models.feature_discovery_response import FeatureDiscoveryResponse
from mixpeek.models.feature_search_request import FeatureSearchRequest

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant

SCHEMA = {"properties": {"content": {"type": "text"}, "genre": {"type": "string"}}}
URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


def vector(seed: int) -> list[float]:
    return [((seed * 7 + i) % 11 + 1) / 11 for i in range(384)]


@pytest.fixture(scope="module")
def shelf(tmp_path_factory):
    """One namespace for the module (the searches change nothing): two text collections of four documents each,
    written with their vectors."""
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("features") / "data"))
    client = TestClient(create_app(services), raise_server_exceptions=False)
    tenant, other = make_tenant(services, "acme"), make_tenant(services, "globex")
    client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "shelf"}).raise_for_status()
    headers = {**tenant.headers, "X-Namespace": "shelf"}
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "books", "bucket_schema": SCHEMA}
                ).raise_for_status()
    for name in ("books", "other"):
        created = client.post("/v1/collections", headers=headers, json={
            "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                                  "field_passthrough": [{"source_path": "genre"}]}})
        assert created.status_code == 200, created.text
    for seed in range(4):
        for collection in ("books", "other"):
            client.post(f"/v1/collections/{collection}/documents", headers=headers, json={
                "vectors": {URI: vector(seed)}, "genre": "sf" if seed % 2 else "crime",
                "title": f"{collection}-{seed}"}).raise_for_status()
    yield client, headers, tenant, other
    services.close()


def test_the_menu_is_public_and_lists_the_catalogue_by_modality(client):
    response = client.get("/v1/collections/features")
    assert response.status_code == 200, response.text
    menu = FeatureDiscoveryResponse.from_dict(response.json())
    by_modality = {m["modality"]: m for m in menu.modalities}
    assert {"text", "pdf", "image", "video", "structured"} <= set(by_modality)
    text = {f["feature"]: f for f in by_modality["text"]["features"]}
    assert text["text_extractor"]["available"] is True and text["text_extractor"]["feature_uris"] == [URI]
    assert by_modality["text"]["base_feature"] == "text_extractor"
    assert [f["feature"] for f in by_modality["structured"]["features"]] == ["passthrough_extractor"]
    # no image model is configured in the test runtime: listed, with what would enable it
    image = by_modality["image"]["features"][0]
    assert image["available"] is False and "OPENPEEK_BEDROCK_ENABLED" in image["how_to_enable"]
    assert menu.custom_features == [] and menu.full_res_multiplier == 1.0


def test_with_a_key_and_a_namespace_the_menu_lists_its_searchable_features(shelf):
    client, headers, tenant, _ = shelf
    menu = FeatureDiscoveryResponse.from_dict(client.get("/v1/collections/features", headers=headers).json())
    [feature] = menu.custom_features
    assert feature["feature_uri"] == URI and feature["vector_index"] == "text_extractor_v1_embedding"
    assert feature["dimensions"] == 384 and feature["text_queries"] is True
    assert [c["collection_name"] for c in feature["collections"]] == ["books", "other"]
    # a key without a namespace: the public menu only
    assert client.get("/v1/collections/features", headers=tenant.headers).json()["custom_features"] == []


def test_a_standalone_namespaces_own_indexes_are_listed_by_name(client, tenant):
    client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "byo", "vector_configs": [{"name": "emb", "dimension": 4}]}).raise_for_status()
    shown = client.get("/v1/collections/features", headers={**tenant.headers, "X-Namespace": "byo"}).json()
    assert [(f["feature_uri"], f["dimensions"], f["collections"]) for f in shown["custom_features"]] == [
        ("emb", 4, [])]


def test_the_menu_refuses_a_bad_key_and_another_organisations_namespace(shelf):
    client, _, _, other_tenant = shelf
    assert client.get("/v1/collections/features", headers={"Authorization": "Bearer sk_" + "n" * 40}
                      ).status_code == 401
    response = client.get("/v1/collections/features", headers={**other_tenant.headers, "X-Namespace": "shelf"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "namespace_not_found"


def search(client, headers, **body):
    request = {"query": {"input_mode": "vector", "vector": vector(1)}, "feature_uri": URI, **body}
    return client.post("/v1/features/search", headers=headers, json=request)


def test_a_search_restricted_to_one_collection_returns_only_its_documents(shelf):
    client, headers, _, _ = shelf
    response = search(client, headers, collection_identifiers=["books"], top_k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["title"] for d in body["documents"]][0] == "books-1" and len(body["documents"]) == 3
    assert {d["title"].split("-")[0] for d in body["documents"]} == {"books"}
    assert body["status"] == "completed" and "feature_search" in body["stage_statistics"]["stages"]
    # the run is in the ad-hoc execution history
    history = client.get(f"/v1/retrievers/executions/{body['execution_id']}", headers=headers)
    assert history.status_code == 200 and history.json()["execution_mode"] == "adhoc"


def test_without_collections_the_whole_namespace_is_searched_with_filters(shelf):
    client, headers, _, _ = shelf
    everything = search(client, headers, top_k=20).json()["documents"]
    assert len(everything) == 8
    filtered = search(client, headers, top_k=20, collection_identifiers=["other"],
                      filters={"AND": [{"field": "genre", "operator": "eq", "value": "sf"}]}).json()["documents"]
    assert sorted(d["title"] for d in filtered) == ["other-1", "other-3"]
    # the generic feature URI (the SDK's default) names the same index
    generic = search(client, headers, top_k=2, feature_uri="mixpeek://text_extractor@v1/embedding")
    assert generic.status_code == 200 and len(generic.json()["documents"]) == 2


def test_the_sdk_request_model_is_accepted_as_it_serialises(shelf):
    client, headers, _, _ = shelf
    request = FeatureSearchRequest.from_dict({"collection_identifiers": ["books"], "feature_uri": URI, "top_k": 2,
                                              "query": {"input_mode": "vector", "vector": vector(2)}})
    response = client.post("/v1/features/search", headers=headers, json=request.to_dict())
    assert response.status_code == 200, response.text
    assert response.json()["documents"][0]["title"] == "books-2"


@pytest.mark.parametrize("body, status, code", [
    ({"collection_identifiers": ["missing"]}, 404, "collection_not_found"),
    ({"feature_uri": "mixpeek://image_extractor@v1/embedding"}, 400, "unknown_feature_uri"),
    ({"query": {"input_mode": "image", "image": "aGVsbG8="}}, 400, "unsupported_input_mode"),
    ({"query": {"input_mode": "text"}}, 400, "invalid_query"),
    ({"filters": {"AND": [{"field": "genre", "operator": "nope", "value": 1}]}}, 400, None),
    ({"top_k": 0}, 422, None),
    ({"top_k": 1001}, 422, None),
    ({"query": {"input_mode": "vector", "vector": ["a"]}}, 422, None),
    ({"query": {"input_mode": "sound"}}, 422, None),
    ({"unexpected": True}, 422, None),
])
def test_bad_searches_are_refused(shelf, body, status, code):
    client, headers, _, _ = shelf
    response = search(client, headers, **body)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code


def test_another_organisations_namespace_and_collections_are_404(shelf):
    client, headers, _, other_tenant = shelf
    response = search(client, {**other_tenant.headers, "X-Namespace": "shelf"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "namespace_not_found"
    # in a namespace of its own, the other organisation cannot name this one's collection either
    books_id = client.get("/v1/collections/books", headers=headers).json()["collection_id"]
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "theirs"}).raise_for_status()
    theirs = search(client, {**other_tenant.headers, "X-Namespace": "theirs"}, collection_identifiers=[books_id])
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "collection_not_found"
    assert client.post("/v1/features/search", json={"query": {"input_mode": "vector", "vector": [1.0]}}
                       ).status_code == 401


def test_a_text_query_is_embedded_by_the_collections_model(tmp_path):
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data"))
    try:
        client = TestClient(create_app(services), raise_server_exceptions=False)
        tenant = make_tenant(services, "acme")
        client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "cafe"}).raise_for_status()
        headers = {**tenant.headers, "X-Namespace": "cafe"}
        client.post("/v1/buckets", headers=headers, json={"bucket_name": "notes", "bucket_schema": SCHEMA}
                    ).raise_for_status()
        client.post("/v1/collections", headers=headers, json={
            "collection_name": "notes", "source": {"type": "bucket", "bucket_ids": ["notes"]},
            "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}}).raise_for_status()
        texts = ["espresso is brewed under pressure", "the court overturned the conviction"]
        for text, embedded in zip(texts, services.inference.embedder("all_minilm_l6_v2").embed_texts(texts)):
            client.post("/v1/collections/notes/documents", headers=headers, json={
                "vectors": {URI: [float(x) for x in embedded]}, "text": text}).raise_for_status()
        # the SDK's default query mode is text, and its default feature URI the generic text one
        found = client.post("/v1/features/search", headers=headers, json={"query": {"text": "coffee"}, "top_k": 1})
        assert found.status_code == 200, found.text
        assert [d["text"] for d in found.json()["documents"]] == ["espresso is brewed under pressure"]
    finally:
        services.close()
