"""A collection document's lineage, source media and diagnostics, the dry-run schema check, and what was made from one
bucket object (its documents and decomposition tree), over HTTP against
documents a real batch wrote: a bucket object (JSONL rows with their own vectors) → `rows` (a document per row) →
`copies` (a collection sourced from `rows`) → `again` (sourced from `copies`). Every answer is parsed with the SDK's
models. The tests that only read share one chain; those that change it build their own."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from fastapi.testclient import TestClient
from mixpeek.models.document_diagnostics_response import DocumentDiagnosticsResponse
from mixpeek.models.document_lineage_response import DocumentLineageResponse
from mixpeek.models.document_response import DocumentResponse
from mixpeek.models.scene_download_response import SceneDownloadResponse

from openpeek.api.app import create_app
from openpeek.repositories.objects import ObjectRepository
from openpeek.services.collections import lineage as lineage_service
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.api.conftest import sdk_client
from tests.conftest import make_tenant

ROWS = [{"sku": "a", "embedding": [1.0, 0.0, 0.0]}, {"sku": "b", "embedding": [0.0, 1.0, 0.0]}]
JSONL = "\n".join(json.dumps(row) for row in ROWS).encode()


def _passthrough(name: str, source: dict, **parameters) -> dict:
    return {"collection_name": name, "source": source, "feature_extractor": {
        "feature_extractor_name": "passthrough_extractor", "version": "v1",
        "field_passthrough": [{"source_path": "title"}], "parameters": parameters}}


class Chain:
    """The namespace, its bucket and three chained collections, with one object run through them by a batch."""

    def __init__(self, client, services, tenant) -> None:
        self.client, self.services = client, services
        created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "lineage"})
        assert created.status_code == 200, created.text
        self.org_id, self.namespace_id = tenant.org_id, created.json()["namespace_id"]
        self.headers = {**tenant.headers, "X-Namespace": "lineage"}
        bucket = self.call("POST", "/v1/buckets", {"bucket_name": "shelf", "bucket_schema": {"properties": {
            "data": {"type": "text"}, "title": {"type": "string"}}}})
        self.bucket_id = bucket["bucket_id"]
        rows = self.call("POST", "/v1/collections", _passthrough(
            "rows", {"type": "bucket", "bucket_ids": ["shelf"]}, row_format="jsonl",
            vector_fields=[{"field": "embedding", "name": "row_vec", "dimensions": 3}]))
        copies = self.call("POST", "/v1/collections", _passthrough(
            "copies", {"type": "collection", "collection_id": rows["collection_id"]}))
        again = self.call("POST", "/v1/collections", _passthrough(
            "again", {"type": "collection", "collection_id": copies["collection_id"]}))
        self.ids = {"rows": rows["collection_id"], "copies": copies["collection_id"],
                    "again": again["collection_id"]}
        created = self.call("POST", "/v1/buckets/shelf/objects", {
            "blobs": [{"property": "data", "type": "text", "data": JSONL.decode()}], "title": "inventory"})
        self.object_id = created["object_id"]
        self.batch = self.run_batch()

    def call(self, method: str, path: str, body=None, status: int = 200):
        answer = self.client.request(method, path, headers=self.headers, json=body)
        assert answer.status_code == status, answer.text
        return answer.json()

    def run_batch(self, **body) -> dict:
        created = self.call("POST", "/v1/buckets/shelf/batches?auto_submit=true",
                            {"object_ids": [self.object_id], **body})
        assert self.services.batch_worker.wait_idle(120)
        return self.call("GET", f"/v1/buckets/shelf/batches/{created['batch_id']}")

    def about(self, collection: str, document_id: str, what: str, headers: dict | None = None):
        """GET .../documents/{document_id}/{what} (ancestors, descendants, download or diagnostics)."""
        return self.client.get(f"/v1/collections/{collection}/documents/{document_id}/{what}",
                               headers=headers or self.headers)

    def documents(self, collection: str) -> list[dict]:
        listed = self.call("POST", f"/v1/collections/{collection}/documents/list", {"limit": 100})["results"]
        return sorted(listed, key=lambda document: document["sku"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A chain the read-only tests share, with a second organisation's key."""
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("lineage") / "data"))
    built = Chain(TestClient(create_app(services), raise_server_exceptions=False), services,
                  make_tenant(services, "acme"))
    built.stranger = make_tenant(services, "globex")
    yield built
    services.close()


