"""The public side of published retrievers beside execution, with no organisation key: the catalogue of every
organisation's active publications, a publication's page config and template, its password check, and the public's
feedback on its results (recorded as the owner's interactions, within the publication's rate limits). Nothing shows
what the publication does not expose. Every answer parses as the SDK's model."""

from __future__ import annotations

import itertools
import time

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import (
    InteractionResponse,
    ListPublicRetrieversResponse,
    PublicRetrieverConfigResponse,
    PublicRetrieverTemplateResponse,
    VerifyPasswordResponse,
)

from openpeek.api.app import create_app
from openpeek.domain.buckets import Bucket
from openpeek.repositories.buckets import BucketRepository
from tests.api.conftest import standalone_namespace
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def client(module_services) -> TestClient:
    return TestClient(create_app(module_services))


def _namespace(client, tenant, name: str) -> dict[str, str]:
    return standalone_namespace(client, tenant.headers, name, [
        {"document_id": f"{name}-{i}", "vectors": {"emb": [1.0, i / 10, 0.0]},
         "payload": {"title": f"Film {i}", "budget": i * 1000}} for i in range(4)])


@pytest.fixture(scope="module")
def ns(client, module_services):
    return _namespace(client, make_tenant(module_services, "acme"), "films")


@pytest.fixture(scope="module")
def other_ns(client, module_services):
    return _namespace(client, make_tenant(module_services, "globex"), "shows")


_names = itertools.count()


def retriever(client, headers) -> str:
    response = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": f"films-{next(_names)}", "description": "Finds films",
        "input_schema": {"v": {"type": "array", "required": True}}, "budget_limits": {"max_credits": 5},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 4}]}}}]})
    assert response.status_code == 200, response.text
    return response.json()["retriever_id"]


def display(title: str, **more) -> dict:
    return {"title": title, "exposed_fields": ["title"], **more,
            "inputs": [{"field_name": "v", "label": "Vector", "field_schema": {"type": "array"}}]}


def publish(client, headers, name: str, title: str, **body) -> tuple[str, str]:
    retriever_id = retriever(client, headers)
    response = client.post(f"/v1/retrievers/{retriever_id}/publish", headers=headers, json={
        "public_name": name, "display_config": display(title, **body.pop("display", {})), **body})
    assert response.status_code == 200, response.text
    return retriever_id, response.json()["public_api_key"]


def execute(client, name, headers=None) -> str:
    response = client.post(f"/v1/public/retrievers/{name}/execute", headers=headers or {},
                           json={"inputs": {"v": [1.0, 0.0, 0.0]}})
    assert response.status_code == 200, response.text
    return response.json()["execution_id"]


@pytest.fixture(scope="module")
def published(client, ns, other_ns, monkeypatch_module):
    monkeypatch_module.setenv("OPENPEEK_SECRET_FILM_PASSWORD", "popcorn")
    films, films_key = publish(client, ns, "film-finder", "Film finder", description="Search old films",
                               display={"description": "Classic cinema", "seo": {"og_image_url": "https://x/og.png"},
                                        "external_links": [{"name": "Docs", "url": "https://x/docs"}]})
    locked, locked_key = publish(client, ns, "locked-films", "Locked films", password_secret_name="film-password")
    hidden, _ = publish(client, ns, "hidden-films", "Hidden films", include_metadata=False)
    paused, _ = publish(client, ns, "paused-films", "Paused films")
    assert client.patch(f"/v1/retrievers/{paused}/publish", headers=ns, json={"is_active": False}).status_code == 200
    shows, _ = publish(client, other_ns, "show-finder", "Show finder")
    return {"films": films, "films_key": films_key, "locked": locked, "locked_key": locked_key, "hidden": hidden,
            "shows": shows}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _no_internal_ids(text: str, *ids: str) -> None:
    for identifier in ids:
        assert identifier not in text
    for marker in ("org_", "ns_", "pub_", "prk_", "film-password", "api_key_hash"):
        assert marker not in text, marker


