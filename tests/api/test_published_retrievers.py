"""Published retrievers over HTTP: publish, read, update, unpublish, name availability, reconcile, stats, the
published listing, and the public execute route that runs a publication without an organisation key (its password,
public key, rate limits and exposed fields), every answer parsed as the SDK's model."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import (
    GenericDeleteResponse,
    OrganizationPublishStatsResponse,
    PublicNameAvailabilityResponse,
    PublishedRetrieverResponse,
    PublishRetrieverResponse,
)

from openpeek.api.app import create_app
from tests.api.conftest import standalone_namespace
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def client(module_services) -> TestClient:
    return TestClient(create_app(module_services))


def _namespace(client, tenant, name: str) -> dict[str, str]:
    return standalone_namespace(client, tenant.headers, name, [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10, 0.0]},
         "payload": {"title": f"Book {i}", "price": i, "internal_note": f"cost {i}"},
         "metadata": {"author": f"A{i}", "supplier": "secret"}} for i in range(5)])


@pytest.fixture(scope="module")
def ns(client, module_services):
    return _namespace(client, make_tenant(module_services, "acme"), "books")


@pytest.fixture(scope="module")
def other_ns(client, module_services):
    return _namespace(client, make_tenant(module_services, "globex"), "library")


DISPLAY = {"title": "Book search", "inputs": [{"field_name": "v", "label": "Vector", "field_schema": {"type": "array"}}], "exposed_fields": ["title", "metadata.author"]}
_names = itertools.count()


def retriever(client, headers, **more) -> str:
    response = client.post("/v1/retrievers", headers=headers, json={
        "retriever_name": f"books-{next(_names)}", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 5}]}}}],
        **more})
    assert response.status_code == 200, response.text
    return response.json()["retriever_id"]


def publish(client, headers, retriever_id, **body):
    return client.post(f"/v1/retrievers/{retriever_id}/publish", headers=headers,
                       json={"display_config": DISPLAY, **body})


def execute(client, name, headers=None, **body):
    return client.post(f"/v1/public/retrievers/{name}/execute", headers=headers or {},
                       json={"inputs": {"v": [1.0, 0.0, 0.0]}, **body})


def test_publish_read_list_and_execute_publicly_with_only_the_exposed_fields(client, ns):
    retriever_id = retriever(client, ns)
    response = publish(client, ns, retriever_id, public_name="book-search", description="Find books",
                       tags=["books"], category="demo")
    assert response.status_code == 200, response.text
    published = PublishRetrieverResponse.from_dict(response.json())
    assert published.retriever_id == retriever_id and published.public_api_key.startswith("prk_")
    assert published.public_url.endswith("/v1/public/retrievers/book-search/execute")

    response = client.get(f"/v1/retrievers/{retriever_id}/publish", headers=ns)
    assert response.status_code == 200, response.text
    details = PublishedRetrieverResponse.from_dict(response.json())
    assert (details.public_name, details.public_api_key, details.password_protected, details.is_active) == (
        "book-search", None, False, True)
    assert details.rate_limit_config.tier.value == "standard" and details.rate_limit_config.max_results_per_query == 100
    assert details.display_config.exposed_fields == ["title", "metadata.author"]
    assert details.retriever_metadata.stages == [{"stage_name": "search", "stage_id": "feature_search"}]

    listing = client.get("/v1/retrievers/published", headers=ns).json()
    entry = next(item for item in listing["results"] if item["retriever_id"] == retriever_id)
    assert entry["publication"]["public_name"] == "book-search" and entry["is_published"] is True

    response = execute(client, "book-search")  # no Authorization, no X-Namespace
    assert response.status_code == 200, response.text
    documents = response.json()["documents"]
    assert [d["document_id"] for d in documents] == ["d0", "d1", "d2", "d3", "d4"]
    assert documents[0] == {"document_id": "d0", "score": documents[0]["score"], "title": "Book 0",
                            "metadata": {"author": "A0"}}
    # The run is in the owner's execution history like any other.
    history = client.post(f"/v1/retrievers/{retriever_id}/executions/list", headers=ns, json={}).json()
    assert response.json()["execution_id"] in [run["execution_id"] for run in history["results"]]

    stats = client.get("/v1/retrievers/publish/stats", headers=ns)
    assert stats.status_code == 200, stats.text
    parsed = OrganizationPublishStatsResponse.from_dict(stats.json())
    assert parsed.current_count >= 1 and parsed.max_allowed == 10
    mine = next(p for p in stats.json()["publications"] if p["public_name"] == "book-search")
    assert (mine["requests"], mine["executions"], mine["rate_limited"]) == (1, 1, 0)


def test_inactive_unpublished_and_deleted_publications_are_not_found(client, ns):
    retriever_id = retriever(client, ns)
    assert publish(client, ns, retriever_id, display_name="Gone Soon!").json()["public_name"] == "gone-soon"
    assert execute(client, "gone-soon").status_code == 200
    response = client.patch(f"/v1/retrievers/{retriever_id}/publish", headers=ns, json={"is_active": False})
    assert response.status_code == 200 and PublishedRetrieverResponse.from_dict(response.json()).is_active is False
    refused = execute(client, "gone-soon")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "published_retriever_not_found"
    client.patch(f"/v1/retrievers/{retriever_id}/publish", headers=ns, json={"is_active": True})
    assert execute(client, "gone-soon").status_code == 200

    response = client.delete(f"/v1/retrievers/{retriever_id}/publish", headers=ns)
    assert response.status_code == 200 and GenericDeleteResponse.from_dict(response.json()).success
    assert execute(client, "gone-soon").status_code == 404
    assert client.get(f"/v1/retrievers/{retriever_id}/publish", headers=ns).json() is None
    assert client.delete(f"/v1/retrievers/{retriever_id}/publish", headers=ns).status_code == 404
    available = client.get(f"/v1/retrievers/{retriever_id}/publish/availability", headers=ns,
                           params={"name": "gone-soon"})
    assert PublicNameAvailabilityResponse.from_dict(available.json()).available is True

    # Deleting the retriever unpublishes it: the name is free again and the public gets 404.
    assert publish(client, ns, retriever_id, public_name="gone-soon").status_code == 200
    assert client.delete(f"/v1/retrievers/{retriever_id}", headers=ns).status_code == 200
    assert execute(client, "gone-soon").status_code == 404
    other = retriever(client, ns)
    assert client.get(f"/v1/retrievers/{other}/publish/availability", headers=ns,
                      params={"name": "gone-soon"}).json()["available"] is True
    assert execute(client, "no-such-name").status_code == 404
    assert execute(client, "Not_A_Name").status_code == 404


def test_a_password_protected_publication_needs_its_password_or_its_public_key(client, ns, monkeypatch):
    retriever_id = retriever(client, ns)
    refused = publish(client, ns, retriever_id, public_name="locked-books", password_secret_name="books-password")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "secret_not_found"
    assert client.get(f"/v1/retrievers/{retriever_id}/publish", headers=ns).json() is None
    monkeypatch.setenv("OPENPEEK_SECRET_BOOKS_PASSWORD", "open sesame")
    response = publish(client, ns, retriever_id, public_name="locked-books", password_secret_name="books-password")
    assert response.status_code == 200, response.text
    key = response.json()["public_api_key"]
    assert client.get(f"/v1/retrievers/{retriever_id}/publish", headers=ns).json()["password_protected"] is True

    missing = execute(client, "locked-books")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "password_required"
    wrong = execute(client, "locked-books", {"X-Retriever-Password": "guess"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_password"
    assert execute(client, "locked-books", {"X-Retriever-Password": "open sesame"}).status_code == 200
    assert execute(client, "locked-books", {"X-Public-API-Key": key}).status_code == 200
    bad_key = execute(client, "locked-books", {"X-Public-API-Key": "prk_wrong", "X-Retriever-Password": "open sesame"})
    assert bad_key.status_code == 401 and bad_key.json()["error"]["code"] == "invalid_public_api_key"

    monkeypatch.delenv("OPENPEEK_SECRET_BOOKS_PASSWORD")  # the secret removed behind the publication's back
    unreadable = execute(client, "locked-books", {"X-Retriever-Password": "open sesame"})
    assert unreadable.status_code == 503 and "books-password" not in unreadable.text
    assert client.patch(f"/v1/retrievers/{retriever_id}/publish", headers=ns,
                        json={"password_secret_name": ""}).json()["password_protected"] is False
    assert execute(client, "locked-books").status_code == 200


def test_rate_limits_and_the_result_cap_hold(client, ns, module_services):
    retriever_id = retriever(client, ns)
    response = publish(client, ns, retriever_id, public_name="limited-books", rate_limit_config={
        "requests_per_minute": 2, "max_results_per_query": 2})
    assert response.status_code == 200, response.text
    now = [1_800_000_000.0]  # a fixed clock, so no window ends during the test
    module_services.publications.clock = lambda: now[0]
    try:
        first = execute(client, "limited-books", limit=10)
        assert first.status_code == 200 and len(first.json()["documents"]) == 2
        assert execute(client, "limited-books", pagination={"method": "offset", "page_size": 50}).status_code == 200
        refused = execute(client, "limited-books")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["Retry-After"] == "60"
        now[0] += 60  # the next minute
        assert execute(client, "limited-books").status_code == 200
    finally:
        module_services.publications.clock = time.time
    mine = next(p for p in client.get("/v1/retrievers/publish/stats", headers=ns).json()["publications"]
                if p["public_name"] == "limited-books")
    assert (mine["requests"], mine["executions"], mine["rate_limited"]) == (3, 3, 1)


def test_per_client_limits_count_each_address_apart(client, ns, module_services):
    retriever_id = retriever(client, ns)
    assert publish(client, ns, retriever_id, public_name="per-client-books", rate_limit_config={
        "tier": "unlimited", "enable_ip_limits": True, "max_requests_per_ip_hour": 1}).status_code == 200
    module_services.publications.clock = lambda: 2_000_000_000.0
    try:
        assert execute(client, "per-client-books").status_code == 200
        refused = execute(client, "per-client-books")
        assert refused.status_code == 429 and refused.json()["error"]["details"]["window"] == "ip_hour"
        elsewhere = TestClient(client.app, client=("198.51.100.7", 5000))
        assert execute(elsewhere, "per-client-books").status_code == 200
    finally:
        module_services.publications.clock = time.time


def test_concurrent_public_requests_never_pass_the_limit(client, ns, module_services):
    retriever_id = retriever(client, ns)
    assert publish(client, ns, retriever_id, public_name="crowded-books",
                   rate_limit_config={"requests_per_minute": 5}).status_code == 200
    module_services.publications.clock = lambda: 1_900_000_000.0
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = sorted(pool.map(lambda _: execute(client, "crowded-books").status_code, range(12)))
    finally:
        module_services.publications.clock = time.time
    assert statuses == [200] * 5 + [429] * 7
    mine = next(p for p in client.get("/v1/retrievers/publish/stats", headers=ns).json()["publications"]
                if p["public_name"] == "crowded-books")
    assert (mine["requests"], mine["executions"], mine["rate_limited"]) == (5, 5, 7)


def test_public_names_are_global_and_other_organisations_see_nothing(client, ns, other_ns):
    mine = retriever(client, ns)
    theirs = retriever(client, other_ns)
    assert publish(client, ns, mine, public_name="shared-name").status_code == 200
    taken = publish(client, other_ns, theirs, public_name="shared-name")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "public_name_taken"
    assert client.get(f"/v1/retrievers/{theirs}/publish/availability", headers=other_ns,
                      params={"name": "shared-name"}).json()["available"] is False
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, f"/v1/retrievers/{mine}/publish", headers=other_ns,
                                  json={"is_active": False} if method == "PATCH" else None)
        assert response.status_code == 404, (method, response.text)
    assert client.post(f"/v1/retrievers/{mine}/publish/reconcile", headers=other_ns).status_code == 404
    assert mine not in [r["retriever_id"] for r in client.get("/v1/retrievers/published", headers=other_ns)
                        .json()["results"]]
    assert execute(client, "shared-name").status_code == 200  # untouched by the other organisation's attempts


@pytest.mark.parametrize("body, status, code", [
    ({"public_name": "Bad_Name"}, 422, None),
    ({"public_name": "ab"}, 422, None),
    ({"public_name": "fine-name", "surprise": 1}, 422, None),
    ({"public_name": "fine-name", "display_config": {"title": "t", "inputs": []}}, 422, None),
    ({"public_name": "fine-name", "display_config": {**DISPLAY, "exposed_fields": []}}, 422, None),
    ({"public_name": "fine-name", "rate_limit_config": {"tier": "bogus"}}, 422, None),
    ({"public_name": "fine-name", "rate_limit_config": {"requests_per_minute": 0}}, 422, None),
    ({"public_name": "fine-name", "password_secret_name": "openpeek/local/org_x/namespace/ns_y"}, 422, None),
    ({"display_config": DISPLAY}, 400, "public_name_required"),
    ({"display_name": "!!", "display_config": DISPLAY}, 400, "invalid_public_name"),
])
def test_bad_publish_requests_are_refused_and_change_nothing(client, ns, body, status, code):
    retriever_id = retriever(client, ns)
    response = client.post(f"/v1/retrievers/{retriever_id}/publish", headers=ns, json=body)
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code
    assert client.get(f"/v1/retrievers/{retriever_id}/publish", headers=ns).json() is None


def test_publish_needs_a_display_config_and_refuses_what_it_cannot_do(client, ns):
    bare = retriever(client, ns)
    refused = client.post(f"/v1/retrievers/{bare}/publish", headers=ns, json={"public_name": "bare-books"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "display_config_required"
    stored = retriever(client, ns, display_config=DISPLAY)  # the retriever's own display_config is used
    assert client.post(f"/v1/retrievers/{stored}/publish", headers=ns,
                       json={"public_name": "stored-config"}).status_code == 200
    again = publish(client, ns, stored, public_name="another-name")
    assert again.status_code == 409 and again.json()["error"]["code"] == "retriever_already_published"
    assert client.patch(f"/v1/retrievers/{bare}/publish", headers=ns, json={"is_active": False}).status_code == 404
    assert client.patch(f"/v1/retrievers/{stored}/publish", headers=ns, json={"is_active": "no"}).status_code == 422
    for method, path in (("POST", "/publish"), ("GET", "/publish"), ("PATCH", "/publish"), ("DELETE", "/publish"),
                         ("POST", "/publish/reconcile")):
        response = client.request(method, f"/v1/retrievers/ret_missing{path}", headers=ns,
                                  json={"display_config": DISPLAY, "public_name": "x-y-z"} if method == "POST"
                                  and path == "/publish" else ({} if method == "PATCH" else None))
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(f"/v1/retrievers/{stored}/publish/availability", headers=ns).status_code == 422
    bad_name = client.get(f"/v1/retrievers/{stored}/publish/availability", headers=ns, params={"name": "A B"})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == "invalid_public_name"
    for body in ({"filters": {"title": "Book 1"}}, {"return_vectors": True}, {"stream": True}):
        response = execute(client, "stored-config", **body)
        assert response.status_code == 400, body
    assert execute(client, "stored-config", surprise=1).status_code == 422
    assert client.post("/v1/retrievers/publish/stats", headers=ns).status_code == 405


def test_reconcile_restores_a_lost_name_reservation(client, ns, module_services):
    retriever_id = retriever(client, ns)
    assert publish(client, ns, retriever_id, public_name="drifting-books").status_code == 200
    response = client.post(f"/v1/retrievers/{retriever_id}/publish/reconcile", headers=ns)
    assert response.status_code == 200 and response.json()["state"] == "consistent", response.text
    module_services.table.delete("PUBNAME#drifting-books", "PUBNAME")  # the drift: the name leads nowhere
    assert execute(client, "drifting-books").status_code == 404

    dry = client.post(f"/v1/retrievers/{retriever_id}/publish/reconcile", headers=ns, params={"dry_run": "true"})
    assert dry.json()["state"] == "missing_reservation" and dry.json()["repaired"] is False
    assert execute(client, "drifting-books").status_code == 404  # a dry run changes nothing
    repaired = client.post(f"/v1/retrievers/{retriever_id}/publish/reconcile", headers=ns)
    assert repaired.json()["state"] == "missing_reservation" and repaired.json()["repaired"] is True
    assert execute(client, "drifting-books").status_code == 200
    unpublished = retriever(client, ns)
    assert client.post(f"/v1/retrievers/{unpublished}/publish/reconcile", headers=ns).json()["state"] == \
        "not_published"
    assert client.post(f"/v1/retrievers/{unpublished}/publish/reconcile", headers=ns,
                       params={"dry_run": "maybe"}).status_code == 422


def test_a_namespace_publishes_at_most_ten_retrievers(client, module_services):
    headers = _namespace(client, make_tenant(module_services, "initech"), "quota")
    for index in range(10):
        assert publish(client, headers, retriever(client, headers), public_name=f"quota-{index}").status_code == 200
    refused = publish(client, headers, retriever(client, headers), public_name="quota-10")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "publish_limit_reached"
    stats = OrganizationPublishStatsResponse.from_dict(
        client.get("/v1/retrievers/publish/stats", headers=headers).json())
    assert (stats.current_count, stats.remaining, stats.at_limit) == (10, 0, True)
    assert execute(client, "quota-10").status_code == 404


def test_a_deleted_namespaces_public_names_can_be_published_again(client, module_services, ns):
    headers = _namespace(client, make_tenant(module_services, "umbrella"), "shortlived")
    assert publish(client, headers, retriever(client, headers), public_name="phoenix").status_code == 200
    assert client.delete("/v1/namespaces/shortlived", headers=headers).status_code == 200
    assert execute(client, "phoenix").status_code == 404  # its reservation outlived it, and leads nowhere
    mine = retriever(client, ns)
    assert client.get(f"/v1/retrievers/{mine}/publish/availability", headers=ns,
                      params={"name": "phoenix"}).json()["available"] is True
    assert publish(client, ns, mine, public_name="phoenix").status_code == 200
    assert execute(client, "phoenix").status_code == 200


def test_a_retriever_says_it_is_published_while_a_publication_of_it_exists(client, ns):
    retriever_id = retriever(client, ns)

    def shown() -> tuple[bool, bool]:
        one = client.get(f"/v1/retrievers/{retriever_id}", headers=ns)
        assert one.status_code == 200, one.text
        listed = client.post("/v1/retrievers/list", headers=ns, json={}).json()["results"]
        return one.json()["is_published"], next(r for r in listed if r["retriever_id"] == retriever_id)["is_published"]

    assert shown() == (False, False)
    assert publish(client, ns, retriever_id, public_name="shown-published").status_code == 200
    assert shown() == (True, True)
    assert client.delete(f"/v1/retrievers/{retriever_id}/publish", headers=ns).status_code == 200
    assert shown() == (False, False)
