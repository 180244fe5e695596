"""The extractors a namespace can use (`/v1/namespaces/{namespace_id}/extractors`) over HTTP: the deployment's
catalogue, parsed as the SDK's UnifiedExtractorListResponse / UnifiedExtractorResponse, each with the namespace's
collections that use it; another organisation's namespace and unknown extractors are 404."""

from __future__ import annotations

import pytest
from mixpeek.models.unified_extractor_list_response import UnifiedExtractorListResponse
from mixpeek.models.unified_extractor_response import UnifiedExtractorResponse


@pytest.fixture
def namespace(client, tenant):
    created = client.post("/v1/namespaces", headers=tenant.headers, json={"namespace_name": "library"}).json()
    headers = {**tenant.headers, "X-Namespace": "library"}
    client.post("/v1/buckets", headers=headers, json={
        "bucket_name": "books", "bucket_schema": {"properties": {"content": {"type": "text"}}}}).raise_for_status()
    client.post("/v1/collections", headers=headers, json={
        "collection_name": "chunks", "source": {"type": "bucket", "bucket_ids": ["books"]},
        "feature_extractor": {"feature_extractor_name": "text_extractor", "version": "v1"}}).raise_for_status()
    return created


def test_the_list_is_the_runnable_catalogue_with_the_namespaces_users(client, tenant, namespace):
    response = client.get(f"/v1/namespaces/{namespace['namespace_id']}/extractors", headers=tenant.headers)
    assert response.status_code == 200, response.text
    listed = UnifiedExtractorListResponse.from_dict(response.json())
    assert listed.namespace_id == namespace["namespace_id"] and listed.custom_count == 0
    by_id = {e.feature_extractor_id: e for e in listed.extractors}
    assert set(by_id) == {"text_extractor_v1", "passthrough_extractor_v1"}  # no image model in the test runtime
    assert listed.total == listed.builtin_count == 2
    text = by_id["text_extractor_v1"]
    assert text.source.value == "builtin" and text.feature_uri == "mixpeek://text_extractor@v1/all_minilm_l6_v2_v1"
    assert text.capabilities == ["batch", "realtime"] and text.realtime_available is True
    assert text.required_vector_indexes[0].index.actual_instance.dimensions == 384
    # the answer names the namespace's collections that use each extractor
    assert [c["collection_name"] for c in next(e for e in response.json()["extractors"]
                                               if e["feature_extractor_id"] == "text_extractor_v1")["collections"]
            ] == ["chunks"]
    assert by_id["passthrough_extractor_v1"].capabilities == ["batch"]
    assert by_id["passthrough_extractor_v1"].realtime_available is None


def test_filters_by_source_and_disabled_extractors(client, tenant, namespace):
    base = "/v1/namespaces/library/extractors"  # by name as well as by id
    everything = client.get(base, headers=tenant.headers, params={"include_disabled": "true"}).json()
    disabled = {e["feature_extractor_id"]: e for e in everything["extractors"] if not e["available"]}
    assert set(disabled) == {"image_extractor_v1", "multimodal_extractor_v1"}
    assert disabled["image_extractor_v1"]["realtime_available"] is False and disabled["image_extractor_v1"][
        "how_to_enable"]
    assert client.get(base, headers=tenant.headers, params={"source": "custom"}).json()["extractors"] == []
    assert client.get(base, headers=tenant.headers, params={"source": "builtin"}).json()["total"] == 2
    for params in ({"source": "marketplace"}, {"include_disabled": "maybe"}):
        assert client.get(base, headers=tenant.headers, params=params).status_code == 422


def test_get_one_extractor_even_one_that_cannot_run_here(client, tenant, namespace):
    base = f"/v1/namespaces/{namespace['namespace_id']}/extractors"
    text = client.get(f"{base}/text_extractor_v1", headers=tenant.headers)
    assert text.status_code == 200, text.text
    parsed = UnifiedExtractorResponse.from_dict(text.json())
    assert parsed.feature_extractor_name == "text_extractor" and parsed.version == "v1"
    image = client.get(f"{base}/image_extractor_v1", headers=tenant.headers).json()
    assert image["available"] is False and image["collections"] == []
    missing = client.get(f"{base}/nope_v1", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "feature_extractor_not_found"


def test_another_organisations_namespace_is_404(client, tenant, other_tenant, namespace):
    for path in ("", "/text_extractor_v1"):
        response = client.get(f"/v1/namespaces/{namespace['namespace_id']}/extractors{path}",
                              headers=other_tenant.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "namespace_not_found"
    assert client.get("/v1/namespaces/missing/extractors", headers=tenant.headers).status_code == 404
    assert client.get(f"/v1/namespaces/{namespace['namespace_id']}/extractors").status_code == 401
