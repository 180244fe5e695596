"""What the studio stands on, over HTTP on the embedded runtime: the packed binary map (the same points as the JSON
map, paged), the namespace-wide document listing (filters, search, cursor paging; SDK model), the OpenAPI document's
security (bearer scheme, required X-Namespace), the studio's files and the offline /docs and /redoc pages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mixpeek.models import ListDocumentsResponse

from openpeek.api.app import create_app
from openpeek.domain.packed_map import unpack
from openpeek.runtime import build_services
from openpeek.settings import Settings
from openpeek.studio import STATIC_ROOT
from tests.api.test_clusters_api import create_cluster, upsert_topics, wait
from tests.api.test_namespaces_api import assert_error
from tests.conftest import make_tenant


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One embedded deployment with a namespace of 90 documents and a completed 2-D and 3-D run."""
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("studio") / "data"))
    client = TestClient(create_app(services), raise_server_exceptions=False)
    tenant = make_tenant(services, "acme")
    assert client.post("/v1/namespaces/standalone", headers=tenant.headers, json={
        "namespace_id": "maps", "vector_configs": [{"name": "emb", "dimension": 16}]}).status_code == 200
    headers = {**tenant.headers, "X-Namespace": "maps"}
    upsert_topics(client, headers)
    flat = create_cluster(client, headers, cluster_name="flat")
    deep = create_cluster(client, headers, cluster_name="deep", vector_config={"vis_n_components": 3})
    tasks = [client.post(f"/v1/clusters/{c['cluster_id']}/execute", headers=headers).json()["task_id"]
             for c in (flat, deep)]
    assert all(wait(client, headers, task)["status"] == "COMPLETED" for task in tasks)
    yield {"client": client, "headers": headers, "flat": flat["cluster_id"], "deep": deep["cluster_id"],
           "services": services}
    services.close()


def packed(world, cluster_id, **query):
    response = world["client"].get(f"/v1/clusters/{cluster_id}/visualization/points", headers=world["headers"],
                                   params=query)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.openpeek.map"
    return unpack(response.content)


def test_packed_map_holds_the_same_points_as_the_json_map(world):
    client, headers = world["client"], world["headers"]
    reference = client.get(f"/v1/clusters/{world['flat']}/visualization", headers=headers).json()
    header, columns = packed(world, world["flat"])
    ids_header, ids = packed(world, world["flat"], include="document_ids")
    assert header["n_components"] == 2 and header["total_points"] == 90 and header["count"] == 90
    assert [c["name"] for c in header["columns"]] == ["x", "y", "cluster"]
    assert ids["document_id"] == [p["document_id"] for p in reference["points"]]
    for position, point in enumerate(reference["points"]):
        assert columns["x"][position] == pytest.approx(point["x"], rel=1e-6, abs=1e-6)
        assert columns["y"][position] == pytest.approx(point["y"], rel=1e-6, abs=1e-6)
        assert header["cluster_ids"][columns["cluster"][position]] == point["cluster_id"]
    labels = {c["cluster_id"]: c["label"] for c in reference["centroids"]}
    assert {c["cluster_id"]: c["label"] for c in header["centroids"]} == labels
    assert sum(c["num_members"] for c in header["centroids"]) == 90
    for centroid in reference["centroids"]:
        mine = next(c for c in header["centroids"] if c["cluster_id"] == centroid["cluster_id"])
        assert mine["position"] == pytest.approx([centroid["x"], centroid["y"]])
    assert "centroids" not in ids_header and ids_header["count"] == 90


def test_packed_map_pages_cover_every_point_once_and_3d_has_z(world):
    header, columns = packed(world, world["deep"])
    assert header["n_components"] == 3 and [c["name"] for c in header["columns"]] == ["x", "y", "z", "cluster"]
    pages = [packed(world, world["deep"], offset=offset, limit=40) for offset in (0, 40, 80)]
    assert [p[0]["count"] for p in pages] == [40, 40, 10]
    assert [v for _, page in pages for v in page["z"]] == list(columns["z"])
    assert [v for _, page in pages for v in page["cluster"]] == list(columns["cluster"])
    beyond, empty = packed(world, world["deep"], offset=500)
    assert beyond["count"] == 0 and len(empty["x"]) == 0


def test_document_id_pages_end_within_their_byte_budget(world, monkeypatch):
    from openpeek.services import map_points

    monkeypatch.setattr(map_points, "ID_PAGE_BYTES", 100)
    everything = []
    offset = 0
    while offset < 90:
        header, columns = packed(world, world["flat"], include="document_ids", offset=offset)
        assert 1 <= header["count"] and len("\n".join(columns["document_id"]).encode()) <= 100
        everything += columns["document_id"]
        offset += header["count"]
    reference = world["client"].get(f"/v1/clusters/{world['flat']}/visualization", headers=world["headers"]).json()
    assert everything == [p["document_id"] for p in reference["points"]]


