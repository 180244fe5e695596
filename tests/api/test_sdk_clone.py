"""Seed 003's environment branching through the official SDK's NamespaceCloneApi against a live `openpeek serve`."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek.models import BYOUpsertRequest, CloneNamespaceRequest, CloneNamespaceResponse, \
    CreateStandaloneNamespaceRequestModel

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow


def test_clone_a_namespace_into_a_branch_with_the_sdk(server):
    client = sdk_client(server).api_client
    documents = mixpeek.BYODocumentsApi(client)
    documents.create_standalone_namespace(CreateStandaloneNamespaceRequestModel(
        namespace_id="sdk-prod", vector_configs=[{"name": "emb", "dimension": 3}]))
    documents.upsert_documents_byo_namespaces("sdk-prod", BYOUpsertRequest.from_dict({"documents": [
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i, 0.5]}, "payload": {"n": i}} for i in range(5)]}))

    response = mixpeek.NamespaceCloneApi(client).clone_namespace("sdk-prod", CloneNamespaceRequest(
        namespace_name="sdk-staging", ttl_seconds=3600))

    assert isinstance(response, CloneNamespaceResponse)
    assert response.status == "ready" and response.source_namespace_id == "sdk-prod"
    assert response.namespace.namespace_name == "sdk-staging" and response.cloned_resources.points == 5
    branch = mixpeek.NamespacesApi(client).get_namespace(response.namespace.namespace_id)
    assert branch.namespace_name == "sdk-staging"
