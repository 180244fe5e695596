"""Storage tiering through the official SDK against a live `openpeek serve` (sweeper every second): a collection
demoted by PATCH and another by the sweeper (idle_days of one day, a day shortened to two seconds) are still found
by the same retrievers, tagged `_source_tier: cold`; then rehydrated, and archived."""

from __future__ import annotations

import json
import time

import mixpeek
import numpy as np
import pytest
from mixpeek.exceptions import ApiException
from mixpeek.models import (
    BucketCreateRequest,
    CreateCollectionRequest,
    CreateRetrieverRequest,
    DocumentCreateRequest,
    ExecuteRetrieverRequest,
    LifecycleState,
    LifecycleStatusResponse,
    PatchNamespaceRequest,
    TransitionLifecycleRequest,
)

from tests.api.conftest import sdk_client
from tests.live_server import live_server

pytestmark = pytest.mark.slow

URI = "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"


@pytest.fixture(scope="module")
def sweeping_server(tmp_path_factory):
    """`openpeek serve` whose tiering sweeper runs every second (hourly by default), where a day of idle_days lasts
    two seconds."""
    env = {"OPENPEEK_TIER_SWEEP_EVERY_S": "1", "OPENPEEK_TIER_DAY_S": "2"}  # a policy's idle day lasts two seconds
    with live_server(tmp_path_factory.mktemp("serve-tiers"), env=env) as (base, key, _):
        yield base, key


def vector(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(384).round(4).tolist()


def namespace_client(server, name: str, tiering: dict | None = None) -> mixpeek.ApiClient:
    client = sdk_client(server, name, **({"tiering": tiering} if tiering else {})).api_client
    mixpeek.BucketsApi(client).create_bucket(BucketCreateRequest.from_dict({
        "bucket_name": "books", "bucket_schema": {"properties": {"body": {"type": "text"},
                                                                 "genre": {"type": "string"}}}}))
    return client


def make_collection(client, name: str, count: int) -> list[str]:
    mixpeek.CollectionsApi(client).create_collection(CreateCollectionRequest.from_dict({
        "collection_name": name, "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1",
                              "input_mappings": {"text": "body"}, "field_passthrough": [{"source_path": "genre"}]}}))
    documents = mixpeek.CollectionDocumentsApi(client)
    return [documents.create_document(name, DocumentCreateRequest.from_dict(
        {"vectors": {URI: vector(n)}, "genre": "sf" if n % 2 else "crime"})).document_id for n in range(count)]


def make_retriever(client, name: str, collections: list[str] | None = None) -> str:
    body = {"retriever_name": name, "input_schema": {"v": {"type": "array", "required": True}},
            "stages": [{"stage_name": "search", "stage_type": "filter", "config": {
                "stage_id": "feature_search", "parameters": {"searches": [
                    {"feature_uri": URI, "query": {"input_mode": "vector", "value": "{{INPUT.v}}"}, "top_k": 5}]}}}]}
    if collections:
        body["collection_identifiers"] = collections
    return mixpeek.RetrieversApi(client).create_retriever(CreateRetrieverRequest.from_dict(body)).retriever_id


def search(client, retriever_id: str, seed: int):
    return mixpeek.RetrieversApi(client).execute_retriever(retriever_id, ExecuteRetrieverRequest(
        inputs={"v": vector(seed)}))


def wait_for_state(client, collection: str, state: str, timeout_s: float = 60) -> LifecycleStatusResponse:
    api = mixpeek.CollectionLifecycleApi(client)
    deadline = time.monotonic() + timeout_s
    while True:
        status = api.get_lifecycle(collection)
        if status.lifecycle_state.value == state and (state != "cold" or status.vector_document_count == 0):
            return status
        assert time.monotonic() < deadline, f"{collection} stayed {status.lifecycle_state} (wanted {state})"
        time.sleep(0.2)


