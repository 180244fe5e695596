"""The Namespaces API over HTTP (the real app on the embedded runtime): every rule of seeds 000/001 and issue 2."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from openpeek.api.app import create_app

from openpeek.domain.payload_indexes import PROTECTED_FIELD_NAMES
from openpeek.domain.vectors import VectorIndexSpec

NAMESPACE_MODEL_KEYS = {
    "object", "namespace_id", "namespace_name", "namespace_type", "scope", "infrastructure", "cluster_id",
    "description", "feature_extractors", "payload_indexes", "payload_index_count", "document_count",
    "document_count_complete", "bucket_count", "collection_count", "object_count", "auto_create_indexes",
    "adaptive_indexing", "vector_inference_map", "dynamic_vector_indexes", "mode", "vector_configs", "qdrant_status",
    "namespace_ready", "created_at", "updated_at", "expires_at", "trusted_issuers", "tiering", "pinned",
    "spend_budget", "budget", "cost_cap_override", "clone_status", "source_namespace_id",
}


def create(client, tenant, name="products", **fields):
    return client.post("/v1/namespaces", json={"namespace_name": name, **fields}, headers=tenant.headers)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["status"] == status
    assert body["error"]["message"]
    assert body["error"]["type"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


# -- auth -------------------------------------------------------------------------------------------------------------


def test_health_needs_no_key(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


@pytest.mark.parametrize(
    "header, code",
    [
        (None, "missing_api_key"),
        ("Bearer", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "invalid_api_key"),
        ("Bearer not-a-key", "invalid_api_key"),
        ("Bearer sk_" + "x" * 43, "invalid_api_key"),
    ],
)
def test_missing_malformed_or_unknown_key_is_401(client, header, code):
    headers = {"Authorization": header} if header else {}
    assert_error(client.get("/v1/namespaces", headers=headers), 401, code)


def test_revoked_key_is_401(client, services, tenant):
    assert client.get("/v1/namespaces", headers=tenant.headers).status_code == 200
    key_id = services.organizations.list_keys(tenant.org_id)[0]["key_id"]
    services.organizations.revoke_key(tenant.org_id, key_id)
    assert_error(client.get("/v1/namespaces", headers=tenant.headers), 401, "revoked_api_key")


def test_keys_are_stored_only_as_hashes(services, tenant):
    keys = services.table.query(f"ORG#{tenant.org_id}", "KEY#")
    assert keys and all(tenant.key not in repr(item) for item in keys)
    assert services.table.get("APIKEY#" + tenant.key, "KEY") is None


def test_another_organisations_namespace_is_404_by_id_and_by_name(client, tenant, other_tenant):
    created = create(client, tenant, "secret-plans").json()
    for identifier in (created["namespace_id"], "secret-plans"):
        assert_error(client.get(f"/v1/namespaces/{identifier}", headers=other_tenant.headers), 404)
        assert_error(
            client.patch(f"/v1/namespaces/{identifier}", json={"description": "x"}, headers=other_tenant.headers), 404
        )
        assert_error(client.delete(f"/v1/namespaces/{identifier}", headers=other_tenant.headers), 404)
        assert_error(client.get(f"/v1/namespaces/{identifier}/stats", headers=other_tenant.headers), 404)
    listed = client.get("/v1/namespaces", headers=other_tenant.headers).json()
    assert listed["results"] == [] and listed["total_count"] == 0
    # the owner still sees it untouched
    assert client.get("/v1/namespaces/secret-plans", headers=tenant.headers).json()["description"] is None


# -- create -----------------------------------------------------------------------------------------------------------


def test_create_fills_every_field_with_defaults(client, tenant):
    response = create(client, tenant, "spotify_playlists_dev")
    assert response.status_code == 200, response.text
    body = response.json()
    assert NAMESPACE_MODEL_KEYS <= body.keys()
    assert body["object"] == "namespace"
    assert body["namespace_id"].startswith("ns_")
    assert body["namespace_name"] == "spotify_playlists_dev"
    assert (body["namespace_type"], body["scope"], body["mode"]) == ("standard", "org", "managed")
    assert body["auto_create_indexes"] is False
    assert body["expires_at"] is None
    assert body["feature_extractors"] == [
        {
            "feature_extractor_name": "text_extractor",
            "version": "v1",
            "params": None,
            "feature_extractor_id": "text_extractor_v1",
        }
    ]
    assert body["vector_inference_map"] == {"text_extractor_v1_embedding": "all_minilm_l6_v2"}
    assert body["qdrant_status"]["status"] == "green"
    assert body["qdrant_status"]["points_count"] == 0
    assert body["document_count"] == 0 and body["namespace_ready"] is True
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert abs(created - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_create_makes_the_protected_payload_indexes(client, services, tenant):
    body = create(client, tenant).json()
    indexes = {index["field_name"]: index for index in body["payload_indexes"]}
    assert set(indexes) == PROTECTED_FIELD_NAMES
    assert all(index["is_protected"] for index in indexes.values())
    assert indexes["internal_id"]["type"] == "keyword"
    assert indexes["internal_id"]["field_schema"] == {"type": "keyword", "is_tenant": True}
    assert indexes["document_id"]["field_schema"] == {"type": "keyword", "is_tenant": False}
    assert indexes["created_at"]["type"] == indexes["updated_at"]["type"] == "datetime"
    assert body["payload_index_count"] == 0
    info = services.vectors.info(body["namespace_id"])
    assert set(info.payload_indexes) >= PROTECTED_FIELD_NAMES
    assert info.payload_indexes["created_at"] == "datetime"
    assert info.vectors["text_extractor_v1_embedding"] == VectorIndexSpec("text_extractor_v1_embedding", 384, "cosine")


@pytest.mark.parametrize("name", ["ab", "x" * 65, ""])
def test_name_length_is_3_to_64(client, tenant, name):
    response = create(client, tenant, name)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "namespace_name"


@pytest.mark.parametrize("name", ["has space", "slash/name", "-leading", "ünïcödé"])
def test_name_characters_are_url_and_header_safe(client, tenant, name):
    assert_error(create(client, tenant, name), 400, "invalid_namespace_name")


def test_name_is_unique_within_an_organisation_only(client, tenant, other_tenant):
    assert create(client, tenant, "shared-name").status_code == 200
    body = assert_error(create(client, tenant, "shared-name"), 409, "namespace_name_taken")
    assert body["error"]["details"]["namespace_name"] == "shared-name"
    assert create(client, other_tenant, "shared-name").status_code == 200
    assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 1


def test_ttl_seconds_sets_expires_at(client, tenant):
    body = create(client, tenant, ttl_seconds=3600).json()
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=1)
    assert create(client, tenant, "short-lived", ttl_seconds=59).status_code == 422


def test_unknown_feature_extractor_is_400_and_creates_nothing(client, services, tenant):
    body = assert_error(
        create(client, tenant, feature_extractors=[{"feature_extractor_name": "nope_extractor", "version": "v1"}]),
        400,
        "feature_extractor_not_found",
    )
    assert "text_extractor_v1" in body["error"]["details"]["available"]
    assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 0
    assert services.vectors.collection_exists("products") is False


def test_features_resolve_to_extractors_and_vector_schema(client, services, tenant):
    body = create(client, tenant, features=["image_search", "multimodal_search", "text_search"]).json()
    assert [ref["feature_extractor_id"] for ref in body["feature_extractors"]] == [
        "image_extractor_v1",
        "multimodal_extractor_v1",
        "text_extractor_v1",
    ]
    assert body["vector_inference_map"] == {
        "image_extractor_v1_embedding": "clip_vit_b32",
        "multimodal_extractor_v1_multimodal_embedding": "bedrock_titan_multimodal_g1",
        "text_extractor_v1_embedding": "all_minilm_l6_v2",
    }
    vectors = services.vectors.info(body["namespace_id"]).vectors
    assert vectors["image_extractor_v1_embedding"].dimension == 512
    assert vectors["multimodal_extractor_v1_multimodal_embedding"].dimension == 1024
    assert_error(create(client, tenant, "other", features=["telepathy"]), 400, "feature_not_found")


def test_unknown_body_keys_are_422_extra_forbidden(client, tenant):
    response = create(client, tenant, colour="blue")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "extra_forbidden"
    response = client.patch("/v1/namespaces/products", json={"nmae": "typo"}, headers=tenant.headers)
    assert response.status_code == 422


def test_payload_indexes_on_create_reach_the_vector_store(client, services, tenant):
    body = create(
        client,
        tenant,
        payload_indexes=[
            {"field_name": "metadata.title", "type": "text"},
            {"field_name": "price", "type": "float"},
        ],
    ).json()
    user = [index for index in body["payload_indexes"] if not index["is_protected"]]
    assert user[0]["field_schema"] == {
        "type": "text", "tokenizer": "word", "min_token_len": 2, "max_token_len": 15, "lowercase": True
    }
    assert body["payload_index_count"] == 2
    stored = services.vectors.info(body["namespace_id"]).payload_indexes
    assert stored["metadata.title"] == "text" and stored["price"] == "float"


def test_system_scope_needs_an_administrator(client, tenant):
    assert_error(create(client, tenant, scope="system"), 403, "admin_required")


@pytest.mark.parametrize(
    "field, value",
    [("spend_budget", {"daily_usd": 5}), ("adaptive_indexing", True),
     ("trusted_issuers", [{"issuer": "https://idp.example.com"}])],
)
def test_fields_without_a_feature_here_are_refused_not_ignored(client, tenant, field, value):
    body = assert_error(create(client, tenant, **{field: value}), 400, "unsupported_field")
    assert body["error"]["details"]["field"] == field


def test_namespace_id_override_is_unique_within_the_organisation(client, tenant, other_tenant):
    assert create(client, tenant, namespace_id="ns_recovered").json()["namespace_id"] == "ns_recovered"
    assert_error(create(client, tenant, "copycat", namespace_id="ns_recovered"), 409, "namespace_id_taken")
    # Another organisation may choose the same id: a 409 would tell it that the first one exists.
    assert create(client, other_tenant, "copycat", namespace_id="ns_recovered").json()["namespace_id"] == \
        "ns_recovered"


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"text"', b"null", b'{"namespace_name": 12}'])
def test_malformed_bodies_are_422(client, tenant, raw):
    response = client.post(
        "/v1/namespaces", content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "detail" in response.json()


# -- read -------------------------------------------------------------------------------------------------------------


def test_get_by_name_and_by_id_return_the_same_namespace(client, tenant):
    created = create(client, tenant).json()
    by_id = client.get(f"/v1/namespaces/{created['namespace_id']}", headers=tenant.headers).json()
    by_name = client.get("/v1/namespaces/products", headers=tenant.headers).json()
    assert by_id == by_name
    assert by_id["namespace_id"] == created["namespace_id"]
    assert_error(client.get("/v1/namespaces/missing", headers=tenant.headers), 404, "namespace_not_found")


def test_stats_counts(client, tenant):
    created = create(client, tenant).json()
    stats = client.get("/v1/namespaces/products/stats", headers=tenant.headers).json()
    assert stats == {
        "namespace_id": created["namespace_id"],
        "document_count": 0,
        "document_count_complete": True,
        "bucket_count": 0,
        "collection_count": 0,
        "object_count": 0,
    }


def test_list_paginates_searches_and_sorts(client, tenant):
    for name in ["alpha", "bravo", "charlie", "delta", "echo"]:
        create(client, tenant, name, description=f"the {name} team")
    first = client.post("/v1/namespaces/list", json={"limit": 2, "include_total": True}, headers=tenant.headers)
    body = first.json()
    assert [ns["namespace_name"] for ns in body["results"]] == ["echo", "delta"]  # newest first
    assert body["total_count"] == 5 and body["pagination"]["total"] == 5 and body["pagination"]["total_pages"] == 3
    cursor = body["pagination"]["next_cursor"]
    second = client.post("/v1/namespaces/list", json={"limit": 2}, params={"cursor": cursor}, headers=tenant.headers)
    assert [ns["namespace_name"] for ns in second.json()["results"]] == ["charlie", "bravo"]
    by_page = client.post("/v1/namespaces/list", json={"limit": 2, "page": 3}, headers=tenant.headers).json()
    assert [ns["namespace_name"] for ns in by_page["results"]] == ["alpha"]
    assert by_page["pagination"]["next_cursor"] is None

    sorted_names = client.post(
        "/v1/namespaces/list", json={"sort": {"field": "namespace_name", "direction": "asc"}}, headers=tenant.headers
    ).json()
    assert [ns["namespace_name"] for ns in sorted_names["results"]] == ["alpha", "bravo", "charlie", "delta", "echo"]
    searched = client.post("/v1/namespaces/list", json={"search": "CHAR"}, headers=tenant.headers).json()
    assert [ns["namespace_name"] for ns in searched["results"]] == ["charlie"]
    exact = client.post(
        "/v1/namespaces/list", json={"search": "CHAR", "case_sensitive": True}, headers=tenant.headers
    ).json()
    assert exact["results"] == []
    filtered = client.post(
        "/v1/namespaces/list", json={"filters": {"namespace_name": "delta"}}, headers=tenant.headers
    ).json()
    assert [ns["namespace_name"] for ns in filtered["results"]] == ["delta"]
    query_params = client.get("/v1/namespaces", params={"limit": 1, "offset": 4}, headers=tenant.headers).json()
    assert [ns["namespace_name"] for ns in query_params["results"]] == ["alpha"]
    summary = client.get("/v1/namespaces", params={"view": "summary"}, headers=tenant.headers).json()
    assert summary["results"][0]["payload_indexes"] is None and summary["results"][0]["payload_index_count"] == 0
    assert body["stats"]["total_feature_extractors"] == 2


def test_list_refuses_unknown_sort_and_filter_fields(client, tenant):
    assert_error(
        client.post("/v1/namespaces/list", json={"sort": {"field": "colour"}}, headers=tenant.headers),
        400,
        "invalid_sort",
    )
    assert_error(
        client.post("/v1/namespaces/list", json={"filters": {"colour": "x"}}, headers=tenant.headers),
        400,
        "invalid_filter",
    )
    assert_error(client.get("/v1/namespaces", params={"cursor": "%%%"}, headers=tenant.headers), 400, "invalid_cursor")
    assert client.get("/v1/namespaces", params={"limit": 0}, headers=tenant.headers).status_code == 422


# -- patch ------------------------------------------------------------------------------------------------------------


def test_patch_leaves_absent_and_null_fields_alone(client, tenant):
    created = create(client, tenant, description="original", auto_create_indexes=True).json()
    patched = client.patch(
        "/v1/namespaces/products", json={"description": None, "namespace_name": None}, headers=tenant.headers
    ).json()
    assert patched["description"] == "original" and patched["namespace_name"] == "products"
    assert patched["updated_at"] == created["updated_at"]
    patched = client.patch("/v1/namespaces/products", json={"description": "new"}, headers=tenant.headers).json()
    assert patched["description"] == "new"
    assert patched["auto_create_indexes"] is True
    assert patched["feature_extractors"] == created["feature_extractors"]
    assert patched["payload_indexes"] == created["payload_indexes"]
    assert patched["updated_at"] > created["updated_at"]


def test_patch_appends_feature_extractors_and_creates_their_vector_indexes(client, services, tenant):
    created = create(client, tenant).json()
    response = client.patch(
        "/v1/namespaces/products",
        json={
            "feature_extractors": [
                {"feature_extractor_name": "text_extractor", "version": "v1"},  # duplicate: ignored
                {"feature_extractor_name": "image_extractor", "version": "v1"},
            ]
        },
        headers=tenant.headers,
    )
    body = response.json()
    assert [ref["feature_extractor_id"] for ref in body["feature_extractors"]] == [
        "text_extractor_v1",
        "image_extractor_v1",
    ]
    assert body["vector_inference_map"]["image_extractor_v1_embedding"] == "clip_vit_b32"
    vectors = services.vectors.info(created["namespace_id"]).vectors
    assert set(vectors) == {"text_extractor_v1_embedding", "image_extractor_v1_embedding"}


def test_patch_with_an_unknown_extractor_changes_nothing(client, services, tenant):
    created = create(client, tenant).json()
    assert_error(
        client.patch(
            "/v1/namespaces/products",
            json={
                "description": "should not stick",
                "feature_extractors": [
                    {"feature_extractor_name": "image_extractor", "version": "v1"},
                    {"feature_extractor_name": "image_extractor", "version": "v9"},
                ],
            },
            headers=tenant.headers,
        ),
        400,
        "feature_extractor_not_found",
    )
    after = client.get("/v1/namespaces/products", headers=tenant.headers).json()
    assert after["description"] is None and after["feature_extractors"] == created["feature_extractors"]
    assert set(services.vectors.info(created["namespace_id"]).vectors) == {"text_extractor_v1_embedding"}


def test_patch_payload_indexes_replaces_the_user_set(client, services, tenant):
    created = create(client, tenant, payload_indexes=[{"field_name": "old_field", "type": "keyword"}]).json()
    body = client.patch(
        "/v1/namespaces/products",
        json={
            "payload_indexes": [
                {"field_name": "views", "type": "integer", "field_schema": {"range": False}},
                {"field_name": "tenant", "type": "uuid", "field_schema": {"type": "uuid", "is_tenant": True}},
            ]
        },
        headers=tenant.headers,
    ).json()
    user = {index["field_name"]: index for index in body["payload_indexes"] if not index["is_protected"]}
    assert set(user) == {"views", "tenant"}
    assert user["views"]["field_schema"] == {"type": "integer", "lookup": True, "range": False}
    assert user["tenant"]["field_schema"] == {"type": "uuid", "is_tenant": True}
    assert {index["field_name"] for index in body["payload_indexes"] if index["is_protected"]} == PROTECTED_FIELD_NAMES
    stored = services.vectors.info(created["namespace_id"]).payload_indexes
    assert "old_field" not in stored and stored["views"] == "integer" and stored["tenant"] == "uuid"
    # sending back what GET returned (protected entries included) is accepted and changes nothing
    echoed = client.patch(
        "/v1/namespaces/products", json={"payload_indexes": body["payload_indexes"]}, headers=tenant.headers
    )
    assert echoed.status_code == 200 and echoed.json()["payload_indexes"] == body["payload_indexes"]


@pytest.mark.parametrize(
    "indexes, code",
    [
        ([{"field_name": "document_id", "type": "keyword"}], "protected_field_name"),
        ([{"field_name": "created_at", "type": "integer", "is_protected": True}], "protected_index"),
        ([{"field_name": "mine", "type": "keyword", "is_protected": True}], "protected_index"),
        ([{"field_name": "a", "type": "keyword"}, {"field_name": "a", "type": "text"}], "duplicate_payload_index"),
        ([{"field_name": "a", "type": "keyword", "field_schema": {"type": "text"}}], "invalid_field_schema"),
        ([{"field_name": "a", "type": "keyword", "field_schema": {"tokenizer": "word"}}], "invalid_field_schema"),
        ([{"field_name": "a", "type": "text", "field_schema": {"tokenizer": "sentencepiece"}}], "invalid_field_schema"),
        ([{"field_name": "a", "type": "text", "field_schema": {"min_token_len": 9, "max_token_len": 3}}],
         "invalid_field_schema"),
    ],
)
def test_payload_index_rules(client, services, tenant, indexes, code):
    created = create(client, tenant).json()
    assert_error(
        client.patch("/v1/namespaces/products", json={"payload_indexes": indexes}, headers=tenant.headers), 400, code
    )
    after = client.get("/v1/namespaces/products", headers=tenant.headers).json()
    assert after["payload_indexes"] == created["payload_indexes"]


def test_patch_rejects_an_unknown_payload_type(client, tenant):
    create(client, tenant)
    response = client.patch(
        "/v1/namespaces/products", json={"payload_indexes": [{"field_name": "a", "type": "blob"}]}, headers=tenant.headers
    )
    assert response.status_code == 422


def test_patch_auto_create_indexes(client, tenant):
    create(client, tenant)
    body = client.patch("/v1/namespaces/products", json={"auto_create_indexes": True}, headers=tenant.headers).json()
    assert body["auto_create_indexes"] is True
    assert client.get("/v1/namespaces/products", headers=tenant.headers).json()["auto_create_indexes"] is True


def test_repair_vectors_adds_missing_vector_indexes_and_says_which(client, services, tenant):
    created = create(client, tenant, features=["text_search", "image_search"]).json()
    collection = created["namespace_id"]
    services.vectors.drop_collection(collection)
    services.vectors.create_collection(collection, [VectorIndexSpec("text_extractor_v1_embedding", 384)])
    body = client.patch("/v1/namespaces/products", json={"repair_vectors": True}, headers=tenant.headers).json()
    assert body["repaired_vector_indexes"] == ["image_extractor_v1_embedding"]
    assert set(services.vectors.info(collection).vectors) == {
        "text_extractor_v1_embedding",
        "image_extractor_v1_embedding",
    }
    again = client.patch("/v1/namespaces/products", json={"repair_vectors": True}, headers=tenant.headers).json()
    assert again["repaired_vector_indexes"] == []


DEDICATED = {
    "compute_tier": "dedicated_cpu",
    "qdrant_url": "https://qdrant.internal.example.com:6333",
    "qdrant_api_key": "super-secret-key",
    "ray_head_node_url": "ray://ray-head:10001",
}


def test_dedicated_tiers_need_an_enterprise_organisation(client, tenant):
    create(client, tenant)
    assert_error(
        client.patch("/v1/namespaces/products", json={"infrastructure": DEDICATED}, headers=tenant.headers),
        403,
        "enterprise_required",
    )
    assert client.get("/v1/namespaces/products", headers=tenant.headers).json()["infrastructure"] is None


@pytest.mark.parametrize(
    "infrastructure, missing",
    [
        ({"compute_tier": "dedicated_cpu"}, ["qdrant_url", "ray_head_node_url", "qdrant_api_key"]),
        ({**DEDICATED, "qdrant_api_key": None}, ["qdrant_api_key"]),
        ({**DEDICATED, "compute_tier": "dedicated_gpu"}, ["gpu_type"]),
    ],
)
def test_dedicated_tiers_need_their_endpoints(client, enterprise_tenant, infrastructure, missing):
    create(client, enterprise_tenant)
    body = assert_error(
        client.patch(
            "/v1/namespaces/products", json={"infrastructure": infrastructure}, headers=enterprise_tenant.headers
        ),
        400,
        "infrastructure_incomplete",
    )
    assert body["error"]["details"]["missing"] == missing


@pytest.fixture
def dedicated_client(tmp_path):
    """The app with a reachable dedicated Qdrant (qdrant-client's local engine) behind every qdrant_url: dedicated
    namespaces now run on their own store, so their URL must answer."""
    from openpeek.runtime import build_services
    from openpeek.settings import Settings
    from tests.conftest import make_tenant
    from tests.local_qdrant_servers import LocalQdrantServers

    built = build_services(Settings(runtime="embedded", data_dir=tmp_path / "dedicated"),
                           dedicated_vector_stores=LocalQdrantServers())
    yield TestClient(create_app(built), raise_server_exceptions=False), make_tenant(built, "initech", enterprise=True)
    built.close()


def test_vector_store_key_is_write_only(dedicated_client):
    client, enterprise_tenant = dedicated_client
    create(client, enterprise_tenant)
    response = client.patch(
        "/v1/namespaces/products",
        json={"infrastructure": {**DEDICATED, "compute_tier": "dedicated_gpu", "gpu_type": "A100"}},
        headers=enterprise_tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert "super-secret-key" not in response.text
    infrastructure = response.json()["infrastructure"]
    assert infrastructure["qdrant_api_key_provided"] is True
    assert "qdrant_api_key" not in infrastructure
    assert infrastructure["compute_tier"] == "dedicated_gpu" and infrastructure["gpu_type"] == "A100"
    fetched = client.get("/v1/namespaces/products", headers=enterprise_tenant.headers)
    assert "super-secret-key" not in fetched.text
    assert fetched.json()["infrastructure"]["qdrant_api_key_provided"] is True
    # changing another setting keeps the stored key
    kept = client.patch(
        "/v1/namespaces/products",
        json={"infrastructure": {**DEDICATED, "qdrant_api_key": None, "max_concurrent_jobs": 50}},
        headers=enterprise_tenant.headers,
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["infrastructure"]["qdrant_api_key_provided"] is True


def test_shared_tier_cannot_point_at_another_collection(client, tenant, other_tenant):
    victim = create(client, other_tenant, "victim").json()
    create(client, tenant)
    assert_error(
        client.patch(
            "/v1/namespaces/products",
            json={"infrastructure": {"qdrant_collection": victim["namespace_id"]}},
            headers=tenant.headers,
        ),
        400,
        "invalid_infrastructure",
    )


def test_infrastructure_numeric_limits_are_422(client, tenant):
    create(client, tenant)
    for infrastructure in ({"max_concurrent_jobs": 0}, {"max_workers": 101}, {"gpus_per_worker": 9}):
        response = client.patch(
            "/v1/namespaces/products", json={"infrastructure": infrastructure}, headers=tenant.headers
        )
        assert response.status_code == 422, infrastructure


def test_rename_keeps_names_unique(client, tenant):
    created = create(client, tenant).json()
    create(client, tenant, "taken")
    assert_error(
        client.patch("/v1/namespaces/products", json={"namespace_name": "taken"}, headers=tenant.headers),
        409,
        "namespace_name_taken",
    )
    renamed = client.patch("/v1/namespaces/products", json={"namespace_name": "catalog"}, headers=tenant.headers)
    assert renamed.json()["namespace_name"] == "catalog"
    assert_error(client.get("/v1/namespaces/products", headers=tenant.headers), 404)
    assert client.get("/v1/namespaces/catalog", headers=tenant.headers).json()["namespace_id"] == created["namespace_id"]
    assert create(client, tenant, "products").status_code == 200  # the old name is free again


def test_patch_expiry(client, tenant):
    create(client, tenant)
    body = client.patch("/v1/namespaces/products", json={"ttl_seconds": 7200}, headers=tenant.headers).json()
    assert body["expires_at"] is not None
    cleared = client.patch("/v1/namespaces/products", json={"expires_at": None}, headers=tenant.headers).json()
    assert cleared["expires_at"] is None
    assert_error(
        client.patch(
            "/v1/namespaces/products",
            json={"ttl_seconds": 600, "expires_at": "2030-01-01T00:00:00Z"},
            headers=tenant.headers,
        ),
        400,
        "conflicting_expiry",
    )
    assert_error(
        client.patch("/v1/namespaces/products", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=tenant.headers),
        400,
        "invalid_expires_at",
    )


def test_concurrent_patches_lose_no_update(services, tenant):
    principal = services.organizations.authenticate(f"Bearer {tenant.key}")
    services.namespaces.create(principal, {"namespace_name": "contended"})
    extractor_names = ["image_extractor", "multimodal_extractor"]
    errors: list[Exception] = []

    def append(name: str) -> None:
        try:
            services.namespaces.patch(
                principal, "contended", {"feature_extractors": [{"feature_extractor_name": name, "version": "v1"}]}
            )
        except Exception as error:  # surfaced below: the test fails on any of them
            errors.append(error)

    def describe(index: int) -> None:
        try:
            services.namespaces.patch(principal, "contended", {"description": f"d{index}"})
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=append, args=(name,)) for name in extractor_names]
    threads += [threading.Thread(target=describe, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = services.namespaces.get(principal, "contended").namespace
    assert {ref.feature_extractor_id for ref in final.feature_extractors} == {
        "text_extractor_v1",
        "image_extractor_v1",
        "multimodal_extractor_v1",
    }
    assert final.version == 1 + 2 + 6
    assert final.description in {f"d{index}" for index in range(6)}


# -- put and delete ---------------------------------------------------------------------------------------------------


def test_put_renames_and_replaces_payload_indexes(client, services, tenant):
    created = create(client, tenant).json()
    body = client.put(
        "/v1/namespaces/products",
        json={"namespace_name": "catalog", "payload_indexes": [{"field_name": "sku", "type": "keyword"}]},
        headers=tenant.headers,
    ).json()
    assert body["namespace_name"] == "catalog"
    assert [index["field_name"] for index in body["payload_indexes"] if not index["is_protected"]] == ["sku"]
    assert services.vectors.info(created["namespace_id"]).payload_indexes["sku"] == "keyword"


def test_delete_removes_everything_and_a_second_delete_is_404(client, services, tenant):
    created = create(client, tenant).json()
    namespace_id = created["namespace_id"]
    services.table.put({"pk": f"NS#{namespace_id}", "sk": "RET#ret_1", "retriever_name": "r"})
    services.blobs.put(f"namespaces/{namespace_id}/clusters/run.parquet", b"data")
    response = client.delete(f"/v1/namespaces/{namespace_id}", headers=tenant.headers)
    assert response.status_code == 200 and response.json()["namespace_id"] == namespace_id
    assert services.vectors.collection_exists(namespace_id) is False
    assert services.table.query(f"NS#{namespace_id}") == []
    assert services.blobs.list(f"namespaces/{namespace_id}/") == []
    assert_error(client.delete(f"/v1/namespaces/{namespace_id}", headers=tenant.headers), 404)
    assert_error(client.get("/v1/namespaces/products", headers=tenant.headers), 404)
    assert create(client, tenant).status_code == 200  # the name can be used again


# -- x-namespace ------------------------------------------------------------------------------------------------------


def test_x_namespace_selects_by_name_or_id_within_the_organisation(services, tenant, other_tenant):
    from fastapi import Depends
    from fastapi.testclient import TestClient

    from openpeek.api.app import create_app
    from openpeek.api.auth import current_namespace

    app = create_app(services)

    @app.get("/v1/_probe")
    def probe(namespace=Depends(current_namespace)) -> dict:
        return {"namespace_id": namespace.namespace_id}

    probe_client = TestClient(app, raise_server_exceptions=False)
    created = create(probe_client, tenant, "scoped").json()
    for identifier in ("scoped", created["namespace_id"]):
        response = probe_client.get("/v1/_probe", headers={**tenant.headers, "X-Namespace": identifier})
        assert response.json() == {"namespace_id": created["namespace_id"]}
        assert_error(probe_client.get("/v1/_probe", headers={**other_tenant.headers, "X-Namespace": identifier}), 404)
    assert_error(probe_client.get("/v1/_probe", headers=tenant.headers), 400, "missing_namespace")


# -- nothing yields a 500 ---------------------------------------------------------------------------------------------

GARBAGE = [
    {"namespace_name": "ok-name", "feature_extractors": [{"feature_extractor_name": None, "version": "v1"}]},
    {"namespace_name": "ok-name", "feature_extractors": "text_extractor"},
    {"namespace_name": "ok-name", "payload_indexes": [{"field_name": "x" * 300, "type": "keyword"}]},
    {"namespace_name": "ok-name", "payload_indexes": [{"field_name": "x", "type": "text", "field_schema": []}]},
    {"namespace_name": "ok-name", "payload_indexes": [{"field_name": "x", "type": "integer",
                                                       "field_schema": {"lookup": "yes"}}]},
    {"namespace_name": "ok-name", "ttl_seconds": 10**30},
    {"namespace_name": "ok-name", "ttl_seconds": "3600"},
    {"namespace_name": "ok-name", "infrastructure": {"compute_tier": "quantum"}},
    {"namespace_name": "ok-name", "infrastructure": {"qdrant_url": "not a url", "compute_tier": "shared"}},
    {"namespace_name": "ok-name", "infrastructure": {"authorization": {"enabled": True}}},
    {"namespace_name": "ok-name", "infrastructure": {"authorization": {"enabled": True, "api_url": "https://fga.io",
                                                                       "store_id": "s", "api_token": "t"}}},
    {"namespace_name": "ok-name", "vector_configs": [{"name": "v", "dimension": -1}]},
    {"namespace_name": "ok-name", "vector_configs": [{"name": "v", "dimension": 4, "metric": "hamming"}]},
    {"namespace_name": "ok-name", "vector_configs": [{"name": "text_extractor_v1_embedding", "dimension": 4}]},
    {"namespace_name": "ok-name", "mode": "turbo"},
    {"namespace_name": "ok-name", "mode": "standalone", "features": ["text_search"]},
    {"namespace_name": "ok-name", "namespace_id": "../../etc"},
    {"namespace_name": "\u0000\u0000\u0000"},
    '{"namespace_name": "ok-name", "description": "\\ud800"}',  # a lone surrogate, sent as raw JSON text
    {"namespace_name": ["a", "b", "c"]},
]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_is_a_clear_4xx_and_creates_nothing(client, services, tenant, body):
    if isinstance(body, str):
        headers = {**tenant.headers, "Content-Type": "application/json"}
        response = client.post("/v1/namespaces", content=body.encode(), headers=headers)
    else:
        response = client.post("/v1/namespaces", json=body, headers=tenant.headers)
    assert 400 <= response.status_code < 500, response.text
    assert client.get("/v1/namespaces", headers=tenant.headers).json()["total_count"] == 0


@pytest.mark.parametrize(
    "path", ["/v1/namespaces/%00", "/v1/namespaces/" + "x" * 5000, "/v1/namespaces/..%2F..%2Fetc", "/v1/namespaces/☃"]
)
def test_odd_identifiers_are_404_not_500(client, tenant, path):
    assert client.get(path, headers=tenant.headers).status_code == 404