def test_the_catalogue_lists_every_organisations_active_publications_and_nothing_internal(client, published):
    response = client.get("/v1/public/retrievers/")
    assert response.status_code == 200, response.text
    listing = ListPublicRetrieversResponse.from_dict(response.json())
    assert [entry.public_name for entry in listing.results] == [
        "film-finder", "locked-films", "hidden-films", "show-finder"]  # oldest first; the paused one is not shown
    assert (listing.total_count, listing.page, listing.page_size, listing.total_pages) == (4, 1, 20, 1)
    assert (listing.stats.total_active, listing.stats.total_password_protected, listing.stats.total_open) == (4, 1, 3)
    first = listing.results[0]
    assert (first.title, first.description, first.og_image_url, first.password_protected) == (
        "Film finder", "Classic cinema", "https://x/og.png", False)
    assert first.public_url.endswith("/v1/public/retrievers/film-finder/execute")
    assert [(link.name, link.url) for link in first.external_links] == [("Docs", "https://x/docs")]
    _no_internal_ids(response.text, published["films"], published["shows"])

    searched = client.get("/v1/public/retrievers/", params={"search": "CLASSIC"}).json()
    assert [entry["public_name"] for entry in searched["results"]] == ["film-finder"]
    second = client.get("/v1/public/retrievers/", params={"page": 2, "page_size": 3}).json()
    assert [entry["public_name"] for entry in second["results"]] == ["show-finder"] and second["total_pages"] == 2


@pytest.mark.parametrize("query, status", [({"include_inactive": "true"}, 400), ({"page_size": 101}, 422),
                                           ({"page": 0}, 422), ({"search": "x" * 201}, 422)])
def test_bad_catalogue_queries_are_refused(client, published, query, status):
    assert client.get("/v1/public/retrievers/", params=query).status_code == status


def test_the_config_is_what_the_page_renders(client, published):
    response = client.get("/v1/public/retrievers/film-finder/config")
    assert response.status_code == 200, response.text
    config = PublicRetrieverConfigResponse.from_dict(response.json())
    assert (config.public_name, config.public_api_key, config.password_protected) == ("film-finder", None, False)
    assert config.display_config.title == "Film finder" and config.display_config.exposed_fields == ["title"]
    assert config.retriever_metadata.stages == [{"stage_name": "search", "stage_id": "feature_search"}]
    _no_internal_ids(response.text, published["films"])
    locked = PublicRetrieverConfigResponse.from_dict(client.get("/v1/public/retrievers/locked-films/config").json())
    assert locked.password_protected is True
    hidden = client.get("/v1/public/retrievers/hidden-films/config").json()
    assert hidden["retriever_metadata"] is None
    for name in ("paused-films", "no-such-name", "UPPER"):
        missing = client.get(f"/v1/public/retrievers/{name}/config")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "published_retriever_not_found"


def test_the_template_is_the_retrievers_definition_when_its_owner_shares_it(client, published):
    response = client.get("/v1/public/retrievers/film-finder/template")
    assert response.status_code == 200, response.text
    template = PublicRetrieverTemplateResponse.from_dict(response.json())
    assert template.retriever_name.startswith("films-") and template.description == "Finds films"
    assert template.stages[0]["config"]["stage_id"] == "feature_search"
    assert template.input_schema["v"].type.value == "array" and template.budget_limits == {"max_credits": 5}
    assert template.source_public_name == "film-finder" and template.display_config.title == "Film finder"
    _no_internal_ids(response.text, published["films"])

    refused = client.get("/v1/public/retrievers/hidden-films/template")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "template_not_shared"
    locked = client.get("/v1/public/retrievers/locked-films/template")
    assert locked.status_code == 401 and locked.json()["error"]["code"] == "password_required"
    opened = client.get("/v1/public/retrievers/locked-films/template", headers={"X-Retriever-Password": "popcorn"})
    assert opened.status_code == 200, opened.text
    assert client.get("/v1/public/retrievers/paused-films/template").status_code == 404


