"""A live `openpeek serve` for the tests that drive it through the official SDK, as a user would; one embedded
runtime per test module for the API tests that share it; a bring-your-own-vectors namespace made over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import mixpeek
import pytest
from mixpeek.models import BYOUpsertRequest, CreateNamespaceRequest, CreateStandaloneNamespaceRequestModel

from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.live_server import free_port, live_server  # noqa: F401  (free_port: tests here import it from conftest)


@pytest.fixture(scope="module")
def module_services(tmp_path_factory):
    """One embedded runtime for a whole test module, whose tests each name their own resources: building one per
    test would cost more than the tests."""
    built = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("module") / "data"))
    yield built
    built.close()


def standalone_namespace(client: Any, headers: dict[str, str], name: str, documents: list[dict], *,
                         dimension: int = 3) -> dict[str, str]:
    """A bring-your-own-vectors namespace with one vector index `emb` and these documents, made over HTTP; the
    headers that work in it (X-Namespace added)."""
    response = client.post("/v1/namespaces/standalone", headers=headers, json={
        "namespace_id": name, "vector_configs": [{"name": "emb", "dimension": dimension}]})
    assert response.status_code == 200, response.text
    response = client.post(f"/v1/namespaces/{name}/documents/upsert", headers=headers, json={"documents": documents})
    assert response.status_code == 200, response.text
    return {**headers, "X-Namespace": name}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`openpeek serve` on a free port with an empty data dir; yields (base_url, first-run key, data dir)."""
    with live_server(tmp_path_factory.mktemp("serve")) as running:
        yield running


@dataclass(frozen=True)
class SdkClient:
    """An SDK client on a live server: its configuration (a test may still change its headers), the API client the
    SDK's API classes take, and the server's answer to creating the namespace (None when none was created)."""

    config: mixpeek.Configuration
    api_client: mixpeek.ApiClient
    namespace: Any = None


def sdk_client(server: Sequence, namespace: str | None = None, *, vector_configs: list[dict] | None = None,
               documents: list[dict] | None = None, create: bool = True, **namespace_fields) -> SdkClient:
    """The one way the SDK tests get a client: `server` is the live server's (base_url, key, ...). With a `namespace`,
    it is created (managed; `namespace_fields` add to CreateNamespaceRequest) or, given `vector_configs`, created
    standalone with the user's own vectors, `documents` (BYO upsert rows) are upserted into it, and then every call
    sends it as X-Namespace. `create=False` only points the client at an existing namespace."""
    base, key = server[0], server[1]
    config = mixpeek.Configuration(host=base, access_token=key)
    api_client = mixpeek.ApiClient(config)
    if namespace is None:
        return SdkClient(config, api_client)
    created = None
    if create and vector_configs is not None:
        created = mixpeek.BYODocumentsApi(api_client).create_standalone_namespace(
            CreateStandaloneNamespaceRequestModel(namespace_id=namespace, vector_configs=vector_configs))
        if documents:
            mixpeek.BYODocumentsApi(api_client).upsert_documents_byo_namespaces(
                namespace, BYOUpsertRequest.from_dict({"documents": documents}))
    elif create:
        created = mixpeek.NamespacesApi(api_client).create_namespace(
            CreateNamespaceRequest.from_dict({"namespace_name": namespace, **namespace_fields}))
    config.api_key["NamespaceHeader"] = namespace
    return SdkClient(config, api_client, created)
