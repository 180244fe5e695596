"""Retriever interactions over HTTP: record one (deduplicated within five minutes), a backfill in bulk, read, delete
and list them with the SDK's filters and paging; references to executions and documents are checked in the caller's
namespace (another organisation's are 404), and bad input changes nothing. Every answer parses as the SDK's model."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import BulkInteractionsResponse, InteractionResponse, ListInteractionsResponse

from openpeek.api.app import create_app
from tests.api.conftest import standalone_namespace
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def client(module_services) -> TestClient:
    return TestClient(create_app(module_services))


_names = itertools.count()


class Space:
    """A namespace with five documents, a retriever over them and one execution of it."""

    def __init__(self, client: TestClient, headers: dict[str, str], name: str) -> None:
        documents = [{"document_id": f"{name}-d{i}", "vectors": {"emb": [1.0, i / 10, 0.0]},
                      "payload": {"title": f"Item {i}"}} for i in range(5)]
        self.headers = standalone_namespace(client, headers, name, documents)
        self.documents = [document["document_id"] for document in documents]
        response = client.post("/v1/retrievers", headers=self.headers, json={
            "retriever_name": f"items-{next(_names)}", "input_schema": {"v": {"type": "array", "required": True}},
            "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
                {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 5}]}}}]})
        assert response.status_code == 200, response.text
        self.retriever_id = response.json()["retriever_id"]
        self.execution_id = self.execute(client)

    def execute(self, client: TestClient) -> str:
        response = client.post(f"/v1/retrievers/{self.retriever_id}/execute", headers=self.headers,
                               json={"inputs": {"v": [1.0, 0.0, 0.0]}})
        assert response.status_code == 200, response.text
        return response.json()["execution_id"]


@pytest.fixture(scope="module")
def space(client, module_services) -> Space:
    return Space(client, make_tenant(module_services, "acme").headers, "shop")


@pytest.fixture(scope="module")
def other(client, module_services) -> Space:
    return Space(client, make_tenant(module_services, "globex").headers, "rival")


def _listed(client, headers, body=None, **query) -> dict:
    response = client.post("/v1/retrievers/interactions/list", headers=headers, json=body or {}, params=query)
    assert response.status_code == 200, response.text
    ListInteractionsResponse.from_dict(response.json())
    return response.json()


def test_record_read_deduplicate_and_delete_an_interaction(client, space):
    execution_id = space.execute(client)
    body = {"document_id": space.documents[1], "interaction_type": ["CLICK", "view"], "position": 1,
            "execution_id": execution_id, "document_score": 0.9, "result_set_size": 5, "session_id": "sess-1",
            "user_id": "u-1", "query_snapshot": {"v": [1.0, 0.0, 0.0]}, "metadata": {"device": "mobile"}}
    response = client.post("/v1/retrievers/interactions", headers=space.headers, json=body)
    assert response.status_code == 200, response.text
    recorded = InteractionResponse.from_dict(response.json())
    assert recorded.interaction_id and recorded.deduplicated is False and recorded.timestamp
    assert recorded.feature_id == space.documents[1] and recorded.retriever_id == space.retriever_id  # inferred
    assert [kind.value for kind in recorded.interaction_type] == ["click", "view"]

    response = client.get(f"/v1/retrievers/interactions/{recorded.interaction_id}", headers=space.headers)
    assert response.status_code == 200, response.text
    read = InteractionResponse.from_dict(response.json())
    assert (read.execution_id, read.session_id, read.metadata, read.position) == (
        execution_id, "sess-1", {"device": "mobile"}, 1)

    again = client.post("/v1/retrievers/interactions", headers=space.headers,
                        json={**body, "interaction_type": ["view", "click"]})  # the same types, another order
    assert again.status_code == 200 and again.json()["deduplicated"] is True and again.json()["interaction_id"] is None
    assert len(_listed(client, space.headers, {"execution_id": execution_id})["results"]) == 1

    deleted = client.delete(f"/v1/retrievers/interactions/{recorded.interaction_id}", headers=space.headers)
    assert deleted.status_code == 200 and deleted.json()["success"] is True and deleted.json()["deleted"] is True
    gone = client.get(f"/v1/retrievers/interactions/{recorded.interaction_id}", headers=space.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "interaction_not_found"
    repeated = client.delete(f"/v1/retrievers/interactions/{recorded.interaction_id}", headers=space.headers)
    assert repeated.status_code == 200 and repeated.json()["deleted"] is False  # idempotent


def test_interactions_without_an_execution_and_query_level_ones(client, space):
    plain = client.post("/v1/retrievers/interactions", headers=space.headers,
                        json={"feature_id": space.documents[0], "interaction_type": ["bookmark"], "position": 0})
    assert plain.status_code == 200 and plain.json()["retriever_id"] is None
    # zero_results is about the query: the feature it names need not be a document
    empty = client.post("/v1/retrievers/interactions", headers=space.headers, json={
        "feature_id": "none", "interaction_type": ["zero_results"], "position": 0, "result_set_size": 0,
        "execution_id": space.execution_id, "retriever_id": space.retriever_id})
    assert empty.status_code == 200, empty.text
    adhoc = client.post("/v1/retrievers/execute", headers=space.headers, json={
        "stages": [{"stage_name": "search", "config": {"stage_id": "feature_search",
                                               "parameters": {"searches": [{"feature_uri": "emb", "query": {
                                                   "input_mode": "vector", "value": [1.0, 0.0, 0.0]}}]}}}],
        "inputs": {}})
    assert adhoc.status_code == 200, adhoc.text
    on_adhoc = client.post("/v1/retrievers/interactions", headers=space.headers, json={
        "feature_id": space.documents[2], "interaction_type": ["click"], "position": 2,
        "execution_id": adhoc.json()["execution_id"]})
    assert on_adhoc.status_code == 200 and on_adhoc.json()["retriever_id"] is None


def test_bulk_backfill_records_what_it_can_and_names_what_failed(client, space):
    execution_id = space.execute(client)
    past = datetime(2026, 1, 2, 3, 4, 5)  # naive: UTC
    future = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    body = {"interactions": [
        {"feature_id": space.documents[0], "interaction_type": ["purchase"], "position": 0,
         "execution_id": execution_id, "occurred_at": past.isoformat()},
        {"feature_id": "no-such-document", "interaction_type": ["click"], "position": 1,
         "execution_id": execution_id},
        {"feature_id": space.documents[2], "interaction_type": ["click"], "position": 2,
         "execution_id": "exec_unknown"},
        {"feature_id": space.documents[3], "interaction_type": ["purchase"], "position": 3,
         "execution_id": execution_id, "occurred_at": future},
        {"feature_id": space.documents[3], "interaction_type": ["purchase"], "position": 3,
         "execution_id": execution_id},  # bulk does not deduplicate
    ]}
    response = client.post("/v1/retrievers/interactions/batch", headers=space.headers, json=body)
    assert response.status_code == 200, response.text
    result = BulkInteractionsResponse.from_dict(response.json())
    assert (result.created, result.failed) == (3, 2)
    assert [item.index for item in result.results] == [0, 3, 4]
    assert result.errors[0].startswith("[1] Document 'no-such-document'")
    assert result.errors[1].startswith("[2] Execution 'exec_unknown'")
    stored = {entry["position"]: entry for entry in _listed(client, space.headers, {"execution_id": execution_id})[
        "results"]}
    assert set(stored) == {0, 3}
    assert stored[0]["occurred_at"] == "2026-01-02T03:04:05.000Z"
    assert datetime.fromisoformat(stored[3]["occurred_at"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)


def test_listing_filters_sorts_searches_and_pages(client, space):
    execution_id = space.execute(client)
    for position, kind in enumerate(["view", "click", "view", "purchase"]):
        response = client.post("/v1/retrievers/interactions", headers=space.headers, json={
            "feature_id": space.documents[position], "interaction_type": [kind], "position": position,
            "execution_id": execution_id, "session_id": "sess-list",
            "metadata": {"note": "Gift wrapped" if kind == "purchase" else "plain"}})
        assert response.status_code == 200, response.text
    mine = {"execution_id": execution_id}
    assert len(_listed(client, space.headers, mine)["results"]) == 4
    views = _listed(client, space.headers, {**mine, "interaction_type": "VIEW"})["results"]
    assert sorted(entry["position"] for entry in views) == [0, 2]
    near_top = _listed(client, space.headers, {**mine, "filters": {
        "AND": [{"field": "position", "operator": "lte", "value": 1}]},
                                               "sort": {"field": "position", "direction": "asc"}})["results"]
    assert [entry["position"] for entry in near_top] == [0, 1]
    assert [e["position"] for e in _listed(client, space.headers, {**mine, "search": "gift"})["results"]] == [3]
    assert _listed(client, space.headers, {"session_id": "sess-list", "user_id": "nobody"})["results"] == []

    first = _listed(client, space.headers, {**mine, "sort": {"field": "position", "direction": "desc"}},
                    page_size=3, include_total="true")
    assert [e["position"] for e in first["results"]] == [3, 2, 1] and first["items"] == first["results"]
    assert first["pagination"]["total"] == 4 and first["pagination"]["next_cursor"]
    rest = _listed(client, space.headers, {**mine, "sort": {"field": "position", "direction": "desc"}},
                   page_size=3, cursor=first["pagination"]["next_cursor"])
    assert [e["position"] for e in rest["results"]] == [0] and rest["pagination"]["next_cursor"] is None
    assert rest["pagination"]["total"] is None  # counted only when asked


def test_other_organisations_executions_documents_and_interactions_are_not_found(client, space, other):
    foreign_execution = client.post("/v1/retrievers/interactions", headers=space.headers, json={
        "feature_id": space.documents[0], "interaction_type": ["click"], "position": 0,
        "execution_id": other.execution_id})
    assert foreign_execution.status_code == 404 and foreign_execution.json()["error"]["code"] == "execution_not_found"
    foreign_document = client.post("/v1/retrievers/interactions", headers=space.headers, json={
        "feature_id": other.documents[0], "interaction_type": ["click"], "position": 0,
        "execution_id": space.execution_id})
    assert foreign_document.status_code == 404 and foreign_document.json()["error"]["code"] == "document_not_found"

    mine = client.post("/v1/retrievers/interactions", headers=space.headers, json={
        "feature_id": space.documents[4], "interaction_type": ["share"], "position": 4}).json()["interaction_id"]
    assert client.get(f"/v1/retrievers/interactions/{mine}", headers=other.headers).status_code == 404
    assert client.delete(f"/v1/retrievers/interactions/{mine}", headers=other.headers).json()["deleted"] is False
    assert client.get(f"/v1/retrievers/interactions/{mine}", headers=space.headers).status_code == 200
    assert mine not in [e["interaction_id"] for e in _listed(client, other.headers)["results"]]
    assert client.post("/v1/retrievers/interactions/list", json={}).status_code == 401


@pytest.mark.parametrize("body", [
    {"interaction_type": ["click"], "position": 0},  # no feature_id
    {"feature_id": "x", "interaction_type": ["teleport"], "position": 0},
    {"feature_id": "x", "interaction_type": [], "position": 0},
    {"feature_id": "x", "interaction_type": ["click"], "position": -1},
    {"feature_id": "x", "interaction_type": ["click"], "position": "1"},
    {"feature_id": "x", "interaction_type": ["click"], "position": 0, "retriever_id": "ret_x"},  # no execution_id
    {"feature_id": "x", "interaction_type": ["click"], "position": 0, "result_set_size": 0},
    {"feature_id": "x", "document_id": "y", "interaction_type": ["click"], "position": 0},
    {"feature_id": "x", "interaction_type": ["click"], "position": 0, "colour": "red"},
    {"feature_id": "x", "interaction_type": ["click"], "position": 0, "metadata": {"blob": "x" * 40_000}},
])
def test_bad_interactions_are_refused_and_change_nothing(client, space, body):
    before = len(_listed(client, space.headers)["results"])
    assert client.post("/v1/retrievers/interactions", headers=space.headers, json=body).status_code == 422
    assert client.post("/v1/retrievers/interactions/batch", headers=space.headers,
                       json={"interactions": [body]}).status_code == 422
    assert len(_listed(client, space.headers)["results"]) == before


def test_bad_listing_and_bulk_requests_are_refused(client, space):
    for body, query in [({"sort": {"field": "metadata", "direction": "asc"}}, {}),
                        ({}, {"cursor": "not-a-cursor"}), ({"filters": "position"}, {})]:
        response = client.post("/v1/retrievers/interactions/list", headers=space.headers, json=body, params=query)
        assert response.status_code in (400, 422), (body, query, response.text)
        assert response.status_code == 422 or response.json()["success"] is False
    for body, query in [({"interaction_type": "teleport"}, {}), ({"colour": 1}, {}), ({}, {"page_size": 0})]:
        assert client.post("/v1/retrievers/interactions/list", headers=space.headers, json=body,
                           params=query).status_code == 422
    too_many = {"interactions": [{"feature_id": "x", "interaction_type": ["view"], "position": 0}] * 1001}
    assert client.post("/v1/retrievers/interactions/batch", headers=space.headers, json=too_many).status_code == 422
    assert client.post("/v1/retrievers/interactions/batch", headers=space.headers,
                       json={"interactions": []}).status_code == 422