@pytest.fixture
def own_chain(client, services, tenant) -> Chain:
    return Chain(client, services, tenant)


def _parsed(answer) -> list[DocumentResponse]:
    assert answer.status_code == 200, answer.text
    return [DocumentResponse.from_dict(item) for item in answer.json()]


def test_ancestors_run_from_the_root_document_to_the_parent_and_descendants_are_the_children(chain):
    assert chain.batch["status"] == "COMPLETED" and chain.batch["documents_written"] == 6
    rows, copies, again = (chain.documents(name) for name in ("rows", "copies", "again"))
    last = again[1]
    ancestors = _parsed(chain.about("again", last["document_id"], "ancestors"))
    assert [(d.document_id, d.collection_id) for d in ancestors] == [
        (rows[1]["document_id"], chain.ids["rows"]), (copies[1]["document_id"], chain.ids["copies"])]
    assert ancestors[0].additional_properties["source_object_id"] == chain.object_id
    first = _parsed(chain.about("rows", rows[0]["document_id"], "ancestors"))
    assert first == []  # made directly from the object: nothing above it but the object

    children = _parsed(chain.about("rows", rows[0]["document_id"], "descendants"))
    assert [(d.document_id, d.collection_id) for d in children] == [(copies[0]["document_id"], chain.ids["copies"])]
    leaf = chain.about("again", last["document_id"], "descendants")
    assert _parsed(leaf) == []


def test_the_chain_is_read_across_a_cold_collection_and_stops_where_a_parent_is_gone(own_chain):
    chain = own_chain
    rows, copies, again = (chain.documents(name) for name in ("rows", "copies", "again"))
    moved = chain.client.patch("/v1/collections/rows/lifecycle", headers=chain.headers,
                               json={"lifecycle_state": "cold", "async_transition": False})
    assert moved.status_code == 200 and moved.json()["lifecycle_state"] == "cold", moved.text
    ancestors = _parsed(chain.about("again", again[0]["document_id"], "ancestors"))
    assert [d.document_id for d in ancestors] == [rows[0]["document_id"], copies[0]["document_id"]]
    assert ancestors[0].additional_properties["_source_tier"] == "cold"
    children = _parsed(chain.about("rows", rows[0]["document_id"], "descendants"))
    assert [d.document_id for d in children] == [copies[0]["document_id"]]
    # The object's documents and tree count the cold collection's documents, read from the cold store.
    listed = chain.client.get(f"/v1/objects/{chain.object_id}/documents", headers=chain.headers).json()
    assert listed["total_documents"] == 6
    assert {d["document_id"] for d in listed["documents"] if d.get("_source_tier") == "cold"} == {
        d["document_id"] for d in rows}
    tree = chain.client.get(f"/v1/objects/{chain.object_id}/decomposition-tree", headers=chain.headers).json()
    assert tree["total_documents"] == 6 and tree["tree"][0]["document_count"] == 2
    traced = _lineage(chain, "again", again[0]["document_id"])
    assert [step.document_id for step in traced.lineage.lineage_chain][0] == rows[0]["document_id"]

    gone = chain.client.delete(f"/v1/collections/copies/documents/{copies[0]['document_id']}", headers=chain.headers)
    assert gone.status_code == 200
    after = _parsed(chain.about("again", again[0]["document_id"], "ancestors"))
    assert after == []  # the parent is gone: nothing above it can be listed


def test_download_hands_out_a_url_of_the_root_objects_blob(chain):
    again = chain.documents("again")[0]
    answer = chain.about("again", again["document_id"], "download")
    assert answer.status_code == 200, answer.text
    media = SceneDownloadResponse.from_dict(answer.json())
    assert media.start_time == 0 and media.end_time == 0 and media.cached is True
    assert answer.json()["object_id"] == chain.object_id and answer.json()["blob_property"] == "data"
    fetched = chain.client.get(urllib.parse.urlsplit(media.download_url).path)  # no API key: the URL is signed
    assert fetched.status_code == 200 and fetched.content == JSONL