def test_packed_map_follows_label_edits_and_refuses_bad_input(world):
    client, headers = world["client"], world["headers"]
    header, _ = packed(world, world["flat"])
    first = header["centroids"][0]["cluster_id"]
    response = client.patch(f"/v1/clusters/{world['flat']}/executions/{header['run_id']}/labels", headers=headers,
                            json={"labels": {first: "Renamed by a person"}})
    assert response.status_code == 200, response.text
    again, _ = packed(world, world["flat"], run_id=header["run_id"])
    assert again["centroids"][0]["label"] == "Renamed by a person"
    assert client.get(f"/v1/clusters/{world['flat']}/visualization/points", headers=headers,
                      params={"include": "vectors"}).status_code == 422
    assert client.get(f"/v1/clusters/{world['flat']}/visualization/points", headers=headers,
                      params={"limit": 200_001}).status_code == 422
    assert_error(client.get(f"/v1/clusters/{world['flat']}/visualization/points", headers=headers,
                            params={"run_id": "run_missing"}), 404)
    outsider = make_tenant(world["services"], "globex")
    assert_error(client.get(f"/v1/clusters/{world['flat']}/visualization/points",
                            headers={**outsider.headers, "X-Namespace": "maps"}), 404)


def listing(world, body, status=200):
    response = world["client"].post("/v1/documents/list", headers=world["headers"], json=body)
    assert response.status_code == status, response.text
    return response.json()


def test_document_listing_pages_with_cursors_and_filters(world):
    seen, cursor = [], None
    while True:
        page = listing(world, {"limit": 25, "include_total": True, **({"cursor": cursor} if cursor else {})})
        ListDocumentsResponse.from_dict(page)  # the SDK's model parses it
        assert page["total_documents"] == 90
        seen += [d["document_id"] for d in page["results"]]
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 90 == len(set(seen))
    volcano = listing(world, {"filters": {"AND": [{"field": "topic", "operator": "eq", "value": "volcano"}]},
                              "limit": 100, "include_total": True})
    assert volcano["total_documents"] == 30 and {d["topic"] for d in volcano["results"]} == {"volcano"}
    ranked = listing(world, {"filters": {"AND": [{"field": "text", "operator": "starts_with", "value": "guitar"}]},
                             "limit": 100})
    assert len(ranked["results"]) == 30 and all(d["text"].startswith("guitar") for d in ranked["results"])
    offset = listing(world, {"limit": 10, "offset": 85})
    assert len(offset["results"]) == 5
    assert listing(world, {"limit": 5, "select": ["topic"]})["results"][0].keys() == {"document_id", "collection_id",
                                                                                      "topic"}


def test_document_listing_search_and_bad_input(world):
    found = listing(world, {"search": "INVOICE note number 6", "limit": 100})
    assert found["results"] and all("invoice note number 6" in d["text"] for d in found["results"])
    assert listing(world, {"search": "no such words anywhere"})["results"] == []
    with_vectors = listing(world, {"limit": 1, "return_vectors": True})["results"][0]
    assert len(with_vectors["vectors"]["emb"]) == 16
    listing(world, {"limit": 0}, status=422)
    listing(world, {"unknown_key": 1}, status=422)
    assert_error(world["client"].post("/v1/documents/list", headers=world["headers"],
                                      json={"filters": {"AND": [{"field": "x", "operator": "nope", "value": 1}]}}),
                 400)
    response = world["client"].post("/v1/documents/list", headers={"Authorization": world["headers"]["Authorization"]})
    assert_error(response, 400, "missing_namespace")


def test_openapi_declares_bearer_auth_and_required_namespace_header(world):
    schema = world["client"].get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    paths = schema["paths"]

    def header(path, method):
        return next(p for p in paths[path][method]["parameters"] if p["name"] == "X-Namespace")

    assert paths["/v1/clusters"]["post"]["security"] == [{"bearerAuth": []}]
    assert header("/v1/clusters", "post")["required"] is True
    assert header("/v1/documents/list", "post")["required"] is True
    assert header("/v1/tasks/list", "post")["required"] is False  # optional there: the organisation's tasks without
    assert paths["/v1/namespaces"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/v1/health"]["get"]["security"] == []
    assert not any(path.startswith("/studio") or path in ("/", "/docs", "/redoc") for path in paths)


def test_studio_and_reference_pages_are_served_from_the_package(world):
    client = world["client"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/studio/"
    assert client.get("/studio", follow_redirects=False).headers["location"] == "/studio/"
    index = client.get("/studio/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert '<script type="module" src="./app.js">' in index.text
    # The page talks to this server only, and runs only its own scripts (the browser tests run under this policy).
    policy = index.headers["content-security-policy"]
    assert "connect-src 'self'" in policy and "script-src 'self' 'sha256-" in policy and "unsafe-eval" not in policy
    script = client.get("/studio/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "/studio/vendor/" in html
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    assert client.get("/studio/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/studio/vendor/redoc/redoc.standalone.js").status_code == 200
    for escape in ("/studio/..%2F__init__.py", "/studio/%2e%2e/__init__.py", "/studio/nothing.js"):
        assert client.get(escape).status_code == 404


def test_vendored_files_are_the_pinned_ones_with_their_licences():
    listed = {}
    for line in (STATIC_ROOT.parent / "VENDOR.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    on_disk = {str(p.relative_to(STATIC_ROOT)) for p in (STATIC_ROOT / "vendor").rglob("*") if p.is_file()}
    assert on_disk == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC_ROOT / name).read_bytes()).hexdigest() == digest, name
    for library in ("preact", "htm", "swagger-ui", "redoc"):
        assert (STATIC_ROOT / "vendor" / library / "LICENSE").exists()
    # No page of the studio loads anything from another host.
    for source in Path(STATIC_ROOT).rglob("*"):
        if source.suffix in (".html", ".js", ".css") and "vendor" not in source.parts:
            assert "http://" not in source.read_text() and "https://" not in source.read_text(), source