def test_a_template_shows_its_collections_feature_extractors(client, module_services):
    tenant = make_tenant(module_services, "initech")
    created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "library"})
    assert created.status_code == 200, created.text
    headers = {**tenant.headers, "X-Namespace": "library"}
    BucketRepository(module_services.table).create(Bucket(
        bucket_id="bkt_texts", bucket_name="texts", namespace_id=created.json()["namespace_id"], org_id=tenant.org_id,
        bucket_schema={"properties": {"content": {"type": "text"}}}, created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z"))
    collection = client.post("/v1/collections", headers=headers, json={
        "collection_name": "chunks", "source": {"type": "bucket", "bucket_ids": ["texts"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "content"}}})
    assert collection.status_code == 200, collection.text
    made = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": "texts", "collection_identifiers": ["chunks"],
        "input_schema": {"q": {"type": "text", "required": True}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1",
             "query": {"input_mode": "text", "value": "{{INPUT.q}}"}, "top_k": 5}]}}}]})
    assert made.status_code == 200, made.text
    assert client.post(f"/v1/retrievers/{made.json()['retriever_id']}/publish", headers=headers, json={
        "public_name": "text-finder", "display_config": {
            "title": "Texts", "exposed_fields": ["text"],
            "inputs": [{"field_name": "q", "label": "Query", "field_schema": {"type": "text"}}]}}).status_code == 200
    response = client.get("/v1/public/retrievers/text-finder/template")
    assert response.status_code == 200, response.text
    template = PublicRetrieverTemplateResponse.from_dict(response.json())
    assert template.collection_identifiers == ["chunks"]
    assert template.feature_extractors == [{"feature_extractor_name": "text_extractor", "version": "v1", "params": {},
                                            "input_mappings": {"text": "content"}, "collection_identifier": "chunks",
                                            "collection_name": "chunks"}]
    assert collection.json()["collection_id"] not in response.text


def test_verify_checks_a_password_or_public_key_without_executing(client, ns, published, module_services):
    def verify(name, password, headers=None):
        response = client.post(f"/v1/public/retrievers/{name}/verify", json={"password": password},
                               headers=headers or {})
        assert response.status_code == 200, response.text
        return VerifyPasswordResponse.from_dict(response.json())

    runs = len(client.post(f"/v1/retrievers/{published['locked']}/executions/list", headers=ns, json={}).json()[
        "results"])
    assert (verify("locked-films", "popcorn").valid, verify("locked-films", "popcorn").public_api_key) == (True, None)
    assert verify("locked-films", "butter").valid is False
    assert verify("locked-films", "butter", {"X-Public-API-Key": published["locked_key"]}).valid is True
    assert verify("locked-films", "popcorn", {"X-Public-API-Key": "prk_wrong"}).valid is False
    assert verify("film-finder", "anything").valid is True  # no password to get wrong
    assert len(client.post(f"/v1/retrievers/{published['locked']}/executions/list", headers=ns, json={}).json()[
        "results"]) == runs  # nothing was executed
    assert client.post("/v1/public/retrievers/locked-films/verify", json={"password": ""}).status_code == 422
    assert client.post("/v1/public/retrievers/locked-films/verify", json={}).status_code == 422
    assert client.post("/v1/public/retrievers/no-such/verify", json={"password": "x"}).status_code == 404