def test_demote_by_patch_search_rehydrate_archive(sweeping_server):
    # Moved by hand only: with two-second days, the default 30 idle days would pass during the test.
    client = namespace_client(sweeping_server, "sdk-tiers-patch", {"enabled": False})
    ids = make_collection(client, "novels", 6)
    retriever = make_retriever(client, "novel-search")
    lifecycle = mixpeek.CollectionLifecycleApi(client)
    hot = search(client, retriever, 3)
    assert hot.documents[0]["document_id"] == ids[3]

    started = lifecycle.transition_lifecycle("novels", TransitionLifecycleRequest(
        lifecycle_state=LifecycleState.COLD))  # async by default: a task
    assert isinstance(started, LifecycleStatusResponse) and started.task_id
    cold = wait_for_state(client, "novels", "cold")
    assert cold.s3_vector_count == 6 and cold.s3_vector_index and cold.last_transitioned_at
    task = mixpeek.TasksApi(client).get_task(started.task_id)
    assert task.status.value == "COMPLETED"

    found = search(client, retriever, 3)
    assert [d["document_id"] for d in found.documents] == [d["document_id"] for d in hot.documents]
    assert {d["_source_tier"] for d in found.documents} == {"cold"}
    assert found.stage_statistics.stages["search"].metadata["source_tiers"] == {"cold": 5}
    with pytest.raises(ApiException) as frozen_out:
        mixpeek.CollectionDocumentsApi(client).create_document("novels", DocumentCreateRequest.from_dict(
            {"vectors": {URI: vector(50)}}))
    assert frozen_out.value.status == 409

    with pytest.raises(ApiException) as refused:
        lifecycle.transition_lifecycle("novels", TransitionLifecycleRequest(lifecycle_state=LifecycleState.FROZEN))
    assert refused.value.status == 400
    assert "cold→active, cold→archived" in json.loads(refused.value.body)["error"]["message"]

    lifecycle.transition_lifecycle("novels", TransitionLifecycleRequest(lifecycle_state=LifecycleState.ACTIVE))
    back = wait_for_state(client, "novels", "active")
    assert back.vector_document_count == 6
    rehydrated = search(client, retriever, 3)
    assert [d["document_id"] for d in rehydrated.documents] == [d["document_id"] for d in hot.documents]
    assert {d["_source_tier"] for d in rehydrated.documents} == {"hot"}

    lifecycle.transition_lifecycle("novels", TransitionLifecycleRequest(lifecycle_state=LifecycleState.ARCHIVED,
                                                                        async_transition=False))
    archived = wait_for_state(client, "novels", "archived")
    assert archived.vector_document_count == 0
    archived_only = make_retriever(client, "archived-search", ["novels"])
    with pytest.raises(ApiException) as gone:
        search(client, archived_only, 3)
    assert gone.value.status == 400 and "novels" in gone.value.body


def test_the_sweeper_demotes_an_idle_collection_and_queries_still_find_it(sweeping_server):
    client = namespace_client(sweeping_server, "sdk-tiers-sweep", {"enabled": False})
    ids = make_collection(client, "stories", 4)
    retriever = make_retriever(client, "story-search")
    assert search(client, retriever, 1).documents[0]["_source_tier"] == "hot"
    assert mixpeek.CollectionLifecycleApi(client).get_lifecycle("stories").lifecycle_state.value == "active"

    namespace = mixpeek.NamespacesApi(client).patch_namespace("sdk-tiers-sweep", PatchNamespaceRequest.from_dict(
        {"tiering": {"enabled": True, "idle_days": {"cold": 1}}}))
    assert namespace.tiering.idle_days.cold == 1 and namespace.tiering.enabled is True
    wait_for_state(client, "stories", "cold")
    found = search(client, retriever, 1)
    assert found.documents[0]["document_id"] == ids[1] and found.documents[0]["_source_tier"] == "cold"
    assert sorted(d["document_id"] for d in found.documents) == sorted(ids)


def test_the_namespace_listing_pages_across_tiers_through_the_sdk(sweeping_server):
    from mixpeek.models import NamespaceListDocumentsRequest

    client = namespace_client(sweeping_server, "sdk-tiers-list", {"enabled": False})
    hot = make_collection(client, "essays", 3)
    cold = make_collection(client, "letters", 4)
    mixpeek.CollectionLifecycleApi(client).transition_lifecycle("letters", TransitionLifecycleRequest(
        lifecycle_state=LifecycleState.COLD, async_transition=False))
    wait_for_state(client, "letters", "cold")
    documents = mixpeek.DocumentsApi(client)

    def follow(body: dict) -> list:
        found, cursor = [], None
        while True:
            page = documents.list_documents_ns(limit=2, cursor=cursor,
                                               namespace_list_documents_request=NamespaceListDocumentsRequest.from_dict(
                                                   body))
            found += page.results
            cursor = page.pagination.next_cursor
            if not cursor:
                return found
            assert len(found) < 20

    listed = follow({})
    assert sorted(d.document_id for d in listed) == sorted(hot + cold)
    tier_of = {d.document_id: d.to_dict().get("_source_tier") for d in listed}
    assert {tier_of[i] for i in cold} == {"cold"} and {tier_of[i] for i in hot} == {None}
    crime = follow({"filters": {"AND": [{"field": "genre", "operator": "eq", "value": "crime"}]}})
    assert sorted(d.document_id for d in crime) == sorted(hot[0::2] + cold[0::2])
    counted = documents.list_documents_ns(include_total=True)
    assert counted.pagination.total == 7 and counted.total_documents == 7
