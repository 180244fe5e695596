"""The official SDK's RetrieverInteractionsApi and the rest of its PublicRetrieverAPIApi against a live `openpeek
serve`: record, backfill, read, list and delete interactions as the owner; then, from a client with no key, browse
the public catalogue, read a publication's config and template, verify its password and send feedback on its results.
The SDK serialises every request and parses every answer into its own models."""

from __future__ import annotations

import mixpeek
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BulkInteractionsRequest,
    CreateRetrieverRequest,
    ListInteractionsRequest,
    PublicInteractionBatchRequest,
    PublicInteractionRequest,
    PublishRetrieverRequest,
    RetrieverExecutionRequest,
    SearchInteraction,
    VerifyPasswordRequest,
)

from tests.api.conftest import sdk_client

pytestmark = pytest.mark.slow

NAMESPACE = "sdk-feedback"
DISPLAY = {"title": "Feedback catalogue", "description": "Items people like", "exposed_fields": ["title"],
           "inputs": [{"field_name": "v", "label": "Vector", "field_schema": {"type": "array"}}]}


@pytest.fixture(scope="module")
def apis(server):
    client = sdk_client(server, NAMESPACE, vector_configs=[{"name": "emb", "dimension": 3}], documents=[
        {"document_id": f"d{i}", "vectors": {"emb": [1.0, i / 10, 0.0]}, "payload": {"title": f"Item {i}"}}
        for i in range(3)]).api_client
    retriever = mixpeek.RetrieversApi(client).create_retriever(CreateRetrieverRequest.from_dict({
        "retriever_name": "feedback", "input_schema": {"v": {"type": "array", "required": True}},
        "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
            "stage_id": "feature_search", "parameters": {"searches": [
                {"feature_uri": "emb", "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 3}]}}}]}))
    mixpeek.PublishedRetrieversApi(client).publish_retriever(retriever.retriever_id, PublishRetrieverRequest.from_dict(
        {"public_name": "sdk-feedback", "display_config": DISPLAY}))
    anonymous = mixpeek.ApiClient(mixpeek.Configuration(host=server[0]))
    return mixpeek.RetrieverInteractionsApi(client), mixpeek.PublicRetrieverAPIApi(anonymous), retriever.retriever_id


def test_interactions_through_the_sdk(apis):
    interactions, public, retriever_id = apis
    execution_id = public.execute_retriever_name("sdk-feedback", RetrieverExecutionRequest.from_dict(
        {"inputs": {"v": [1.0, 0.0, 0.0]}}))["execution_id"]
    made = interactions.create_interaction_retrievers(SearchInteraction.from_dict({
        "feature_id": "d0", "interaction_type": ["click"], "position": 0, "execution_id": execution_id,
        "retriever_id": retriever_id, "session_id": "sdk-session", "occurred_at": "2026-02-03T04:05:06Z"}))
    assert made.interaction_id and made.retriever_id == retriever_id and made.deduplicated is False
    assert interactions.get_interaction_retrievers(made.interaction_id).session_id == "sdk-session"

    bulk = interactions.create_interactions_bulk_retrievers_batch(BulkInteractionsRequest.from_dict({"interactions": [
        {"feature_id": f"d{i}", "interaction_type": ["view"], "position": i, "execution_id": execution_id}
        for i in range(3)]}))
    assert (bulk.created, bulk.failed) == (3, 0)

    listed = interactions.list_interactions_retrievers(page_size=2, include_total=True, list_interactions_request=(
        ListInteractionsRequest.from_dict({"execution_id": execution_id, "interaction_type": "view",
                                           "sort": {"field": "position", "direction": "asc"},
                                           "filters": {"AND": [{"field": "position", "operator": "gte",
                                                                "value": 1}]}})))
    assert [entry.feature_id for entry in listed.results] == ["d1", "d2"] and listed.pagination.total == 2

    assert interactions.delete_interaction_retrievers(made.interaction_id)["success"] is True
    with pytest.raises(ApiException) as missing:
        interactions.get_interaction_retrievers(made.interaction_id)
    assert missing.value.status == 404


def test_the_public_pages_through_the_sdk(apis):
    interactions, public, _ = apis
    catalogue = public.list_retrievers(page=1, page_size=10, search="like")
    assert [entry.public_name for entry in catalogue.results] == ["sdk-feedback"] and catalogue.total_count == 1
    config = public.get_retriever_config_name("sdk-feedback")
    assert config.display_config.title == "Feedback catalogue" and config.password_protected is False
    template = public.get_retriever_template_name("sdk-feedback")
    assert template.retriever_name == "feedback" and template.source_public_name == "sdk-feedback"
    assert public.verify_password_retrievers_name("sdk-feedback", VerifyPasswordRequest(password="any")).valid

    execution_id = public.execute_retriever_name("sdk-feedback", RetrieverExecutionRequest.from_dict(
        {"inputs": {"v": [1.0, 0.0, 0.0]}}))["execution_id"]
    one = public.track_interaction_retrievers_name("sdk-feedback", PublicInteractionRequest.from_dict({
        "document_id": "d1", "interaction_type": ["positive_feedback"], "position": 1, "execution_id": execution_id}),
        x_session_id="sdk-public")
    assert one["success"] is True and one["interaction_id"]
    batch = public.track_interaction_batch_retrievers_name("sdk-feedback", PublicInteractionBatchRequest.from_dict({
        "interactions": [{"document_id": f"d{i}", "interaction_type": ["impression"], "position": i,
                          "execution_id": execution_id} for i in range(2)]}), x_session_id="sdk-public")
    assert batch["recorded"] == 2
    mine = interactions.list_interactions_retrievers(list_interactions_request=ListInteractionsRequest(
        session_id="sdk-public"))
    assert sorted(entry.feature_id for entry in mine.results) == ["d0", "d1", "d1"]
    with pytest.raises(ApiException) as unknown:
        public.get_retriever_config_name("no-such-retriever")
    assert unknown.value.status == 404