def test_diagnostics_tell_vectors_tier_batch_and_lineage(chain):
    row = chain.documents("rows")[1]
    answer = chain.about("rows", row["document_id"], "diagnostics")
    assert answer.status_code == 200, answer.text
    report = DocumentDiagnosticsResponse.from_dict(answer.json())
    assert report.collection_id == chain.ids["rows"] and report.source_object_id == chain.object_id
    assert report.visibility_reason.searchable is True and "row_vec (3-d)" in report.visibility_reason.reason
    assert report.recent_failures.failures == [] and "COMPLETED" in report.recent_failures.reason
    entries = {entry.source: entry.detail for entry in report.diagnostic_history.entries}
    assert entries["vectors"]["vectors"] == [{"name": "row_vec", "feature_uri": "mixpeek://passthrough_extractor@v1/"
                                              "row_vec", "present": True, "dimension": 3, "expected_dimension": 3,
                                              "sparse": False}]
    assert entries["ingestion_status"]["batch_id"] == chain.batch["batch_id"]
    assert entries["ingestion_status"]["task_id"] == chain.batch["task_id"]
    assert entries["ingestion_status"]["dag_tier"] == 0 and entries["ingestion_status"]["total_tiers"] == 3
    assert entries["storage_tier"] == {"lifecycle_state": "active", "served_from": "vector_store"}
    assert entries["payload"]["payload_bytes"] > 0 and "sku" in entries["payload"]["fields"]
    assert [step["collection_id"] for step in entries["lineage.chain"]["steps"]] == [chain.ids["rows"]]

    leaf = chain.documents("again")[1]
    deep = chain.call("GET", f"/v1/collections/again/documents/{leaf['document_id']}/diagnostics")
    deep_entries = {entry["source"]: entry["detail"] for entry in deep["diagnostic_history"]["entries"]}
    assert [step["collection_id"] for step in deep_entries["lineage.chain"]["steps"]] == [
        chain.ids["rows"], chain.ids["copies"], chain.ids["again"]]
    assert deep_entries["ingestion_status"]["dag_tier"] == 2
    assert deep["visibility_reason"]["searchable"] is False  # `again` copies fields only: no vectors to search


def test_a_source_gone_bad_or_away_is_reported_and_download_refuses_what_has_no_source_media(own_chain, services):
    chain = own_chain
    row = chain.documents("rows")[1]
    # The object's bytes go bad and a later batch fails on it: its documents stay, and say so.
    stored = ObjectRepository(services.table).get(chain.org_id, chain.namespace_id, chain.bucket_id, chain.object_id)
    services.blobs.put(stored.blobs[0]["blob_key"], b"{not json", "text/plain")
    failed = chain.run_batch(dedup_strategy="replace")
    assert failed["status"] in ("FAILED", "COMPLETED_WITH_ERRORS")
    after = DocumentDiagnosticsResponse.from_dict(chain.call(
        "GET", f"/v1/collections/rows/documents/{row['document_id']}/diagnostics"))
    [failure] = after.recent_failures.failures
    assert failure.source == "object" and failure.status == "FAILED" and "not JSON" in failure.error

    direct = chain.call("POST", "/v1/collections/copies/documents", {"title": "by hand"})
    answer = chain.about("copies", direct["document_id"], "download")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "source_object_not_found"
    scene = chain.call("POST", "/v1/collections/copies/documents", {
        "title": "scene", "start_time": 1.5, "end_time": 4.0, "source_object_id": chain.object_id,
        "root_bucket_id": chain.bucket_id})
    answer = chain.about("copies", scene["document_id"], "download")
    assert answer.status_code == 501 and answer.json()["error"]["code"] == "media_cut_unsupported"

    deleted = chain.client.delete(f"/v1/buckets/shelf/objects/{chain.object_id}", headers=chain.headers)
    assert deleted.status_code == 200
    answer = chain.about("rows", row["document_id"], "download")
    assert answer.status_code == 404 and chain.object_id in answer.json()["error"]["message"]
    gone = chain.call("GET", f"/v1/collections/rows/documents/{row['document_id']}/diagnostics")
    assert "no longer exists" in gone["recent_failures"]["reason"]


