"""NamespaceInfrastructure tier rules and the OpenFGA authorization config rules (seed 000)."""

from __future__ import annotations

import pytest

from openpeek.domain.errors import BadRequest, Forbidden
from openpeek.domain.infrastructure import check_authorization, normalize_infrastructure

COMPLETE = {
    "compute_tier": "dedicated_cpu",
    "qdrant_url": "http://qdrant-ns-prod:6333",
    "qdrant_api_key": "k",
    "ray_head_node_url": "ray://ray-ns-prod:10001",
}


def test_shared_tier_defaults_to_the_namespaces_own_collection():
    shown, key = normalize_infrastructure({}, enterprise=False, own_collection="ns_a", stored_api_key=None)
    assert shown == {"compute_tier": "shared", "qdrant_collection": "ns_a"}
    assert key is None


def test_the_key_is_kept_apart_from_what_is_shown():
    shown, key = normalize_infrastructure(COMPLETE, enterprise=True, own_collection="ns_a", stored_api_key=None)
    assert key == "k" and "qdrant_api_key" not in shown


def test_enterprise_is_checked_before_completeness():
    with pytest.raises(Forbidden):
        normalize_infrastructure({"compute_tier": "dedicated_gpu"}, enterprise=False, own_collection="ns_a",
                                 stored_api_key=None)


def test_urls_must_have_the_right_scheme():
    with pytest.raises(BadRequest) as error:
        normalize_infrastructure({**COMPLETE, "qdrant_url": "ftp://x"}, enterprise=True, own_collection="ns_a",
                                 stored_api_key=None)
    assert error.value.details["field"] == "qdrant_url"


def test_min_workers_above_max_workers_is_refused():
    with pytest.raises(BadRequest):
        normalize_infrastructure({"min_workers": 9, "max_workers": 2}, enterprise=False, own_collection="ns_a",
                                 stored_api_key=None)


def test_authorization_needs_endpoint_and_store_and_refuses_remote_plaintext_tokens():
    assert check_authorization({"enabled": False}) == {"enabled": False}
    with pytest.raises(BadRequest):
        check_authorization({"enabled": True, "api_url": "https://fga.example.com"})
    with pytest.raises(BadRequest):
        check_authorization({"enabled": True, "api_url": "https://fga.example.com", "store_id": "s", "api_token": "t"})
    local = {"enabled": True, "api_url": "http://localhost:8080", "store_id": "s", "api_token": "t"}
    assert check_authorization(local) == local
