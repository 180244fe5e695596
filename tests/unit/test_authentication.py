"""API-key authentication: what a caller is told for a malformed header, a wrong key and a key whose organisation no
longer exists."""

from __future__ import annotations

import pytest

from openpeek.domain.errors import Unauthorized
from openpeek.services.organizations import ORG_CHECK_TTL_S, OrganizationService, hash_key

KEY = "sk_" + "k" * 40


class FakeOrganizations:
    """The OrganizationRepository methods authentication reads, over two dicts."""

    def __init__(self) -> None:
        self.orgs = {"org_1": {"org_id": "org_1"}}
        self.keys = {hash_key(KEY): {"key_id": "key_1", "org_id": "org_1"}}
        self.org_reads = 0

    def key_by_hash(self, key_hash: str):
        return self.keys.get(key_hash)

    def get_org(self, org_id: str):
        self.org_reads += 1
        return self.orgs.get(org_id)


def refusal(service: OrganizationService, header: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        service.authenticate(header)
    return refused.value.message


def test_a_short_or_unknown_key_is_an_invalid_key_not_a_malformed_header():
    service = OrganizationService(FakeOrganizations())
    assert refusal(service, "Bearer sk_short") == "Invalid API key"
    assert refusal(service, "Bearer " + "x" * 300) == "Invalid API key"
    assert refusal(service, "Bearer sk_" + "u" * 40) == "Invalid API key"
    assert refusal(service, "Basic dXNlcjpwYXNz").startswith("Malformed Authorization header")
    assert refusal(service, "Bearer").startswith("Malformed Authorization header")
    assert service.authenticate(f"Bearer {KEY}").org_id == "org_1"


def test_the_key_of_an_organisation_that_no_longer_exists_is_refused():
    repository = FakeOrganizations()
    clock = [0.0]
    service = OrganizationService(repository, monotonic=lambda: clock[0])
    assert service.authenticate(f"Bearer {KEY}").org_id == "org_1"
    assert service.authenticate(f"Bearer {KEY}").org_id == "org_1"
    assert repository.org_reads == 1  # trusted for a while, not read on every request
    del repository.orgs["org_1"]
    clock[0] += ORG_CHECK_TTL_S + 1
    assert "no longer exists" in refusal(service, f"Bearer {KEY}")