def test_schema_validation_reports_violations_and_writes_nothing(chain):
    before = chain.call("GET", "/v1/collections/rows/documents/count")["count"]
    good = chain.call("POST", "/v1/collections/rows/documents/schema/validate",
                      {"title": "fine", "vectors": {"row_vec": [0.1, 0.2, 0.3]}})
    assert good == {"valid": True, "collection_id": chain.ids["rows"], "violations": [], "checked_fields": ["title"],
                    "warnings": []}
    bad = chain.call("POST", "/v1/collections/rows/documents/schema/validate",
                     {"title": 7, "colour": "red", "vectors": {"row_vec": [0.1, 0.2]}})
    assert bad["valid"] is False
    assert {(v["field"], v["rule"]) for v in bad["violations"]} == {("vectors.row_vec", "invalid_document"),
                                                                    ("title", "type")}
    assert bad["warnings"] == ["'colour' is not in the collection's output schema; create stores it as given"]
    protected = chain.call("POST", "/v1/collections/rows/documents/schema/validate", {"namespace_id": "x"})
    assert protected["violations"][0]["rule"] == "protected_field"
    assert chain.call("GET", "/v1/collections/rows/documents/count")["count"] == before


def test_bad_input_unknown_ids_and_other_organisations_are_refused(chain):
    other_tenant = chain.stranger
    row = chain.documents("rows")[0]["document_id"]
    for suffix in ("ancestors", "descendants", "download", "diagnostics"):
        missing = chain.about("rows", "doc_missing", suffix)
        assert missing.status_code == 404 and missing.json()["success"] is False, (suffix, missing.text)
        elsewhere = chain.about("copies", row, suffix)
        assert elsewhere.status_code == 404, suffix  # the document is in another collection
        no_collection = chain.about("nope", row, suffix)
        assert no_collection.status_code == 404, suffix
        for namespace in ("lineage", chain.namespace_id):  # by name (the stranger has none) and by our id
            stranger = chain.about("rows", row, suffix, {**other_tenant.headers, "X-Namespace": namespace})
            assert stranger.status_code == 404, (suffix, namespace)
    not_an_object = chain.client.post("/v1/collections/rows/documents/schema/validate", headers=chain.headers,
                                      json=["title"])
    assert not_an_object.status_code == 422
    wrong_type = chain.client.post("/v1/collections/rows/documents/schema/validate", headers=chain.headers,
                                   json={"metadata": "not an object"})
    assert wrong_type.status_code == 422
    stranger = chain.client.post("/v1/collections/rows/documents/schema/validate",
                                 headers={**other_tenant.headers, "X-Namespace": "lineage"}, json={"title": "x"})
    assert stranger.status_code == 404
    unknown = chain.client.post("/v1/collections/nope/documents/schema/validate", headers=chain.headers,
                                json={"title": "x"})
    assert unknown.status_code == 404


def _lineage(chain: Chain, collection: str, document_id: str) -> DocumentLineageResponse:
    answer = chain.about(collection, document_id, "lineage")
    assert answer.status_code == 200, answer.text
    return DocumentLineageResponse.from_dict(answer.json())


def _of_object(chain: Chain, object_id: str, what: str, headers: dict | None = None, **query):
    """GET /v1/objects/{object_id}/{what} (documents or decomposition-tree)."""
    return chain.client.get(f"/v1/objects/{object_id}/{what}", headers=headers or chain.headers, params=query)


def test_lineage_names_the_root_object_the_immediate_source_and_every_step(chain):
    rows, copies, again = (chain.documents(name) for name in ("rows", "copies", "again"))
    traced = _lineage(chain, "again", again[1]["document_id"])
    assert (traced.document_id, traced.collection_id) == (again[1]["document_id"], chain.ids["again"])
    assert traced.depth == traced.total_steps == 3 and traced.message is None
    found = traced.lineage
    assert (found.root_object_id, found.root_bucket_id) == (chain.object_id, chain.bucket_id)
    assert (found.source_type, found.source_document_id, found.source_collection_id, found.source_object_id) == (
        "collection", copies[1]["document_id"], chain.ids["copies"], None)
    assert [(step.collection_id, step.document_id, step.feature_extractor_id) for step in found.lineage_chain] == [
        (chain.ids["rows"], rows[1]["document_id"], "passthrough_extractor_v1"),
        (chain.ids["copies"], copies[1]["document_id"], "passthrough_extractor_v1"),
        (chain.ids["again"], again[1]["document_id"], "passthrough_extractor_v1")]
    assert all(step.timestamp for step in found.lineage_chain)

    first = _lineage(chain, "rows", rows[0]["document_id"])
    assert first.depth == first.total_steps == 1
    assert (first.lineage.source_type, first.lineage.source_object_id) == ("bucket", chain.object_id)
    assert [step.document_id for step in first.lineage.lineage_chain] == [rows[0]["document_id"]]


