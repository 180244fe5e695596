"""A collection as a whole over HTTP: clone, export, import (with infer and validate-mapping), reconciliation and
trigger. Every answer parses as the SDK's model; bad input, unknown collections and other organisations' collections
are refused and change nothing. Passthrough collections keep it fast: no model is loaded."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from mixpeek.models.clone_collection_response import CloneCollectionResponse
from mixpeek.models.collection_export_response import CollectionExportResponse
from mixpeek.models.collection_reconciliation_response import CollectionReconciliationResponse
from mixpeek.models.import_response import ImportResponse
from mixpeek.models.mapping_validation_result import MappingValidationResult
from mixpeek.models.schema_inference_result import SchemaInferenceResult
from mixpeek.models.trigger_collection_response import TriggerCollectionResponse

SCHEMA = {"properties": {"content": {"type": "text"}, "title": {"type": "string"}, "price": {"type": "integer"}}}
ROWS = {"feature_extractor_name": "passthrough_extractor", "version": "v1", "include_all_source_fields": True}
VECS = {"feature_extractor_name": "passthrough_extractor", "version": "v1",
        "field_passthrough": [{"source_path": "title"}],
        "parameters": {"vector_fields": [{"field": "embedding", "name": "emb", "dimensions": 4}]}}


@pytest.fixture
def shop(client, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "shop"})
    assert created.status_code == 200, created.text
    headers = {**tenant.headers, "X-Namespace": "shop"}
    assert client.post("/v1/buckets", headers=headers,
                       json={"bucket_name": "items", "bucket_schema": SCHEMA}).status_code == 200
    for name, extractor in (("rows", ROWS), ("vecs", VECS)):
        made = client.post("/v1/collections", headers=headers, json={
            "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["items"]},
            "feature_extractor": extractor, "metadata": {"team": "search"}})
        assert made.status_code == 200, made.text
    return headers


def add_objects(client, headers, titles):
    answer = client.post("/v1/buckets/items/objects/batch", headers=headers, json={"objects": [
        {"blobs": [{"property": "content", "type": "text", "data": f"about {title}"}],
         "metadata": {"title": title, "price": position}} for position, title in enumerate(titles)]})
    assert answer.status_code == 200, answer.text
    return [entry["object_id"] for entry in answer.json()["succeeded"]]


def add_document(client, headers, title, vector, **more):
    made = client.post("/v1/collections/vecs/documents", headers=headers,
                       json={"title": title, "vectors": {"emb": vector}, "metadata": {"title": title}, **more})
    assert made.status_code == 200, made.text
    return made.json()["document_id"]


def count(client, headers, collection):
    return client.get(f"/v1/collections/{collection}/documents/count", headers=headers).json()["count"]


def download(client, url):
    fetched = client.get(url)
    assert fetched.status_code == 200, fetched.text
    return fetched.content


def refused(response, status, code=None):
    assert response.status_code == status, response.text
    if status != 422:
        body = response.json()
        assert body["success"] is False and body["status"] == status
        if code:
            assert body["error"]["code"] == code, body
    return response


# -- clone -----------------------------------------------------------------------------------------------------------


def test_clone_copies_the_configuration_with_the_requested_changes(client, shop, other_tenant):
    patched = client.patch("/v1/collections/rows", headers=shop, json={"tiering": {"idle_days": {"cold": 3}}})
    assert patched.status_code == 200, patched.text
    source = client.get("/v1/collections/rows", headers=shop).json()
    answer = client.post("/v1/collections/rows/clone", headers=shop,
                         json={"collection_name": "rows-v2", "description": "second try"})
    assert answer.status_code == 200, answer.text
    cloned = CloneCollectionResponse.from_dict(answer.json())
    assert cloned.source_collection_id == source["collection_id"]
    assert cloned.collection.collection_id != source["collection_id"]
    assert cloned.collection.collection_name == "rows-v2" and cloned.collection.description == "second try"
    copy = client.get("/v1/collections/rows-v2", headers=shop).json()
    for field in ("source", "feature_extractor", "output_schema", "metadata", "enabled", "tiering"):
        assert copy[field] == source[field], field
    assert copy["tiering"]["idle_days"]["cold"] == 3 and copy["tiering"]["inherited_from"]["idle_days.cold"] == \
        "collection"
    assert copy["document_count"] == 0
    assert client.get("/v1/collections/rows", headers=shop).json()["collection_name"] == "rows"

    # a changed extractor is checked as at creation
    changed = client.post("/v1/collections/rows/clone", headers=shop, json={
        "collection_name": "rows-titles", "feature_extractor": {
            "feature_extractor_name": "passthrough_extractor", "version": "v1",
            "field_passthrough": [{"source_path": "title"}]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["collection"]["feature_extractor"]["field_passthrough"] == [{"source_path": "title"}]

    listed = client.get("/v1/collections", headers=shop).json()["total_count"]
    refused(client.post("/v1/collections/rows/clone", headers=shop, json={"collection_name": "rows-v2"}), 409)
    refused(client.post("/v1/collections/rows/clone", headers=shop, json={}), 422)
    refused(client.post("/v1/collections/rows/clone", headers=shop, json={"collection_name": "x", "extra": 1}), 422)
    refused(client.post("/v1/collections/rows/clone", headers=shop, json={
        "collection_name": "bad", "feature_extractor": {"feature_extractor_name": "passthrough_extractor",
                                                        "field_passthrough": [{"source_path": "nope"}]}}), 400)
    refused(client.post("/v1/collections/rows/clone", headers=shop, json={
        "collection_name": "tax", "taxonomy_applications": [{"taxonomy_id": "tax_1"}]}), 400, "unsupported_field")
    refused(client.post("/v1/collections/missing/clone", headers=shop, json={"collection_name": "y"}), 404)
    assert client.get("/v1/collections", headers=shop).json()["total_count"] == listed

    theirs = {**other_tenant.headers, "X-Namespace": "shop"}
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "shop"})
    refused(client.post(f"/v1/collections/{source['collection_id']}/clone", headers=theirs,
                        json={"collection_name": "stolen"}), 404)


# -- export ----------------------------------------------------------------------------------------------------------


def test_export_writes_each_format_with_download_urls(client, shop):
    vectors = {f"t{n}": [float(n + 1), 0.5, 0.25, 1.0] for n in range(5)}
    ids = {add_document(client, shop, title, vector, price=n): title
           for n, (title, vector) in enumerate(vectors.items())}

    answer = client.post("/v1/collections/vecs/export", headers=shop, json={"format": "json"})
    assert answer.status_code == 200, answer.text
    exported = CollectionExportResponse.from_dict(answer.json())
    assert exported.document_count == 5 and exported.format.value == "json"
    lines = [json.loads(line) for line in download(client, exported.download_url).splitlines()]
    assert {row["document_id"]: row["title"] for row in lines} == ids
    assert all("vectors" not in row for row in lines) and exported.vectors_download_url is None
    assert exported.file_size_bytes == len(download(client, exported.download_url))

    csv_answer = client.post("/v1/collections/vecs/export", headers=shop, json={
        "format": "csv", "select_fields": ["title", "metadata.title"], "include_lineage": True,
        "filters": {"AND": [{"field": "price", "operator": "gte", "value": 3}]}}).json()
    text = download(client, csv_answer["download_url"]).decode().splitlines()
    assert text[0] == "document_id,title,metadata.title,lineage_chain,source_content_hash,document_created_at"
    assert sorted(line.split(",")[1] for line in text[1:]) == ["t3", "t4"] and csv_answer["document_count"] == 2

    parquet = CollectionExportResponse.from_dict(client.post("/v1/collections/vecs/export", headers=shop, json={
        "include_vectors": True}).json())
    assert parquet.format.value == "parquet"  # the default
    table = pq.read_table(io.BytesIO(download(client, parquet.download_url))).to_pylist()
    assert sorted(row["title"] for row in table) == sorted(vectors)
    stored = pq.read_table(io.BytesIO(download(client, parquet.vectors_download_url))).to_pylist()
    by_id = {row["document_id"]: row["emb"] for row in stored}
    for document_id, title in ids.items():  # a cosine index keeps the unit vector
        expected = np.asarray(vectors[title]) / np.linalg.norm(vectors[title])
        assert by_id[document_id] == pytest.approx(expected.tolist(), abs=1e-6)

    shards = CollectionExportResponse.from_dict(client.post("/v1/collections/vecs/export", headers=shop, json={
        "format": "webdataset", "samples_per_shard": 2, "sample_size": 5}).json())
    assert shards.shard_count == 3 and shards.shard_pattern == "documents-{000000..000002}.tar"
    assert [shard.sample_count for shard in shards.shards] == [2, 2, 1]
    members = tarfile.open(fileobj=io.BytesIO(download(client, shards.shards[0].download_url))).getnames()
    assert len(members) == 2 and all(name.endswith(".json") for name in members)

    sampled = client.post("/v1/collections/vecs/export", headers=shop, json={"format": "json", "sample_size": 2})
    assert sampled.json()["document_count"] == 2

    # a cold collection exports from its cold copy, vectors included
    moved = client.patch("/v1/collections/vecs/lifecycle", headers=shop,
                         json={"lifecycle_state": "cold", "async_transition": False})
    assert moved.json()["lifecycle_state"] == "cold", moved.text
    cold = client.post("/v1/collections/vecs/export", headers=shop, json={"format": "json",
                                                                          "include_vectors": True}).json()
    cold_rows = [json.loads(line) for line in download(client, cold["download_url"]).splitlines()]
    assert {row["document_id"]: row["title"] for row in cold_rows} == ids
    assert {row["_source_tier"] for row in cold_rows} == {"cold"}
    cold_vectors = [json.loads(line) for line in download(client, cold["vectors_download_url"]).splitlines()]
    assert len(cold_vectors) == len(by_id)
    for row in cold_vectors:
        assert row["emb"] == pytest.approx(by_id[row["document_id"]], abs=1e-6)


def test_export_refuses_what_it_cannot_do(client, shop, other_tenant):
    add_document(client, shop, "only", [1.0, 0.0, 0.0, 0.0])
    refused(client.post("/v1/collections/vecs/export", headers=shop, json={
        "destination": {"connection_id": "conn_1", "prefix": "x/"}}), 400, "destination_unsupported")
    refused(client.post("/v1/collections/vecs/export", headers=shop, json={"format": "json", "include_media": True}),
            400, "invalid_export")
    refused(client.post("/v1/collections/vecs/export", headers=shop, json={"format": "xml"}), 422)
    refused(client.post("/v1/collections/vecs/export", headers=shop, json={"sample_size": 0}), 422)
    refused(client.post("/v1/collections/vecs/export", headers=shop, json={
        "filters": {"AND": [{"field": "price", "operator": "bogus", "value": 1}]}}), 400)
    refused(client.post("/v1/collections/missing/export", headers=shop, json={}), 404)
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "shop"})
    vecs_id = client.get("/v1/collections/vecs", headers=shop).json()["collection_id"]
    refused(client.post(f"/v1/collections/{vecs_id}/export", headers={**other_tenant.headers, "X-Namespace": "shop"},
                        json={}), 404)

    # the files go with their collection
    answer = client.post("/v1/collections/vecs/export", headers=shop, json={"format": "json"}).json()
    assert json.loads(download(client, answer["download_url"]))["title"] == "only"
    assert client.delete("/v1/collections/vecs", headers=shop).status_code == 200
    assert client.get(answer["download_url"]).status_code == 404


# -- import ----------------------------------------------------------------------------------------------------------


def b64(vector):
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode()


EXPORT = {"asset": {"id": "asset-7", "brand": "acme"},
          "scenes": [{"scene_index": 0, "caption": "a red car"}, {"scene_index": 1, "caption": "a blue sky"},
                     {"scene_index": 2, "caption": "no vector"}],
          "embeddings": [{"scene_index": 0, "vector_b64": b64([1, 0, 0, 0])},
                         {"scene_index": 1, "vector_b64": b64([0, 1, 0, 0])}]}
MAPPING = {"source_type": "bucket", "fields": [
    {"source_field": "asset.id", "target": {"kind": "identity", "role": "source_object_id"}},
    {"source_field": "asset.brand", "target": {"kind": "metadata", "path": "metadata.brand"}},
    {"source_field": "scenes[].caption", "target": {"kind": "metadata", "path": "caption"}},
    {"source_field": "scenes[].scene_index", "target": {"kind": "metadata", "path": "metadata.scene"}},
    {"source_field": "embeddings[].vector_b64", "target": {"kind": "vector", "index": "emb", "dim": 4,
                                                            "dtype": "float16-base64"}}]}
EXPLODE = {"explode_axis": "scenes", "vector_join": {"array": "embeddings", "key": "scene_index", "index": "emb"}}


def test_infer_then_validate_then_import(client, shop):
    inferred = client.post("/v1/collections/import/infer", headers=shop, json={
        "sample_rows": [EXPORT], "known_index_dims": {"emb": 4}})
    assert inferred.status_code == 200, inferred.text
    result = SchemaInferenceResult.from_dict(inferred.json())
    fields = {field.path: field for field in result.fields}
    assert fields["asset.brand"].type == "string" and fields["asset.brand"].cardinality == "low"
    assert fields["scenes[].caption"].cardinality == "high" and fields["scenes[].scene_index"].type == "integer"
    assert fields["asset.brand"].suggested_target.path == "metadata.asset.brand"
    vector = fields["embeddings[].vector_b64"]
    assert (vector.type, vector.dim, vector.dtype) == ("vector", 4, "float16-base64")
    assert vector.suggested_target.kind == "vector" and vector.suggested_target.index == "emb"

    checked = client.post("/v1/collections/import/validate-mapping", headers=shop, json={
        "mapping": MAPPING, "known_index_dims": {"emb": 4},
        "source_fields": [{"path": f.path, "type": f.type} for f in result.fields]})
    assert MappingValidationResult.from_dict(checked.json()).ok is True
    wrong = MappingValidationResult.from_dict(client.post("/v1/collections/import/validate-mapping", headers=shop,
                                                          json={"mapping": {"fields": [
        {"source_field": "a", "target": {"kind": "vector", "index": "emb", "dim": 8}},
        {"source_field": "b", "target": {"kind": "teleport"}},
        {"source_field": "c", "target": {"kind": "metadata", "path": "document_id"}}]},
        "known_index_dims": {"emb": 4}}).json())
    assert wrong.ok is False and [error.var_field for error in wrong.errors] == ["a", "b", "c"]
    assert "4 dimensions" in wrong.errors[0].error

    before = count(client, shop, "vecs")
    dry = ImportResponse.from_dict(client.post("/v1/collections/vecs/import", headers=shop, json={
        "export": EXPORT, "mapping": MAPPING, "explode": EXPLODE, "dry_run": True}).json())
    assert (dry.reconstructed, dry.imported, dry.skipped, dry.dry_run) == (2, 0, 1, True)
    assert dry.errors[0].row == 2 and "scene_index = 2" in dry.errors[0].error
    assert count(client, shop, "vecs") == before

    done = client.post("/v1/collections/vecs/import", headers=shop, json={
        "export": EXPORT, "mapping": MAPPING, "explode": EXPLODE})
    assert done.status_code == 200, done.text
    assert ImportResponse.from_dict(done.json()).imported == 2
    listed = client.post("/v1/collections/vecs/documents/list", headers=shop, json={
        "return_vectors": True, "sort": {"field": "caption", "direction": "asc"}}).json()["results"]
    assert [doc["caption"] for doc in listed] == ["a blue sky", "a red car"]
    assert listed[0]["metadata"] == {"brand": "acme", "scene": 1} and listed[0]["source_object_id"] == "asset-7"
    assert listed[0]["source_type"] == "bucket"
    assert listed[0]["vectors"]["emb"] == pytest.approx([0, 1, 0, 0])
    again = client.post("/v1/collections/vecs/import", headers=shop, json={
        "export": EXPORT, "mapping": MAPPING, "explode": EXPLODE}).json()
    assert again["imported"] == 2 and count(client, shop, "vecs") == before + 2  # the same ids: overwritten


def test_import_refuses_bad_mappings_and_other_organisations(client, shop, other_tenant):
    before = count(client, shop, "vecs")
    bad_dim = {"fields": [{"source_field": "v", "target": {"kind": "vector", "index": "emb", "dim": 3}}]}
    refused(client.post("/v1/collections/vecs/import", headers=shop, json={"export": {"v": [1, 2, 3]},
                                                                           "mapping": bad_dim}), 400, "invalid_mapping")
    refused(client.post("/v1/collections/vecs/import", headers=shop, json={"export": {}}), 422)
    refused(client.post("/v1/collections/missing/import", headers=shop, json={"export": EXPORT, "mapping": MAPPING}),
            404)
    refused(client.post("/v1/collections/import/infer", headers=shop, json={"sample_rows": "nope"}), 422)
    refused(client.post("/v1/collections/import/validate-mapping", headers=shop, json={"mapping": {"fields": [
        {"source_field": "a", "target": {"kind": "metadata", "path": "x", "colour": 1}}]}}), 422)
    assert count(client, shop, "vecs") == before
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "shop"})
    vecs_id = client.get("/v1/collections/vecs", headers=shop).json()["collection_id"]
    refused(client.post(f"/v1/collections/{vecs_id}/import", headers={**other_tenant.headers, "X-Namespace": "shop"},
                        json={"export": EXPORT, "mapping": MAPPING}), 404)
    unauthenticated = client.post("/v1/collections/import/infer", json={"sample_rows": []})
    assert unauthenticated.status_code == 401

    # an explode axis that is not an array of objects fails the export as a whole (row -1), writing nothing
    answer = client.post("/v1/collections/vecs/import", headers=shop, json={
        "mapping": MAPPING, "export": EXPORT, "explode": {"explode_axis": "asset"}}).json()
    assert answer["imported"] == 0 and answer["errors"] == [
        {"row": -1, "error": "explode_axis 'asset' is not an array of objects in the export"}]
    assert count(client, shop, "vecs") == before


# -- trigger and reconciliation ------------------------------------------------------------------------------------


def batches_of(client, headers):
    return client.post("/v1/buckets/items/batches/list", headers=headers, json={}).json()["total_count"]


def test_reconciliation_before_and_after_a_trigger(client, shop, services):
    objects = add_objects(client, shop, ["lamp", "desk", "chair"])
    pending = client.get("/v1/collections/rows/reconciliation", headers=shop, params={"limit": 2})
    assert pending.status_code == 200, pending.text
    report = CollectionReconciliationResponse.from_dict(pending.json())
    assert (report.source_object_count, report.produced_object_count, report.document_count, report.delta) == \
        (3, 0, 0, 3)
    assert len(report.discrepancies) == 2 and report.discrepancies_truncated is True and report.limit == 2
    assert {d.reason.value for d in report.discrepancies} == {"no_document"}
    assert {d.status for d in report.discrepancies} == {"PENDING"}
    assert all(d.object_id in objects and d.age_seconds >= 0 for d in report.discrepancies)

    answer = client.post("/v1/collections/rows/trigger", headers=shop, json={})
    assert answer.status_code == 202, answer.text
    triggered = TriggerCollectionResponse.from_dict(answer.json())
    assert triggered.object_count == 3 and triggered.total_tiers == 1 and triggered.batch_count is None
    assert triggered.collection_id == client.get("/v1/collections/rows", headers=shop).json()["collection_id"]
    assert services.batch_worker.wait_idle(120)
    batch = client.get(f"/v1/batches/{triggered.batch_id}", headers=shop).json()
    assert batch["status"] == "COMPLETED" and batch["task_id"] == triggered.task_id
    assert count(client, shop, "rows") == 3 and count(client, shop, "vecs") == 0  # only the triggered collection

    done = CollectionReconciliationResponse.from_dict(
        client.get("/v1/collections/rows/reconciliation", headers=shop).json())
    assert (done.source_object_count, done.produced_object_count, done.document_count, done.delta) == (3, 3, 3, 0)
    assert not done.discrepancies

    # a WebDataset export carries each document's source bytes beside its row
    with_media = CollectionExportResponse.from_dict(client.post("/v1/collections/rows/export", headers=shop, json={
        "format": "webdataset", "include_media": True}).json())
    assert (with_media.media.samples_with_media, with_media.media.members_written) == (3, 3)
    shard = tarfile.open(fileobj=io.BytesIO(download(client, with_media.shards[0].download_url)))
    texts = sorted(shard.extractfile(name).read().decode() for name in shard.getnames() if name.endswith(".txt"))
    assert texts == ["about chair", "about desk", "about lamp"]

    # an object removed after it was processed leaves an orphaned document, listed beyond the SDK's fields
    assert client.delete(f"/v1/buckets/items/objects/{objects[0]}", headers=shop).status_code == 200
    gone = client.post("/v1/collections/rows/export", headers=shop, json={"format": "webdataset",
                                                                          "include_media": True}).json()
    assert (gone["media"]["samples_with_media"], gone["media"]["objects_not_found"]) == (2, 1)
    after = client.get("/v1/collections/rows/reconciliation", headers=shop).json()
    assert (after["source_object_count"], after["document_count"], after["delta"]) == (2, 3, 0)
    assert after["orphaned_document_count"] == 1 and after["orphaned_documents"][0]["source_id"] == objects[0]

    refused(client.get("/v1/collections/rows/reconciliation", headers=shop, params={"limit": 0}), 422)
    refused(client.get("/v1/collections/missing/reconciliation", headers=shop), 404)


def test_trigger_selects_objects_and_refuses_what_selects_nothing(client, shop, services, other_tenant):
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={}), 400, "nothing_to_process")
    assert batches_of(client, shop) == 0  # the empty draft did not stay behind
    objects = add_objects(client, shop, ["lamp", "desk"])
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={"object_ids": ["obj_nowhere"]}), 400,
            "object_not_found")
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={"include_buckets": ["nope"]}), 404)
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={"reembed": {"outputs": ["x"]}}), 400,
            "reembed_unsupported")
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={"dedup_strategy": "sometimes"}), 422)
    refused(client.post("/v1/collections/rows/trigger", headers=shop, json={"include_collections": ["vecs"]}), 400)
    refused(client.post("/v1/collections/missing/trigger", headers=shop, json={}), 404)
    client.post("/v1/namespaces", headers=other_tenant.headers, json={"namespace_name": "shop"})
    rows_id = client.get("/v1/collections/rows", headers=shop).json()["collection_id"]
    refused(client.post(f"/v1/collections/{rows_id}/trigger", headers={**other_tenant.headers, "X-Namespace": "shop"},
                        json={}), 404)
    assert batches_of(client, shop) == 0

    one = client.post("/v1/collections/rows/trigger", headers=shop, json={"object_ids": [objects[1]],
                                                                          "include_buckets": ["items"]})
    assert one.status_code == 202 and one.json()["object_count"] == 1
    assert services.batch_worker.wait_idle(120)
    assert count(client, shop, "rows") == 1
    by_filter = client.post("/v1/collections/rows/trigger", headers=shop, json={
        "source_filters": {"AND": [{"field": "title", "operator": "eq", "value": "lamp"}]}})
    assert by_filter.status_code == 202 and by_filter.json()["object_count"] == 1
    assert services.batch_worker.wait_idle(120)
    assert count(client, shop, "rows") == 2

    # a collection-sourced collection runs through the bucket its source chain starts from
    made = client.post("/v1/collections", headers=shop, json={
        "collection_name": "copies", "source": {"type": "collection", "collection_id": "rows"},
        "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                              "field_passthrough": [{"source_path": "title"}]}})
    assert made.status_code == 200, made.text
    chained = TriggerCollectionResponse.from_dict(client.post("/v1/collections/copies/trigger", headers=shop,
                                                              json={"include_collections": ["rows"]}).json())
    assert chained.source_collection_ids == [rows_id] and chained.total_tiers == 2
    assert services.batch_worker.wait_idle(120)
    assert count(client, shop, "copies") == 2 and count(client, shop, "rows") == 2
    report = client.get("/v1/collections/copies/reconciliation", headers=shop).json()
    assert (report["source_object_count"], report["produced_object_count"], report["delta"]) == (2, 2, 0)
