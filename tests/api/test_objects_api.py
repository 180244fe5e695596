"""Bucket objects over HTTP: every way of giving a blob, the checks made before anything is stored, duplicates,
unique keys, idempotent replays, listing, aggregation, deletion and the events."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from openpeek.adapters.https_blob_fetcher import HttpsBlobFetcher
from openpeek.api.app import create_app
from openpeek.runtime import wire
from openpeek.settings import Settings
from fastapi.testclient import TestClient

SCHEMA = {"properties": {"body": {"type": "text", "required": True}, "scan": {"type": "pdf"},
                         "title": {"type": "string"}, "year": {"type": "integer"}, "isbn": {"type": "string"}}}
PDF = b"%PDF-1.4 fake but recognisable"


@pytest.fixture
def ns(client, tenant):
    assert client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "lib"}).status_code == 200
    headers = {**tenant.headers, "X-Namespace": "lib"}
    response = client.post("/v1/buckets", headers=headers, json={"bucket_name": "books", "bucket_schema": SCHEMA})
    assert response.status_code == 200, response.text
    return headers


def text_blob(text, **more):
    return {"property": "body", "type": "text", "data": text, **more}


def register(client, headers, *blobs, **metadata):
    return client.post("/v1/buckets/books/objects", headers=headers, json={"blobs": list(blobs), **metadata})


def stored_blobs(services, client, headers):
    namespace_id = client.get("/v1/namespaces/lib", headers=headers).json()["namespace_id"]
    return services.blobs.list(f"namespaces/{namespace_id}/content/")


def test_inline_text_and_base64_blobs_are_stored_in_the_blob_store_not_the_table(client, ns, services):
    response = register(client, ns, text_blob("Call me Ishmael."),
                        {"property": "scan", "type": "pdf", "data": base64.b64encode(PDF).decode()},
                        title="Moby-Dick", year=1851)
    assert response.status_code == 200, response.text
    obj = response.json()
    assert obj["object_id"].startswith("obj_") and obj["status"] == "PENDING"
    assert obj["title"] == "Moby-Dick" and obj["year"] == 1851
    details = {blob["property"]: blob["details"] for blob in obj["blobs"]}
    assert details["body"]["size_bytes"] == 16
    assert details["body"]["hash"] == hashlib.sha256(b"Call me Ishmael.").hexdigest()
    assert details["scan"]["mime_type"] == "application/pdf"
    stored = services.objects.get(services.namespaces.resolve(_principal(services, ns), "lib"), "books",
                                  obj["object_id"])
    keys = {blob["property"]: blob["blob_key"] for blob in stored.blobs}
    assert services.blobs.get(keys["body"]) == b"Call me Ishmael." and services.blobs.get(keys["scan"]) == PDF
    assert all("data" not in blob for blob in stored.blobs)
    fetched = client.get(f"/v1/buckets/books/objects/{obj['object_id']}", headers=ns).json()
    assert fetched["blobs"] == obj["blobs"]


def _principal(services, headers):
    return services.organizations.authenticate(headers["Authorization"])


@pytest.mark.parametrize("body, code, named", [
    ({"blobs": [{"property": "cover", "type": "image", "data": "aGk="}]}, "schema_violation", "cover"),
    ({"blobs": [{"property": "body", "type": "pdf", "data": "aGk="}]}, "schema_violation", "body"),
    ({"blobs": [{"property": "scan", "type": "pdf", "data": "aGk="}]}, "schema_violation", "body"),
    ({"blobs": [text_blob("x")], "year": "nineteen"}, "schema_violation", "year"),
    ({"blobs": [text_blob("x"), text_blob("y")]}, "schema_violation", "body"),
    ({"blobs": [{"property": "scan", "type": "pdf", "data": "not base64!"}, text_blob("x")]}, "invalid_blob", "scan"),
    ({"blobs": [text_blob("x", checksum="sha256:" + "0" * 64)]}, "checksum_mismatch", "body"),
    ({"blobs": [text_blob("http://example.com/a.txt")]}, "blob_url_not_https", "body"),
    ({"blobs": [{"property": "body", "type": "text"}]}, "invalid_blob", "body"),
])
def test_bad_objects_are_refused_naming_the_property_and_store_nothing(client, ns, services, body, code, named):
    response = client.post("/v1/buckets/books/objects", headers=ns, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code and named in error["message"]
    assert client.get("/v1/buckets/books/objects", headers=ns).json()["results"] == []
    assert stored_blobs(services, client, ns) == []


def test_checksums_sha256_and_md5(client, ns):
    data = b"verified"
    sha = hashlib.sha256(data).hexdigest()
    md5 = hashlib.md5(data).hexdigest()
    assert register(client, ns, text_blob("verified", checksum=f"sha256:{sha}")).status_code == 200
    assert register(client, ns, text_blob("verified", checksum=md5)).status_code == 200


def test_unknown_bucket_and_other_organisations_are_404(client, ns, other_tenant):
    assert client.post("/v1/buckets/nope/objects", headers=ns, json={"blobs": [text_blob("x")]}).status_code == 404
    obj = register(client, ns, text_blob("mine")).json()
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "lib"})
    theirs = {**other_tenant.headers, "X-Namespace": "lib"}
    assert client.get(f"/v1/buckets/books/objects/{obj['object_id']}", headers=theirs).status_code == 404
    assert client.get("/v1/buckets/books/objects/obj_missing", headers=ns).status_code == 404


def test_skip_duplicates_returns_the_object_with_the_same_bytes(client, ns):
    first = register(client, ns, text_blob("same words")).json()
    again = client.post("/v1/buckets/books/objects", headers=ns,
                        json={"blobs": [text_blob("same words")], "skip_duplicates": True}).json()
    assert again["object_id"] == first["object_id"]
    without = register(client, ns, text_blob("same words")).json()
    assert without["object_id"] != first["object_id"]


def test_idempotency_key_replays_the_first_answer(client, ns):
    body = {"blobs": [text_blob("once")], "idempotency_key": "req-1"}
    first = client.post("/v1/buckets/books/objects", headers=ns, json=body).json()
    second = client.post("/v1/buckets/books/objects", headers=ns, json={**body, "blobs": [text_blob("other")]}).json()
    assert second["object_id"] == first["object_id"]
    assert len(client.get("/v1/buckets/books/objects", headers=ns).json()["results"]) == 1


def test_unique_key_policies(client, ns):
    client.post("/v1/buckets", headers=ns, json={"bucket_name": "catalogue", "bucket_schema": SCHEMA,
                                                 "unique_key": {"fields": ["isbn"]}})
    url = "/v1/buckets/catalogue/objects"
    first = client.post(url, headers=ns, json={"blobs": [text_blob("v1")], "isbn": "978-1"}).json()
    duplicate = client.post(url, headers=ns, json={"blobs": [text_blob("v2")], "isbn": "978-1"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_unique_key"
    updated = client.post(url + "?policy=upsert", headers=ns, json={"blobs": [text_blob("v2")], "isbn": "978-1"})
    assert updated.status_code == 200 and updated.json()["object_id"] == first["object_id"]
    assert updated.json()["blobs"][0]["details"]["size_bytes"] == 2
    missing = client.post(url + "?policy=update", headers=ns, json={"blobs": [text_blob("v")], "isbn": "978-2"})
    assert missing.status_code == 404
    no_key = client.post(url, headers=ns, json={"blobs": [text_blob("v")]})
    assert no_key.status_code == 400 and "isbn" in no_key.json()["error"]["message"]


def test_batch_registers_what_fits_and_reports_the_rest(client, ns):
    objects = [{"blobs": [text_blob(f"text {i}")], "year": i} for i in range(4)]
    objects.insert(2, {"blobs": [text_blob("bad")], "year": "two"})
    response = client.post("/v1/buckets/books/objects/batch", headers=ns, json={"objects": objects})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total_requested"], body["succeeded_count"], body["failed_count"]) == (5, 4, 1)
    assert body["failed"][0]["object_index"] == 2 and "year" in body["failed"][0]["error"]
    too_many = client.post("/v1/buckets/books/objects/batch", headers=ns,
                           json={"objects": [{"blobs": [text_blob("x")]}] * 101})
    assert too_many.status_code == 422


def test_list_pages_with_a_cursor_filters_sorts_and_aggregates(client, ns):
    for year in (1990, 2001, 2001, 2015):
        register(client, ns, text_blob(f"book of {year}"), year=year, title=f"t{year}")
    first = client.get("/v1/buckets/books/objects?limit=3", headers=ns).json()
    assert len(first["results"]) == 3 and first["pagination"]["next_cursor"]
    rest = client.get(f"/v1/buckets/books/objects?limit=3&cursor={first['pagination']['next_cursor']}",
                      headers=ns).json()
    assert [o["year"] for o in first["results"] + rest["results"]] == [1990, 2001, 2001, 2015]
    assert rest["pagination"]["next_cursor"] is None
    filtered = client.post("/v1/buckets/books/objects/list", headers=ns, json={
        "filters": {"AND": [{"field": "year", "operator": "gte", "value": 2000}]},
        "sort": {"field": "year", "direction": "desc"}}).json()
    assert [o["year"] for o in filtered["results"]] == [2015, 2001, 2001] and filtered["pagination"]["total"] == 3
    aggregated = client.post("/v1/buckets/books/objects/aggregate", headers=ns, json={
        "group_by": [{"field": "year"}], "aggregations": [{"function": "count", "alias": "n"}],
        "sort_by": "n", "sort_direction": "desc"}).json()
    assert aggregated["results"][0] == {"group": {"year": 2001}, "metrics": {"n": 2}}
    assert aggregated["total_groups"] == 3


def test_patch_put_delete_and_soft_delete(client, ns, services):
    obj = register(client, ns, text_blob("draft"), title="Draft", year=2020).json()
    url = f"/v1/buckets/books/objects/{obj['object_id']}"
    patched = client.patch(url, headers=ns, json={"title": "Final"}).json()
    assert (patched["title"], patched["year"]) == ("Final", 2020)
    assert client.patch(url, headers=ns, json={"year": "soon"}).status_code == 400
    replaced = client.put(url, headers=ns, json={"metadata": {"title": "Only"}}).json()
    assert replaced["title"] == "Only" and "year" not in replaced
    assert client.delete(url, headers=ns).status_code == 200
    assert client.get(url, headers=ns).status_code == 404
    assert stored_blobs(services, client, ns) == []
    kept = register(client, ns, text_blob("keep")).json()
    gone = register(client, ns, text_blob("go")).json()
    soft = client.post("/v1/buckets/books/objects/bulk-soft-delete", headers=ns,
                       json={"object_ids": [gone["object_id"], "obj_unknown"], "reason": "takedown"}).json()
    assert (soft["soft_deleted"], soft["requested"]) == (1, 2)
    remaining = client.get("/v1/buckets/books/objects", headers=ns).json()["results"]
    assert [o["object_id"] for o in remaining] == [kept["object_id"]]


def test_events_are_published_for_created_updated_deleted(client, ns, services):
    seen = []
    services.events.subscribe(lambda event: seen.append(event.type))
    obj = register(client, ns, text_blob("x")).json()
    client.patch(f"/v1/buckets/books/objects/{obj['object_id']}", headers=ns, json={"title": "t"})
    client.delete(f"/v1/buckets/books/objects/{obj['object_id']}", headers=ns)
    assert [t for t in seen if t.startswith("object.")] == ["object.created", "object.updated", "object.deleted"]


# -- blobs by URL: through the webhook SSRF rules --------------------------------------------------------------------


def _content_app(tmp_path, handler, *, deployed_rules: bool, resolver):
    from openpeek.adapters.local.event_bus import InProcessEventBus
    from openpeek.adapters.local.folder_blobs import FolderBlobStore
    from openpeek.adapters.local.sqlite_table import SqliteTable
    from openpeek.adapters.qdrant.server import QdrantServerStore

    settings = Settings(runtime="embedded", data_dir=tmp_path / "data")
    fetcher = HttpsBlobFetcher(deployed=deployed_rules, transport=httpx.MockTransport(handler), resolver=resolver)
    services = wire(settings, SqliteTable(tmp_path / "t.db"), QdrantServerStore.in_memory(),
                    FolderBlobStore(tmp_path / "blobs"), InProcessEventBus(), blob_fetcher=fetcher)
    org = services.organizations.ensure_org("acme")
    key = services.organizations.issue_key(org["org_id"]).plain_key
    client = TestClient(create_app(services))
    headers = {"Authorization": f"Bearer {key}"}
    client.post("/v1/namespaces", headers=headers, json={"namespace_name": "web"})
    headers["X-Namespace"] = "web"
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "pages", "bucket_schema": SCHEMA})
    return services, client, headers


def test_an_https_url_is_fetched_at_the_checked_address(tmp_path):
    requests = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=PDF, headers={"content-type": "application/pdf"})

    services, client, headers = _content_app(tmp_path, handler, deployed_rules=True,
                                             resolver=lambda host, port: ["93.184.216.34"])
    response = client.post("/v1/buckets/pages/objects", headers=headers, json={"blobs": [
        text_blob("index"), {"property": "scan", "type": "pdf", "data": "https://example.com/docs/paper.pdf"}]})
    assert response.status_code == 200, response.text
    scan = next(b for b in response.json()["blobs"] if b["property"] == "scan")
    assert scan["details"]["filename"] == "paper.pdf" and scan["details"]["size_bytes"] == len(PDF)
    assert requests[0].url.host == "93.184.216.34" and requests[0].headers["host"] == "example.com"
    services.close()


@pytest.mark.parametrize("address, status, code", [
    ("10.0.0.7", 200, "blob_url_forbidden"),
    ("169.254.169.254", 200, "blob_url_forbidden"),
    ("93.184.216.34", 404, "blob_url_unreachable"),
])
def test_private_or_failing_urls_are_refused_when_deployed(tmp_path, address, status, code):
    services, client, headers = _content_app(tmp_path, lambda request: httpx.Response(status, content=b"x"),
                                             deployed_rules=True, resolver=lambda host, port: [address])
    response = client.post("/v1/buckets/pages/objects", headers=headers, json={"blobs": [
        text_blob("index"), {"property": "scan", "type": "pdf", "data": "https://files.example.com/a.pdf"}]})
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert client.get("/v1/buckets/pages/objects", headers=headers).json()["results"] == []
    services.close()


class FlakyBlobs:
    """The folder blob store, except that every third write fails as an unreachable S3 would."""

    def __init__(self, inner):
        self._inner = inner
        self.writes = 0

    def put(self, key, data, content_type="application/octet-stream"):
        self.writes += 1
        if self.writes % 3 == 0:
            from openpeek.domain.failures import DependencyUnavailable

            raise DependencyUnavailable("blob store unreachable")
        self._inner.put(key, data, content_type)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_failing_blob_store_is_503_and_leaves_nothing_half_written(tmp_path):
    from openpeek.adapters.local.event_bus import InProcessEventBus
    from openpeek.adapters.local.folder_blobs import FolderBlobStore
    from openpeek.adapters.local.sqlite_table import SqliteTable
    from openpeek.adapters.qdrant.server import QdrantServerStore

    folder = FolderBlobStore(tmp_path / "blobs")
    services = wire(Settings(runtime="embedded", data_dir=tmp_path / "data"), SqliteTable(tmp_path / "t.db"),
                    QdrantServerStore.in_memory(), FlakyBlobs(folder), InProcessEventBus())
    org = services.organizations.ensure_org("acme")
    headers = {"Authorization": f"Bearer {services.organizations.issue_key(org['org_id']).plain_key}"}
    client = TestClient(create_app(services))
    client.post("/v1/namespaces", headers=headers, json={"namespace_name": "lib"})
    headers["X-Namespace"] = "lib"
    client.post("/v1/buckets", headers=headers, json={"bucket_name": "books", "bucket_schema": SCHEMA})
    response = client.post("/v1/buckets/books/objects/batch", headers=headers, json={
        "objects": [{"blobs": [text_blob(f"text {i}")]} for i in range(5)]})
    assert response.status_code == 503, response.text
    assert client.get("/v1/buckets/books/objects", headers=headers).json()["results"] == []
    assert folder.list("namespaces/") == []
    services.close()


def test_a_blob_over_the_inline_limit_is_refused(client, ns, services, monkeypatch):
    monkeypatch.setattr("openpeek.services.content.objects.rules.MAX_INLINE_BLOB_BYTES", 8)
    response = register(client, ns, text_blob("nine byte"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "blob_too_large"
    assert "upload" in response.json()["error"]["message"]
    assert stored_blobs(services, client, ns) == []


def test_object_events_can_be_subscribed_to(client, ns):
    response = client.post("/v1/webhooks", headers=ns, json={
        "webhook_name": "objects", "url": "http://127.0.0.1:9/hook",
        "events": ["object.created", "object.updated", "object.deleted", "objects.created.batch"]})
    assert response.status_code == 200, response.text