def test_the_objects_documents_are_listed_filtered_by_collection_and_paged(chain):
    every = {document["document_id"] for name in ("rows", "copies", "again") for document in chain.documents(name)}
    answer = _of_object(chain, chain.object_id, "documents")
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert (listed["object_id"], listed["bucket_id"], listed["object_exists"]) == (chain.object_id, chain.bucket_id,
                                                                                  True)
    assert listed["total_documents"] == 6 and {d["document_id"] for d in listed["documents"]} == every
    for document in listed["documents"]:
        DocumentResponse.from_dict(document)

    # The SDK's filter (repeated collection_ids, ids or names) and the paging of every document listing.
    narrowed = _of_object(chain, chain.object_id, "documents", collection_ids=["rows", chain.ids["again"]]).json()
    assert narrowed["total_documents"] == 4
    assert {d["collection_id"] for d in narrowed["documents"]} == {chain.ids["rows"], chain.ids["again"]}
    first = _of_object(chain, chain.object_id, "documents", limit=4).json()
    assert len(first["documents"]) == 4 and first["pagination"]["next_cursor"]
    rest = _of_object(chain, chain.object_id, "documents", limit=4, cursor=first["pagination"]["next_cursor"]).json()
    assert len(rest["documents"]) == 2 and rest["pagination"]["next_cursor"] is None
    assert {d["document_id"] for d in first["documents"] + rest["documents"]} == every
    second_page = _of_object(chain, chain.object_id, "documents", page_size=4, page=2).json()
    assert len(second_page["documents"]) == 2

    # An object no collection processed yet has no documents: its own record is not one.
    fresh = chain.call("POST", "/v1/buckets/shelf/objects", {"blobs": [{"property": "data", "type": "text",
                                                                        "data": "{}"}], "title": "unprocessed"})
    untouched = _of_object(chain, fresh["object_id"], "documents").json()
    assert untouched["total_documents"] == 0 and untouched["documents"] == []
    assert untouched["bucket_id"] == chain.bucket_id and untouched["object_exists"] is True
    empty_tree = _of_object(chain, fresh["object_id"], "decomposition-tree").json()
    assert empty_tree["total_documents"] == 0 and empty_tree["tree"] == [] and empty_tree["max_depth"] == 0


def test_the_decomposition_tree_runs_from_the_bucket_reading_collection_down_the_tiers(chain):
    answer = _of_object(chain, chain.object_id, "decomposition-tree")
    assert answer.status_code == 200, answer.text
    tree = answer.json()
    assert (tree["object_id"], tree["bucket_id"], tree["object_exists"]) == (chain.object_id, chain.bucket_id, True)
    assert (tree["total_documents"], tree["total_collections"], tree["max_depth"]) == (6, 3, 3)
    [rows] = tree["tree"]
    [copies] = rows["children"]
    [again] = copies["children"]
    assert again["children"] == []
    assert [(node["collection_id"], node["collection_name"], node["depth"], node["source_type"],
             node["source_collection_id"], node["document_count"]) for node in (rows, copies, again)] == [
        (chain.ids["rows"], "rows", 1, "bucket", None, 2),
        (chain.ids["copies"], "copies", 2, "collection", chain.ids["rows"], 2),
        (chain.ids["again"], "again", 3, "collection", chain.ids["copies"], 2)]
    assert rows["feature_extractor_id"] == "passthrough_extractor_v1" and "document_ids" not in rows

    detailed = _of_object(chain, chain.object_id, "decomposition-tree", include_document_ids="true").json()
    [rows] = detailed["tree"]
    [copies] = rows["children"]
    made = {name: chain.documents(name) for name in ("rows", "copies")}
    assert set(rows["document_ids"]) == {d["document_id"] for d in made["rows"]}
    assert "source_document_ids" not in rows  # made from the object itself
    assert copies["source_document_ids"] == {copy["document_id"]: row["document_id"]
                                             for row, copy in zip(made["rows"], made["copies"])}


