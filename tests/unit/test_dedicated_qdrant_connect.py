"""Which dedicated Qdrant servers the runtime connects to: never link-local (cloud metadata); a private or loopback
address deployed only for the hosts the operator lists; embedded, whatever the laptop's owner chose."""

from __future__ import annotations

import pytest

from openpeek.adapters.qdrant.server import QdrantServerStore
from openpeek.domain.errors import BadRequest
from openpeek.domain.failures import DependencyUnavailable
from openpeek.runtime import _dedicated_qdrant
from openpeek.settings import Settings


def resolving_to(*addresses: str):
    return lambda host, port: list(addresses)


@pytest.mark.parametrize("address, reason", [("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
                                             ("::ffff:169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"),
                                             ("224.0.0.1", "multicast")])
def test_never_a_vector_store(address, reason):
    with pytest.raises(BadRequest) as refused:
        QdrantServerStore.connect_dedicated("http://qdrant.example.com:6333", "k", resolver=resolving_to(address))
    assert refused.value.details == {"field": "qdrant_url", "reason": reason}


def test_a_private_address_needs_the_operators_consent():
    with pytest.raises(BadRequest) as refused:
        QdrantServerStore.connect_dedicated("http://qdrant.corp:6333", "k", resolver=resolving_to("10.0.0.5"),
                                            private_allowed=lambda host: False)
    assert refused.value.details["reason"] == "private"
    store = QdrantServerStore.connect_dedicated("http://qdrant.corp:6333", "k", resolver=resolving_to("10.0.0.5"),
                                                private_allowed=lambda host: host == "qdrant.corp")
    store.close()


def test_a_name_that_does_not_resolve_is_unavailable_not_a_crash():
    with pytest.raises(DependencyUnavailable):
        QdrantServerStore.connect_dedicated("http://nowhere.invalid:6333", "k", resolver=resolving_to())


def test_deployed_a_loopback_host_is_refused_unless_listed_embedded_it_is_allowed(tmp_path):
    with pytest.raises(BadRequest):
        _dedicated_qdrant(Settings(runtime="aws"))("http://localhost:6333", "k")
    for settings in (Settings(runtime="aws", dedicated_qdrant_hosts="qdrant.internal, localhost"),
                     Settings(runtime="aws", dedicated_qdrant_hosts=".localhost,localhost"),
                     Settings(runtime="embedded", data_dir=tmp_path)):
        _dedicated_qdrant(settings)("http://localhost:6333", "k").close()
