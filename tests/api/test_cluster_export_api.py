"""GET /v1/clusters/{id}/executions/{run_id}/export: a run's rows behind its map, as CSV (streamed, current labels,
one cluster on request) or as the run's cluster_documents.parquet through a short-lived download URL."""

from __future__ import annotations

import csv
import io

import pyarrow.parquet as pq
import pytest

from openpeek.services.clustering import results as cluster_results
from openpeek.services.clustering.steps import cluster_documents_key
from openpeek.services.organizations import Principal
from tests.api.test_clusters_api import DIMENSION, create_cluster, membership, ns, run, truth  # noqa: F401
from tests.api.test_namespaces_api import assert_error


@pytest.fixture
def finished(client, ns, truth):  # noqa: F811
    cluster = create_cluster(client, ns)
    assert run(client, ns, cluster["cluster_id"])["status"] == "COMPLETED"
    run_id = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()["run_id"]
    return cluster["cluster_id"], run_id


def export(client, headers, cluster_id, run_id, **query):
    return client.get(f"/v1/clusters/{cluster_id}/executions/{run_id}/export", headers=headers, params=query)


def csv_rows(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_has_every_member_and_centroid_with_the_current_labels(client, ns, truth, finished):  # noqa: F811
    cluster_id, run_id = finished
    assert client.patch(f"/v1/clusters/{cluster_id}/executions/{run_id}/labels", headers=ns,
                        json={"labels": {"cl_0": "Renamed"}}).status_code == 200
    response = export(client, ns, cluster_id, run_id, format="csv")
    rows = csv_rows(response)
    assert f'filename="{cluster_id}_{run_id}.csv"' in response.headers["content-disposition"]
    assert list(rows[0])[:6] == ["row_type", "document_id", "cluster_id", "cluster_label", "x", "y"]
    members = {r["document_id"]: r for r in rows if r["row_type"] == "member"}
    centroids = {r["cluster_id"]: r for r in rows if r["row_type"] == "centroid"}
    assert set(members) == set(truth) and set(centroids) == {"cl_0", "cl_1", "cl_2"}
    assert {d: r["cluster_id"] for d, r in members.items()} == membership(client, ns, cluster_id)
    assert {r["cluster_label"] for r in members.values() if r["cluster_id"] == "cl_0"} == {"Renamed"}
    assert centroids["cl_0"]["cluster_label"] == "Renamed" and int(centroids["cl_0"]["num_members"]) > 0
    assert all(float(r["x"]) == float(r["x"]) for r in rows)  # every row placed on the map
    assert "centroid_vector" not in rows[0]

    for chosen in ("Renamed", "cl_0"):
        one = csv_rows(export(client, ns, cluster_id, run_id, format="csv", cluster_label=chosen))
        assert {r["cluster_id"] for r in one} == {"cl_0"}
        assert sum(r["row_type"] == "member" for r in one) == int(centroids["cl_0"]["num_members"])
    assert_error(export(client, ns, cluster_id, run_id, format="csv", cluster_label="nope"), 404,
                 "cluster_not_in_run")


def test_parquet_is_a_download_url_of_the_runs_file_with_centroid_vectors(client, ns, truth, finished):  # noqa: F811
    cluster_id, run_id = finished
    response = export(client, ns, cluster_id, run_id)  # parquet is the default
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "parquet" and body["run_id"] == run_id and body["expires_in_seconds"] > 0
    download = client.get(body["download_url"])  # no key: the URL is the permission
    assert download.status_code == 200
    table = pq.read_table(io.BytesIO(download.content)).to_pylist()
    members = [r for r in table if r["row_type"] == "member"]
    centroids = [r for r in table if r["row_type"] == "centroid"]
    assert {r["document_id"] for r in members} == set(truth) and len(centroids) == 3
    assert all(len(r["centroid_vector"]) == DIMENSION for r in centroids)
    assert {r["document_id"]: r["cluster_id"] for r in members} == membership(client, ns, cluster_id)
    assert sum(r["num_members"] for r in centroids) == len(truth)


def test_a_deferred_map_rewrites_the_parquet_with_its_positions(client, ns, truth):  # noqa: F811
    cluster = create_cluster(client, ns)
    run(client, ns, cluster["cluster_id"], defer_visualization=True)
    run_id = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()["run_id"]

    def positions():
        url = export(client, ns, cluster["cluster_id"], run_id).json()["download_url"]
        return [r["x"] for r in pq.read_table(io.BytesIO(client.get(url).content)).to_pylist()]

    assert all(x is None for x in positions())
    assert client.get(f"/v1/clusters/{cluster['cluster_id']}/visualization", headers=ns).status_code == 200
    assert all(x is not None for x in positions())


def test_what_cannot_be_exported_says_why(client, services, tenant, ns, finished, monkeypatch):  # noqa: F811
    cluster_id, run_id = finished
    assert_error(export(client, ns, cluster_id, "run_missing"), 404)
    assert_error(export(client, ns, "clust_missing", run_id), 404)
    assert export(client, ns, cluster_id, run_id, format="xlsx").status_code == 422
    assert_error(export(client, ns, cluster_id, run_id, cluster_label="cl_0"), 400, "invalid_export_option")

    monkeypatch.setattr(cluster_results, "EXPORT_MAX_ROWS", 10)
    too_many = export(client, ns, cluster_id, run_id, format="csv")
    assert_error(too_many, 413, "export_too_large")
    assert "parquet" in too_many.json()["error"]["message"]

    namespace = services.namespaces.resolve(Principal(tenant.org_id, "test"), "maps")
    services.blobs.delete(cluster_documents_key(namespace.namespace_id, cluster_id, run_id))
    gone = export(client, ns, cluster_id, run_id)
    assert_error(gone, 404, "export_not_available")
    assert "cluster_documents.parquet" in gone.json()["error"]["message"]


def test_an_unfinished_run_and_another_organisation_are_refused(client, ns, other_tenant):  # noqa: F811
    client.post("/v1/namespaces/maps/documents/upsert", headers=ns, json={"documents": [
        {"document_id": "lonely", "vectors": {"emb": [1.0] + [0.0] * (DIMENSION - 1)}}]})
    cluster = create_cluster(client, ns)
    assert run(client, ns, cluster["cluster_id"])["status"] == "FAILED"
    run_id = client.get(f"/v1/clusters/{cluster['cluster_id']}/executions", headers=ns).json()["run_id"]
    for fmt in ("csv", "parquet"):
        assert_error(export(client, ns, cluster["cluster_id"], run_id, format=fmt), 404, "export_not_available")
    theirs = {**other_tenant.headers, "X-Namespace": "maps"}
    assert_error(export(client, theirs, cluster["cluster_id"], run_id), 404)