def test_a_deleted_upstream_document_or_object_leaves_lineage_that_says_so(own_chain):
    chain = own_chain
    rows, copies, again = (chain.documents(name) for name in ("rows", "copies", "again"))
    gone = chain.client.delete(f"/v1/collections/copies/documents/{copies[0]['document_id']}", headers=chain.headers)
    assert gone.status_code == 200
    traced = _lineage(chain, "again", again[0]["document_id"])
    # The chain starts at the step naming the missing parent; depth still counts the two steps above it.
    assert traced.total_steps == 1 and traced.depth == 3
    assert [step.document_id for step in traced.lineage.lineage_chain] == [again[0]["document_id"]]
    assert traced.lineage.source_document_id == copies[0]["document_id"]
    [node] = _of_object(chain, chain.object_id, "decomposition-tree").json()["tree"]
    assert [node["document_count"], node["children"][0]["document_count"],
            node["children"][0]["children"][0]["document_count"]] == [2, 1, 2]

    direct = chain.call("POST", "/v1/collections/copies/documents", {"title": "by hand"})
    written = _lineage(chain, "copies", direct["document_id"])
    assert written.lineage is None and written.depth == 0 and written.total_steps == 0
    assert "no lineage" in written.message

    deleted = chain.client.delete(f"/v1/buckets/shelf/objects/{chain.object_id}", headers=chain.headers)
    assert deleted.status_code == 200
    orphans = _of_object(chain, chain.object_id, "documents").json()
    assert orphans["object_exists"] is False and orphans["bucket_id"] == chain.bucket_id
    assert orphans["total_documents"] == 5
    assert _of_object(chain, chain.object_id, "decomposition-tree").json()["total_documents"] == 5


def test_lineage_and_object_routes_refuse_unknown_ids_other_organisations_and_bad_queries(chain):
    row = chain.documents("rows")[0]["document_id"]
    assert chain.about("rows", "doc_missing", "lineage").status_code == 404
    assert chain.about("copies", row, "lineage").status_code == 404  # the document is in another collection
    assert chain.about("nope", row, "lineage").status_code == 404
    for what in ("documents", "decomposition-tree"):
        unknown = _of_object(chain, "obj_missing", what)
        assert unknown.status_code == 404 and unknown.json()["success"] is False, (what, unknown.text)
        assert unknown.json()["error"]["type"] == "NotFoundError"
    for namespace in ("lineage", chain.namespace_id):  # by name (the stranger has none) and by our id
        headers = {**chain.stranger.headers, "X-Namespace": namespace}
        assert chain.about("rows", row, "lineage", headers).status_code == 404
        for what in ("documents", "decomposition-tree"):
            assert _of_object(chain, chain.object_id, what, headers).status_code == 404, (what, namespace)
    # The stranger's own namespace does not hold our object either.
    theirs = chain.client.post("/v1/namespaces", headers=chain.stranger.headers, json={"namespace_name": "theirs"})
    assert theirs.status_code == 200, theirs.text
    for what in ("documents", "decomposition-tree"):
        elsewhere = _of_object(chain, chain.object_id, what, {**chain.stranger.headers, "X-Namespace": "theirs"})
        assert elsewhere.status_code == 404, what

    for query in ({"limit": 0}, {"limit": 1001}, {"limit": "many"}, {"offset": -1}, {"page": 0},
                  {"cursor": "not-a-cursor"}, {"return_vectors": "perhaps"}):
        refused = _of_object(chain, chain.object_id, "documents", **query)
        assert 400 <= refused.status_code < 500, (query, refused.text)
    no_collection = _of_object(chain, chain.object_id, "documents", collection_ids="nope")
    assert no_collection.status_code == 404 and "nope" in no_collection.json()["error"]["message"]
    bad_flag = _of_object(chain, chain.object_id, "decomposition-tree", include_document_ids="perhaps")
    assert 400 <= bad_flag.status_code < 500


