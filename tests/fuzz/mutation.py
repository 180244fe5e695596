"""A mutation fuzzer for the HTTP API: it starts from valid requests of every route, carrying real ids of resources it
seeded first, and breaks them one way at a time (types swapped, containers nested hundreds deep, megabyte strings,
NaN and Infinity, lone surrogates and other awkward unicode, extreme numbers, keys dropped or added, ids and query
parameters replaced). The rule it checks: no answer is a 5xx, the server answers health after every case, and the
keep-alive connection survives every answer.

Run by tests/fuzz/test_mutation_fuzz.py (a bounded run in the suite) and by `make fuzz` (a long run):
    python -m tests.fuzz.mutation --cases 25000 [--seed N] [--base http://127.0.0.1:PORT --key sk_...]
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import math
import random
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "fuzzns"
DIMENSION = 4


@dataclass
class Case:
    method: str
    path: str
    body: Any = None  # a JSON value, or bytes sent as they are
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # The path's resource ids, by placeholder: mutating one swaps it for something else.
    ids: dict[str, str] = field(default_factory=dict)
    template: str = ""
    # A DELETE whose target the corpus can lose (it names a resource another case recreates, or none it needs): it
    # runs with its real ids; every other DELETE runs against a missing id unless a mutation changed it.
    expendable: bool = False


@dataclass
class Finding:
    case: str
    status: int | None
    detail: str


@dataclass
class Report:
    cases: int = 0
    server_errors: list[Finding] = field(default_factory=list)
    health_failures: list[Finding] = field(default_factory=list)
    dropped_connections: list[Finding] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Finding]:
        return self.server_errors + self.health_failures + self.dropped_connections

    def summary(self) -> str:
        return (f"{self.cases} cases in {self.seconds:.1f} s: {len(self.server_errors)} 5xx, "
                f"{len(self.health_failures)} health failures, {len(self.dropped_connections)} dropped connections; "
                f"statuses {dict(sorted(self.by_status.items()))}")


class Connection:
    """One keep-alive HTTP/1.1 connection; every request says whether the server kept it open."""

    def __init__(self, base: str, timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout
        self.conn = self._open()

    def _open(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, bool]:
        """(status, body, kept_alive). A connection the server closed is reopened for the next request."""
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, ConnectionError, OSError):
            self.conn.close()
            self.conn = self._open()
            raise
        kept = not response.will_close
        if not kept:
            self.conn.close()
            self.conn = self._open()
        return response.status, data, kept

    def close(self) -> None:
        self.conn.close()


def _json(value: Any) -> bytes:
    # allow_nan: NaN and Infinity go out as the bare tokens a careless client sends; the server must refuse them.
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def call(conn: Connection, key: str, method: str, path: str, body: Any = None, namespace: str | None = None,
         query: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    if namespace:
        headers["X-Namespace"] = namespace
    data = None
    if body is not None:
        data = _json(body)
        headers["Content-Type"] = "application/json"
    if query:
        path = path + "?" + urllib.parse.urlencode(query)
    status, raw, _ = conn.request(method, path, data, headers)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _vector(rng: random.Random) -> list[float]:
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIMENSION)]


SEARCH_STAGE = {"stage_name": "search", "stage_type": "filter", "config": {"stage_id": "feature_search", "parameters": {
    "searches": [{"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 5,
                  "filters": {"AND": [{"field": "metadata.brand", "operator": "eq", "value": "acme"}]}}]}}}
RETRIEVER = {"retriever_name": "nearest", "description": "five nearest", "input_schema": {
    "v": {"type": "array", "required": True}}, "stages": [SEARCH_STAGE]}
CLUSTER = {"cluster_name": "themes", "vector_config": {"feature_uris": ["emb"], "clustering_method": "kmeans",
                                                       "kmeans_parameters": {"n_clusters": 2}},
           "metadata": {"team": "search", "tags": ["a", "b"]}}
WEBHOOK = {"webhook_name": "notify", "url": "http://127.0.0.1:9/hook", "events": ["document.created"],
           "headers": {"X-Team": "search"}}


BUCKET = {"bucket_name": "fuzz-bucket", "bucket_schema": {"properties": {
    "content": {"type": "text"}, "title": {"type": "string"}}}}
OBJECT = {"blobs": [{"property": "content", "type": "text", "data": "Espresso is brewed under pressure."}],
          "title": "fuzz"}
COLLECTION = {"collection_name": "fuzz-collection", "source": {"type": "bucket", "bucket_ids": ["fuzz-bucket"]},
              "feature_extractor": {"feature_extractor_name": "passthrough_extractor", "version": "v1",
                                    "include_all_source_fields": True}}


def seed(base: str, key: str, rng: random.Random) -> dict[str, str]:
    """Creates the resources the cases name; returns their ids."""
    conn = Connection(base)
    try:
        status, body = call(conn, key, "POST", "/v1/namespaces/standalone", {
            "namespace_id": NAMESPACE, "vector_configs": [{"name": "emb", "dimension": DIMENSION}]})
        assert status in (200, 409), (status, body)
        documents = [{"document_id": f"doc{i}", "vectors": {"emb": _vector(rng)},
                      "payload": {"title": f"item {i}", "price": i, "tags": ["x", "y"]},
                      "metadata": {"brand": "acme" if i % 2 else "globex"}} for i in range(24)]
        status, body = call(conn, key, "POST", f"/v1/namespaces/{NAMESPACE}/documents/upsert",
                            {"documents": documents})
        assert status == 200, (status, body)
        status, body = call(conn, key, "POST", "/v1/retrievers", RETRIEVER, namespace=NAMESPACE)
        assert status == 200, (status, body)
        retriever_id = body["retriever_id"]
        status, body = call(conn, key, "POST", "/v1/clusters", CLUSTER, namespace=NAMESPACE)
        assert status == 200, (status, body)
        cluster_id = body["cluster_id"]
        status, body = call(conn, key, "POST", f"/v1/clusters/{cluster_id}/execute", {}, namespace=NAMESPACE)
        assert status == 200, (status, body)
        task_id = body["task_id"]
        run_id = None
        # The run need not finish: its id is known at once, and the cases meet it in whatever state it is.
        status, body = call(conn, key, "POST", f"/v1/clusters/{cluster_id}/executions/list", {}, namespace=NAMESPACE)
        if status == 200:
            for execution in body.get("results", body.get("executions", [])):
                run_id = execution.get("run_id") or run_id
        status, body = call(conn, key, "POST", "/v1/webhooks", WEBHOOK, namespace=NAMESPACE)
        assert status == 200, (status, body)
        webhook_id = body.get("webhook_id") or body.get("webhook", {}).get("webhook_id")
        status, body = call(conn, key, "POST", "/v1/buckets", BUCKET, namespace=NAMESPACE)
        assert status in (200, 409), (status, body)
        status, body = call(conn, key, "POST", "/v1/buckets/fuzz-bucket/objects", OBJECT, namespace=NAMESPACE)
        assert status == 200, (status, body)
        object_id = body["object_id"]
        status, body = call(conn, key, "POST", "/v1/collections", COLLECTION, namespace=NAMESPACE)
        assert status in (200, 409), (status, body)
        status, body = call(conn, key, "GET", "/v1/collections/fuzz-collection", namespace=NAMESPACE)
        assert status == 200, (status, body)
        collection_id = body["collection_id"]
        status, body = call(conn, key, "POST", "/v1/buckets/fuzz-bucket/batches", {"object_ids": [object_id]},
                            namespace=NAMESPACE)
        assert status == 200, (status, body)
        batch_id = body["batch_id"]
        return {"namespace": NAMESPACE, "document": "doc1", "retriever": retriever_id, "cluster": cluster_id,
                "task": task_id, "run": run_id or "run_missing", "webhook": webhook_id, "collection": collection_id,
                "bucket": "fuzz-bucket", "object": object_id, "batch": batch_id,
                **_seed_more(conn, key, retriever_id, collection_id, object_id),
                **_seed_cluster_trigger(conn, key, cluster_id)}
    finally:
        conn.close()


def _seed_cluster_trigger(conn: Connection, key: str, cluster_id: str) -> dict[str, str]:
    """A paused interval trigger on the seeded cluster (paused: the fuzz run never fires it)."""
    status, body = call(conn, key, "POST", "/v1/clusters/triggers", {
        "cluster_id": cluster_id, "trigger_type": "interval", "schedule_config": {"interval_seconds": 3600},
        "status": "paused"}, namespace=NAMESPACE)
    assert status == 200, (status, body)
    return {"cluster_trigger": body["trigger_id"]}


def _token(url: str) -> str:
    """The token of a handed-out URL (its last path segment)."""
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]


def _seed_more(conn: Connection, key: str, retriever_id: str, collection_id: str, object_id: str) -> dict[str, str]:
    """The ids of the routes that need more than a create: retriever executions (saved and ad hoc), a collection
    document, an organisation webhook, uploads (one for the handed-out URL, one to confirm) and a blob's download
    token."""
    status, body = call(conn, key, "POST", f"/v1/retrievers/{retriever_id}/execute",
                        {"inputs": {"v": [0.1, 0.2, 0.3, 0.4]}}, namespace=NAMESPACE)
    assert status == 200, (status, body)
    execution_id = body["execution_id"]
    status, body = call(conn, key, "POST", "/v1/retrievers/execute", {
        "input_schema": RETRIEVER["input_schema"], "stages": RETRIEVER["stages"],
        "inputs": {"v": [0.1, 0.2, 0.3, 0.4]}}, namespace=NAMESPACE)
    assert status == 200, (status, body)
    adhoc_execution_id = body["execution_id"]
    status, body = call(conn, key, "POST", f"/v1/collections/{collection_id}/documents",
                        {"title": "written", "metadata": {"brand": "acme"}}, namespace=NAMESPACE)
    assert status == 200, (status, body)
    collection_document_id = body["document_id"]
    status, body = call(conn, key, "POST", "/v1/organizations/webhooks",
                        {**WEBHOOK, "webhook_name": "fuzz-org-seeded", "namespace": NAMESPACE})
    assert status == 200, (status, body)
    org_webhook_id = body.get("webhook_id") or body.get("webhook", {}).get("webhook_id")
    uploads = []
    for filename in ("put.txt", "confirm.txt"):
        status, body = call(conn, key, "POST", "/v1/buckets/fuzz-bucket/uploads", {
            "filename": filename, "content_type": "text/plain", "file_size_bytes": 5}, namespace=NAMESPACE)
        assert status == 200, (status, body)
        uploads.append(body)
    # The second upload's bytes arrive now, so the confirm cases meet an upload that can be confirmed.
    status, _, _ = conn.request("PUT", urllib.parse.urlsplit(uploads[1]["presigned_url"]).path, b"hello",
                                {"Content-Type": "text/plain"})
    assert status == 200, status
    status, body = call(conn, key, "GET", f"/v1/buckets/fuzz-bucket/objects/{object_id}", namespace=NAMESPACE,
                        query={"return_presigned_urls": "true"})
    assert status == 200, (status, body)
    download_token = _token(body["blobs"][0]["presigned_url"])
    status, body = call(conn, key, "POST", "/v1/buckets/fuzz-bucket/objects", OBJECT, namespace=NAMESPACE)
    assert status == 200, (status, body)
    return {"execution": execution_id, "adhoc_execution": adhoc_execution_id,
            "collection_document": collection_document_id, "org_webhook": org_webhook_id,
            "upload": uploads[0]["upload_id"], "upload_token": _token(uploads[0]["presigned_url"]),
            "confirmable_upload": uploads[1]["upload_id"], "download_token": download_token,
            "expendable_object": body["object_id"]}


def valid_cases(ids: dict[str, str]) -> list[Case]:
    """A valid request of every route (one or more), with the seeded ids."""
    ns = ids["namespace"]
    h = {"X-Namespace": ns}
    manifest = {"version": 1, "namespace": {"description": "catalogue", "payload_indexes": [
        {"field_name": "brand", "type": "keyword"}]}, "retrievers": [RETRIEVER], "clusters": [CLUSTER]}
    execute = {"inputs": {"v": [0.1, 0.2, 0.3, 0.4]}, "limit": 5, "return_vectors": True,
               "filters": {"must": [{"key": "price", "range": {"gte": 1}}]}}
    cases = [
        Case("GET", "/v1/health"),
        Case("POST", "/v1/namespaces", {"namespace_name": "fuzz-created", "description": "d",
                                        "vector_configs": [{"name": "emb", "dimension": 4}]}),
        Case("POST", "/v1/namespaces/standalone", {"namespace_id": "fuzz-standalone", "vector_configs": [
            {"name": "emb", "dimension": 4}], "auto_create_indexes": True}),
        Case("GET", "/v1/namespaces", query={"limit": "5", "offset": "0", "search": "fuzz"}),
        Case("POST", "/v1/namespaces/list", {"filters": {"namespace_name": "fuzzns"}, "sort": {
            "field": "created_at", "direction": "desc"}, "search": "fuzz"}, query={"limit": "5"}),
        Case("GET", "/v1/namespaces/{namespace}"),
        Case("PATCH", "/v1/namespaces/{namespace}", {"description": "patched", "payload_indexes": [
            {"field_name": "brand", "type": "keyword"}]}),
        Case("PUT", "/v1/namespaces/{namespace}", {"namespace_name": NAMESPACE, "payload_indexes": [
            {"field_name": "brand", "type": "keyword"}]}),
        Case("GET", "/v1/namespaces/{namespace}/stats"),
        Case("POST", "/v1/namespaces/{namespace}/clone", {"namespace_name": "fuzz-clone", "description": "c"}),
        Case("POST", "/v1/namespaces/{namespace}/promote/validate", {"add_vectors": [
            {"name": "emb2", "dimension": 4}]}),
        Case("GET", "/v1/collections/features/extractors"),
        Case("GET", "/v1/collections/features/extractors/{extractor}", ids={"extractor": "text_extractor_v1"}),
        Case("POST", "/v1/namespaces/{namespace}/documents/upsert", {"documents": [
            {"document_id": "fz1", "vectors": {"emb": [0.1, 0.2, 0.3, 0.4]}, "payload": {"title": "t", "n": 1,
                                                                                        "deep": {"a": [1, 2]}},
             "metadata": {"brand": "acme"}, "acl": {"read": ["user:1"], "public": False}}],
            "options": {"write_token": False}}),
        Case("GET", "/v1/namespaces/{namespace}/documents/{document}", query={"return_vectors": "true"}),
        Case("DELETE", "/v1/namespaces/{namespace}/documents/{document}"),
        Case("GET", "/v1/documents/{document}", headers=h),
        Case("DELETE", "/v1/collections/{collection}/documents/{document}", headers=h),
        Case("PATCH", "/v1/collections/{collection}/documents/{collection_document}/acl",
             {"read": ["user:2"], "public": True}, headers=h),
        Case("POST", "/v1/retrievers", {**RETRIEVER, "retriever_name": "fuzz-r"}, headers=h),
        Case("GET", "/v1/retrievers", query={"limit": "5"}, headers=h),
        Case("POST", "/v1/retrievers/list", {"search": "near", "filters": {"retriever_name": "nearest"}},
             headers=h),
        Case("GET", "/v1/retrievers/{retriever}", headers=h),
        Case("PATCH", "/v1/retrievers/{retriever}", {"description": "patched"}, headers=h),
        Case("DELETE", "/v1/retrievers/{retriever}", headers=h),
        Case("POST", "/v1/retrievers/{retriever}/execute", execute, query={"explain": "true"}, headers=h),
        Case("POST", "/v1/retrievers/{retriever}/execute", {
            "inputs": {"v": [0.1, 0.2, 0.3, 0.4]}, "filters": {"AND": [
                {"field": "title", "operator": "regex", "value": "^item [0-9]+$"},
                {"field": "title", "operator": "starts_with", "value": "item"}]}}, headers=h),
        Case("GET", "/v1/inference/services"),
        Case("POST", "/v1/inference", {"inference_name": "nope", "inputs": {"text": "hello"}}),
        Case("POST", "/v1/clusters", {**CLUSTER, "cluster_name": "fuzz-c"}, headers=h),
        Case("GET", "/v1/clusters", query={"limit": "5", "search": "th"}, headers=h),
        Case("POST", "/v1/clusters/list", {"search": "th", "sort": {"field": "created_at", "direction": "desc"},
                                           "filters": {"cluster_name": "themes"}}, headers=h),
        Case("GET", "/v1/clusters/{cluster}", headers=h),
        Case("PATCH", "/v1/clusters/{cluster}", {"description": "patched", "metadata": {"k": "v"}}, headers=h),
        Case("DELETE", "/v1/clusters/{cluster}", headers=h),
        Case("POST", "/v1/clusters/{cluster}/execute", {"mode": "assign"}, headers=h),
        Case("GET", "/v1/clusters/{cluster}/executions", headers=h),
        Case("POST", "/v1/clusters/{cluster}/executions/list", {}, query={"limit": "5"}, headers=h),
        Case("GET", "/v1/clusters/{cluster}/executions/{run}", headers=h),
        Case("PATCH", "/v1/clusters/{cluster}/executions/{run}/labels", {"labels": {"0": "first"}}, headers=h),
        Case("PATCH", "/v1/clusters/{cluster}/executions/{run}/name", {"run_name": "renamed run"}, headers=h),
        Case("POST", "/v1/clusters/{cluster}/executions/{run}/cancel", headers=h),
        Case("GET", "/v1/clusters/{cluster}/visualization", query={"max_points": "50", "compact": "true"},
             headers=h),
        Case("GET", "/v1/clusters/{cluster}/groups", headers=h),
        Case("GET", "/v1/tasks/{task}", headers=h),
        Case("DELETE", "/v1/tasks/{task}", headers=h),
        Case("POST", "/v1/tasks/list", {"status": "COMPLETED"}, query={"limit": "5"}, headers=h),
        Case("GET", "/v1/manifest/export", query={"format": "json"}, headers=h),
        Case("POST", "/v1/manifest/validate", manifest, headers=h),
        Case("POST", "/v1/manifest/diff", manifest, headers=h),
        Case("POST", "/v1/manifest/apply", manifest, query={"dry_run": "true"}, headers=h),
        Case("POST", "/v1/webhooks", {**WEBHOOK, "webhook_name": "fuzz-w"}, headers=h),
        Case("GET", "/v1/webhooks", query={"limit": "5"}, headers=h),
        Case("POST", "/v1/webhooks/list", {"event_type": "document.created", "is_active": True}, headers=h),
        Case("GET", "/v1/webhooks/{webhook}", headers=h),
        Case("PATCH", "/v1/webhooks/{webhook}", {"events": ["document.created", "document.deleted"]}, headers=h),
        Case("PUT", "/v1/webhooks/{webhook}", WEBHOOK, headers=h),
        Case("DELETE", "/v1/webhooks/{webhook}", headers=h),
        Case("GET", "/v1/webhooks/{webhook}/deliveries", headers=h),
        Case("POST", "/v1/organizations/webhooks", {**WEBHOOK, "webhook_name": "fuzz-org", "namespace": NAMESPACE}),
        Case("POST", "/v1/organizations/webhooks/list", {}),
        Case("GET", "/v1/organizations/webhooks/{webhook}"),
        # managed content, tiers and the stage library
        Case("POST", "/v1/buckets", {**BUCKET, "bucket_name": "fuzz-b2"}, headers=h),
        Case("GET", "/v1/buckets", query={"limit": "5"}, headers=h),
        Case("POST", "/v1/buckets/list", {"search": "fuzz", "sort": {"field": "created_at", "direction": "desc"}},
             headers=h),
        Case("GET", "/v1/buckets/{bucket}", headers=h),
        Case("PATCH", "/v1/buckets/{bucket}", {"description": "patched", "metadata": {"k": "v"}}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/objects", OBJECT, headers=h),
        Case("POST", "/v1/buckets/{bucket}/objects/batch", {"objects": [OBJECT, OBJECT]}, headers=h),
        Case("GET", "/v1/buckets/{bucket}/objects/{object}", headers=h),
        Case("PATCH", "/v1/buckets/{bucket}/objects/{object}", {"metadata": {"title": "patched"}}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/objects/list", {"filters": {"title": "fuzz"}}, query={"limit": "5"},
             headers=h),
        Case("POST", "/v1/buckets/{bucket}/uploads", {"filename": "a.txt", "content_type": "text/plain",
                                                      "file_size_bytes": 5}, headers=h),
        Case("POST", "/v1/collections", {**COLLECTION, "collection_name": "fuzz-c2"}, headers=h),
        Case("POST", "/v1/collections/list", {"search": "fuzz"}, query={"limit": "5"}, headers=h),
        Case("GET", "/v1/collections/{collection}", headers=h),
        Case("PATCH", "/v1/collections/{collection}", {"description": "patched"}, headers=h),
        Case("POST", "/v1/collections/{collection}/documents/list", {"filters": {"title": "fuzz"},
                                                                     "return_vectors": True}, headers=h),
        Case("GET", "/v1/collections/{collection}/lifecycle", headers=h),
        Case("PATCH", "/v1/collections/{collection}/lifecycle", {"lifecycle_state": "active"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches", {"object_ids": [ids.get("object", "obj_missing")]}, headers=h),
        Case("GET", "/v1/buckets/{bucket}/batches/{batch}", headers=h),
        Case("POST", "/v1/batches/list", {}, headers=h),
        Case("POST", "/v1/documents/list", {"filters": {"title": "item 1"}, "include_total": True}, headers=h),
        Case("GET", "/v1/retrievers/stages"),
        Case("POST", "/v1/retrievers/execute", {"input_schema": RETRIEVER["input_schema"],
                                                 "stages": RETRIEVER["stages"],
                                                 "inputs": {"v": [0.1, 0.2, 0.3, 0.4]}}, headers=h),
        Case("POST", "/v1/retrievers/{retriever}/execute/batch", {"queries": [
            {"inputs": {"v": [0.1, 0.2, 0.3, 0.4]}}, {"inputs": {"v": [0.4, 0.3, 0.2, 0.1]}}]}, headers=h),
        *_more_cases(ids, h),
    ]
    for case in cases:
        case.template = case.path
        for name in [part[1:-1] for part in case.path.split("/") if part.startswith("{")]:
            case.ids.setdefault(name, ids.get(name, name))
    return cases


def _more_cases(ids: dict[str, str], h: dict[str, str]) -> list[Case]:
    """Routes beyond the first corpus: the rest of each resource's operations, uploads through the handed-out URL,
    collection document writes, retriever execution history, the organisation's webhooks, batch control and the
    studio's pages."""
    document = {"title": "fuzzed", "price": 3, "metadata": {"brand": "acme"}, "vectors": {"emb": [0.1, 0.2, 0.3, 0.4]}}
    batch_updates = {"updates": [{"document_id": ids.get("collection_document", "doc_missing"),
                                  "update_data": {"price": 4}}]}
    aggregate = {"group_by": [{"field": "metadata.brand"}], "aggregations": [
        {"function": "count", "alias": "n"}, {"function": "avg", "field": "price", "alias": "mean"}],
        "having": [{"field": "n", "operator": "gte", "value": 1}], "sort_by": "n", "limit": 10}
    return [
        Case("GET", "/v1/health/liveness"),
        Case("GET", "/openapi.json"),
        Case("HEAD", "/openapi.json"),
        Case("GET", "/"),
        Case("GET", "/studio"),
        Case("GET", "/studio/"),
        Case("GET", "/studio/{asset}", ids={"asset": "index.html"}),
        Case("GET", "/docs"),
        Case("GET", "/redoc"),
        # namespaces: the expendable one another case recreates
        Case("DELETE", "/v1/namespaces/{namespace}", ids={"namespace": "fuzz-standalone"}, expendable=True),
        Case("POST", "/v1/namespaces/{namespace}/promote", {"add_vectors": [{"name": "emb2", "dimension": 4}]},
             ids={"namespace": "fuzz-standalone"}),
        # collections and their documents
        Case("GET", "/v1/collections", query={"limit": "5"}, headers=h),
        Case("DELETE", "/v1/collections/{collection}", headers=h),
        Case("GET", "/v1/collections/{collection}/features", headers=h),
        Case("GET", "/v1/collections/{collection}/documents", query={
            "filters": '{"title": "written"}', "sort": "price:desc", "limit": "5", "return_vectors": "true",
            "include_total": "true"}, headers=h),
        Case("GET", "/v1/collections/{collection}/documents/count", headers=h),
        Case("POST", "/v1/collections/{collection}/documents", document, headers=h),
        Case("POST", "/v1/collections/{collection}/documents/batch", batch_updates, headers=h),
        Case("POST", "/v1/collections/{collection}/documents/batch", {"filters": {"title": "written"},
                                                                      "update_data": {"price": 5}}, headers=h),
        Case("DELETE", "/v1/collections/{collection}/documents/batch", {"document_ids": ["doc_gone_1", "doc_gone_2"],
                                                                        "reason": "fuzz"}, headers=h,
             expendable=True),
        Case("PATCH", "/v1/collections/{collection}/documents/bulk", {"filters": {"title": "written"},
                                                                      "update_data": {"reviewed": True}}, headers=h),
        Case("POST", "/v1/collections/{collection}/documents/distinct", {"field": "metadata.brand",
                                                                         "filters": {"title": "written"},
                                                                         "limit": 10}, headers=h),
        Case("POST", "/v1/collections/{collection}/documents/aggregate", aggregate, headers=h),
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}", query={"return_vectors": "true"},
             headers=h),
        Case("PATCH", "/v1/collections/{collection}/documents/{collection_document}", {"price": 7}, headers=h),
        Case("PUT", "/v1/collections/{collection}/documents/{collection_document}", document, headers=h),
        Case("POST", "/v1/documents/batch-get", {"document_ids": [ids.get("collection_document", "doc_missing"),
                                                                  "doc_missing"]}, headers=h),
        Case("PATCH", "/v1/documents/{collection_document}", {"price": 8}, headers=h),
        Case("PUT", "/v1/documents/{collection_document}", document, headers=h),
        # retrievers: typeahead, publishing, explain, clone and the execution history
        Case("GET", "/v1/retrievers/typeahead", query={"q": "it", "fields": "title", "limit": "5"}, headers=h),
        Case("GET", "/v1/retrievers/published", headers=h),
        Case("POST", "/v1/retrievers/{retriever}/execute/explain", {"inputs": {"v": [0.1, 0.2, 0.3, 0.4]}},
             headers=h),
        Case("POST", "/v1/retrievers/{retriever}/clone", {"retriever_name": "fuzz-cloned", "description": "c",
                                                          "tags": ["a"]}, headers=h),
        Case("POST", "/v1/retrievers/{retriever}/executions/list", {"status": "completed"},
             query={"limit": "5", "offset": "0"}, headers=h),
        Case("GET", "/v1/retrievers/{retriever}/executions/{execution}", headers=h),
        Case("GET", "/v1/retrievers/{retriever}/executions/{execution}/status", headers=h),
        Case("GET", "/v1/retrievers/{retriever}/executions/{execution}/profile", headers=h),
        Case("GET", "/v1/retrievers/executions/{adhoc_execution}", headers=h),
        Case("POST", "/v1/retrievers/executions/list", {"status": "completed"}, query={"limit": "5"}, headers=h),
        # published retrievers: publish the seeded retriever, its publication, and its public execution by name
        Case("POST", "/v1/retrievers/{retriever}/publish", {
            "public_name": "fuzz-public", "description": "d", "tags": ["a"], "category": "demo",
            "display_config": {"title": "Fuzz", "exposed_fields": ["title", "metadata.brand"], "inputs": [
                {"field_name": "v", "label": "Vector", "field_schema": {"type": "array"}}]},
            "rate_limit_config": {"tier": "elevated", "max_results_per_query": 5}}, headers=h),
        Case("GET", "/v1/retrievers/{retriever}/publish", headers=h),
        Case("PATCH", "/v1/retrievers/{retriever}/publish", {"is_active": True, "tags": ["b"],
                                                             "rate_limit_config": {"requests_per_minute": 500}},
             headers=h),
        Case("DELETE", "/v1/retrievers/{retriever}/publish", headers=h),
        Case("GET", "/v1/retrievers/{retriever}/publish/availability", query={"name": "fuzz-free"}, headers=h),
        Case("POST", "/v1/retrievers/{retriever}/publish/reconcile", query={"dry_run": "true"}, headers=h),
        Case("GET", "/v1/retrievers/publish/stats", headers=h),
        Case("POST", "/v1/public/retrievers/{public_name}/execute", {
            "inputs": {"v": [0.1, 0.2, 0.3, 0.4]}, "pagination": {"method": "offset", "page_size": 3}},
             ids={"public_name": "fuzz-public"}),
        # clusters and manifests
        Case("GET", "/v1/clusters/{cluster}/visualization/points", query={"limit": "100"}, headers=h),
        Case("POST", "/v1/manifest/export", query={"format": "yaml"}, headers=h),
        # the organisation's webhooks
        Case("PATCH", "/v1/organizations/webhooks/{org_webhook}", {"events": ["document.created"]}),
        Case("PUT", "/v1/organizations/webhooks/{org_webhook}", {**WEBHOOK, "webhook_name": "fuzz-org-seeded",
                                                                  "namespace": NAMESPACE}),
        Case("DELETE", "/v1/organizations/webhooks/{org_webhook}"),
        Case("GET", "/v1/organizations/webhooks/{org_webhook}/deliveries"),
        # buckets and objects
        Case("PUT", "/v1/buckets/{bucket}", {"description": "replaced", "metadata": {"k": "v"}}, headers=h),
        Case("DELETE", "/v1/buckets/{bucket}", headers=h),
        Case("GET", "/v1/buckets/{bucket}/objects", query={"limit": "5", "offset": "0"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/objects/aggregate", {
            "group_by": [{"field": "title"}], "aggregations": [{"function": "count", "alias": "n"}],
            "having": [{"field": "n", "operator": "gte", "value": 1}], "sort_by": "n", "sort_direction": "desc",
            "limit": 10}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/objects/bulk-soft-delete", {
            "object_ids": [ids.get("expendable_object", "obj_missing")], "reason": "fuzz"}, headers=h),
        Case("PUT", "/v1/buckets/{bucket}/objects/{object}", {"metadata": {"title": "replaced"}}, headers=h),
        Case("DELETE", "/v1/buckets/{bucket}/objects/{object}", headers=h),
        # uploads: create, the handed-out URL, confirm, list, get, delete; a blob's download URL
        Case("POST", "/v1/buckets/{bucket}/uploads/batch", {"uploads": [
            {"filename": "b.txt", "content_type": "text/plain", "file_size_bytes": 3}],
            "shared_metadata": {"k": "v"}}, headers=h),
        Case("PUT", "/v1/uploads/blob/{upload_token}", b"hello", headers={"Content-Type": "text/plain"}),
        Case("POST", "/v1/buckets/{bucket}/uploads/{confirmable_upload}/confirm", {"file_size_bytes": 5},
             query={"policy": "upsert"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/uploads/confirm/batch", {"confirmations": [
            {"upload_id": ids.get("confirmable_upload", "upl_missing"), "file_size_bytes": 5}]}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/uploads/list", {"search": "txt", "limit": 5}, headers=h),
        Case("GET", "/v1/buckets/{bucket}/uploads/{upload}", headers=h),
        Case("DELETE", "/v1/buckets/{bucket}/uploads/{upload}", headers=h),
        Case("GET", "/v1/blobs/{download_token}"),
        # batches
        Case("POST", "/v1/buckets/{bucket}/batches/list", {"status": "DRAFT"}, query={"limit": "5"}, headers=h),
        Case("PATCH", "/v1/buckets/{bucket}/batches/{batch}", {"batch_name": "renamed", "metadata": {"k": "v"}},
             headers=h),
        Case("DELETE", "/v1/buckets/{bucket}/batches/{batch}", headers=h),
        Case("DELETE", "/v1/buckets/{bucket}/batches/{batch}/documents", headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/objects", {
            "object_ids": [ids.get("object", "obj_missing")]}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/submit", {"include_processing_history": True}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/cancel", headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/retry", {"retry_mode": "all", "max_retry_count": 2},
             headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/resubmit", headers=h),
        Case("GET", "/v1/buckets/{bucket}/batches/{batch}/logs", query={"tier_num": "0"}, headers=h),
        Case("GET", "/v1/buckets/{bucket}/batches/{batch}/failed-documents", headers=h),
        Case("GET", "/v1/batches/{batch}", headers=h),
        Case("POST", "/v1/batches/{batch}/cancel", query={"reason": "fuzz"}, headers=h),
        # collection documents (CollectionDocumentsApi): lineage, source media, diagnostics, dry-run schema check
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}/ancestors", headers=h),
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}/descendants", headers=h),
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}/download", headers=h),
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}/diagnostics", headers=h),
        Case("POST", "/v1/collections/{collection}/documents/schema/validate", document, headers=h),
        # SDK coverage: health, documents, namespaces, batches, manifest and cluster-execution operations
        Case("GET", "/v1/health/beat"),
        Case("GET", "/v1/health/deep", query={"deep": "true", "metrics": "true"}),
        Case("POST", "/v1/documents/list/batch", {"queries": [
            {"key": "written", "request": {"filters": {"title": "written"}, "limit": 5}},
            {"key": "all", "request": {"include_total": True, "sort": {"field": "price", "direction": "desc"}}}]},
             headers=h),
        Case("POST", "/v1/namespaces/{namespace}/ensure-indexes", query={"force_rebuild": "false"}),
        Case("POST", "/v1/namespaces/stats/batch", {"namespace_ids": [ids["namespace"], "fuzz-standalone"]}),
        Case("GET", "/v1/batches/queue", headers=h),
        Case("POST", "/v1/manifest/lint", {"version": 1, "namespace": {"description": "linted"},
                                           "retrievers": [RETRIEVER]},
             query={"skip_rules": "MISSING_DESCRIPTION"}, headers=h),
        Case("POST", "/v1/manifest/generate", query={"description": "notes searched by meaning",
                                                     "manifest_name": "fuzz-generated"}),
        Case("GET", "/v1/clusters/{cluster}/executions/{run}/export", query={"format": "csv"}, headers=h),
        # collections as a whole: clone, export, import (infer, validate-mapping), reconciliation, trigger
        Case("POST", "/v1/collections/{collection}/clone", {"collection_name": "fuzz-clone",
                                                            "description": "cloned"}, headers=h),
        Case("POST", "/v1/collections/{collection}/export", {"format": "json", "sample_size": 10,
                                                             "select_fields": ["title"]}, headers=h),
        Case("POST", "/v1/collections/{collection}/import", {
            "export": {"item": {"title": "imported", "price": 2}}, "dry_run": True, "mapping": {"fields": [
                {"source_field": "item.title", "target": {"kind": "metadata", "path": "title"}},
                {"source_field": "item.price", "target": {"kind": "metadata", "path": "metadata.price"}}]}},
             headers=h),
        Case("POST", "/v1/collections/import/infer", {"sample_rows": [{"title": "a", "price": 3}],
                                                      "known_index_dims": {"emb": DIMENSION}}, headers=h),
        Case("POST", "/v1/collections/import/validate-mapping", {
            "source_fields": [{"path": "title", "type": "string"}],
            "mapping": {"fields": [{"source_field": "title", "target": {"kind": "metadata", "path": "title"}}]}},
             headers=h),
        Case("GET", "/v1/collections/{collection}/reconciliation", query={"limit": "10"}, headers=h),
        Case("POST", "/v1/collections/{collection}/trigger", {"dedup_strategy": "skip"}, headers=h),
        # account: who am I, organisation secrets, the features menu, the one-off feature search, the namespace's
        # extractors and a collection's schema sync
        Case("GET", "/v1/me"),
        Case("GET", "/v1/account"),
        Case("POST", "/v1/organizations/secrets", {"secret_name": "fuzz_secret", "secret_value": "s3cret"}),
        Case("GET", "/v1/organizations/secrets"),
        Case("PUT", "/v1/organizations/secrets/{org_secret}", {"secret_value": "rotated"},
             ids={"org_secret": "fuzz_secret"}),
        Case("DELETE", "/v1/organizations/secrets/{org_secret}", ids={"org_secret": "fuzz_secret"}),
        Case("GET", "/v1/collections/features", headers=h),
        Case("POST", "/v1/features/search", {"query": {"input_mode": "vector", "vector": [0.1, 0.2, 0.3, 0.4]},
                                             "feature_uri": "emb", "top_k": 5,
                                             "collection_identifiers": [ids.get("collection", "fuzz-collection")],
                                             "filters": {"AND": [{"field": "title", "operator": "eq",
                                                                  "value": "written"}]}}, headers=h),
        Case("GET", "/v1/namespaces/{namespace}/extractors", query={"source": "all", "include_disabled": "true"}),
        Case("GET", "/v1/namespaces/{namespace}/extractors/{extractor}", ids={"extractor": "text_extractor_v1"}),
        Case("POST", "/v1/collections/{collection}/sync-schema", {"sample_size": 10, "force": True,
                                                                  "cascade_to_downstream": True}, headers=h),
        # bucket batches: many at once, a batch's tiers and jobs, its reports
        Case("POST", "/v1/buckets/{bucket}/batches/bulk-submit", {"chunk_size": 100, "max_objects": 10,
                                                                  "dedup_strategy": "skip"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/submit-all", headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/tiers/{tier}/cancel", query={"reason": "fuzz"},
             ids={"tier": "0"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/tiers/{tier}/retry", {"reason": "fuzz"}, ids={"tier": "0"},
             headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/tiers/{tier}/heal", {"action": "sync_status"},
             ids={"tier": "0"}, headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/tiers/{tier}/jobs/{job}/cancel", query={"reason": "fuzz"},
             ids={"tier": "0", "job": "job_t0_p00000"}, headers=h),
        Case("GET", "/v1/buckets/{bucket}/batches/{batch}/diagnose", headers=h),
        Case("GET", "/v1/buckets/{bucket}/batches/{batch}/audit", headers=h),
        Case("POST", "/v1/buckets/{bucket}/batches/{batch}/estimate-cost", headers=h),
        # document lineage (DocumentLineageApi): a document's whole lineage, an object's documents and its tree
        Case("GET", "/v1/collections/{collection}/documents/{collection_document}/lineage", headers=h),
        Case("GET", "/v1/objects/{object}/documents", query={"collection_ids": ids.get("collection", "fuzz"),
                                                             "limit": "5"}, headers=h),
        Case("GET", "/v1/objects/{object}/decomposition-tree", query={"include_document_ids": "true"}, headers=h),
        # namespace snapshots (a snapshot id no seed makes: the create case takes real ones as it runs)
        Case("POST", "/v1/namespaces/{namespace}/snapshots", {"include_vectors": True, "copy_s3_objects": False}),
        Case("POST", "/v1/namespaces/{namespace}/snapshots/list", {"skip": 0, "limit": 5}),
        Case("GET", "/v1/namespaces/{namespace}/snapshots/{snapshot}", query={"download": "true"},
             ids={"snapshot": ids.get("snapshot", "snap_missing")}),
        Case("GET", "/v1/namespaces/{namespace}/snapshots/{snapshot}/verify", query={"deep": "true"},
             ids={"snapshot": ids.get("snapshot", "snap_missing")}),
        Case("POST", "/v1/namespaces/{namespace}/snapshots/{snapshot}/restore",
             {"target_namespace_name": "fuzz-restored", "confirm_in_place": False},
             ids={"snapshot": ids.get("snapshot", "snap_missing")}),
        Case("DELETE", "/v1/namespaces/{namespace}/snapshots/{snapshot}",
             ids={"snapshot": ids.get("snapshot", "snap_missing")}),
        # retriever interactions and the public retriever pages (catalogue, config, template, verify, feedback)
        Case("POST", "/v1/retrievers/interactions", {
            "feature_id": ids.get("document", "doc1"), "interaction_type": ["click"], "position": 0,
            "execution_id": ids.get("execution", "exec_missing"), "retriever_id": ids.get("retriever", "ret_missing"),
            "metadata": {"device": "fuzz"}, "session_id": "fuzz-session"}, headers=h),
        Case("POST", "/v1/retrievers/interactions/batch", {"interactions": [
            {"document_id": ids.get("document", "doc1"), "interaction_type": ["view"], "position": 1,
             "execution_id": ids.get("execution", "exec_missing"), "occurred_at": "2026-01-01T00:00:00Z"}]},
             headers=h),
        Case("POST", "/v1/retrievers/interactions/list", {"session_id": "fuzz-session", "interaction_type": "click",
                                                          "sort": {"field": "position", "direction": "asc"}},
             query={"page_size": "5", "include_total": "true"}, headers=h),
        Case("GET", "/v1/retrievers/interactions/{interaction}", ids={"interaction": "int_missing"}, headers=h),
        Case("DELETE", "/v1/retrievers/interactions/{interaction}", ids={"interaction": "int_missing"}, headers=h),
        Case("GET", "/v1/public/retrievers/", query={"page": "1", "page_size": "10", "search": "fuzz"}),
        Case("GET", "/v1/public/retrievers/{public_name}/config", ids={"public_name": "fuzz-public"}),
        Case("GET", "/v1/public/retrievers/{public_name}/template", ids={"public_name": "fuzz-public"}),
        Case("POST", "/v1/public/retrievers/{public_name}/verify", {"password": "guess"},
             ids={"public_name": "fuzz-public"}),
        Case("POST", "/v1/public/retrievers/{public_name}/interactions", {
            "document_id": ids.get("document", "doc1"), "interaction_type": ["CLICK"], "position": 0,
            "execution_id": ids.get("execution", "exec_missing")}, headers={"X-Session-ID": "fuzz-public-session"},
             ids={"public_name": "fuzz-public"}),
        Case("POST", "/v1/public/retrievers/{public_name}/interactions/batch", {"interactions": [
            {"document_id": ids.get("document", "doc1"), "interaction_type": ["view"], "position": 0,
             "execution_id": ids.get("execution", "exec_missing")}]}, ids={"public_name": "fuzz-public"}),
        # cluster triggers: create, list, read, update, pause, resume, history, delete
        Case("POST", "/v1/clusters/triggers", {"cluster_id": ids.get("cluster", "clust_missing"),
                                               "trigger_type": "cron", "status": "paused",
                                               "schedule_config": {"cron_expression": "0 2 * * 1-5",
                                                                   "timezone": "Europe/Paris"}}, headers=h),
        Case("POST", "/v1/clusters/triggers/list", {"trigger_type": "interval", "status": "paused", "offset": 0,
                                                    "limit": 10, "sort_by": "created_at", "direction": "asc"},
             headers=h),
        Case("GET", "/v1/clusters/triggers/{cluster_trigger}", headers=h),
        Case("PATCH", "/v1/clusters/triggers/{cluster_trigger}", {"description": "fuzzed", "schedule_config": {
            "interval_seconds": 7200, "start_immediately": False}}, headers=h),
        Case("POST", "/v1/clusters/triggers/{cluster_trigger}/pause", headers=h),
        Case("POST", "/v1/clusters/triggers/{cluster_trigger}/resume", headers=h),
        Case("POST", "/v1/clusters/triggers/{cluster_trigger}/history", {"offset": 0, "limit": 10,
                                                                         "status_filter": "skipped"}, headers=h),
        Case("DELETE", "/v1/clusters/triggers/{cluster_trigger}", headers=h),
    ]


# -- mutations ---------------------------------------------------------------------------------------------------------

AWKWARD_STRINGS = ["", " ", "\x00", "\ud800", "\udfff", "💥" * 50, "\u202e\u0301" * 20, "ß" * 3, "../../etc/passwd",
                   "%00", "*", "[", "]", "{", "{{INPUT.v}}", "{{INPUT." * 50, "^(a+)+$", "(a|aa)*$", "a" * 300,
                   "null", "true", "1e999", "-0", "\\", "\"", "' OR 1=1 --", "ns_\n", "\t\r\n",
                   "metadata.", "metadata.brand.", ".", "a..b", "$", "#", "ORG#x", "NS#y"]
AWKWARD_NUMBERS = [0, -1, 1, 2 ** 31, -2 ** 63, 2 ** 64, 10 ** 30, 1e308, -1e308, 1e-320, -0.0, 0.5, 3.7, math.nan,
                   math.inf, -math.inf]


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_nodes(item, path + (key,)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_nodes(item, path + (index,)))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    container = value
    for part in path[:-1]:
        container = container[part]
    container[path[-1]] = new
    return value


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _nest(rng: random.Random, inner: Any) -> Any:
    depth = rng.choice([40, 127, 130, 300, 600, 1200, 5000])
    kind = rng.choice(["list", "dict", "mixed"])
    for level in range(depth):
        if kind == "list" or (kind == "mixed" and level % 2):
            inner = [inner]
        else:
            inner = {"a": inner}
    return inner


def _type_swap(rng: random.Random, current: Any) -> Any:
    choices = [None, True, False, 0, "text", [], {}, [1, "a", None], {"k": "v"}, rng.choice(AWKWARD_NUMBERS),
               rng.choice(AWKWARD_STRINGS)]
    return rng.choice([c for c in choices if type(c) is not type(current)] or choices)


def mutate_value(rng: random.Random, body: Any) -> tuple[Any, str]:
    # A raw body (an upload's bytes) is mutated as the JSON string of its text.
    body = body.decode("latin-1") if isinstance(body, bytes) else copy.deepcopy(body)
    path = rng.choice(_nodes(body))
    current = _get(body, path)
    strategy = rng.choice(["type", "nest", "huge", "nan", "unicode", "number", "drop", "extra", "list", "string"])
    if strategy == "type":
        new = _type_swap(rng, current)
    elif strategy == "nest":
        new = _nest(rng, current)
    elif strategy == "huge":
        new = rng.choice(["x", "é", "💥", "{"]) * rng.choice([5_000, 100_000, 1_500_000])
    elif strategy == "nan":
        new = rng.choice([math.nan, math.inf, -math.inf, [math.nan] * 4, 1e308, [1e308] * 4])
    elif strategy == "unicode":
        new = rng.choice(AWKWARD_STRINGS)
    elif strategy == "number":
        new = rng.choice(AWKWARD_NUMBERS)
    elif strategy == "drop":
        if path and isinstance(_get(body, path[:-1]), dict):
            del _get(body, path[:-1])[path[-1]]
            return body, f"drop {path}"
        new = None
    elif strategy == "extra":
        if isinstance(current, dict):
            current[rng.choice(AWKWARD_STRINGS[:12] + ["unknown_field", "namespace_id", "_internal"])] = \
                rng.choice([1, "x", None, {"a": 1}])
            return body, f"extra key at {path}"
        new = {"unexpected": current}
    elif strategy == "list":
        new = [current] * rng.choice([2, 1000, 20_000])
    else:
        new = rng.choice(AWKWARD_STRINGS) if isinstance(current, str) else str(current)
    return _replace(body, path, new), f"{strategy} at {path}"


def mutate(rng: random.Random, case: Case) -> tuple[Case, str]:
    mutated = Case(case.method, case.path, copy.deepcopy(case.body), dict(case.query), dict(case.headers),
                   dict(case.ids), case.template, case.expendable)
    targets = ["body"] * 6 if case.body is not None else []
    targets += ["query"] * (2 if case.query else 1) + ["id"] * (2 if case.ids else 0) + ["raw", "header"]
    target = rng.choice(targets)
    if target == "body":
        mutated.body, how = mutate_value(rng, case.body)
    elif target == "query":
        name = rng.choice(list(case.query) + ["limit", "offset", "page", "return_vectors", "format", "dry_run"])
        mutated.query[name] = rng.choice(["-1", "0", "1e9", "99999999999999999999", "abc", "", "true", "NaN",
                                          "\x00", "💥" * 10, "x" * 5000])
        how = f"query {name}"
    elif target == "id":
        name = rng.choice(list(case.ids))
        mutated.ids[name] = rng.choice(AWKWARD_STRINGS + ["x" * 2000, "ns_" + "a" * 40, "ret_missing", "task_x",
                                                          "fuzz-standalone", "clust_" + "0" * 20])
        how = f"id {name}"
    elif target == "raw":
        raw = case.body if isinstance(case.body, bytes) else _json(case.body) if case.body is not None else b"{}"
        choice = rng.choice(["truncate", "garbage", "empty", "nested", "no-ctype", "yaml", "bom"])
        if choice == "truncate":
            mutated.body = raw[: rng.randrange(max(1, len(raw)))]
        elif choice == "garbage":
            mutated.body = bytes(rng.randrange(256) for _ in range(rng.choice([1, 64, 4096])))
        elif choice == "empty":
            mutated.body = b""
        elif choice == "nested":
            depth = rng.choice([200, 1000, 100_000])
            mutated.body = b"[" * depth + b"]" * depth
        elif choice == "no-ctype":
            mutated.body = raw
            mutated.headers["Content-Type"] = ""
        elif choice == "yaml":
            mutated.body = b"a: &x [1, 2]\nb: [*x, *x, *x]\nc: " + b"[" * 3000 + b"]" * 3000
            mutated.headers["Content-Type"] = "application/x-yaml"
        else:
            mutated.body = b"\xef\xbb\xbf" + raw
        how = f"raw {choice}"
    else:
        # Awkward but legal field values: a control character in a header is a malformed HTTP message, which the
        # server's HTTP parser rightly answers 400 and closes.
        legal = [value for value in AWKWARD_STRINGS if not any(ord(char) < 32 or ord(char) == 127 for char in value)]
        mutated.headers[rng.choice(["X-Namespace", "Content-Type", "Authorization"])] = rng.choice(
            legal[:14] + ["application/xml", "Bearer sk_short", "text/plain", "ns_missing"])
        how = "header"
    return mutated, how


def encode(case: Case, key: str) -> tuple[str, bytes | None, dict[str, str]]:
    path = case.template
    for name, value in case.ids.items():
        path = path.replace("{" + name + "}", urllib.parse.quote(value.encode("utf-8", "surrogatepass"), safe=""))
    if case.query:
        path += "?" + urllib.parse.urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in case.query.items()})
    headers = {"Authorization": f"Bearer {key}", **{k: v for k, v in case.headers.items()}}
    headers = {k: v.encode("utf-8", "surrogatepass").decode("latin-1") for k, v in headers.items()}
    body = None
    if isinstance(case.body, bytes):
        body = case.body
    elif case.body is not None:
        body = _json(case.body)
    if body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    if headers.get("Content-Type") == "":
        del headers["Content-Type"]
    return path, body, headers


