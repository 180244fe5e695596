"""Automatic payload indexes (seed 000): fields filtered more than 100 times in 24 h get an index of the type their
values show, marked automatic; never twice, never on a protected field, only where the namespace asked for it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from openpeek.domain.clock import utcnow
from openpeek.repositories.filter_usage import FilterUsageRepository
from openpeek.services.auto_index import index_type, protected
from openpeek.services.filter_usage import FilterUsage


@pytest.fixture
def headers(client, tenant):
    for name, auto in (("auto", True), ("manual", False)):
        client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
            "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": 2}]})
        client.patch(f"/v1/namespaces/{name}", headers=tenant.headers, json={"auto_create_indexes": auto})
        client.post(f"/v1/namespaces/{name}/documents/upsert", headers=tenant.headers, json={"documents": [
            {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10]},
             "payload": {"brand": f"b{i % 3}", "price": i * 1.5, "stock": i, "rare": "x"}} for i in range(10)]})
    return tenant.headers


def search(client, headers, namespace, filters, times):
    retriever = client.post("/v1/retrievers", headers={**headers, "X-Namespace": namespace}, json={
        "retriever_name": f"r{len(str(filters))}{times}", "input_schema": {},
        "stages": [{"stage_name": "s", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "filters": filters,
             "top_k": 3}]}}}]}).json()
    for _ in range(times):
        response = client.post(f"/v1/retrievers/{retriever['retriever_id']}/execute",
                               headers={**headers, "X-Namespace": namespace}, json={"inputs": {}})
        assert response.status_code == 200, response.text


def indexes(client, headers, namespace):
    body = client.get(f"/v1/namespaces/{namespace}", headers=headers).json()
    return {i["field_name"]: i for i in body["payload_indexes"]}


def test_fields_filtered_often_get_indexes_of_their_type_marked_automatic(client, services, headers):
    search(client, headers, "auto", {"AND": [{"field": "brand", "operator": "eq", "value": "b1"},
                                             {"field": "price", "operator": "gte", "value": 3}]}, 101)
    search(client, headers, "auto", {"AND": [{"field": "rare", "operator": "eq", "value": "x"}]}, 100)
    search(client, headers, "auto", {"AND": [{"field": "document_id", "operator": "eq", "value": "d1"}]}, 101)
    search(client, headers, "manual", {"AND": [{"field": "brand", "operator": "eq", "value": "b1"}]}, 101)

    result = services.auto_index.run()

    created = {(c["namespace_id"], c["field"], c["type"]) for c in result.created}
    assert created == {("auto", "brand", "keyword"), ("auto", "price", "float")}
    found = indexes(client, headers, "auto")
    assert found["brand"]["type"] == "keyword" and found["price"]["type"] == "float"
    assert "rare" not in found  # 100 is not more than 100
    assert "brand" not in indexes(client, headers, "manual")
    assert services.vectors.info("auto").payload_indexes["brand"] == "keyword"
    # a second run changes nothing
    assert services.auto_index.run().created == []
    assert len([i for i in indexes(client, headers, "auto").values() if i["field_name"] == "brand"]) == 1


def test_counts_older_than_a_day_do_not_count(services):
    usage = FilterUsage(FilterUsageRepository(services.table), flush_every_s=0)
    then = utcnow() - timedelta(hours=30)
    old = FilterUsage(FilterUsageRepository(services.table), flush_every_s=0, clock=lambda: then)
    old.record("ns_x", ["brand"] * 1)
    usage.record("ns_x", ["stock"])
    usage.record("ns_x", ["stock"])

    assert usage.last_day() == {"ns_x": Counter({"stock": 2})}


def test_types_come_from_the_values_and_protected_fields_are_refused():
    assert index_type(["a", "b"]) == "keyword"
    assert index_type([1, 2]) == "integer" and index_type([1, 2.5]) == "float"
    assert index_type([True]) == "bool" and index_type(["2026-01-01T00:00:00Z"]) == "datetime"
    assert index_type([{"lat": 1, "lon": 2}]) == "geo" and index_type([["a", "b"]]) == "keyword"
    assert index_type(["a", 1]) is None and index_type([]) is None
    assert protected("document_id") and protected("_internal.metadata.x") and protected("collection_id")
    assert not protected("brand")
