"""The official SDK's PublishedRetrieversApi and PublicRetrieverAPIApi against a live `openpeek serve`: publish a
retriever, read, update, check names, reconcile, list, count; then execute it by public name from a client with no
organisation key, and unpublish. The SDK parses every answer into its own models."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    CreateRetrieverRequest,
    PublishRetrieverRequest,
    RetrieverExecutionRequest,
    UpdatePublishedRetrieverRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-publishing"
DISPLAY = {"title": "Catalogue", "exposed_fields": ["title"],
           "inputs": [{"field_name": "v", "label": "Vector", "field_schema": {"type": "array"}}]}


@pytest.fixture(scope="module")
def apis(server):
    client = sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 3}], documents=[
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10, 0.0]},
         "payload": {"title": f"Item {i}", "cost": i}} for i in range(4)]).api_client
    anonymous = mixpeek.ApiClient(mixpeek.Configuration(host=server[0]))  # no key, no namespace: the public
    return mixpeek.RetrieversApi(client), mixpeek.PublishedRetrieversApi(client), mixpeek.PublicRetrieverAPIApi(
        anonymous)


def test_publish_execute_publicly_and_unpublish_through_the_sdk(apis):
    retrievers, published, public = apis
    retriever = retrievers.create_retriever(CreateRetrieverRequest.from_dict({
        "retriever_name": "catalogue", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {"searches": [
                {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 4}]}}}]}))
    retriever_id = retriever.retriever_id
    assert published.get_published_retriever_id_publish(retriever_id) is None
    assert published.check_name_availability_retrievers_id_publish(retriever_id, "sdk-catalogue").available

    made = published.publish_retriever(retriever_id, PublishRetrieverRequest.from_dict({
        "display_name": "SDK Catalogue", "display_config": DISPLAY, "rate_limit_config": {"tier": "elevated"}}))
    assert made.public_url.endswith("/v1/public/retrievers/sdk-catalogue/execute") and made.public_api_key
    assert not published.check_name_availability_retrievers_id_publish(retriever_id, "sdk-catalogue").available
    details = published.get_published_retriever_id_publish(retriever_id)
    assert details.public_name == "sdk-catalogue" and details.rate_limit_config.tier.value == "elevated"

    updated = published.update_published_retriever_id_publish(retriever_id, UpdatePublishedRetrieverRequest(
        tags=["sdk"], category="demo"))
    assert (updated.tags, updated.category) == (["sdk"], "demo")
    stats = published.get_organization_publish_stats_retrievers()
    assert (stats.current_count, stats.remaining, stats.at_limit) == (1, 9, False)
    assert published.reconcile_publish_state_retrievers(retriever_id, dry_run=True)["state"] == "consistent"
    listing = published.list_published_retrievers(limit=10)
    assert [entry["retriever_id"] for entry in listing["results"]] == [retriever_id]

    answer = public.execute_retriever_name("sdk-catalogue", RetrieverExecutionRequest.from_dict(
        {"inputs": {"v": [1.0, 0.0, 0.0]}, "limit": 2}))
    assert [document["document_id"] for document in answer["documents"]] == ["d0", "d1"]
    assert all(set(document) == {"document_id", "score", "title"} for document in answer["documents"])
    assert published.get_organization_publish_stats_retrievers().to_dict()["current_count"] == 1

    assert published.unpublish_retriever_id_publish(retriever_id).success
    with pytest.raises(ApiException) as refused:
        public.execute_retriever_name("sdk-catalogue", RetrieverExecutionRequest.from_dict(
            {"inputs": {"v": [1.0, 0.0, 0.0]}}))
    assert refused.value.status == 404
    assert published.get_published_retriever_id_publish(retriever_id) is None