def run(base: str, key: str, cases: int, seed_value: int = 0, progress: bool = False,
        ids: dict[str, str] | None = None) -> Report:
    """`ids`: those a `seed` on this server returned already (one server, several fuzzers); seeds them when absent."""
    # The client encodes bodies nested thousands deep with the standard library's (recursive) JSON encoder.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 12_000))
    rng = random.Random(seed_value)
    if ids is None:
        ids = seed(base, key, rng)
    # Deletes keep their real ids only when the mutation replaced them: the corpus must outlive the run.
    corpus = valid_cases(ids)
    report = Report()
    conn = Connection(base)
    started = time.monotonic()
    try:
        for number in range(cases):
            case, how = mutate(rng, rng.choice(corpus))
            if (case.method == "DELETE" and not case.expendable
                    and case.ids == {name: ids.get(name, name) for name in case.ids}):
                case.ids[next(iter(case.ids))] = "fuzz-missing"
            path, body, headers = encode(case, key)
            label = f"#{number} {case.method} {case.template} ({how})"
            report.cases += 1
            try:
                status, data, kept = conn.request(case.method, path, body, headers)
            except (http.client.HTTPException, OSError) as error:
                report.dropped_connections.append(Finding(label, None, repr(error)))
                continue
            report.by_status[status] = report.by_status.get(status, 0) + 1
            if status >= 500:
                report.server_errors.append(Finding(label, status, data[:300].decode("utf-8", "replace")))
            if not kept:
                report.dropped_connections.append(Finding(label, status, "server closed the keep-alive connection"))
            try:
                health, _, _ = conn.request("GET", "/v1/health", None, {})
                if health != 200:
                    report.health_failures.append(Finding(label, health, "health did not answer 200"))
            except (http.client.HTTPException, OSError) as error:
                report.health_failures.append(Finding(label, None, repr(error)))
            if progress and number % 500 == 0:
                print(f"{number}: {len(report.failures)} failures", file=sys.stderr, flush=True)
    finally:
        conn.close()
        report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base", help="a running server; without it one is started on a free port")
    parser.add_argument("--key")
    args = parser.parse_args(argv)
    if args.base:
        report = run(args.base, args.key, args.cases, args.seed, progress=True)
    else:
        from tests.live_server import live_server

        from .conftest import FUZZ_SERVER_ENV

        with live_server(env=FUZZ_SERVER_ENV) as (base, key, _):
            report = run(base, key, args.cases, args.seed, progress=True)
    print(report.summary())
    for finding in report.failures[:100]:
        print(f"  {finding.case}: {finding.status} {finding.detail}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
