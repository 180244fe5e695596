"""sql_lookup against a configured SQLite file: rows joined onto documents by bound parameters, rows as documents,
read-only, a single SELECT only, unconfigured connections refused at creation."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from fastapi.testclient import TestClient

from openpeek.adapters.sqlite_lookup import ReadOnlySqlite
from openpeek.api.app import create_app
from openpeek.domain.failures import DependencyUnavailable
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql") / "stock.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, qty INTEGER, shelf TEXT)")
        connection.executemany("INSERT INTO stock VALUES (?, ?, ?)",
                               [("d0", 5, "A1"), ("d1", 0, "B2"), ("x'; DROP TABLE stock; --", 1, "Z")])
    connection.close()
    return path


@pytest.fixture(scope="module")
def client(tmp_path_factory, database):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("sqlrt") / "data",
                                    sql_lookup_connections={"warehouse": str(database)}))
    yield TestClient(create_app(built)), built
    built.close()


@pytest.fixture(scope="module")
def ns(client):
    http, services = client
    tenant = make_tenant(services, "acme")
    http.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
    skus = ["d0", "d1", "d2", "x'; DROP TABLE stock; --"]
    http.post("/v1/namespaces/shop/documents/upsert", headers=tenant.headers, json={"documents": [
        {"document_id": f"p{i}", "vectors": {"emb": [1.0, i / 10]}, "payload": {"sku": sku}}
        for i, sku in enumerate(skus)]}).raise_for_status()
    return {**tenant.headers, "X-Namespace": "shop"}


SEARCH = {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
    {"feature_uri": "emb", "query": {"input_mode": "vector", "value": [1.0, 0.0]}, "top_k": 4}]}}}
_names = itertools.count()


def lookup(query="SELECT qty, shelf FROM stock WHERE sku = $1", **more) -> dict:
    return {"stage_name": "stock", "config": {"stage_id": "sql_lookup", "parameters": {
        "connection_id": "warehouse", "query": query, "parameters": {"sku": "{{DOC.sku}}"}, **more}}}


def create(http, headers, stages):
    return http.post("/v1/retrievers", headers=headers, json={
        "retriever_name": f"q{next(_names)}", "stages": stages,
        "input_schema": {"min_qty": {"type": "integer", "default": 1}}})


def run(http, headers, stages, inputs=None):
    created = create(http, headers, stages)
    assert created.status_code == 200, created.text
    return http.post(f"/v1/retrievers/{created.json()['retriever_id']}/execute", headers=headers,
                     json={"inputs": inputs or {}})


def test_each_document_gets_its_row_by_a_bound_parameter(client, ns, database):
    response = run(client[0], ns, [SEARCH, lookup()])
    assert response.status_code == 200, response.text
    by_id = {d["document_id"]: d for d in response.json()["documents"]}
    assert by_id["p0"]["sql_result"] == {"qty": 5, "shelf": "A1"}
    assert by_id["p2"]["sql_result"] is None  # no row: on_no_results null
    assert by_id["p3"]["sql_result"] == {"qty": 1, "shelf": "Z"}  # the value was bound, not spliced into the SQL
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM stock").fetchone() == (3,)
    connection.close()


def test_without_documents_the_rows_become_documents(client, ns):
    response = run(client[0], ns, [lookup("SELECT sku, qty FROM stock WHERE qty >= :least ORDER BY sku",
                                          parameters={"least": "{{INPUT.min_qty}}"})], {"min_qty": 1})
    assert response.status_code == 200, response.text
    assert [d["sku"] for d in response.json()["documents"]] == ["d0", "x'; DROP TABLE stock; --"]


def test_no_rows_can_skip_and_errors_can_remove_or_raise(client, ns):
    skipped = run(client[0], ns, [SEARCH, lookup(on_no_results="skip", result_handling="all")])
    by_id = {d["document_id"]: d for d in skipped.json()["documents"]}
    assert by_id["p1"]["sql_result"] == [{"qty": 0, "shelf": "B2"}] and "sql_result" not in by_id["p2"]
    removed = run(client[0], ns, [SEARCH, lookup(result_handling="error_if_empty", on_error="remove")])
    assert sorted(d["document_id"] for d in removed.json()["documents"]) == ["p0", "p1", "p3"]
    raised = run(client[0], ns, [SEARCH, lookup(result_handling="error_if_empty", on_error="raise")])
    assert raised.status_code == 503 and raised.json()["error"]["code"] == "sql_lookup_failed"


def test_the_connection_itself_refuses_writes_and_stops_at_its_deadline(database):
    # The stage's text check is the first guard; the adapter's read-only connection and authorizer the second.
    store = ReadOnlySqlite({"warehouse": str(database)})
    for statement in ("DELETE FROM stock", "ATTACH DATABASE ':memory:' AS other", "PRAGMA query_only = 0"):
        with pytest.raises(DependencyUnavailable):
            store.select("warehouse", statement, {}, timeout_s=5, max_rows=10)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM stock").fetchone() == (3,)
    connection.close()
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(DependencyUnavailable, match="ran past"):
        store.select("warehouse", endless, {}, timeout_s=1, max_rows=10)


@pytest.mark.parametrize("change, field, code", [
    ({"connection_id": "elsewhere"}, "connection_id", "connection_not_configured"),
    ({"query": "DELETE FROM stock WHERE sku = $1"}, "query", "invalid_stage_parameters"),
    ({"query": "SELECT 1; DROP TABLE stock"}, "query", "invalid_stage_parameters"),
    ({"query": "SELECT * FROM stock WHERE sku = ?"}, "query", "invalid_stage_parameters"),
    ({"query": "SELECT * FROM stock WHERE sku = $2"}, "parameters", "invalid_stage_parameters"),
    ({"query": "SELECT * FROM stock WHERE sku = '{{INPUT.min_qty}}'"}, "query", "invalid_stage_parameters"),
])
def test_bad_statements_and_unknown_connections_are_refused_at_creation(client, ns, change, field, code):
    response = create(client[0], ns, [SEARCH, lookup(**change)])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field and error["code"] == code


def test_a_deployment_without_connections_names_the_setting(tmp_path):
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path / "data"))
    try:
        http = TestClient(create_app(built))
        tenant = make_tenant(built, "acme")
        http.post("/v1/namespaces/standalone", headers=tenant.headers, json={
            "namespace_id": "shop", "vector_configs": [{"name": "emb", "dimension": 2}]}).raise_for_status()
        response = create(http, {**tenant.headers, "X-Namespace": "shop"}, [SEARCH, lookup()])
        assert response.status_code == 400
        assert "OPENPEEK_SQL_LOOKUP_CONNECTIONS" in response.json()["error"]["message"]
    finally:
        built.close()