def test_password_guesses_count_against_the_rate_limits(client, ns, module_services):
    publish(client, ns, "guarded-films", "Guarded", password_secret_name="film-password",
            rate_limit_config={"requests_per_minute": 2})
    module_services.publications.clock = lambda: 1_800_000_000.0
    try:
        for guess in ("a", "b"):
            assert client.post("/v1/public/retrievers/guarded-films/verify", json={"password": guess}).json()[
                "valid"] is False
        refused = client.post("/v1/public/retrievers/guarded-films/verify", json={"password": "popcorn"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    finally:
        module_services.publications.clock = time.time


def test_the_publics_feedback_is_recorded_as_the_owners_interactions(client, ns, other_ns, published):
    execution_id = execute(client, "film-finder")
    response = client.post("/v1/public/retrievers/film-finder/interactions", headers={"X-Session-ID": "sess-9"},
                           json={"document_id": "films-1", "interaction_type": ["CLICK"], "position": 1,
                                 "execution_id": execution_id, "query_snapshot": {"query": "silent film"}})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True and answer["deduplicated"] is False
    _no_internal_ids(response.text, published["films"])
    again = client.post("/v1/public/retrievers/film-finder/interactions",
                        json={"document_id": "films-1", "interaction_type": ["click"], "position": 1,
                              "execution_id": execution_id})
    assert again.json()["deduplicated"] is True and again.json()["interaction_id"] is None

    stored = client.get(f"/v1/retrievers/interactions/{answer['interaction_id']}", headers=ns)
    assert stored.status_code == 200, stored.text
    interaction = InteractionResponse.from_dict(stored.json())
    assert (interaction.retriever_id, interaction.session_id, interaction.feature_id, interaction.execution_id) == (
        published["films"], "sess-9", "films-1", execution_id)
    assert client.get(f"/v1/retrievers/interactions/{answer['interaction_id']}", headers=other_ns).status_code == 404

    batch = client.post("/v1/public/retrievers/film-finder/interactions/batch", headers={"X-Session-ID": "sess-10"},
                        json={"interactions": [
                            {"document_id": f"films-{i}", "interaction_type": ["view"], "position": i,
                             "execution_id": execution_id} for i in range(3)]})
    assert batch.status_code == 200, batch.text
    assert (batch.json()["recorded"], batch.json()["deduplicated"]) == (3, 0)
    listed = client.post("/v1/retrievers/interactions/list", headers=ns, json={"session_id": "sess-10"}).json()
    assert sorted(entry["feature_id"] for entry in listed["results"]) == ["films-0", "films-1", "films-2"]

    # A password is not needed to give feedback, but an execution of this retriever is.
    locked_run = execute(client, "locked-films", {"X-Retriever-Password": "popcorn"})
    assert client.post("/v1/public/retrievers/locked-films/interactions", json={
        "document_id": "films-0", "interaction_type": ["positive_feedback"], "position": 0,
        "execution_id": locked_run}).status_code == 200


def test_public_feedback_must_name_this_retrievers_execution_and_its_documents(client, ns, published):
    execution_id = execute(client, "film-finder")
    elsewhere = execute(client, "show-finder")
    before = len(client.post("/v1/retrievers/interactions/list", headers=ns, json={}).json()["results"])
    cases = [
        ({"document_id": "films-0", "interaction_type": ["click"], "position": 0, "execution_id": elsewhere},
         404, "execution_not_found"),
        ({"document_id": "films-0", "interaction_type": ["click"], "position": 0,
          "execution_id": execute(client, "locked-films", {"X-Retriever-Password": "popcorn"})},
         404, "execution_not_found"),  # an execution of another of the owner's retrievers
        ({"document_id": "shows-0", "interaction_type": ["click"], "position": 0, "execution_id": execution_id},
         404, "document_not_found"),
        ({"document_id": "films-0", "interaction_type": ["click"], "position": 0}, 422, None),
        ({"document_id": "films-0", "interaction_type": ["click"], "position": 0, "execution_id": execution_id,
          "retriever_id": published["films"]}, 422, None),
        ({"document_id": "films-0", "interaction_type": ["click"], "position": 0, "execution_id": execution_id,
          "result_set_size": 0}, 422, None),
    ]
    for body, status, code in cases:
        response = client.post("/v1/public/retrievers/film-finder/interactions", json=body)
        assert response.status_code == status, (body, response.text)
        if code:
            assert response.json()["error"]["code"] == code
        batch = client.post("/v1/public/retrievers/film-finder/interactions/batch", json={"interactions": [
            {"document_id": "films-1", "interaction_type": ["view"], "position": 1, "execution_id": execution_id},
            body]})
        assert batch.status_code == status, (body, batch.text)  # the good one beside it is not recorded either
    wrong_key = client.post("/v1/public/retrievers/film-finder/interactions", headers={"X-Public-API-Key": "prk_x"},
                            json={"document_id": "films-0", "interaction_type": ["click"], "position": 0,
                                  "execution_id": execution_id})
    assert wrong_key.status_code == 401
    assert client.post("/v1/public/retrievers/paused-films/interactions", json={
        "document_id": "films-0", "interaction_type": ["click"], "position": 0,
        "execution_id": execution_id}).status_code == 404
    too_many = {"interactions": [{"document_id": "films-0", "interaction_type": ["view"], "position": 0,
                                  "execution_id": execution_id}] * 101}
    assert client.post("/v1/public/retrievers/film-finder/interactions/batch", json=too_many).status_code == 422
    assert len(client.post("/v1/retrievers/interactions/list", headers=ns, json={}).json()["results"]) == before


def test_public_feedback_is_within_the_publications_rate_limits(client, ns, module_services):
    publish(client, ns, "busy-films", "Busy", rate_limit_config={"requests_per_minute": 2})
    module_services.publications.clock = lambda: 1_800_000_000.0
    try:
        execution_id = execute(client, "busy-films")
        body = {"document_id": "films-2", "interaction_type": ["view"], "position": 2, "execution_id": execution_id}
        assert client.post("/v1/public/retrievers/busy-films/interactions", json=body).status_code == 200
        refused = client.post("/v1/public/retrievers/busy-films/interactions/batch", json={"interactions": [body]})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    finally:
        module_services.publications.clock = time.time