def test_a_tree_larger_than_a_tree_reads_is_refused_in_favour_of_paging(chain, monkeypatch):
    monkeypatch.setattr(lineage_service, "MAX_SCAN", 5)  # the object has 6 documents
    refused = _of_object(chain, chain.object_id, "decomposition-tree")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "too_many_documents"
    assert f"/v1/objects/{chain.object_id}/documents" in refused.json()["error"]["message"]
    assert _of_object(chain, chain.object_id, "documents").json()["total_documents"] == 6


@pytest.mark.slow
def test_the_sdk_reads_lineage_media_and_diagnostics_from_a_live_server(server):
    import time

    import httpx
    import mixpeek
    from mixpeek.models import (BucketCreateRequest, CreateBatchRequest, CreateCollectionRequest,
                                CreateNamespaceRequest, CreateObjectRequest, ListDocumentsRequest,
                                SubmitBatchRequest)

    client = sdk_client(server, "sdk-lineage").api_client
    mixpeek.BucketsApi(client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "shelf", "bucket_schema": {"properties": {"data": {"type": "text"},
                                                                 "title": {"type": "string"}}}}))
    collections = mixpeek.CollectionsApi(client)
    rows = collections.create_collection(CreateCollectionRequest.from_dict(_passthrough(
        "rows", {"type": "bucket", "bucket_ids": ["shelf"]}, extractor_type="passthrough_extractor",
        row_format="jsonl", vector_fields=[{"field": "embedding", "name": "row_vec", "dimensions": 3}])))
    collections.create_collection(CreateCollectionRequest.from_dict(_passthrough(
        "copies", {"type": "collection", "collection_id": rows.collection_id},
        extractor_type="passthrough_extractor")))
    object_id = mixpeek.BucketObjectsApi(client).create_object_buckets("shelf", CreateObjectRequest.from_dict({
        "blobs": [{"property": "data", "type": "text", "data": JSONL.decode()}], "title": "inventory"})).object_id
    batches = mixpeek.BucketBatchesApi(client)
    batch = batches.create_batch_buckets_batches("shelf", CreateBatchRequest(object_ids=[object_id]))
    batches.submit_batch_buckets_batches("shelf", batch.batch_id, submit_batch_request=SubmitBatchRequest())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ran = batches.get_batch_buckets_batches("shelf", batch.batch_id)
        if ran.status in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED") and ran.documents_resolvable:
            break
        time.sleep(0.3)
    assert ran.status == "COMPLETED", ran.failure_reason

    documents = mixpeek.CollectionDocumentsApi(client)
    [copy, _] = sorted(documents.list_documents("copies", list_documents_request=ListDocumentsRequest()).results,
                       key=lambda document: document.additional_properties["sku"])
    [parent] = documents.get_document_ancestors("copies", copy.document_id)
    assert parent.collection_id == rows.collection_id and parent.additional_properties["sku"] == "a"
    [child] = documents.get_document_descendants("rows", parent.document_id)
    assert child.document_id == copy.document_id
    media = documents.download_document_media("copies", copy.document_id)
    assert httpx.get(media.download_url).content == JSONL
    report = documents.get_document_diagnostics("rows", parent.document_id)
    assert report.visibility_reason.searchable is True and report.source_object_id == object_id
    checked = documents.validate_document_schema("rows", {"title": 3})
    assert checked["valid"] is False and checked["violations"][0]["field"] == "title"

    lineage_api = mixpeek.DocumentLineageApi(client)
    traced = lineage_api.get_document_lineage("copies", copy.document_id)
    assert traced.depth == traced.total_steps == 2 and traced.lineage.root_object_id == object_id
    assert [step.collection_id for step in traced.lineage.lineage_chain] == [rows.collection_id,
                                                                            copy.collection_id]
    made = lineage_api.get_documents_by_object(object_id, collection_ids=["rows"])
    assert made["total_documents"] == 2 and {d["collection_id"] for d in made["documents"]} == {rows.collection_id}
    tree = lineage_api.get_decomposition_tree_objects(object_id, include_document_ids=True)
    assert tree["total_documents"] == 4 and tree["tree"][0]["children"][0]["collection_name"] == "copies"
    assert parent.document_id in tree["tree"][0]["document_ids"]
