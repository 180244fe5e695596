"""Bring-your-own documents through the official mixpeek SDK (1.3.783) against a live `openpeek serve`: upsert, get
and delete as a user calls them, and every response parses with the SDK's own models."""

from __future__ import annotations

import httpx
import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import BYOUpsertRequest, BYOUpsertResponse, CreateStandaloneNamespaceRequestModel

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

DIM = 8


@pytest.fixture(scope="module")
def api_client(server):
    return sdk_client(server).api_client


@pytest.fixture(scope="module")
def documents_api(server, api_client):
    base, key, _ = server
    api = mixpeek.BYODocumentsApi(api_client)
    api.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="sdk-docs", vector_configs=[{"name": "dense", "dimension": DIM, "metric": "cosine"}]))
    # A sparse index is declared with openpeek's `"type": "sparse"`, which the SDK's VectorConfigSpecModel lacks.
    sparse = httpx.post(f"{base}/v1/namespaces/standalone", headers={"Authorization": f"Bearer {key}"}, json={
        "namespace_id": "sdk-sparse", "vector_configs": [{"name": "kw", "type": "sparse"}]})
    assert sparse.status_code == 200, sparse.text
    return api


def vector(position: int) -> list[float]:
    return [1.0 if i == position else 0.0 for i in range(DIM)]


def test_upsert_get_and_delete_through_the_sdk(api_client, documents_api):
    request = BYOUpsertRequest.from_dict({
        "collection_id": "col_contracts",
        "documents": [
            {"document_id": "lease-1", "vectors": {"dense": vector(0)},
             "payload": {"title": "Lease", "year": 2020, "document_id": "forged"}, "metadata": {"source": "scan"},
             "acl": {"read": ["user_1"], "public": False}, "source_type": "bucket", "root_object_id": "obj_1"},
            {"document_id": "lease-2", "vectors": {"dense": vector(1)}},
        ],
        "options": {"idempotency_key": "sdk-load-1", "write_token": True},
    })
    upserted = documents_api.upsert_documents_byo_namespaces("sdk-docs", request)
    assert isinstance(upserted, BYOUpsertResponse)
    assert upserted.inserted == 2 and upserted.document_ids == ["lease-1", "lease-2"]
    assert upserted.dropped_payload_fields == {"lease-1": ["document_id"]}
    assert upserted.write_token and upserted.consistency.write_token_available is True

    replayed = documents_api.upsert_documents_byo_namespaces("sdk-docs", request)
    assert replayed == upserted  # the first answer, not a second write

    got = documents_api.get_document_byo_namespaces("sdk-docs", "lease-1", return_vectors=True)
    assert got["document_id"] == "lease-1" and got["title"] == "Lease" and got["year"] == 2020
    assert got["collection_id"] == "col_contracts" and got["metadata"] == {"source": "scan"}
    assert got["root_object_id"] == "obj_1" and got["source_type"] == "bucket"
    assert got["vectors"]["dense"] == pytest.approx(vector(0))
    assert "vectors" not in documents_api.get_document_byo_namespaces("sdk-docs", "lease-2")

    # The namespace-scoped read (X-Namespace) answers the SDK's DocumentResponse.
    as_model = mixpeek.DocumentsApi(api_client).get_document_ns("lease-2", _headers={"X-Namespace": "sdk-docs"})
    assert as_model.document_id == "lease-2" and as_model.collection_id == "col_contracts"

    deleted = mixpeek.CollectionDocumentsApi(api_client).delete_document(
        "col_contracts", "lease-2", _headers={"X-Namespace": "sdk-docs"})
    assert deleted.success is True
    with pytest.raises(ApiException) as missing:
        documents_api.get_document_byo_namespaces("sdk-docs", "lease-2")
    assert missing.value.status == 404 and "document_not_found" in missing.value.body


def test_sparse_vectors_through_the_sdk(documents_api):
    upserted = documents_api.upsert_documents_byo_namespaces("sdk-sparse", BYOUpsertRequest.from_dict({
        "documents": [{"document_id": "s1", "vectors": {"kw": {"indices": [4, 17], "values": [0.5, 1]}}}]}))
    assert upserted.inserted == 1 and not upserted.unsearchable_document_ids
    got = documents_api.get_document_byo_namespaces("sdk-sparse", "s1", return_vectors=True)
    assert got["vectors"] == {"kw": {"indices": [4, 17], "values": [0.5, 1.0]}}


def test_sdk_sees_clear_errors(documents_api):
    with pytest.raises(ApiException) as wrong_dimension:
        documents_api.upsert_documents_byo_namespaces("sdk-docs", BYOUpsertRequest.from_dict({
            "documents": [{"document_id": "short", "vectors": {"dense": [1.0, 2.0]}}]}))
    assert wrong_dimension.value.status == 400 and "expects 8" in wrong_dimension.value.body

    with pytest.raises(ApiException) as reused_key:
        documents_api.upsert_documents_byo_namespaces("sdk-docs", BYOUpsertRequest.from_dict({
            "documents": [{"document_id": "other", "vectors": {"dense": vector(2)}}],
            "options": {"idempotency_key": "sdk-load-1"}}))
    assert reused_key.value.status == 409

    with pytest.raises(ApiException) as no_namespace:
        documents_api.upsert_documents_byo_namespaces("no-such-namespace", BYOUpsertRequest.from_dict({
            "documents": [{"document_id": "x", "vectors": {"dense": vector(0)}}]}))
    assert no_namespace.value.status == 404
